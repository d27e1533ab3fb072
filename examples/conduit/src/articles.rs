//! Articles: list, feed, read, write, favorite.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, RandomState};

use trestle::prelude::*;
use trestle::sqlx::{query, query_as, query_scalar, AssertSqlSafe};

use crate::error::ConduitError;
use crate::error::ConduitError::{Forbidden, NotFound};
use crate::profiles::{viewer, Profile};
use crate::rules::{filled, present, required, tag, tags_not_null, text, Name, FILLED, TAG, TEXT};
use crate::users::user_id;

/// `{"article": …}`, in requests and responses.
#[derive(Deserialize, Serialize, JsonSchema, garde::Validate)]
#[schemars(rename = "{T}Body")]
pub struct ArticleBody<T: garde::Validate<Context = ()>> {
    #[garde(dive)]
    article: T,
}

/// A new article.
#[derive(Deserialize, JsonSchema, garde::Validate)]
#[serde(rename_all = "camelCase")]
pub struct NewArticle {
    #[garde(custom(required::<500>))]
    #[schemars(with = "String", length(min = 1, max = 500), pattern(FILLED), example = &"How to train your dragon")]
    title: Option<String>,
    #[garde(custom(required::<2_000>))]
    #[schemars(with = "String", length(min = 1, max = 2_000), pattern(FILLED), example = &"Ever wonder how?")]
    description: Option<String>,
    #[garde(custom(required::<200_000>))]
    #[schemars(with = "String", length(min = 1, max = 200_000), pattern(FILLED), example = &"You have to believe")]
    body: Option<String>,
    #[garde(inner(inner(custom(tag))))]
    #[schemars(inner(length(max = 100), pattern(TAG)), example = ["dragons", "training"])]
    tag_list: Option<Vec<String>>,
}

/// Absent (or `null`) fields stay as they are; `tagList: []` removes every tag.
#[derive(Deserialize, JsonSchema, garde::Validate)]
#[serde(rename_all = "camelCase")]
pub struct ArticleUpdate {
    #[garde(inner(custom(filled::<500>)))]
    #[schemars(length(min = 1, max = 500), pattern(FILLED), example = &"Did you train your dragon?")]
    title: Option<String>,
    #[garde(inner(custom(filled::<2_000>)))]
    #[schemars(length(min = 1, max = 2_000), pattern(FILLED))]
    description: Option<String>,
    #[garde(inner(custom(filled::<200_000>)))]
    #[schemars(length(min = 1, max = 200_000), pattern(FILLED))]
    body: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[garde(custom(tags_not_null), inner(inner(inner(custom(tag)))))]
    #[schemars(with = "Vec<String>", inner(length(max = 100), pattern(TAG)))]
    tag_list: Option<Option<Vec<String>>>,
}

/// An article as a list shows it: a row of [`ARTICLE`]'s columns.
#[derive(Serialize, FromRow, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArticleSummary {
    slug: String,
    title: String,
    description: String,
    #[serde(serialize_with = "split_tags")]
    #[schemars(with = "Vec<String>")]
    tag_list: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    created_at: String,
    #[schemars(extend("format" = "date-time"))]
    updated_at: String,
    favorited: bool,
    favorites_count: i64,
    #[sqlx(flatten)]
    author: Profile,
}

/// One article: the summary and its `body`.
#[derive(Serialize, FromRow, JsonSchema, garde::Validate)]
#[garde(allow_unvalidated)] // The wrapper is shared with requests; responses have no rules.
pub struct Article {
    #[serde(flatten)]
    #[sqlx(flatten)]
    summary: ArticleSummary,
    body: String,
}

/// A page of articles.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Articles {
    articles: Vec<ArticleSummary>,
    articles_count: i64,
}

/// `GET /api/articles`'s filters; `limit` and `offset` are the `Page`'s.
#[derive(Deserialize, JsonSchema, garde::Validate)]
pub struct Filters {
    /// Articles with this tag.
    #[garde(inner(custom(text::<1_000>)))]
    #[schemars(length(max = 1_000), pattern(TEXT), example = &"dragons")]
    tag: Option<String>,
    /// Articles by this username.
    #[garde(inner(custom(text::<1_000>)))]
    #[schemars(length(max = 1_000), pattern(TEXT))]
    author: Option<String>,
    /// Articles this username favorited.
    #[garde(inner(custom(text::<1_000>)))]
    #[schemars(length(max = 1_000), pattern(TEXT))]
    favorited: Option<String>,
}

/// An article's id, author and title.
#[derive(FromRow)]
pub struct Found {
    /// Its id.
    pub id: i64,
    author_id: i64,
    title: String,
}

/// Separates the tags [`ARTICLE`] aggregates into one column; tags cannot contain it.
const TAG_SEPARATOR: char = '\u{1f}';

/// The columns of [`Article`] for viewer `$1`, its tags in the same statement (sorted, joined by
/// `TAG_SEPARATOR`): one statement for a page of articles, not one per article.
const ARTICLE: &str = "a.slug, a.title, a.description, a.created_at, a.updated_at, u.username, u.bio, u.image,
    EXISTS (SELECT 1 FROM follows fo WHERE fo.followed_id = a.author_id AND fo.follower_id = $1) AS following,
    EXISTS (SELECT 1 FROM favorites f WHERE f.article_id = a.id AND f.user_id = $1) AS favorited,
    (SELECT COUNT(*) FROM favorites f WHERE f.article_id = a.id) AS favorites_count,
    (SELECT string_agg(t.tag, '\u{1f}' ORDER BY t.tag) FROM article_tags t WHERE t.article_id = a.id) AS tag_list
    FROM articles a JOIN users u ON u.id = a.author_id";

/// The articles a list shows: `$2` tag, `$3` author, `$4` favorited by (each NULL for any).
const MATCHING: &str = "WHERE (CAST($2 AS TEXT) IS NULL
        OR EXISTS (SELECT 1 FROM article_tags t WHERE t.article_id = a.id AND t.tag = $2))
    AND (CAST($3 AS TEXT) IS NULL OR u.username = $3)
    AND (CAST($4 AS TEXT) IS NULL OR EXISTS (
        SELECT 1 FROM favorites f JOIN users fu ON fu.id = f.user_id WHERE f.article_id = a.id AND fu.username = $4))";

/// The articles a feed shows: by the authors viewer `$1` follows. A statement of its own, not
/// an optional filter in [`MATCHING`]: PostgreSQL's cached plan for the shared one scanned
/// every article for a feed (a third fewer feeds per second).
const FOLLOWED: &str = "WHERE a.author_id IN (SELECT followed_id FROM follows WHERE follower_id = $1)";

/// Sends the aggregated tags as a list.
fn split_tags<S: serde::Serializer>(tags: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(tags.iter().flat_map(|tags| tags.split(TAG_SEPARATOR)))
}

/// The article `slug` as `viewer` sees it, or 404.
async fn load(db: &Db, slug: &str, viewer: i64) -> Result<Json<ArticleBody<Article>>> {
    // The SQL joins constants only: nothing from the request (`AssertSqlSafe`).
    let article = query_as::<_, Article>(AssertSqlSafe(format!("SELECT a.body, {ARTICLE} WHERE a.slug = $2")))
        .bind(viewer)
        .bind(slug)
        .fetch_optional(&**db)
        .await?
        .ok_or(NotFound("article"))?;
    Ok(Json(ArticleBody { article }))
}

/// The article's id, author and title, or 404.
pub async fn find(db: &Db, slug: &str) -> Result<Found> {
    query_as::<_, Found>("SELECT id, author_id, title FROM articles WHERE slug = $1")
        .bind(slug)
        .fetch_optional(&**db)
        .await?
        .ok_or_else(|| NotFound("article").into())
}

/// A page of the articles `filter` matches, newest first, with their count; `filter` reads the
/// viewer as `$1` and `args` as `$2`….
async fn page_of(db: &Db, viewer: i64, filter: &str, args: &[&Option<String>], page: Page) -> Result<Json<Articles>> {
    let sql = format!("SELECT COUNT(*) FROM articles a JOIN users u ON u.id = a.author_id {filter}");
    let count = args.iter().fold(query_scalar(AssertSqlSafe(sql)).bind(viewer), |q, arg| q.bind(*arg));
    let articles_count: i64 = count.fetch_one(&**db).await?;
    let (limit, offset) = (args.len() + 2, args.len() + 3);
    let sql =
        format!("SELECT {ARTICLE} {filter} ORDER BY a.created_at DESC, a.id DESC LIMIT ${limit} OFFSET ${offset}");
    let select =
        args.iter().fold(query_as::<_, ArticleSummary>(AssertSqlSafe(sql)).bind(viewer), |q, arg| q.bind(*arg));
    let articles = select.bind(page.limit()).bind(page.offset()).fetch_all(&**db).await?;
    Ok(Json(Articles { articles, articles_count }))
}

/// Recent articles, filtered by `tag`, `author` or `favorited`.
#[get("/api/articles", tags = ["Articles"])]
pub async fn list(
    auth: Option<Auth>,
    db: Db,
    page: Page,
    Valid(Query(filters)): Valid<Query<Filters>>,
) -> Result<Json<Articles>> {
    let Filters { tag, author, favorited } = &filters;
    page_of(&db, viewer(&auth)?, MATCHING, &[tag, author, favorited], page).await
}

/// Recent articles by the authors the user follows.
#[get("/api/articles/feed", tags = ["Articles"])]
pub async fn feed(auth: Auth, db: Db, page: Page) -> Result<Json<Articles>> {
    page_of(&db, user_id(&auth)?, FOLLOWED, &[], page).await
}

/// One article.
#[get("/api/articles/{slug}", tags = ["Articles"], errors = [ConduitError::NotFound])]
pub async fn get_article(
    auth: Option<Auth>,
    db: Db,
    Path(Name(slug)): Path<Name>,
) -> Result<Json<ArticleBody<Article>>> {
    load(&db, &slug, viewer(&auth)?).await
}

/// Tags as stored: trimmed, without blanks or repeats, sorted.
fn clean_tags(tags: Vec<String>) -> BTreeSet<String> {
    tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

/// A URL-safe slug from the title: lower-case words joined by `-`.
fn slugify(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(80).collect();
    if slug.is_empty() {
        "article".to_owned()
    } else {
        slug
    }
}

/// How many slugs an article write tries: the title's own, then suffixed ones.
const SLUG_ATTEMPTS: u32 = 5;

/// The slug to try at `attempt`: `base` first, then `base-<8 random hex>`, so duplicate
/// titles get distinct slugs.
fn slug_attempt(base: &str, attempt: u32) -> String {
    if attempt == 0 {
        return base.to_owned();
    }
    format!("{base}-{:08x}", RandomState::new().hash_one(crate::time::now()) as u32)
}

/// Writes an article and its tags in one transaction. `sql` takes `$1` slug, `$2` title, `$3`
/// description, `$4` body, `$5` the author (a new article) or the article (an edit), `$6` now,
/// and returns the article's id. The slug's unique constraint decides which of `slug(attempt)`
/// is free (`retry_on_unique_violation`), so concurrent writes of one title do not get a 409;
/// each attempt is its own transaction, as a failed statement aborts one on PostgreSQL.
async fn save(
    db: &Db,
    sql: &'static str,
    slug: impl Fn(u32) -> String,
    [title, description, body]: [&Option<String>; 3],
    who: i64,
    tags: Option<&BTreeSet<String>>,
) -> Result<String> {
    let now = crate::time::now();
    Ok(trestle::db::retry_on_unique_violation(SLUG_ATTEMPTS, |attempt| {
        let (slug, now) = (slug(attempt), &now);
        async move {
            let mut tx = db.begin().await?;
            let write = query_scalar(sql).bind(&slug).bind(title).bind(description).bind(body).bind(who).bind(now);
            let id: i64 = write.fetch_one(&mut *tx).await?;
            if let Some(tags) = tags {
                // With concurrent edits of one article, the last to commit sets the tags.
                query("DELETE FROM article_tags WHERE article_id = $1").bind(id).execute(&mut *tx).await?;
                for tag in tags {
                    let add = "INSERT INTO article_tags (article_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING";
                    query(add).bind(id).bind(tag).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(slug)
        }
    })
    .await?)
}

/// Writes an article. Its slug comes from the title, made unique with a random suffix; 409
/// only if every attempt collides.
#[post("/api/articles", tags = ["Articles"], errors = [409])]
pub async fn create(
    auth: Auth,
    db: Db,
    Valid(Json(body)): Valid<Json<ArticleBody<NewArticle>>>,
) -> Result<Created<Json<ArticleBody<Article>>>> {
    let (me, new) = (user_id(&auth)?, body.article);
    let tags = clean_tags(new.tag_list.unwrap_or_default());
    let base = slugify(new.title.as_deref().unwrap_or_default());
    let sql = "INSERT INTO articles (slug, title, description, body, author_id, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id";
    let text = [&new.title, &new.description, &new.body];
    let slug = save(&db, sql, |attempt| slug_attempt(&base, attempt), text, me, Some(&tags)).await?;
    Ok(Created(load(&db, &slug, me).await?))
}

/// The article, if `me` wrote it: 404 when there is none, 403 when it is someone else's.
async fn own(db: &Db, slug: &str, me: i64) -> Result<Found> {
    let article = find(db, slug).await?;
    if article.author_id != me {
        return Err(Forbidden("article").into());
    }
    Ok(article)
}

/// Edits an article; a new title gives a new slug.
#[put("/api/articles/{slug}", tags = ["Articles"], errors = [ConduitError::NotFound, ConduitError::Forbidden])]
pub async fn update(
    auth: Auth,
    db: Db,
    Path(Name(slug)): Path<Name>,
    Valid(Json(body)): Valid<Json<ArticleBody<ArticleUpdate>>>,
) -> Result<Json<ArticleBody<Article>>> {
    let me = user_id(&auth)?;
    let article = own(&db, &slug, me).await?;
    let change = body.article;
    let tags = change.tag_list.flatten().map(clean_tags);
    let base = change.title.as_deref().filter(|title| *title != article.title).map(slugify);
    let new_slug = |attempt| base.as_deref().map_or_else(|| slug.clone(), |base| slug_attempt(base, attempt));
    let sql = "UPDATE articles SET slug = $1, title = COALESCE($2, title), description = COALESCE($3, description),
                      body = COALESCE($4, body), updated_at = $6 WHERE id = $5 RETURNING id";
    let text = [&change.title, &change.description, &change.body];
    let slug = save(&db, sql, new_slug, text, article.id, tags.as_ref()).await?;
    load(&db, &slug, me).await
}

/// Deletes an article (with its comments, tags and favorites).
#[delete("/api/articles/{slug}", tags = ["Articles"], errors = [ConduitError::NotFound, ConduitError::Forbidden])]
pub async fn delete_article(auth: Auth, db: Db, Path(Name(slug)): Path<Name>) -> Result<NoContent> {
    let article = own(&db, &slug, user_id(&auth)?).await?;
    query("DELETE FROM articles WHERE id = $1").bind(article.id).execute(&*db).await?;
    Ok(NoContent)
}

/// Favorites an article.
#[post("/api/articles/{slug}/favorite", tags = ["Favorites"], errors = [ConduitError::NotFound])]
pub async fn favorite(auth: Auth, db: Db, Path(Name(slug)): Path<Name>) -> Result<Json<ArticleBody<Article>>> {
    let me = user_id(&auth)?;
    let sql = "INSERT INTO favorites (user_id, article_id) SELECT $1, id FROM articles WHERE slug = $2
               ON CONFLICT DO NOTHING";
    query(sql).bind(me).bind(&slug).execute(&*db).await?;
    load(&db, &slug, me).await
}

/// Removes a favorite.
#[delete("/api/articles/{slug}/favorite", tags = ["Favorites"], errors = [ConduitError::NotFound])]
pub async fn unfavorite(auth: Auth, db: Db, Path(Name(slug)): Path<Name>) -> Result<Json<ArticleBody<Article>>> {
    let me = user_id(&auth)?;
    let sql = "DELETE FROM favorites WHERE user_id = $1 AND article_id = (SELECT id FROM articles WHERE slug = $2)";
    query(sql).bind(me).bind(&slug).execute(&*db).await?;
    load(&db, &slug, me).await
}
