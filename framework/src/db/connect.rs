//! Connecting at startup: one real connection per attempt, retried with backoff only when the
//! failure is transient, then migrations.
//!
//! The bound: `connect_retries + 1` attempts, each at most `connect_timeout`, with 250 ms of
//! backoff doubling to at most 5 s between them. With the defaults (5 retries, 5 s) startup
//! gives up after at most about 38 s when every attempt hangs, and after about 8 s when the
//! server refuses connections; wrong credentials, an unknown database, an unopenable SQLite file
//! or a TLS misconfiguration fail at the first attempt.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::Connection;

use super::{Backend, DbError, Handle, Migrations};
use crate::config::DatabaseConfig;
use crate::error::database::{plain_message, trouble, Trouble};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Connects one backend; a plain function pointer so `App` need not be generic over it.
pub(crate) type Connector = fn(DatabaseConfig, Option<Migrations>) -> BoxFuture<Result<Handle, DbError>>;

/// The connector for `DB`.
pub(crate) fn connector<DB: Backend>() -> Connector {
    |config, migrations| Box::pin(connect::<DB>(config, migrations))
}

/// How long a pooled connection may have been idle before it is pinged on acquire.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

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
    let pool_options = DB::session(
        PoolOptions::<DB>::new()
            .max_connections(config.max_connections)
            .min_connections(config.min_connections)
            .acquire_timeout(config.acquire_timeout)
            .idle_timeout(config.idle_timeout)
            // An event per acquire, emitted only when something listens (statement spans put
            // the wait on the statement that follows).
            .acquire_time_level(log::LevelFilter::Debug)
            // sqlx pings every connection it hands out: a round trip before each statement.
            // A connection that came back to the pool less than a second ago is alive as far as
            // a ping could tell; one idle longer (where a restart or a firewall may have cut it)
            // is still pinged, and replaced when the ping fails.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE_AFTER {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            }),
        &config,
    );

    // Each attempt opens one real connection, so its own error survives (a pool would retry a
    // refused connection silently until its acquire timeout and report only "timed out").
    // Errors that retrying cannot fix end startup at once; transient ones are retried.
    let attempts = config.connect_retries + 1;
    let mut delay = Duration::from_millis(250);
    let mut last_error = String::new();
    let mut pool = None;
    for attempt in 1..=attempts {
        // `Err(None)`: no answer within `database.connect_timeout`.
        let result = match tokio::time::timeout(config.connect_timeout, DB::Connection::connect_with(&options)).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                // The server answered: the pool's own first connections follow at once.
                match tokio::time::timeout(config.connect_timeout, pool_options.clone().connect_with(options.clone()))
                    .await
                {
                    Ok(connected) => connected.map_err(Some),
                    Err(_) => Err(None),
                }
            }
            Ok(Err(e)) => Err(Some(e)),
            Err(_) => Err(None),
        };
        match result {
            Ok(p) => {
                pool = Some(p);
                break;
            }
            Err(None) => {
                last_error =
                    format!("no answer within {}ms (database.connect_timeout)", config.connect_timeout.as_millis())
            }
            Err(Some(e)) => {
                if let Trouble::Rejected(fix) = trouble(&e) {
                    return Err(DbError::Rejected {
                        backend: <DB as sqlx::Database>::NAME,
                        url: url.redacted(),
                        reason: plain_message(&e),
                        fix: fix.advice(),
                    });
                }
                last_error = plain_message(&e);
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
    #[cfg(feature = "otel")]
    crate::telemetry::describe_database(semconv_system(<DB as sqlx::Database>::NAME), url.database_name());

    if config.migrate {
        if let Some(migrations) = migrations {
            migrations.apply::<DB>(&pool).await?;
        }
    }
    Ok(DB::handle(pool))
}

/// OpenTelemetry's `db.system.name` for a sqlx backend.
#[cfg(feature = "otel")]
fn semconv_system(backend: &str) -> &'static str {
    match backend {
        "PostgreSQL" => "postgresql",
        "MySQL" => "mysql",
        "SQLite" => "sqlite",
        _ => "other_sql",
    }
}
