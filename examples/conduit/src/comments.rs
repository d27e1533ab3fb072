//! Comments on articles.

use trestle::prelude::*;
use trestle::sqlx::{query, query_as, query_scalar, AssertSqlSafe};

use crate::articles::find;
use crate::error::ConduitError::{self, Forbidden, NotFound};
use crate::profiles::{viewer, Profile};
use crate::rules::{required, Name, FILLED};
use crate::users::user_id;

/// `{"comment": …}`, in requests and responses.
#[derive(Deserialize, Serialize, JsonSchema, garde::Validate)]
#[schemars(rename = "{T}Body")]
pub struct CommentBody<T: garde::Validate<Context = ()>> {
    #[garde(dive)]
    comment: T,
}

/// A new comment.
#[derive(Deserialize, JsonSchema, garde::Validate)]
pub struct NewComment {
    #[garde(custom(required::<20_000>))]
    #[schemars(with = "String", length(min = 1, max = 20_000), pattern(FILLED), example = &"Thank you so much!")]
    body: Option<String>,
}

/// A comment as the API shows it: a row of [`COMMENTS`].
#[derive(Serialize, FromRow, JsonSchema, garde::Validate)]
#[serde(rename_all = "camelCase")]
#[garde(allow_unvalidated)] // The wrapper is shared with requests; responses have no rules.
pub struct Comment {
    id: i64,
    #[schemars(extend("format" = "date-time"))]
    created_at: String,
    #[schemars(extend("format" = "date-time"))]
    updated_at: String,
    body: String,
    #[sqlx(flatten)]
    author: Profile,
}

/// An article's comments.
#[derive(Serialize, JsonSchema)]
pub struct Comments {
    comments: Vec<Comment>,
}

/// A comment's columns for viewer `$1`; the caller adds which comments.
const COMMENTS: &str = "SELECT c.id, c.created_at, c.updated_at, c.body, u.username, u.bio, u.image,
        EXISTS (SELECT 1 FROM follows f WHERE f.followed_id = u.id AND f.follower_id = $1) AS following
    FROM comments c JOIN users u ON u.id = c.author_id";

/// An article's comments, oldest first.
#[get("/api/articles/{slug}/comments", tags = ["Comments"], errors = [ConduitError::NotFound])]
pub async fn list(auth: Option<Auth>, db: Db, Path(Name(slug)): Path<Name>) -> Result<Json<Comments>> {
    let viewer = viewer(&auth)?;
    let article = find(&db, &slug).await?;
    let comments = query_as::<_, Comment>(AssertSqlSafe(format!("{COMMENTS} WHERE c.article_id = $2 ORDER BY c.id")))
        .bind(viewer)
        .bind(article.id)
        .fetch_all(&*db)
        .await?;
    Ok(Json(Comments { comments }))
}

/// Comments on an article.
#[post("/api/articles/{slug}/comments", tags = ["Comments"], errors = [ConduitError::NotFound])]
pub async fn add(
    auth: Auth,
    db: Db,
    Path(Name(slug)): Path<Name>,
    Valid(Json(body)): Valid<Json<CommentBody<NewComment>>>,
) -> Result<Created<Json<CommentBody<Comment>>>> {
    let me = user_id(&auth)?;
    // One statement: an article deleted meanwhile is a 404, not a foreign-key conflict.
    let id: i64 = query_scalar(
        "INSERT INTO comments (body, article_id, author_id, created_at, updated_at)
         SELECT $1, a.id, $2, $3, $3 FROM articles a WHERE a.slug = $4 RETURNING id",
    )
    .bind(&body.comment.body)
    .bind(me)
    .bind(crate::time::now())
    .bind(&slug)
    .fetch_optional(&*db)
    .await?
    .ok_or(NotFound("article"))?;
    // By its id alone: a statement shared with the list, with the id an optional filter, made
    // PostgreSQL's cached plan read every comment of the article.
    let sql = AssertSqlSafe(format!("{COMMENTS} WHERE c.id = $2"));
    let comment = query_as::<_, Comment>(sql).bind(me).bind(id).fetch_one(&*db).await?;
    Ok(Created(Json(CommentBody { comment })))
}

/// Deletes one's own comment.
#[delete(
    "/api/articles/{slug}/comments/{id}",
    tags = ["Comments"],
    errors = [ConduitError::NotFound, ConduitError::Forbidden]
)]
pub async fn delete_comment(auth: Auth, db: Db, Path((Name(slug), id)): Path<(Name, i64)>) -> Result<NoContent> {
    let me = user_id(&auth)?;
    let deleted = query(
        "DELETE FROM comments WHERE id = $1 AND author_id = $2 AND article_id = (SELECT id FROM articles WHERE slug = $3)",
    )
    .bind(id)
    .bind(me)
    .bind(&slug)
    .execute(&*db)
    .await?;
    if deleted.rows_affected() == 1 {
        return Ok(NoContent);
    }
    // Nothing deleted: say why.
    let article = find(&db, &slug).await?;
    let sql = "SELECT EXISTS (SELECT 1 FROM comments WHERE id = $1 AND article_id = $2)";
    let exists: bool = query_scalar(sql).bind(id).bind(article.id).fetch_one(&*db).await?;
    Err(if exists { Forbidden("comment") } else { NotFound("comment") }.into())
}
