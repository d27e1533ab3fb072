//! # trestle
//!
//! axum with the decisions already made. One dependency gives an app layered typed config,
//! errors that render as RFC 9457 problem documents, a production middleware stack, health
//! checks, graceful shutdown, a test client, OpenTelemetry traces and Prometheus metrics — and
//! everything stays an ordinary axum `Router`, extractor or tower layer.
//!
//! ```no_run
//! use trestle::prelude::*;
//!
//! #[derive(Config, Deserialize)]
//! struct Settings {
//!     /// How to greet.
//!     #[config(default = "Hello")]
//!     greeting: String,
//! }
//!
//! #[derive(Clone)]
//! struct AppState {
//!     settings: Arc<Settings>,
//! }
//!
//! #[derive(Serialize, JsonSchema)]
//! struct Message {
//!     message: String,
//! }
//!
//! /// Greets `name`.
//! #[get("/hello/{name}")]
//! async fn hello(State(state): State<AppState>, Path(name): Path<String>) -> Json<Message> {
//!     Json(Message { message: format!("{}, {name}!", state.settings.greeting) })
//! }
//!
//! #[trestle::main]
//! async fn main() -> Result<(), StartupError> {
//!     App::new()
//!         .config::<Settings>()
//!         .state(|ctx| AppState { settings: ctx.config().clone() })
//!         .routes(routes![hello])
//!         .run()
//!         .await
//! }
//! ```
//!
//! In the prelude, `get`, `post`, `put`, `patch` and `delete` are trestle's route attributes, and
//! `FromRow` and `FromRef` are trestle's derives (no `sqlx` or `axum` dependency needed).
//! A hand-written router uses axum's functions of the same names from [`axum::routing`]:
//! `Router::new().route("/", axum::routing::get(handler))` is an ordinary route too, and
//! `App::routes` takes either.
//!
//! ## Startup
//!
//! [`App::run`] starts in phases — load config → telemetry → resources (database pool, JWT
//! keys, metrics registry) → state → routes → middleware stack → serve — and a failure in any
//! of them is a [`StartupError`] naming the subsystem, the config key and its environment
//! variable. [`App::load_config`] and [`App::prepare`] stop after the early phases, for commands
//! that check config or apply migrations without serving.
//!
//! ## The command line
//!
//! [`App::run`] parses the process arguments: no arguments serves; `migrate`, `routes`,
//! `config check|show|template`, `health` and `doctor` operate the app (see [`app::cli`]), and
//! [`App::commands`] adds the app's own.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `sqlite` | yes | [`db`] with embedded SQLite (bundled), [`Db`], `migrate!()` |
//! | `postgres` | | [`db`] with PostgreSQL |
//! | `mysql` | | [`db`] with MySQL and MariaDB |
//! | `otel` | | OpenTelemetry traces over OTLP (gRPC, HTTP/protobuf), W3C trace context |
//! | `metrics` | | Prometheus `/metrics`: HTTP and pool metrics, the app's own |
//! | `redis` | | the rate limiter's Redis backend, shared by every replica |
//! | `time` | | sqlx's `time` types in rows and binds; `trestle::time` |
//! | `uuid` | | sqlx's `Uuid`; `trestle::uuid` |
//! | `json` | | sqlx's `Json<T>` columns |
//! | `testing` | | [`testing`]: `TestApp`, `TestDatabase` — enable it in `[dev-dependencies]` |
//!
//! ## The map
//!
//! | module | what it holds |
//! |---|---|
//! | [`app`] | [`App`]: the builder, startup phases, [`StartupError`], serving, graceful shutdown, the command line ([`app::cli`]) |
//! | [`auth`] | JWT keys, [`auth::Auth`] extractors, token issuing, password hashing |
//! | [`config`] | layered typed config, [`Secret`], `#[derive(Config)]` |
//! | [`db`] | sqlx pools (SQLite, PostgreSQL, MySQL), [`Db`], migrations, error mapping |
//! | [`error`] | [`Error`], [`Result`], problem documents, `#[derive(ApiError)]` |
//! | [`extract`] | [`Json`], [`Path`], [`Query`] whose rejections are problems; [`Valid`] (garde rules), [`Page`]/[`Paginated`] |
//! | [`middleware`] | the default stack: request id, span, timeout, limits, panics, headers |
//! | [`rate_limit`] | per-client quotas (GCRA) in process or in Redis, 429s, `RateLimit` headers |
//! | [`routing`] | `#[get]`/`#[post]`/… route macros, `routes![…]`, the route table |
//! | [`telemetry`] | log set-up (pretty or JSON); OTLP trace export and W3C trace context (feature `otel`) |
//! | `metrics` | Prometheus `/metrics`: HTTP and pool metrics, the app's own (feature `metrics`) |
//! | `testing` | `TestApp`: drive the app in process (feature `testing`) |

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Lets the derive macros' `::trestle::…` paths resolve inside this crate too.
extern crate self as trestle;

// Startup runs once: a large error type (config errors keep key, origin and variable in the
// variant for precise messages) costs nothing there.
#[allow(clippy::result_large_err)]
pub mod app;
pub mod auth;
pub mod config;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))))]
pub mod db;
pub mod error;
pub mod extract;
mod health;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod rate_limit;
pub mod routing;
mod semconv;
pub mod telemetry;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use app::{App, Context, StartupError};
pub use config::Config;
pub use config::Secret;
pub use error::ApiError;
pub use error::{Error, Result};
pub use extract::{Json, Page, Paginated, Path, Query, Valid};
pub use middleware::RequestId;
pub use trestle_macros::FromRef;
pub use trestle_macros::{delete, get, main, patch, post, put, route, routes, test};
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))))]
pub use trestle_macros::{migrate, FromRow};

/// axum itself, for everything trestle does not wrap.
pub use axum;
/// clap, for an app's own commands ([`App::commands`]): `#[derive(trestle::clap::Subcommand)]`.
pub use clap;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))))]
pub use db::Db;
/// garde, whose `Validate` trait [`Valid`] checks (an app derives it with its own `garde`
/// dependency; see [`Valid`]).
pub use garde;
/// schemars, whose `JsonSchema` describes bodies and parameters in the OpenAPI document
/// ([`openapi`]); `#[derive(JsonSchema)]` is in the prelude.
pub use schemars;
/// sqlx, for queries: `trestle::sqlx::query(...)`.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))))]
pub use sqlx;
/// time, the date-time types of rows and binds (feature `time`): `trestle::time::OffsetDateTime`.
#[cfg(feature = "time")]
#[cfg_attr(docsrs, doc(cfg(feature = "time")))]
pub use time;
/// tracing, for the app's own logs and spans: `trestle::tracing::info!("…")` lands in the same
/// lines (with the request id) as the framework's.
pub use tracing;
/// uuid, for `Uuid` columns and ids (feature `uuid`).
#[cfg(feature = "uuid")]
#[cfg_attr(docsrs, doc(cfg(feature = "uuid")))]
pub use uuid;

/// What most apps need, in one `use trestle::prelude::*;`.
pub mod prelude {
    pub use std::sync::Arc;

    pub use axum::extract::{FromRef, State};
    pub use axum::response::IntoResponse;
    pub use axum::Router;
    pub use serde::{Deserialize, Serialize};
    /// Derives `FromRef` for each field of a state struct (trestle's, no `axum` dependency).
    pub use trestle_macros::FromRef;

    pub use trestle_macros::{delete, get, patch, post, put, route, routes};

    pub use crate::auth::{Auth, Claims, Jwt};
    pub use crate::config::{Config, Secret};
    pub use crate::error::{ApiError, Error, Result};
    pub use crate::extract::{Json, Page, Paginated, Path, Query, Valid};
    pub use crate::openapi::{Created, NoContent};
    pub use crate::{App, Context, RequestId, StartupError};
    /// The schema of a body or parameter type, for the OpenAPI document: `#[derive(JsonSchema)]`
    /// (its expansion names `schemars`, which this prelude brings into scope too).
    pub use schemars::{self, JsonSchema};

    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    pub use crate::db::Db;
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    pub use trestle_macros::FromRow;
}

/// Support code for the macros. Not public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use anyhow;
    pub use axum;
    pub use http;
    pub use inventory;
    pub use tokio;

    pub use crate::app::UnnamedState;
    pub use crate::auth::scopes::{RequireScopes, ScopeList};
    /// Set by `#[trestle::main]`: the app crate's folder (whose `config/` debug builds fall back
    /// to), and its name, version and description for the command line.
    pub fn set_app_package(dir: &'static str, name: &'static str, version: &'static str, description: &'static str) {
        crate::config::loader::set_app_manifest_dir(dir);
        crate::app::cli::set_package(crate::app::cli::Package { name, version, description });
    }
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    pub use crate::db::migrate::{Migration, MigrationKind};
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    pub use crate::db::Migrations;
    pub use crate::error::api_error::ApiErrorDowncast;
    pub use crate::routing::glue::method_router;

    /// A `#[config(default = ...)]` value as the TOML value it would be in a file.
    pub fn config_default<T: serde::Serialize + ?Sized>(value: &T) -> Result<toml::Value, String> {
        toml::Value::try_from(value).map_err(|e| e.to_string())
    }

    /// A status checked by the macro to be in 100..=599.
    pub fn status(code: u16) -> http::StatusCode {
        http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The runtime a `#[trestle::test]` runs on: one thread, timers and I/O on.
    pub fn test_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the tokio runtime: {e}"))
    }

    /// The runtime `#[trestle::main]` runs on.
    pub fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the tokio runtime: {e}"))
    }
}
