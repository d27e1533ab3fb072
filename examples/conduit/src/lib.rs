//! The RealWorld "Conduit" API on trestle.
//!
//! `cargo run -p conduit` serves it on 127.0.0.1:3000 with an embedded SQLite database file
//! (created and migrated on first start); `--features postgres` with
//! `APP__DATABASE__URL=postgres://…` runs the same code on PostgreSQL.

mod articles;
mod comments;
mod error;
mod profiles;
pub mod seed;
mod tags;
mod time;
mod users;
mod validate;

use trestle::prelude::*;

/// conduit's own settings (top-level keys in `config/*.toml`).
#[derive(Debug, Config, Deserialize)]
pub struct Settings {
    /// Page size when a list request gives no `limit`.
    #[config(default = 20)]
    pub default_limit: i64,
    /// Largest `limit` a list request may ask for.
    #[config(default = 100)]
    pub max_limit: i64,
}

/// The state every handler sees: config, database pool and token issuer.
pub type Ctx = trestle::Context<Settings>;

/// The database conduit runs on: SQLite, or PostgreSQL with `--features postgres`.
pub type Database = trestle::db::DefaultBackend;

/// Runs a two-id statement (add or remove a follow or a favorite): `sql` binds `$1` and `$2`.
async fn link(db: &Db, sql: &'static str, first: i64, second: i64) -> trestle::Result<()> {
    trestle::sqlx::query(sql).bind(first).bind(second).execute(&**db).await?;
    Ok(())
}

/// The app, ready to run or to hand to `TestApp`.
pub fn app() -> App<Settings, Ctx> {
    #[cfg(not(feature = "postgres"))]
    let migrations = trestle::migrate!("migrations/sqlite");
    #[cfg(feature = "postgres")]
    let migrations = trestle::migrate!("migrations/postgres");

    App::new()
        .config::<Settings>()
        .database()
        .migrations(migrations)
        .auth()
        .renderer(error::render)
        .commands(seed::run)
        .state(|ctx| ctx.clone())
        .routes(routes![
            users::register,
            users::login,
            users::current,
            users::update,
            profiles::get_profile,
            profiles::follow,
            profiles::unfollow,
            articles::list,
            articles::feed,
            articles::get_article,
            articles::create,
            articles::update,
            articles::delete_article,
            articles::favorite,
            articles::unfavorite,
            comments::list,
            comments::add,
            comments::delete_comment,
            tags::list,
        ])
}
