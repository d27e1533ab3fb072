//! Migrations embedded at compile time by `trestle::migrate!()` and applied at startup.

use std::borrow::Cow;

use sqlx::migrate::{Migrate, MigrateError, MigrationType, Migrator};
use sqlx::{Pool, SqlSafeStr};

use super::Backend;
use super::DbError;

/// Whether a file is a plain migration or one half of a reversible pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationKind {
    /// `<version>_<name>.sql`.
    Simple,
    /// `<version>_<name>.up.sql`.
    Up,
    /// `<version>_<name>.down.sql` (not applied at startup).
    Down,
}

/// One migration file, embedded.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// The number before the first `_`.
    pub version: i64,
    /// The name after it, underscores as spaces.
    pub description: &'static str,
    /// The SQL.
    pub sql: &'static str,
    /// Plain, up or down.
    pub kind: MigrationKind,
}

/// The app's migrations, from `trestle::migrate!()` (the crate's `migrations/` folder, sqlx's
/// layout: `<version>_<name>.sql`, or `.up.sql`/`.down.sql` pairs; a file whose first line is
/// `-- no-transaction` runs outside a transaction).
///
/// The macro embeds the files' contents, so editing one rebuilds the app; a *new* file is seen
/// on the next build of the crate (add `println!("cargo:rerun-if-changed=migrations");` to a
/// `build.rs` to make that automatic).
#[derive(Clone, Debug, Default)]
pub struct Migrations {
    list: Cow<'static, [Migration]>,
}

impl Migrations {
    /// Migrations from a list (what `migrate!()` expands to; macro glue).
    #[doc(hidden)]
    pub const fn new(list: &'static [Migration]) -> Self {
        Self { list: Cow::Borrowed(list) }
    }

    fn migrator(&self) -> Migrator {
        let list = self
            .list
            .iter()
            .map(|m| {
                let kind = match m.kind {
                    MigrationKind::Simple => MigrationType::Simple,
                    MigrationKind::Up => MigrationType::ReversibleUp,
                    MigrationKind::Down => MigrationType::ReversibleDown,
                };
                let no_tx = m.sql.trim_start().starts_with("-- no-transaction");
                sqlx::migrate::Migration::new(
                    m.version,
                    Cow::Borrowed(m.description),
                    kind,
                    m.sql.into_sql_str(),
                    no_tx,
                )
            })
            .collect();
        Migrator::with_migrations(list)
    }

    fn describe(&self, version: i64) -> String {
        match self.list.iter().find(|m| m.version == version) {
            Some(m) => format!("migration {} ({})", m.version, m.description),
            None => format!("migration {version}"),
        }
    }

    /// Applies the pending migrations under the database's migration lock, logging each one
    /// applied. What is pending is read after the lock is taken, so of several processes
    /// starting at once one applies the migrations and the others wait, then find nothing to do.
    pub(crate) async fn apply<DB: Backend>(&self, pool: &sqlx::Pool<DB>) -> Result<(), DbError> {
        let report = DB::migrate(pool, &self.migrator()).await.map_err(|e| self.error(e))?;
        for version in &report.applied {
            let name = self.list.iter().find(|m| m.version == *version).map_or("", |m| m.description);
            tracing::info!(version, name, "migration applied");
        }
        tracing::info!(
            applied = report.applied.len(),
            total = report.before + report.applied.len(),
            "database schema up to date"
        );
        Ok(())
    }

    fn error(&self, e: MigrateError) -> DbError {
        DbError::Migration(match e {
            MigrateError::ExecuteMigration(cause, version) => {
                format!("{} failed: {cause}; fix the migration (or the database) and restart", self.describe(version))
            }
            MigrateError::VersionMismatch(v) => format!(
                "{} was changed after it was applied: restore the file as it was, and put the change in a new migration",
                self.describe(v)
            ),
            MigrateError::VersionMissing(v) => format!(
                "migration {v} was applied to the database but is not in the app's migrations/ folder: restore the file, or use the database the app belongs to"
            ),
            MigrateError::Dirty(v) => format!(
                "{} was partly applied by an earlier run and failed: repair the schema by hand, delete its row from _sqlx_migrations, and restart",
                self.describe(v)
            ),
            other => format!("migrations could not run: {other}"),
        })
    }
}

/// The migrations table, sqlx's, so `sqlx migrate` works on the same database.
const TABLE: &str = "_sqlx_migrations";

/// What one run did.
pub struct Report {
    /// Migrations applied before this run.
    pub(crate) before: usize,
    /// Versions this run applied, in order.
    pub(crate) applied: Vec<i64>,
}

/// Runs `migrator` on `conn`, which holds the migration lock: reads what is applied, checks it
/// against the embedded migrations, applies the rest. (sqlx's `Migrator::run` does the same but
/// does not say what it applied, so a caller that reads the list first races with other
/// processes.)
async fn run_locked<C: Migrate + Send + ?Sized>(conn: &mut C, migrator: &Migrator) -> Result<Report, MigrateError> {
    conn.ensure_migrations_table(TABLE).await?;
    if let Some(version) = conn.dirty_version(TABLE).await? {
        return Err(MigrateError::Dirty(version));
    }
    let done = conn.list_applied_migrations(TABLE).await?;
    if let Some(missing) = done.iter().find(|a| !migrator.iter().any(|m| m.version == a.version)) {
        return Err(MigrateError::VersionMissing(missing.version));
    }
    let mut applied = Vec::new();
    for migration in migrator.iter().filter(|m| !m.migration_type.is_down_migration()) {
        match done.iter().find(|a| a.version == migration.version) {
            Some(a) if a.checksum != migration.checksum => return Err(MigrateError::VersionMismatch(a.version)),
            Some(_) => {}
            None => {
                conn.apply(TABLE, migration).await?;
                applied.push(migration.version);
            }
        }
    }
    Ok(Report { before: done.len(), applied })
}

/// PostgreSQL: sqlx's session-level `pg_advisory_lock` on one pooled connection, held from
/// before the applied list is read until the last migration is in. The connection runs without
/// `database.statement_timeout` (a migration may rightly take long) and is closed afterwards
/// rather than returned, taking the setting and, on failure, the lock with it.
#[cfg(feature = "postgres")]
pub(crate) async fn run_postgres(pool: &Pool<sqlx::Postgres>, migrator: &Migrator) -> Result<Report, MigrateError> {
    let mut conn = pool.acquire().await?;
    conn.close_on_drop();
    sqlx::query("SET statement_timeout = 0").execute(&mut *conn).await?;
    conn.lock().await?;
    let report = run_locked(&mut *conn, migrator).await?;
    conn.unlock().await?;
    Ok(report)
}

/// SQLite: the whole run in one `BEGIN IMMEDIATE` transaction, which takes the database's write
/// lock before the applied list is read (another process waits for it up to
/// `database.busy_timeout`). Each migration runs in a savepoint inside it, so a
/// `-- no-transaction` migration that cannot run in a transaction (`VACUUM`) fails on SQLite.
#[cfg(feature = "sqlite")]
pub(crate) async fn run_sqlite(pool: &Pool<sqlx::Sqlite>, migrator: &Migrator) -> Result<Report, MigrateError> {
    use sqlx::Connection;
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let report = run_locked(&mut *tx, migrator).await?;
    tx.commit().await?;
    Ok(report)
}

/// MySQL and MariaDB: `GET_LOCK` under the name `sqlx migrate` uses, on one pooled connection
/// without statement timeout, closed afterwards, as for PostgreSQL. sqlx's own lock asks `GET_LOCK(name, -1)`, which MariaDB answers at once
/// with NULL instead of waiting, so it locks nothing there; this waits up to a year.
#[cfg(feature = "mysql")]
pub(crate) async fn run_mysql(pool: &Pool<sqlx::MySql>, migrator: &Migrator) -> Result<Report, MigrateError> {
    let mut conn = pool.acquire().await?;
    conn.close_on_drop();
    super::backend::mysql_statement_timeout(&mut conn, std::time::Duration::ZERO).await?;
    let (database,): (Option<String>,) = sqlx::query_as("SELECT DATABASE()").fetch_one(&mut *conn).await?;
    let name = mysql_lock_name(&database.unwrap_or_default());
    let (locked,): (Option<i64>,) =
        sqlx::query_as("SELECT GET_LOCK(?, 31536000)").bind(&name).fetch_one(&mut *conn).await?;
    if locked != Some(1) {
        return Err(MigrateError::Execute(sqlx::Error::Protocol(format!(
            "the migration lock GET_LOCK('{name}') was not granted"
        ))));
    }
    let report = run_locked(&mut *conn, migrator).await?;
    sqlx::query("SELECT RELEASE_LOCK(?)").bind(&name).execute(&mut *conn).await?;
    Ok(report)
}

/// The lock name sqlx's MySQL migrator uses: the CRC-32 of the database name times a constant,
/// in hex (so the app and `sqlx migrate` exclude each other).
#[cfg(feature = "mysql")]
fn mysql_lock_name(database: &str) -> String {
    let mut crc = 0xffff_ffff_u32;
    for byte in database.bytes() {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    format!("{:x}", 0x3d32_ad9e_i64 * i64::from(!crc))
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "mysql")]
    #[test]
    fn mysql_lock_name_is_sqlx_s() {
        // CRC-32/ISO-HDLC("123456789") = 0xcbf43926, the algorithm's check value.
        assert_eq!(super::mysql_lock_name("123456789"), format!("{:x}", 0x3d32_ad9e_i64 * 0xcbf4_3926_i64));
    }
}
