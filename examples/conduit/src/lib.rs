//! The RealWorld "Conduit" API on trestle.
//!
//! `cargo run -p conduit` serves it on 127.0.0.1:3000 with an embedded SQLite database file
//! (created and migrated on first start); `--features postgres` with
//! `APP__DATABASE__URL=postgres://…` runs the same code on PostgreSQL.

mod articles;
mod comments;
mod error;
mod profiles;
mod rules;
pub mod seed;
mod tags;
mod time;
mod users;

use trestle::config::NoConfig;
use trestle::prelude::*;

/// What the handlers take, each part on its own through `FromRef`: `Db`, `State<Jwt>`, and
/// `Auth` (which verifies tokens with the `Jwt`).
#[derive(Clone, FromRef)]
pub struct AppState {
    /// The database pool.
    pub db: Db,
    /// Issues and verifies tokens.
    pub jwt: Jwt,
}

/// The database conduit runs on: SQLite, or PostgreSQL with `--features postgres`.
pub type Database = trestle::db::DefaultBackend;

/// The app, ready to run or to hand to `TestApp`.
pub fn app() -> App<NoConfig, AppState> {
    #[cfg(not(feature = "postgres"))]
    let migrations = trestle::migrate!("migrations/sqlite");
    #[cfg(feature = "postgres")]
    let migrations = trestle::migrate!("migrations/postgres");

    App::new()
        .database()
        .migrations(migrations)
        .auth()
        .renderer(error::render)
        .problem_schema::<error::Errors>("application/json")
        .commands(seed::run)
        .state(|ctx| AppState { db: ctx.db(), jwt: ctx.jwt() })
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
