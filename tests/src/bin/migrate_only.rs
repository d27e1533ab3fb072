//! Connects to `APP__DATABASE__URL` and applies `tests/migrations`, then exits without serving:
//! the migration race tests start several at once.

use trestle::prelude::*;

async fn migrate<DB: trestle::db::Backend>() -> Result<(), trestle::StartupError> {
    let app = App::new().database_with::<DB>().migrations(trestle::migrate!());
    let config = app.load_config()?;
    trestle::telemetry::init(&config.telemetry).expect("logs");
    app.prepare(config).await?.close().await;
    Ok(())
}

#[trestle::main]
async fn main() -> Result<(), trestle::StartupError> {
    let url = std::env::var("APP__DATABASE__URL").unwrap_or_default();
    if url.starts_with("postgres") {
        migrate::<trestle::db::Postgres>().await
    } else if url.starts_with("mysql") {
        migrate::<trestle::db::MySql>().await
    } else {
        migrate::<trestle::db::Sqlite>().await
    }
}
