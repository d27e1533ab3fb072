//! Tags.

use trestle::prelude::*;

/// `{"tags": […]}`.
#[derive(Serialize, JsonSchema)]
pub struct Tags {
    tags: Vec<String>,
}

/// Every tag in use, sorted.
#[get("/api/tags", tags = ["Tags"])]
pub async fn list(db: Db) -> Result<Json<Tags>> {
    // `tags` counts each tag's articles (migration 0002): an index of the tags in use.
    let tags =
        trestle::sqlx::query_scalar("SELECT name FROM tags WHERE uses > 0 ORDER BY name").fetch_all(&*db).await?;
    Ok(Json(Tags { tags }))
}
