//! Tags.

use trestle::prelude::*;

#[derive(Serialize)]
pub struct Tags {
    tags: Vec<String>,
}

/// Every tag in use, sorted.
#[get("/api/tags")]
pub async fn list(db: Db) -> trestle::Result<Json<Tags>> {
    let tags: Vec<(String,)> =
        trestle::sqlx::query_as("SELECT DISTINCT tag FROM article_tags ORDER BY tag").fetch_all(&*db).await?;
    Ok(Json(Tags { tags: tags.into_iter().map(|(t,)| t).collect() }))
}
