//! Connecting at startup: bounded retry with backoff, then migrations.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use sqlx::pool::PoolOptions;

use super::{Backend, Handle, Migrations};
use crate::config::DatabaseConfig;

/// Why the database could not be set up at startup. Each message names the (redacted) URL or
/// the migration, and what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// No URL configured.
    #[error("database.url is not set: set database.url under [database] in config/default.toml or in the environment (e.g. {example})")]
    MissingUrl {
        /// An example URL for the backend.
        example: &'static str,
    },
    /// The URL is for another backend than the app was built for.
    #[error("database.url {url} is not a {backend} URL (expected {schemes}://…): fix database.url, or build the app with the feature for that database")]
    WrongBackend {
        /// The URL, password redacted.
        url: String,
        /// The backend the app was built for.
        backend: &'static str,
        /// Its schemes.
        schemes: String,
    },
    /// The URL does not parse, or an option in it is not valid.
    #[error("database.url {url} is not valid: {reason}; fix database.url")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Every connection attempt failed.
    #[error("cannot connect to {backend} at {url} after {attempts} attempts: {last_error}; check that the server is running and reachable, or change database.url; database.connect_retries sets the attempts")]
    Unreachable {
        /// The backend.
        backend: &'static str,
        /// The URL, password redacted.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's error.
        last_error: String,
    },
    /// A migration failed, or the applied migrations do not match the embedded ones.
    #[error("{0}")]
    Migration(String),
}

impl DbError {
    /// The config key to change, when one is to blame (for the message's environment variable).
    pub fn config_key(&self) -> Option<&'static str> {
        match self {
            DbError::Migration(_) => None,
            _ => Some("database.url"),
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Connects one backend; a plain function pointer so `App` need not be generic over it.
pub(crate) type Connector = fn(DatabaseConfig, Option<Migrations>) -> BoxFuture<Result<Handle, DbError>>;

/// The connector for `DB`.
pub(crate) fn connector<DB: Backend>() -> Connector {
    |config, migrations| Box::pin(connect::<DB>(config, migrations))
}

/// Builds the pool (retrying with backoff), then applies migrations when `database.migrate`.
pub(crate) async fn connect<DB: Backend>(
    config: DatabaseConfig,
    migrations: Option<Migrations>,
) -> Result<Handle, DbError> {
    let url = config.url.clone().ok_or(DbError::MissingUrl { example: DB::EXAMPLE_URL })?;
    if !DB::SCHEMES.contains(&url.scheme().as_str()) {
        return Err(DbError::WrongBackend {
            url: url.redacted(),
            backend: <DB as sqlx::Database>::NAME,
            schemes: DB::SCHEMES.join("|"),
        });
    }
    let options =
        DB::options(&url, &config).map_err(|e| DbError::InvalidUrl { url: url.redacted(), reason: e.to_string() })?;
    let pool_options = PoolOptions::<DB>::new()
        .max_connections(config.max_connections)
        .min_connections(config.min_connections)
        .acquire_timeout(config.acquire_timeout)
        .idle_timeout(config.idle_timeout);

    let attempts = config.connect_retries + 1;
    let mut delay = Duration::from_millis(250);
    let mut last_error = String::new();
    let mut pool = None;
    for attempt in 1..=attempts {
        match tokio::time::timeout(config.connect_timeout, pool_options.clone().connect_with(options.clone())).await {
            Ok(Ok(p)) => {
                pool = Some(p);
                break;
            }
            Ok(Err(e)) => last_error = e.to_string(),
            Err(_) => {
                last_error =
                    format!("no answer within {}ms (database.connect_timeout)", config.connect_timeout.as_millis())
            }
        }
        if attempt < attempts {
            tracing::warn!(
                backend = <DB as sqlx::Database>::NAME,
                url = %url,
                attempt,
                retry_in_ms = delay.as_millis() as u64,
                error = %last_error,
                "database not reachable; retrying"
            );
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
    let pool = pool.ok_or_else(|| DbError::Unreachable {
        backend: <DB as sqlx::Database>::NAME,
        url: url.redacted(),
        attempts,
        last_error,
    })?;
    tracing::info!(backend = <DB as sqlx::Database>::NAME, url = %url, max_connections = config.max_connections, "database connected");

    if config.migrate {
        if let Some(migrations) = migrations {
            migrations.apply::<DB>(&pool).await?;
        }
    }
    Ok(DB::handle(pool))
}
