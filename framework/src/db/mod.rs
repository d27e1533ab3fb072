//! sqlx database pools: SQLite (embedded, the default), PostgreSQL and MySQL/MariaDB.
//!
//! An app picks its backend at compile time (features `sqlite`, `postgres`, `mysql`) and the
//! URL at run time (`[database] url`, or `APP__DATABASE__URL`). `App::database()` connects at
//! startup — retrying an unreachable database with backoff, then failing with one clear message
//! — applies the embedded migrations, and registers a `/health/ready` check.
//!
//! ```no_run
//! use trestle::prelude::*;
//!
//! /// Counts the items.
//! #[get("/count")]
//! async fn count(db: Db) -> trestle::Result<String> {
//!     let (n,): (i64,) = trestle::sqlx::query_as("SELECT COUNT(*) FROM items").fetch_one(&*db).await?;
//!     Ok(n.to_string())
//! }
//!
//! #[trestle::main]
//! async fn main() -> Result<(), trestle::StartupError> {
//!     App::new()
//!         .database() // with `.migrations(trestle::migrate!())` to apply ./migrations
//!         .state(|ctx| ctx.clone())
//!         .routes(routes![count])
//!         .run()
//!         .await
//! }
//! ```
//!
//! `Db` (the default backend's pool) is an extractor wherever the app's state gives one through
//! `FromRef`: put `db: Db` in your state and derive `FromRef`, or use the [`Context`] itself as
//! state. With several backend features on, the default backend is PostgreSQL, then MySQL, then
//! SQLite; `Db<Sqlite>` names one explicitly and `App::database_with::<Sqlite>()` connects it.
//!
//! Errors from sqlx become problems when returned with `?`: no row → 404, unique or foreign-key
//! violation → 409, not-null or check violation → 422, pool exhausted → 503 with `Retry-After`,
//! connection lost → 503. Once the framework has confirmed the server is down, extracting `Db`
//! answers 503 "the database is unreachable" at once until it answers again (see [`Db`]). SQL text, parameters and driver messages are logged with the request
//! id, never sent.
//!
//! Where concurrent requests may create the same unique thing, let the constraint decide rather
//! than checking first: `INSERT … ON CONFLICT DO NOTHING` when a second insert means "already
//! done" (a like, a follow), [`is_unique_violation`] to answer "already taken" yourself, and
//! [`retry_on_unique_violation`] to try again with a new value (a slug with a suffix).
//!
//! [`Context`]: crate::Context

mod backend;
mod connect;
mod error;
pub(crate) mod health;
pub(crate) mod migrate;
mod retry;

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use sqlx::Pool;

pub use crate::error::database::{constraint, is_unique_violation};
pub use backend::Backend;
pub(crate) use backend::Handle;
pub(crate) use connect::{connector, Connector};
pub use error::DbError;
pub use migrate::Migrations;
pub use retry::retry_on_unique_violation;

#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub use sqlx::MySql;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use sqlx::Postgres;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlx::Sqlite;

/// The backend `Db` and `App::database()` use: PostgreSQL when its feature is on, else MySQL,
/// else SQLite.
#[cfg(feature = "postgres")]
pub type DefaultBackend = sqlx::Postgres;
/// The backend `Db` and `App::database()` use: PostgreSQL when its feature is on, else MySQL,
/// else SQLite.
#[cfg(all(feature = "mysql", not(feature = "postgres")))]
pub type DefaultBackend = sqlx::MySql;
/// The backend `Db` and `App::database()` use: PostgreSQL when its feature is on, else MySQL,
/// else SQLite.
#[cfg(all(feature = "sqlite", not(any(feature = "postgres", feature = "mysql"))))]
pub type DefaultBackend = sqlx::Sqlite;

/// The database pool, as an extractor: `async fn handler(db: Db)`.
///
/// It derefs to `sqlx::Pool`, so `query.fetch_one(&*db)` runs a query. Extracting it needs
/// `Db: FromRef<S>` for the app's state `S` (a `db: Db` field with `#[derive(FromRef)]`, or the
/// [`Context`](crate::Context) as state).
///
/// The rejection: while the framework knows the database server is down (a connection to it
/// was refused or lost, and a probe of its own confirmed it), extracting answers 503 "the
/// database is unreachable" with `Retry-After: 1` at once, instead of letting the handler wait
/// `database.acquire_timeout` for a connection; a probe every 500 ms notices when the server is
/// back. A pool wrapped with [`Db::new`] is not watched and never rejects.
pub struct Db<DB: Backend = DefaultBackend> {
    pool: Pool<DB>,
    health: Option<Arc<health::Health>>,
}

impl<DB: Backend> Db<DB> {
    /// Wraps a pool (not watched: see the type's docs).
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool, health: None }
    }

    /// A pool the framework connected, with its server's health.
    pub(crate) fn watched(pool: Pool<DB>, health: Arc<health::Health>) -> Self {
        Self { pool, health: Some(health) }
    }

    /// The pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

impl<DB: Backend> Clone for Db<DB> {
    fn clone(&self) -> Self {
        Self { pool: self.pool.clone(), health: self.health.clone() }
    }
}

impl<DB: Backend> std::fmt::Debug for Db<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db<{}>(size {}, idle {})", <DB as sqlx::Database>::NAME, self.pool.size(), self.pool.num_idle())
    }
}

impl<DB: Backend> Deref for Db<DB> {
    type Target = Pool<DB>;

    fn deref(&self) -> &Pool<DB> {
        &self.pool
    }
}

/// The pool reads nothing from the request; its failures (503) are on every operation.
impl<DB: Backend> crate::openapi::DescribeInput for Db<DB> {}

impl<DB: Backend, S: Send + Sync> FromRequestParts<S> for Db<DB>
where
    Db<DB>: FromRef<S>,
{
    type Rejection = crate::Error;

    async fn from_request_parts(_parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let db = Db::from_ref(state);
        match &db.health {
            Some(health) if health.is_down() => Err(crate::error::database::unreachable()),
            _ => Ok(db),
        }
    }
}
