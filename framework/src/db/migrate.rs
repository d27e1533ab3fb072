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
    /// The file's name (`0001_create_users.sql`).
    pub file: &'static str,
}

/// The app's migrations, from `trestle::migrate!()` (the crate's `migrations/` folder, sqlx's
/// layout: `<version>_<name>.sql`, or `.up.sql`/`.down.sql` pairs; a file whose first line is
/// `-- no-transaction` runs outside a transaction).
///
/// The macro embeds the files' contents, so editing one rebuilds the app; a *new* file is seen
/// on the next build of the crate (add `println!("cargo:rerun-if-changed=migrations");` to a
/// `build.rs` to make that automatic). Until then the app says so: at startup (a warning naming
/// the file) and in `migrate status` (the file listed as `not built`).
#[derive(Clone, Debug, Default)]
pub struct Migrations {
    list: Cow<'static, [Migration]>,
    /// The folder the macro read, as it was at build time.
    dir: Option<&'static str>,
}

/// Where one migration stands, as `migrate status` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Its version.
    pub version: i64,
    /// Its name (from the file name), or empty for one the binary does not know.
    pub description: String,
    /// Where it stands.
    pub state: MigrationState,
    /// The first 8 bytes of its SHA-384 checksum, in hex (what `_sqlx_migrations` records):
    /// the binary's for embedded migrations, the database's for the others.
    pub checksum: String,
}

/// The states of [`MigrationStatus`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationState {
    /// Applied, and the same as the binary's file.
    Applied,
    /// In the binary, not applied yet.
    Pending,
    /// Applied, but the binary's file differs from what was applied.
    Changed,
    /// Applied to the database, but not in the binary (a file deleted, or another app's
    /// database).
    Missing,
    /// In the migrations folder on disk but not built into this binary: rebuild the app.
    NotBuilt,
    /// Partly applied by a run that failed: repair by hand.
    Dirty,
}

impl MigrationState {
    /// The word `migrate status` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationState::Applied => "applied",
            MigrationState::Pending => "pending",
            MigrationState::Changed => "changed",
            MigrationState::Missing => "missing",
            MigrationState::NotBuilt => "not built",
            MigrationState::Dirty => "dirty",
        }
    }

    /// Whether a deploy should wait: anything but `applied`.
    pub fn needs_attention(self) -> bool {
        self != MigrationState::Applied
    }
}

impl Migrations {
    /// Migrations from a list and the folder they were read from (what `migrate!()` expands to;
    /// macro glue).
    #[doc(hidden)]
    pub const fn new(dir: &'static str, list: &'static [Migration]) -> Self {
        Self { list: Cow::Borrowed(list), dir: Some(dir) }
    }

    /// The folder `migrate!()` read at build time (absolute), if it still exists here: where
    /// `migrate new` writes and whose new files `migrate status` reports.
    pub(crate) fn dir(&self) -> Option<&'static std::path::Path> {
        self.dir.map(std::path::Path::new).filter(|d| d.is_dir())
    }

    /// `.sql` files in the folder on disk that this binary does not embed (added after it was
    /// built), by name.
    pub(crate) fn not_built(&self) -> Vec<String> {
        let Some(dir) = self.dir() else { return Vec::new() };
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name.ends_with(".sql") && !self.list.iter().any(|m| m.file == name))
            .collect();
        names.sort();
        names
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
    pub(crate) async fn apply<DB: Backend>(&self, pool: &sqlx::Pool<DB>) -> Result<Report, DbError> {
        for file in self.not_built() {
            tracing::warn!(
                file,
                dir = self.dir.unwrap_or_default(),
                "a migration file is in the migrations folder but not built into this binary, so it is not applied: rebuild the app (a build.rs with `println!(\"cargo:rerun-if-changed=migrations\");` rebuilds it whenever the folder changes)"
            );
        }
        let report = DB::migrate(pool, &self.migrator(), Plan::Apply).await.map_err(|e| self.error(e))?;
        for version in &report.applied {
            tracing::info!(version, name = self.name(*version), "migration applied");
        }
        tracing::info!(
            applied = report.applied.len(),
            total = report.before + report.applied.len(),
            "database schema up to date"
        );
        Ok(report)
    }

    /// Reverts the applied migrations newer than `to` (only the newest when `None`), newest
    /// first, each with its `.down.sql`; returns the versions reverted.
    pub(crate) async fn revert<DB: Backend>(
        &self,
        pool: &sqlx::Pool<DB>,
        to: Option<i64>,
    ) -> Result<Vec<i64>, DbError> {
        let report = DB::migrate(pool, &self.migrator(), Plan::Revert { to }).await.map_err(|e| self.error(e))?;
        for version in &report.applied {
            tracing::info!(version, name = self.name(*version), "migration reverted");
        }
        Ok(report.applied)
    }

    /// Every migration the binary or the database knows, and the folder's files the binary
    /// lacks, in version order.
    pub(crate) async fn status<DB: Backend>(&self, pool: &sqlx::Pool<DB>) -> Result<Vec<MigrationStatus>, DbError> {
        let migrator = self.migrator();
        let report = DB::migrate(pool, &migrator, Plan::Inspect).await.map_err(|e| self.error(e))?;
        let mut out = Vec::new();
        for m in migrator.iter().filter(|m| !m.migration_type.is_down_migration()) {
            let recorded = report.recorded.iter().find(|a| a.version == m.version);
            let state = match recorded {
                _ if report.dirty == Some(m.version) => MigrationState::Dirty,
                Some(a) if a.checksum == m.checksum => MigrationState::Applied,
                Some(_) => MigrationState::Changed,
                None => MigrationState::Pending,
            };
            out.push(MigrationStatus {
                version: m.version,
                description: m.description.to_string(),
                state,
                checksum: short_hex(&m.checksum),
            });
        }
        for a in report.recorded.iter().filter(|a| !migrator.iter().any(|m| m.version == a.version)) {
            let state = if report.dirty == Some(a.version) { MigrationState::Dirty } else { MigrationState::Missing };
            out.push(MigrationStatus {
                version: a.version,
                description: String::new(),
                state,
                checksum: short_hex(&a.checksum),
            });
        }
        for file in self.not_built() {
            let version = file.split('_').next().and_then(|v| v.parse().ok()).unwrap_or(0);
            let stem = file.trim_end_matches(".sql").trim_end_matches(".up").trim_end_matches(".down");
            let mut description = stem.split_once('_').map_or(stem, |(_, d)| d).replace('_', " ");
            if file.ends_with(".down.sql") {
                description.push_str(" (down)");
            }
            out.push(MigrationStatus {
                version,
                description,
                state: MigrationState::NotBuilt,
                checksum: String::new(),
            });
        }
        out.sort_by_key(|s| s.version);
        Ok(out)
    }

    fn name(&self, version: i64) -> &'static str {
        self.list.iter().find(|m| m.version == version).map_or("", |m| m.description)
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
            MigrateError::VersionNotPresent(v) => format!(
                "{} cannot be reverted: this binary has no `.down.sql` for it, so nothing was reverted; add one beside its `.up.sql` and rebuild, or undo it with a new migration",
                self.describe(v)
            ),
            other => format!("migrations could not run: {other}"),
        })
    }
}

/// The migrations table, sqlx's, so `sqlx migrate` works on the same database.
const TABLE: &str = "_sqlx_migrations";

/// What a run under the migration lock does.
#[derive(Clone, Copy, Debug)]
pub enum Plan {
    /// Apply what is pending.
    Apply,
    /// Revert the applied migrations newer than `to` (only the newest when `None`), newest
    /// first.
    Revert {
        /// The version to return to (0: before the first).
        to: Option<i64>,
    },
    /// Only read what is applied.
    Inspect,
}

/// What one run did.
pub struct Report {
    /// Migrations applied before this run.
    pub(crate) before: usize,
    /// Versions this run applied (or reverted), in order.
    pub(crate) applied: Vec<i64>,
    /// What the database recorded before this run.
    pub(crate) recorded: Vec<sqlx::migrate::AppliedMigration>,
    /// A migration left partly applied by a failed run.
    pub(crate) dirty: Option<i64>,
}

/// The first 8 bytes of a checksum, in hex.
fn short_hex(checksum: &[u8]) -> String {
    checksum.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Runs `plan` on `conn`, which holds the migration lock (except for `Inspect`, which only reads):
/// reads what is applied, checks it against the embedded migrations, applies (or reverts) the
/// rest. (sqlx's `Migrator::run` does the same but does not say what it applied, so a caller that
/// reads the list first races with other processes.) Like `sqlx migrate info`, even `Inspect`
/// creates sqlx's bookkeeping table when it is missing.
async fn run_plan<C: Migrate + Send + ?Sized>(
    conn: &mut C,
    migrator: &Migrator,
    plan: Plan,
) -> Result<Report, MigrateError> {
    conn.ensure_migrations_table(TABLE).await?;
    let dirty = conn.dirty_version(TABLE).await?;
    let done = conn.list_applied_migrations(TABLE).await?;
    let report = |applied| Report { before: done.len(), applied, recorded: done.clone(), dirty };
    match (plan, dirty) {
        (Plan::Inspect, _) => return Ok(report(Vec::new())),
        (_, Some(version)) => return Err(MigrateError::Dirty(version)),
        _ => {}
    }
    if let Some(missing) = done.iter().find(|a| !migrator.iter().any(|m| m.version == a.version)) {
        return Err(MigrateError::VersionMissing(missing.version));
    }
    if let Plan::Revert { to } = plan {
        let newest_first = done.iter().rev();
        let targets: Vec<_> = match to {
            Some(to) => newest_first.filter(|a| a.version > to).collect(),
            None => newest_first.take(1).collect(),
        };
        let down_of = |version| migrator.iter().find(|m| m.version == version && m.migration_type.is_down_migration());
        // Every target must be reversible before the first is reverted: on PostgreSQL and MySQL
        // each revert commits, so stopping half-way would leave a state nobody asked for.
        if let Some(irreversible) = targets.iter().find(|a| down_of(a.version).is_none()) {
            return Err(MigrateError::VersionNotPresent(irreversible.version));
        }
        let mut reverted = Vec::new();
        for applied in targets {
            if let Some(down) = down_of(applied.version) {
                conn.revert(TABLE, down).await?;
                reverted.push(applied.version);
            }
        }
        return Ok(report(reverted));
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
    Ok(report(applied))
}

/// PostgreSQL: sqlx's session-level `pg_advisory_lock` on one pooled connection, held from
/// before the applied list is read until the last migration is in. The connection runs without
/// `database.statement_timeout` (a migration may rightly take long) and is closed afterwards
/// rather than returned, taking the setting and, on failure, the lock with it.
#[cfg(feature = "postgres")]
pub(crate) async fn run_postgres(
    pool: &Pool<sqlx::Postgres>,
    migrator: &Migrator,
    plan: Plan,
) -> Result<Report, MigrateError> {
    let mut conn = pool.acquire().await?;
    if let Plan::Inspect = plan {
        return run_plan(&mut *conn, migrator, plan).await;
    }
    conn.close_on_drop();
    sqlx::query("SET statement_timeout = 0").execute(&mut *conn).await?;
    conn.lock().await?;
    let report = run_plan(&mut *conn, migrator, plan).await?;
    conn.unlock().await?;
    Ok(report)
}

/// SQLite: the whole run in one `BEGIN IMMEDIATE` transaction, which takes the database's write
/// lock before the applied list is read (another process waits for it up to
/// `database.busy_timeout`). Each migration runs in a savepoint inside it, so a
/// `-- no-transaction` migration that cannot run in a transaction (`VACUUM`) fails on SQLite.
#[cfg(feature = "sqlite")]
pub(crate) async fn run_sqlite(
    pool: &Pool<sqlx::Sqlite>,
    migrator: &Migrator,
    plan: Plan,
) -> Result<Report, MigrateError> {
    use sqlx::Connection;
    let mut conn = pool.acquire().await?;
    if let Plan::Inspect = plan {
        return run_plan(&mut *conn, migrator, plan).await;
    }
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let report = run_plan(&mut *tx, migrator, plan).await?;
    tx.commit().await?;
    Ok(report)
}

/// MySQL and MariaDB: `GET_LOCK` under the name `sqlx migrate` uses, on one pooled connection
/// without statement timeout, closed afterwards, as for PostgreSQL. sqlx's own lock asks `GET_LOCK(name, -1)`, which MariaDB answers at once
/// with NULL instead of waiting, so it locks nothing there; this waits up to a year.
#[cfg(feature = "mysql")]
pub(crate) async fn run_mysql(
    pool: &Pool<sqlx::MySql>,
    migrator: &Migrator,
    plan: Plan,
) -> Result<Report, MigrateError> {
    let mut conn = pool.acquire().await?;
    if let Plan::Inspect = plan {
        return run_plan(&mut *conn, migrator, plan).await;
    }
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
    let report = run_plan(&mut *conn, migrator, plan).await?;
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
