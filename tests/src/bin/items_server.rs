//! A trestle server on SQLite (`APP__DATABASE__URL`, migrated from `tests/migrations`): the
//! statement span tests read its queries from the OTLP export.

use tracing::Instrument;
use trestle::axum::routing::{get, post};
use trestle::db::Sqlite;
use trestle::prelude::*;

/// One item's name, looked up inside an app span. The literal in the query must not be
/// exported.
async fn item(db: Db<Sqlite>, Path(id): Path<i64>) -> trestle::Result<String> {
    let name: Option<String> =
        trestle::sqlx::query_scalar("SELECT name FROM items WHERE id = $1 AND name <> 'hidden-literal'")
            .bind(id)
            .fetch_optional(&*db)
            .instrument(tracing::info_span!("load_item", item.id = id))
            .await?;
    name.ok_or_else(|| Error::not_found(format!("there is no item {id}")))
}

/// Creates an item; a name already taken is a unique violation (409).
async fn create(db: Db<Sqlite>, Path((id, name)): Path<(i64, String)>) -> trestle::Result<&'static str> {
    trestle::sqlx::query("INSERT INTO items (id, name) VALUES ($1, $2)").bind(id).bind(name).execute(&*db).await?;
    Ok("created")
}

/// Counts the items, then creates one inside a span of its own; a sqlx error is turned into a
/// problem by the handler's `?`, after that span ended.
async fn create_counted(db: Db<Sqlite>, Path((id, name)): Path<(i64, String)>) -> trestle::Result<String> {
    let count: i64 = trestle::sqlx::query_scalar("SELECT COUNT(*) FROM items").fetch_one(&*db).await?;
    store(&db, id, &name).instrument(tracing::info_span!("store_item")).await?;
    Ok(format!("{} items", count + 1))
}

async fn store(db: &Db<Sqlite>, id: i64, name: &str) -> Result<(), trestle::sqlx::Error> {
    trestle::sqlx::query("INSERT INTO items (id, name) VALUES ($1, $2)").bind(id).bind(name).execute(&**db).await?;
    Ok(())
}

#[trestle::main]
async fn main() -> Result<(), trestle::StartupError> {
    App::new()
        .database_with::<Sqlite>()
        .migrations(trestle::migrate!())
        .state(|ctx| ctx.clone())
        .routes(
            Router::new()
                .route("/items/{id}", get(item))
                .route("/items/{id}/{name}", post(create))
                .route("/counted/{id}/{name}", post(create_counted)),
        )
        .run()
        .await
}
