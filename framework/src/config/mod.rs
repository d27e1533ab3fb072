//! Layered, typed configuration.
//!
//! Sources, lowest to highest precedence:
//!
//! 1. struct defaults (`#[config(default = ...)]`),
//! 2. `config/default.toml`,
//! 3. `config/{profile}.toml` (profile from `APP_ENV`, in the environment or `.env`:
//!    `development` unless set),
//! 4. a `.env` file in the working directory (it never overrides the real environment),
//! 5. environment variables `APP__SECTION__KEY` (`APP__SERVER__PORT=8080` sets `server.port`).
//!
//! The config folder is `APP_CONFIG_DIR` when set, else `./config` when it exists, else (debug
//! builds run through `#[trestle::main]`) the app crate's own `config/` folder.
//!
//! The framework's sections (`[server]`, `[telemetry]`) and the app's own struct are read from
//! the same tree: the app's fields sit at the top level, beside the framework's sections.
//!
//! ```
//! use trestle::config::{Config, Secret};
//! use serde::Deserialize;
//!
//! #[derive(Config, Deserialize)]
//! struct Settings {
//!     /// Articles per page.
//!     #[config(default = 20, validate = positive)]
//!     page_size: u32,
//!     /// Key for the payment provider.
//!     stripe_key: Secret<String>,
//! }
//!
//! fn positive(n: &u32) -> Result<(), String> {
//!     if *n == 0 { Err("must be at least 1".into()) } else { Ok(()) }
//! }
//!
//! let loaded = trestle::config::Loader::new()
//!     .env_vars([("APP__STRIPE_KEY", "sk_live_123")])
//!     .load::<Settings>()
//!     .unwrap();
//! assert_eq!(loaded.app.page_size, 20);
//! assert_eq!(loaded.app.stripe_key.to_string(), "[REDACTED]");
//! assert_eq!(loaded.app.stripe_key.expose(), "sk_live_123");
//! ```
//!
//! # Field attributes
//!
//! - `#[config(default = <value>)]`: the value as it would be written in the TOML file
//!   (`default = "30s"` for a duration, `default = 20` for a number). Fields without a default
//!   are required unless their type is `Option<T>`.
//! - `#[config(secret)]`: redacted in the template (implied by the type `Secret<T>`).
//! - `#[config(nested)]`: the field is a section whose type also derives `Config`.
//! - `#[config(validate = path::to::fn)]`: `fn(&FieldType) -> Result<(), impl Display>`, run
//!   after loading; `#[config(validate = ...)]` on the struct takes `fn(&Self)`.
//!
//! Of serde's attributes the derive reads a field's `rename = "key"` and `default`; those that
//! would make the keys differ from serde's (`rename_all`, `flatten`, `alias`, `skip`,
//! `deny_unknown_fields`, …) are compile errors.
//!
//! # Environment variables
//!
//! Variables give text; a field that needs a number, a boolean, a duration or a list reads it
//! from the text (`APP__SERVER__CORS__ALLOWED_ORIGINS=https://a.com,https://b.com`). The
//! prefix names all the variables at once ([`EnvNames`], [`Loader::env_prefix`]).

mod auth;
mod database;
mod de;
mod env;
mod error;
// Config loads once, at startup: a large error type costs nothing there, and keeping every
// detail (key, origin, env var) in the variant keeps the messages precise.
#[allow(clippy::result_large_err)]
pub(crate) mod loader;
mod openapi;
mod pagination;
mod rate_limit;
mod schema;
mod secret;
mod sections;
mod suggest;
mod telemetry;
mod template;
mod units;

pub use auth::{AuthConfig, JwtConfig};
pub use database::{DatabaseConfig, DatabaseUrl, StatementTimeout};
pub use env::EnvNames;
pub use error::{ConfigError, Origin};
pub use loader::{Loaded, Loader, Setting};
pub use openapi::OpenApiConfig;
pub use pagination::{OverMax, PaginationConfig};
pub(crate) use rate_limit::{duration_text, parse_route_key};
pub use rate_limit::{
    parse_quota, OnBackendError, Quota, RateLimitBackend, RateLimitConfig, RateLimitKey, RedisConfig,
};
pub use schema::{Config, Field, NoConfig, ValidationErrors};
pub use secret::Secret;
pub(crate) use sections::Cidr;
pub use sections::{Cors, ServerConfig};
pub use telemetry::{LogFormat, MetricsConfig, OtlpConfig, OtlpProtocol, TelemetryConfig};
pub use template::{template, template_with};
/// Derives [`Config`](trait@Config); see the module docs for its attributes.
pub use trestle_macros::Config;
pub use units::{byte_size, duration};
