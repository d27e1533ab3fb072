//! Tags.

use trestle::prelude::*;

#[derive(Serialize)]
pub struct Tags {
    tags: Vec<String>,
}

/// Every tag in use, sorted.
#[get("/api/tags")]
pub async fn list(db: Db) -> trestle::Result<Json<Tags>> {
    // `tags` counts each tag's articles (migration 0002): an index of the tags in use.
    let tags: Vec<(String,)> =
        trestle::sqlx::query_as("SELECT name FROM tags WHERE uses > 0 ORDER BY name").fetch_all(&*db).await?;
    Ok(Json(Tags { tags: tags.into_iter().map(|(t,)| t).collect() }))
}
