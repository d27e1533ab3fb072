//! Comments on articles.

use trestle::axum::http::StatusCode;
use trestle::prelude::*;
use trestle::sqlx::{query, query_as, query_scalar, AssertSqlSafe};

use crate::articles::find;
use crate::error::ConduitError::{Forbidden, NotFound};
use crate::profiles::{viewer, Profile};
use crate::rules::required;
use crate::users::user_id;

/// `{"comment": …}`, in requests and responses.
#[derive(Deserialize, Serialize, garde::Validate)]
pub struct CommentBody<T: garde::Validate<Context = ()>> {
    #[garde(dive)]
    comment: T,
}

#[derive(Deserialize, garde::Validate)]
pub struct NewComment {
    #[garde(custom(required::<20_000>))]
    body: Option<String>,
}

/// A comment as the API shows it: a row of [`COMMENTS`].
#[derive(Serialize, FromRow, garde::Validate)]
#[serde(rename_all = "camelCase")]
#[garde(allow_unvalidated)] // The wrapper is shared with requests; responses have no rules.
pub struct Comment {
    id: i64,
    created_at: String,
    updated_at: String,
    body: String,
    #[sqlx(flatten)]
    author: Profile,
}

#[derive(Serialize)]
pub struct Comments {
    comments: Vec<Comment>,
}

/// A comment's columns for viewer `$1`; the caller adds which comments.
const COMMENTS: &str = "SELECT c.id, c.created_at, c.updated_at, c.body, u.username, u.bio, u.image,
        EXISTS (SELECT 1 FROM follows f WHERE f.followed_id = u.id AND f.follower_id = $1) AS following
    FROM comments c JOIN users u ON u.id = c.author_id";

/// An article's comments, oldest first.
#[get("/api/articles/{slug}/comments")]
pub async fn list(auth: Option<Auth>, db: Db, Path(slug): Path<String>) -> Result<Json<Comments>> {
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
#[post("/api/articles/{slug}/comments")]
pub async fn add(
    auth: Auth,
    db: Db,
    Path(slug): Path<String>,
    Valid(Json(body)): Valid<Json<CommentBody<NewComment>>>,
) -> Result<(StatusCode, Json<CommentBody<Comment>>)> {
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
    Ok((StatusCode::CREATED, Json(CommentBody { comment })))
}

/// Deletes one's own comment.
#[delete("/api/articles/{slug}/comments/{id}")]
pub async fn delete_comment(auth: Auth, db: Db, Path((slug, id)): Path<(String, i64)>) -> Result<StatusCode> {
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
        return Ok(StatusCode::NO_CONTENT);
    }
    // Nothing deleted: say why.
    let article = find(&db, &slug).await?;
    let sql = "SELECT EXISTS (SELECT 1 FROM comments WHERE id = $1 AND article_id = $2)";
    let exists: bool = query_scalar(sql).bind(id).bind(article.id).fetch_one(&*db).await?;
    Err(if exists { Forbidden("comment") } else { NotFound("comment") }.into())
}
