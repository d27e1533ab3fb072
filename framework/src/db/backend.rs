//! What differs between SQLite, PostgreSQL and MySQL: URL schemes, connect options, migrations,
//! creating and dropping databases.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{Connection, Pool};

use super::health::Health;
use super::migrate::Report;

use crate::config::{DatabaseConfig, DatabaseUrl};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What only the framework calls: a backend's connect options, pool handle, migrations and
/// database creation. Sealed, so apps cannot implement [`Backend`] and never see these.
pub(crate) mod sealed {
    use sqlx::migrate::{MigrateError, Migrator};
    use sqlx::{Connection, Pool};

    use super::{BoxFuture, Handle};
    use crate::config::{DatabaseConfig, DatabaseUrl};
    use crate::db::migrate::{Plan, Report};

    /// The framework's side of a backend.
    pub trait Sealed: sqlx::Database {
        /// Connect options from the URL and `[database]`.
        fn options(
            url: &DatabaseUrl,
            config: &DatabaseConfig,
        ) -> Result<<Self::Connection as Connection>::Options, sqlx::Error>;
        /// Settings each pooled connection gets once opened (MySQL's statement timeout).
        fn session(pool: sqlx::pool::PoolOptions<Self>, config: &DatabaseConfig) -> sqlx::pool::PoolOptions<Self>;
        /// The pool, as the context holds it.
        fn handle(pool: Pool<Self>) -> Handle;
        /// This backend's pool, if `handle` is one.
        fn pool(handle: &Handle) -> Option<&Pool<Self>>;
        /// Runs `plan` with `migrator` under the database's migration lock.
        fn migrate<'a>(
            pool: &'a Pool<Self>,
            migrator: &'a Migrator,
            plan: Plan,
        ) -> BoxFuture<'a, Result<Report, MigrateError>>;
        /// Creates the database of `url`.
        fn create_database(url: &str) -> BoxFuture<'_, Result<(), sqlx::Error>>;
        /// Drops the database of `url`.
        fn drop_database(url: &str) -> BoxFuture<'_, Result<(), sqlx::Error>>;
        /// Whether the database of `url` exists.
        fn database_exists(url: &str) -> BoxFuture<'_, Result<bool, sqlx::Error>>;
    }
}

/// A database trestle can connect to: `Sqlite`, `Postgres` or `MySql` (each behind its feature).
/// Sealed: the framework implements it for exactly these.
pub trait Backend: sealed::Sealed {
    /// URL schemes this backend accepts.
    const SCHEMES: &'static [&'static str];
    /// An example URL, for messages.
    const EXAMPLE_URL: &'static str;
}

/// A pool of whichever backend, as the app's `Context` holds it, with its server's health
/// (public only inside this private module, for the sealed trait).
#[derive(Clone, Debug)]
pub struct Handle {
    pool: Pools,
    health: Arc<Health>,
}

#[derive(Clone, Debug)]
enum Pools {
    #[cfg(feature = "sqlite")]
    Sqlite(Pool<sqlx::Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(Pool<sqlx::Postgres>),
    #[cfg(feature = "mysql")]
    MySql(Pool<sqlx::MySql>),
}

/// A pool's occupancy at one moment.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) struct PoolStats {
    pub(crate) size: u32,
    pub(crate) idle: u32,
    pub(crate) max: u32,
}

macro_rules! each {
    ($handle:expr, $pool:ident => $body:expr) => {
        match &$handle.pool {
            #[cfg(feature = "sqlite")]
            Pools::Sqlite($pool) => $body,
            #[cfg(feature = "postgres")]
            Pools::Postgres($pool) => $body,
            #[cfg(feature = "mysql")]
            Pools::MySql($pool) => $body,
        }
    };
}

/// One connection of its own to `pool`'s server, pinged and closed: readiness and the
/// down-state's probe both ask the server outside the pool.
async fn connect_once<DB: sqlx::Database>(pool: &Pool<DB>) -> Result<(), sqlx::Error> {
    let mut conn = DB::Connection::connect_with(&*pool.connect_options()).await?;
    let result = conn.ping().await;
    let _ = conn.close().await;
    result
}

impl Handle {
    /// The `Db` of backend `DB`, if this is its pool.
    pub(crate) fn db<DB: Backend>(&self) -> Option<super::Db<DB>> {
        DB::pool(self).map(|pool| super::Db::watched(pool.clone(), self.health.clone()))
    }

    /// A round trip to the database: readiness. On a connection of its own, not one of the
    /// pool's: a pool busy serving requests is not a database that is down, and a readiness
    /// probe that waited for the pool would take every replica out of rotation at once under
    /// load. (One short connection per probe; probes come seconds apart.)
    ///
    /// What it finds also tells the pool's [`Health`]: an answer clears "down" at once, a
    /// failure that means "down" starts a probe.
    pub(crate) async fn ping(&self) -> Result<(), sqlx::Error> {
        let result = each!(self, pool => connect_once(pool).await);
        match &result {
            Ok(()) => self.health.answered(),
            Err(e) if crate::error::database::means_down(e) => self.health.suspect(),
            Err(_) => {}
        }
        result
    }

    /// Connections open, idle, and the most the pool opens.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn stats(&self) -> PoolStats {
        each!(self, pool => PoolStats { size: pool.size(), idle: pool.num_idle() as u32, max: pool.options().get_max_connections() })
    }

    /// The pool's name in metrics (`db_client_connection_pool_name`): its backend, as the app
    /// has one pool.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn pool_name(&self) -> &'static str {
        match &self.pool {
            #[cfg(feature = "postgres")]
            Pools::Postgres(_) => "postgresql",
            #[cfg(feature = "sqlite")]
            Pools::Sqlite(_) => "sqlite",
            #[cfg(feature = "mysql")]
            Pools::MySql(_) => "mysql",
        }
    }

    /// Applies the pending migrations (the `migrate` command); the versions applied.
    pub(crate) async fn apply(&self, migrations: &super::Migrations) -> Result<Vec<i64>, super::DbError> {
        each!(self, pool => migrations.apply(pool).await.map(|r| r.applied))
    }

    /// Reverts the migrations newer than `to`, or the newest (the `migrate down` command); the
    /// versions reverted.
    pub(crate) async fn revert(
        &self,
        migrations: &super::Migrations,
        to: Option<i64>,
    ) -> Result<Vec<i64>, super::DbError> {
        each!(self, pool => migrations.revert(pool, to).await)
    }

    /// Where each migration stands (the `migrate status` command).
    pub(crate) async fn migration_status(
        &self,
        migrations: &super::Migrations,
    ) -> Result<Vec<super::migrate::MigrationStatus>, super::DbError> {
        each!(self, pool => migrations.status(pool).await)
    }

    /// Closes every connection (shutdown).
    pub(crate) async fn close(&self) {
        each!(self, pool => pool.close().await)
    }
}

macro_rules! backend {
    ($db:ty, $variant:ident, $feature:literal, $name:literal, [$($scheme:literal),*], $example:literal, $migrate:path, $options:expr, $session:expr) => {
        #[cfg(feature = $feature)]
        impl Backend for $db {
            const SCHEMES: &'static [&'static str] = &[$($scheme),*];
            const EXAMPLE_URL: &'static str = $example;
        }

        #[cfg(feature = $feature)]
        impl sealed::Sealed for $db {
            fn options(url: &DatabaseUrl, config: &DatabaseConfig) -> Result<<Self::Connection as Connection>::Options, sqlx::Error> {
                let options = <<Self::Connection as Connection>::Options>::from_str(url.expose())?;
                #[allow(clippy::redundant_closure_call)]
                ($options)(options, config)
            }

            fn session(pool: sqlx::pool::PoolOptions<Self>, config: &DatabaseConfig) -> sqlx::pool::PoolOptions<Self> {
                #[allow(clippy::redundant_closure_call)]
                ($session)(pool, config)
            }

            fn handle(pool: Pool<Self>) -> Handle {
                let probe = pool.clone();
                let health = Health::watch($name, Box::new(move || {
                    let probe = probe.clone();
                    Box::pin(async move { connect_once(&probe).await })
                }));
                Handle { pool: Pools::$variant(pool), health }
            }

            fn pool(handle: &Handle) -> Option<&Pool<Self>> {
                #[allow(unreachable_patterns)]
                match &handle.pool {
                    Pools::$variant(pool) => Some(pool),
                    _ => None,
                }
            }

            fn migrate<'a>(
                pool: &'a Pool<Self>,
                migrator: &'a Migrator,
                plan: super::migrate::Plan,
            ) -> BoxFuture<'a, Result<Report, MigrateError>> {
                Box::pin($migrate(pool, migrator, plan))
            }

            fn create_database(url: &str) -> BoxFuture<'_, Result<(), sqlx::Error>> {
                Box::pin(<$db as sqlx::migrate::MigrateDatabase>::create_database(url))
            }

            fn drop_database(url: &str) -> BoxFuture<'_, Result<(), sqlx::Error>> {
                Box::pin(async move {
                    match <$db as sqlx::migrate::MigrateDatabase>::force_drop_database(url).await {
                        Err(sqlx::Error::Migrate(e)) if matches!(*e, MigrateError::ForceNotSupported) => {
                            <$db as sqlx::migrate::MigrateDatabase>::drop_database(url).await
                        }
                        other => other,
                    }
                })
            }

            fn database_exists(url: &str) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
                Box::pin(<$db as sqlx::migrate::MigrateDatabase>::database_exists(url))
            }
        }
    };
}

backend!(
    sqlx::Sqlite,
    Sqlite,
    "sqlite",
    "SQLite",
    ["sqlite"],
    "sqlite://app.db",
    super::migrate::run_sqlite,
    |options: sqlx::sqlite::SqliteConnectOptions, config: &DatabaseConfig| {
        let journal = sqlx::sqlite::SqliteJournalMode::from_str(&config.journal_mode).map_err(|_| {
            sqlx::Error::Configuration(
                format!(
                    "database.journal_mode {:?} is not one of wal, delete, truncate, persist, memory, off",
                    config.journal_mode
                )
                .into(),
            )
        })?;
        Ok(options
            .create_if_missing(config.create_if_missing)
            .journal_mode(journal)
            .busy_timeout(config.busy_timeout)
            .foreign_keys(true))
    },
    // No server to cancel a statement: database.statement_timeout does not apply.
    |pool, _: &DatabaseConfig| pool
);

backend!(
    sqlx::Postgres,
    Postgres,
    "postgres",
    "PostgreSQL",
    ["postgres", "postgresql"],
    "postgres://user:password@localhost:5432/app",
    super::migrate::run_postgres,
    |options: sqlx::postgres::PgConnectOptions, config: &DatabaseConfig| Ok(
        match config.statement_timeout.duration() {
            Some(timeout) => options.options([("statement_timeout", timeout.as_millis().to_string())]),
            None => options,
        }
    ),
    |pool, _: &DatabaseConfig| pool
);

backend!(
    sqlx::MySql,
    MySql,
    "mysql",
    "MySQL",
    ["mysql"],
    "mysql://user:password@localhost:3306/app",
    super::migrate::run_mysql,
    |options: sqlx::mysql::MySqlConnectOptions, _: &DatabaseConfig| Ok(options),
    |pool: sqlx::pool::PoolOptions<sqlx::MySql>, config: &DatabaseConfig| match config.statement_timeout.duration() {
        Some(timeout) => pool.after_connect(move |conn, _| Box::pin(mysql_statement_timeout(conn, timeout))),
        None => pool,
    }
);

/// Sets the session's statement timeout: MariaDB's `max_statement_time` (seconds, any
/// statement) or MySQL's `max_execution_time` (milliseconds, SELECTs only); zero is none.
#[cfg(feature = "mysql")]
pub(crate) async fn mysql_statement_timeout(
    conn: &mut sqlx::MySqlConnection,
    timeout: std::time::Duration,
) -> Result<(), sqlx::Error> {
    let (version,): (String,) = sqlx::query_as("SELECT VERSION()").fetch_one(&mut *conn).await?;
    let set = if version.contains("MariaDB") {
        format!("SET SESSION max_statement_time = {}", timeout.as_secs_f64())
    } else {
        format!("SET SESSION max_execution_time = {}", timeout.as_millis())
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(set)).execute(&mut *conn).await?;
    Ok(())
}
