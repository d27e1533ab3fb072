//! Articles: list, feed, read, write, favorite.

use std::hash::{BuildHasher, RandomState};

use trestle::axum::http::StatusCode;
use trestle::prelude::*;

use crate::error::{forbidden, not_found};
use crate::profiles::{viewer, Profile};
use crate::users::user_id;
use crate::validate::{present, Checks};
use crate::Ctx;

/// `{"article": …}`, in requests and responses.
#[derive(Deserialize, Serialize)]
pub struct ArticleBody<T> {
    article: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewArticle {
    title: Option<String>,
    description: Option<String>,
    body: Option<String>,
    tag_list: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArticleUpdate {
    title: Option<String>,
    description: Option<String>,
    body: Option<String>,
    #[serde(default, deserialize_with = "present")]
    tag_list: Option<Option<Vec<String>>>,
}

/// An article as the API shows it; lists leave out `body`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Article {
    slug: String,
    title: String,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    tag_list: Vec<String>,
    created_at: String,
    updated_at: String,
    favorited: bool,
    favorites_count: i64,
    author: Profile,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Articles {
    articles: Vec<Article>,
    articles_count: i64,
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    bool,
    bool,
    Option<String>,
);

/// Separates the tags `select_articles!` aggregates into one column; tags cannot contain it.
const TAG_SEPARATOR: char = '\u{1f}';

/// Every article column the API shows, for viewer `$1`, its tags in the same statement (joined
/// by `TAG_SEPARATOR`, sorted): one statement for a page of articles, not one per article.
macro_rules! select_articles {
    ($($rest:expr),*) => {
        concat!(
            "SELECT a.slug, a.title, a.description, a.body, a.created_at, a.updated_at,
                    u.username, u.bio, u.image,
                    (SELECT COUNT(*) FROM favorites f WHERE f.article_id = a.id),
                    EXISTS (SELECT 1 FROM favorites f WHERE f.article_id = a.id AND f.user_id = $1),
                    EXISTS (SELECT 1 FROM follows fo WHERE fo.followed_id = a.author_id AND fo.follower_id = $1),
                    (SELECT string_agg(t.tag, '\u{1f}' ORDER BY t.tag) FROM article_tags t WHERE t.article_id = a.id)
             FROM articles a JOIN users u ON u.id = a.author_id ",
            $($rest),*
        )
    };
}

/// Conditions of `GET /api/articles`: `$2` tag, `$3` author, `$4` favorited by.
macro_rules! list_filter {
    () => {
        "(CAST($2 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM article_tags t WHERE t.article_id = a.id AND t.tag = $2))
         AND (CAST($3 AS TEXT) IS NULL OR u.username = $3)
         AND (CAST($4 AS TEXT) IS NULL OR EXISTS (
              SELECT 1 FROM favorites f JOIN users fu ON fu.id = f.user_id WHERE f.article_id = a.id AND fu.username = $4))"
    };
}

/// Condition of the feed: articles by authors `$2` follows.
macro_rules! feed_filter {
    () => {
        "a.author_id IN (SELECT followed_id FROM follows WHERE follower_id = $2)"
    };
}

/// Counts what a filter matches; `$1` (the viewer) is bound for both queries alike.
macro_rules! count_articles {
    ($filter:expr) => {
        concat!(
            "SELECT COUNT(*) FROM articles a JOIN users u ON u.id = a.author_id WHERE CAST($1 AS BIGINT) IS NOT NULL AND ",
            $filter
        )
    };
}

/// The order and page of every list: newest first, ties by id.
macro_rules! newest_first {
    () => {
        " ORDER BY a.created_at DESC, a.id DESC LIMIT $5 OFFSET $6"
    };
}

fn to_article(row: Row, with_body: bool) -> Article {
    let (
        slug,
        title,
        description,
        body,
        created_at,
        updated_at,
        username,
        bio,
        image,
        favorites_count,
        favorited,
        following,
        tags,
    ) = row;
    Article {
        slug,
        title,
        description,
        body: with_body.then_some(body),
        tag_list: tags.map(|t| t.split(TAG_SEPARATOR).map(str::to_owned).collect()).unwrap_or_default(),
        created_at,
        updated_at,
        favorited,
        favorites_count,
        author: Profile { username, bio, image, following },
    }
}

async fn load(db: &Db, slug: &str, viewer: i64) -> trestle::Result<Article> {
    let row: Option<Row> = trestle::sqlx::query_as(select_articles!("WHERE a.slug = $2"))
        .bind(viewer)
        .bind(slug)
        .fetch_optional(&**db)
        .await?;
    Ok(to_article(row.ok_or_else(|| not_found("article"))?, true))
}

/// The article's id and author, or 404.
pub async fn find(db: &Db, slug: &str) -> trestle::Result<(i64, i64)> {
    let row: Option<(i64, i64)> = trestle::sqlx::query_as("SELECT id, author_id FROM articles WHERE slug = $1")
        .bind(slug)
        .fetch_optional(&**db)
        .await?;
    row.ok_or_else(|| not_found("article"))
}

#[derive(Deserialize)]
pub struct ListQuery {
    tag: Option<String>,
    author: Option<String>,
    favorited: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn page(ctx: &Ctx, limit: Option<i64>, offset: Option<i64>) -> trestle::Result<(i64, i64)> {
    let settings = ctx.config();
    let limit = limit.unwrap_or(settings.default_limit);
    let offset = offset.unwrap_or(0);
    let mut checks = Checks::default();
    if !(1..=settings.max_limit).contains(&limit) {
        checks.fail("limit", &format!("must be between 1 and {}", settings.max_limit));
    }
    if offset < 0 {
        checks.fail("offset", "must not be negative");
    }
    checks.finish()?;
    Ok((limit, offset))
}

/// Recent articles, filtered by `tag`, `author` or `favorited`.
#[get("/api/articles")]
pub async fn list(
    auth: Option<Auth>,
    State(ctx): State<Ctx>,
    db: Db,
    Query(q): Query<ListQuery>,
) -> trestle::Result<Json<Articles>> {
    let viewer = viewer(&auth)?;
    let (limit, offset) = page(&ctx, q.limit, q.offset)?;
    let mut checks = Checks::default();
    for (field, value) in [("tag", &q.tag), ("author", &q.author), ("favorited", &q.favorited)] {
        if let Some(v) = value {
            checks.text(field, v, 1_000);
        }
    }
    checks.finish()?;
    let (count,): (i64,) = trestle::sqlx::query_as(count_articles!(list_filter!()))
        .bind(viewer)
        .bind(&q.tag)
        .bind(&q.author)
        .bind(&q.favorited)
        .fetch_one(&*db)
        .await?;
    let rows: Vec<Row> = trestle::sqlx::query_as(select_articles!("WHERE ", list_filter!(), newest_first!()))
        .bind(viewer)
        .bind(&q.tag)
        .bind(&q.author)
        .bind(&q.favorited)
        .bind(limit)
        .bind(offset)
        .fetch_all(&*db)
        .await?;
    Ok(Json(Articles { articles: rows.into_iter().map(|row| to_article(row, false)).collect(), articles_count: count }))
}

#[derive(Deserialize)]
pub struct PageQuery {
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Recent articles by the authors the user follows.
#[get("/api/articles/feed")]
pub async fn feed(
    auth: Auth,
    State(ctx): State<Ctx>,
    db: Db,
    Query(q): Query<PageQuery>,
) -> trestle::Result<Json<Articles>> {
    let me = user_id(&auth)?;
    let (limit, offset) = page(&ctx, q.limit, q.offset)?;
    let (count,): (i64,) =
        trestle::sqlx::query_as(count_articles!(feed_filter!())).bind(me).bind(me).fetch_one(&*db).await?;
    // $3 and $4 are unused by the feed's filter; bound so both lists share one placeholder layout.
    let rows: Vec<Row> = trestle::sqlx::query_as(select_articles!(
        "WHERE ",
        feed_filter!(),
        " AND CAST($3 AS TEXT) IS NULL AND CAST($4 AS TEXT) IS NULL",
        newest_first!()
    ))
    .bind(me)
    .bind(me)
    .bind(None::<String>)
    .bind(None::<String>)
    .bind(limit)
    .bind(offset)
    .fetch_all(&*db)
    .await?;
    Ok(Json(Articles { articles: rows.into_iter().map(|row| to_article(row, false)).collect(), articles_count: count }))
}

/// One article.
#[get("/api/articles/{slug}")]
pub async fn get_article(
    auth: Option<Auth>,
    db: Db,
    Path(slug): Path<String>,
) -> trestle::Result<Json<ArticleBody<Article>>> {
    Ok(Json(ArticleBody { article: load(&db, &slug, viewer(&auth)?).await? }))
}

/// Tags as stored: trimmed, without blanks or repeats, sorted.
fn clean_tags(checks: &mut Checks, tags: Vec<String>) -> Vec<String> {
    let mut tags: Vec<String> = tags.into_iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect();
    for tag in &tags {
        checks.text("tagList", tag, 100);
        if tag.contains(TAG_SEPARATOR) {
            checks.fail("tagList", "contains a control character");
        }
    }
    tags.sort();
    tags.dedup();
    tags
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
/// titles get distinct slugs. The slug's unique constraint decides which is free
/// (`retry_on_unique_violation`), so concurrent writes of one title never get a 409.
fn slug_attempt(base: &str, attempt: u32) -> String {
    if attempt == 0 {
        return base.to_owned();
    }
    format!("{base}-{:08x}", RandomState::new().hash_one(crate::time::now()) as u32)
}

/// Sets the article's tags; with concurrent edits of one article the last to commit wins.
async fn replace_tags(
    tx: &mut trestle::sqlx::Transaction<'_, crate::Database>,
    id: i64,
    tags: &[String],
) -> Result<(), trestle::sqlx::Error> {
    trestle::sqlx::query("DELETE FROM article_tags WHERE article_id = $1").bind(id).execute(&mut **tx).await?;
    for tag in tags {
        // A concurrent edit may have inserted the tag after this DELETE: it is there either way.
        trestle::sqlx::query("INSERT INTO article_tags (article_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(tag)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Writes an article.
#[post("/api/articles")]
pub async fn create(
    auth: Auth,
    db: Db,
    Json(body): Json<ArticleBody<NewArticle>>,
) -> trestle::Result<(StatusCode, Json<ArticleBody<Article>>)> {
    let me = user_id(&auth)?;
    let new = body.article;
    let mut checks = Checks::default();
    let title = checks.required("title", new.title.as_deref(), 500).to_owned();
    let description = checks.required("description", new.description.as_deref(), 2_000).to_owned();
    let text = checks.required("body", new.body.as_deref(), 200_000).to_owned();
    let tags = clean_tags(&mut checks, new.tag_list.unwrap_or_default());
    checks.finish()?;

    let now = crate::time::now();
    let base = slugify(&title);
    let (title, description, text, tags, now) = (&title, &description, &text, &tags, &now);
    // Each attempt is its own transaction: on PostgreSQL a failed INSERT aborts its transaction.
    let slug = trestle::db::retry_on_unique_violation(SLUG_ATTEMPTS, |attempt| {
        let slug = slug_attempt(&base, attempt);
        let db = &db;
        async move {
            let mut tx = db.begin().await?;
            let (id,): (i64,) = trestle::sqlx::query_as(
                "INSERT INTO articles (slug, title, description, body, author_id, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            )
            .bind(&slug)
            .bind(title)
            .bind(description)
            .bind(text)
            .bind(me)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            replace_tags(&mut tx, id, tags).await?;
            tx.commit().await?;
            Ok(slug)
        }
    })
    .await?;
    Ok((StatusCode::CREATED, Json(ArticleBody { article: load(&db, &slug, me).await? })))
}

/// The article, if `me` wrote it: 404 when there is none, 403 when it is someone else's.
async fn own(db: &Db, slug: &str, me: i64) -> trestle::Result<i64> {
    let (id, author) = find(db, slug).await?;
    if author != me {
        return Err(forbidden("article"));
    }
    Ok(id)
}

/// Edits an article; a new title gives a new slug.
#[put("/api/articles/{slug}")]
pub async fn update(
    auth: Auth,
    db: Db,
    Path(slug): Path<String>,
    Json(body): Json<ArticleBody<ArticleUpdate>>,
) -> trestle::Result<Json<ArticleBody<Article>>> {
    let me = user_id(&auth)?;
    let id = own(&db, &slug, me).await?;
    let change = body.article;
    let mut checks = Checks::default();
    let title = change.title.as_deref().map(|t| checks.required("title", Some(t), 500).to_owned());
    let description = change.description.as_deref().map(|d| checks.required("description", Some(d), 2_000).to_owned());
    let text = change.body.as_deref().map(|b| checks.required("body", Some(b), 200_000).to_owned());
    let tags = match change.tag_list {
        None => None,
        Some(None) => {
            checks.fail("tagList", "can't be null (send [] to remove every tag)");
            None
        }
        Some(Some(list)) => Some(clean_tags(&mut checks, list)),
    };
    checks.finish()?;

    let base = title.as_deref().map(slugify).filter(|base| base != slugify_base(&slug));
    let (title, description, text, tags, slug) = (&title, &description, &text, &tags, &slug);
    let new_slug = trestle::db::retry_on_unique_violation(SLUG_ATTEMPTS, |attempt| {
        let new_slug = base.as_deref().map_or_else(|| slug.clone(), |base| slug_attempt(base, attempt));
        let db = &db;
        async move {
            let mut tx = db.begin().await?;
            trestle::sqlx::query(
                "UPDATE articles SET slug = $1, title = COALESCE($2, title), description = COALESCE($3, description),
                        body = COALESCE($4, body), updated_at = $5 WHERE id = $6",
            )
            .bind(&new_slug)
            .bind(title)
            .bind(description)
            .bind(text)
            .bind(crate::time::now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if let Some(tags) = tags {
                replace_tags(&mut tx, id, tags).await?;
            }
            tx.commit().await?;
            Ok(new_slug)
        }
    })
    .await?;
    Ok(Json(ArticleBody { article: load(&db, &new_slug, me).await? }))
}

/// The slug without a `-<8 hex>` suffix added for a duplicate title.
fn slugify_base(slug: &str) -> &str {
    match slug.rsplit_once('-') {
        Some((base, suffix)) if suffix.len() == 8 && suffix.chars().all(|c| c.is_ascii_hexdigit()) => base,
        _ => slug,
    }
}

/// Deletes an article (with its comments, tags and favorites).
#[delete("/api/articles/{slug}")]
pub async fn delete_article(auth: Auth, db: Db, Path(slug): Path<String>) -> trestle::Result<StatusCode> {
    let id = own(&db, &slug, user_id(&auth)?).await?;
    trestle::sqlx::query("DELETE FROM articles WHERE id = $1").bind(id).execute(&*db).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Favorites an article.
#[post("/api/articles/{slug}/favorite")]
pub async fn favorite(auth: Auth, db: Db, Path(slug): Path<String>) -> trestle::Result<Json<ArticleBody<Article>>> {
    let me = user_id(&auth)?;
    let (id, _) = find(&db, &slug).await?;
    crate::link(&db, "INSERT INTO favorites (user_id, article_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", me, id)
        .await?;
    Ok(Json(ArticleBody { article: load(&db, &slug, me).await? }))
}

/// Removes a favorite.
#[delete("/api/articles/{slug}/favorite")]
pub async fn unfavorite(auth: Auth, db: Db, Path(slug): Path<String>) -> trestle::Result<Json<ArticleBody<Article>>> {
    let me = user_id(&auth)?;
    let (id, _) = find(&db, &slug).await?;
    crate::link(&db, "DELETE FROM favorites WHERE user_id = $1 AND article_id = $2", me, id).await?;
    Ok(Json(ArticleBody { article: load(&db, &slug, me).await? }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("How to train your dragon?"), "how-to-train-your-dragon");
        assert_eq!(slugify("  Ünïcødé — Tïtle  "), "ünïcødé-tïtle");
        assert_eq!(slugify("'; DROP TABLE articles; --"), "drop-table-articles");
        assert_eq!(slugify("!!!"), "article");
        assert_eq!(slugify_base("dup-title-0a1b2c3d"), "dup-title");
        assert_eq!(slugify_base("plain-title"), "plain-title");
    }
}
