//! Connecting at startup: bounded retry with backoff, then migrations.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use sqlx::pool::PoolOptions;

use super::{Backend, DbError, Handle, Migrations};
use crate::config::DatabaseConfig;

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
