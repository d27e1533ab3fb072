//! Migrations embedded at compile time by `trestle::migrate!()` and applied at startup.

use std::borrow::Cow;

use sqlx::migrate::{MigrateError, MigrationType, Migrator};
use sqlx::SqlSafeStr;

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

    /// Applies the pending migrations, logging each one applied.
    pub(crate) async fn apply<DB: Backend>(&self, pool: &sqlx::Pool<DB>) -> Result<(), DbError> {
        let applied = DB::applied(pool).await.map_err(|e| self.error(e))?;
        let pending: Vec<&Migration> = self
            .list
            .iter()
            .filter(|m| m.kind != MigrationKind::Down && !applied.iter().any(|a| a.version == m.version))
            .collect();
        DB::migrate(pool, &self.migrator()).await.map_err(|e| self.error(e))?;
        for m in &pending {
            tracing::info!(version = m.version, name = m.description, "migration applied");
        }
        tracing::info!(applied = pending.len(), total = applied.len() + pending.len(), "database schema up to date");
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
