//! Comments on articles.

use trestle::axum::http::StatusCode;
use trestle::prelude::*;

use crate::articles::find;
use crate::error::{forbidden, not_found};
use crate::profiles::{viewer, Profile};
use crate::users::user_id;
use crate::validate::Checks;

#[derive(Deserialize, Serialize)]
pub struct CommentBody<T> {
    comment: T,
}

#[derive(Deserialize)]
pub struct NewComment {
    body: Option<String>,
}

/// A comment as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    id: i64,
    created_at: String,
    updated_at: String,
    body: String,
    author: Profile,
}

#[derive(Serialize)]
pub struct Comments {
    comments: Vec<Comment>,
}

type Row = (i64, String, String, String, String, Option<String>, Option<String>, bool);

/// Comments of article `$2`, author `following` for viewer `$1`.
macro_rules! select_comments {
    ($($rest:expr),*) => {
        concat!(
            "SELECT c.id, c.created_at, c.updated_at, c.body, u.username, u.bio, u.image,
                    EXISTS (SELECT 1 FROM follows f WHERE f.followed_id = u.id AND f.follower_id = $1)
             FROM comments c JOIN users u ON u.id = c.author_id WHERE c.article_id = $2 ",
            $($rest),*
        )
    };
}

fn to_comment((id, created_at, updated_at, body, username, bio, image, following): Row) -> Comment {
    Comment { id, created_at, updated_at, body, author: Profile { username, bio, image, following } }
}

/// An article's comments, oldest first.
#[get("/api/articles/{slug}/comments")]
pub async fn list(auth: Option<Auth>, db: Db, Path(slug): Path<String>) -> trestle::Result<Json<Comments>> {
    let viewer = viewer(&auth)?;
    let (article, _) = find(&db, &slug).await?;
    let rows: Vec<Row> =
        trestle::sqlx::query_as(select_comments!("ORDER BY c.id")).bind(viewer).bind(article).fetch_all(&*db).await?;
    Ok(Json(Comments { comments: rows.into_iter().map(to_comment).collect() }))
}

/// Comments on an article.
#[post("/api/articles/{slug}/comments")]
pub async fn add(
    auth: Auth,
    db: Db,
    Path(slug): Path<String>,
    Json(body): Json<CommentBody<NewComment>>,
) -> trestle::Result<(StatusCode, Json<CommentBody<Comment>>)> {
    let me = user_id(&auth)?;
    let (article, _) = find(&db, &slug).await?;
    let mut checks = Checks::default();
    let text = checks.required("body", body.comment.body.as_deref(), 20_000).to_owned();
    checks.finish()?;
    let now = crate::time::now();
    let (id,): (i64,) = trestle::sqlx::query_as(
        "INSERT INTO comments (body, article_id, author_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(&text)
    .bind(article)
    .bind(me)
    .bind(&now)
    .fetch_one(&*db)
    .await?;
    let row: Row = trestle::sqlx::query_as(select_comments!("AND c.id = $3"))
        .bind(me)
        .bind(article)
        .bind(id)
        .fetch_one(&*db)
        .await?;
    Ok((StatusCode::CREATED, Json(CommentBody { comment: to_comment(row) })))
}

/// Deletes one's own comment.
#[delete("/api/articles/{slug}/comments/{id}")]
pub async fn delete_comment(auth: Auth, db: Db, Path((slug, id)): Path<(String, i64)>) -> trestle::Result<StatusCode> {
    let me = user_id(&auth)?;
    let (article, _) = find(&db, &slug).await?;
    let row: Option<(i64,)> =
        trestle::sqlx::query_as("SELECT author_id FROM comments WHERE id = $1 AND article_id = $2")
            .bind(id)
            .bind(article)
            .fetch_optional(&*db)
            .await?;
    let (author,) = row.ok_or_else(|| not_found("comment"))?;
    if author != me {
        return Err(forbidden("comment"));
    }
    trestle::sqlx::query("DELETE FROM comments WHERE id = $1").bind(id).execute(&*db).await?;
    Ok(StatusCode::NO_CONTENT)
}
