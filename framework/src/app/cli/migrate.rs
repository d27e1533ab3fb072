//! `migrate`: apply, list, create and revert the app's migrations.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::super::{App, StartupError};
use crate::config::Config;

/// What `migrate` does.
#[derive(Subcommand, Debug, Default)]
pub(super) enum Action {
    /// Apply the pending migrations under the migration lock, then exit (the default).
    #[default]
    Up,
    /// List every migration with its state and checksum; exit 1 when any is not applied as built.
    Status,
    /// Create the next migration file(s) in the app's migrations folder.
    New {
        /// What the migration does, in a few words (`add_user_bio`).
        name: String,
        /// Create a reversible pair, `.up.sql` and `.down.sql` (the default when the folder
        /// already holds such pairs).
        #[arg(short, long)]
        reversible: bool,
        /// Number the file after the last one (0001, 0002, …) instead of with a UTC timestamp
        /// (the default when the folder is already numbered that way).
        #[arg(long, conflicts_with = "timestamp")]
        sequential: bool,
        /// Number the file with a UTC timestamp (20261201223000).
        #[arg(long)]
        timestamp: bool,
        /// The folder to write to, instead of the one `trestle::migrate!()` reads.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Revert the newest applied migration with its `.down.sql` (or every one after `--to`).
    Down {
        /// Revert every applied migration newer than this version (0 reverts them all).
        #[arg(long, value_name = "VERSION")]
        to: Option<i64>,
    },
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub(super) async fn run<C: Config, S: Clone + Send + Sync + 'static>(
    app: App<C, S>,
    action: Action,
) -> Result<i32, StartupError> {
    let migrations = app.setup.resources.database.as_ref().and_then(|(_, m)| m.clone());
    if let Action::New { name, reversible, sequential, timestamp, dir } = action {
        let dir = dir.or_else(|| migrations.as_ref().and_then(|m| m.dir()).map(Path::to_path_buf));
        return Ok(new_migration(dir, &name, reversible, sequential, timestamp));
    }
    let Some((connect, _)) = app.setup.resources.database.as_ref() else {
        eprintln!("this app has no database: nothing to migrate (call App::database() to connect one)");
        return Ok(1);
    };
    let Some(migrations) = migrations else {
        eprintln!("this app has no migrations: give it its folder with App::migrations(trestle::migrate!())");
        return Ok(1);
    };
    let config = app.load_config()?;
    super::command_logs(&config)?;
    let mut database = config.database.clone();
    // The command applies (or lists) them itself, whatever `database.migrate` says.
    database.migrate = false;
    let db_error = |source: crate::db::DbError| StartupError::Database {
        env_var: source.config_key().map(|key| config.env.var(key)),
        source,
    };
    let handle = connect(database, None).await.map_err(db_error)?;
    let result = match action {
        Action::Up => handle.apply(&migrations).await.map(|applied| {
            match applied.as_slice() {
                [] => println!("nothing to apply: the schema is up to date"),
                versions => println!("applied {} migration(s): {}", versions.len(), list(versions)),
            }
            0
        }),
        Action::Down { to } => handle.revert(&migrations, to).await.map(|reverted| {
            match reverted.as_slice() {
                [] => println!("nothing to revert"),
                versions => println!("reverted {} migration(s): {}", versions.len(), list(versions)),
            }
            0
        }),
        Action::Status => handle.migration_status(&migrations).await.map(|status| print_status(&status)),
        Action::New { .. } => unreachable!("handled before connecting"),
    };
    handle.close().await;
    result.map_err(db_error)
}

/// Without a database feature there is nothing to migrate.
#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
pub(super) async fn run<C: Config, S: Clone + Send + Sync + 'static>(
    _app: App<C, S>,
    action: Action,
) -> Result<i32, StartupError> {
    if let Action::New { name, reversible, sequential, timestamp, dir } = action {
        return Ok(new_migration(dir, &name, reversible, sequential, timestamp));
    }
    eprintln!("this build has no database support: enable trestle's sqlite, postgres or mysql feature");
    Ok(1)
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn list(versions: &[i64]) -> String {
    versions.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

/// The status table; 1 when anything needs attention.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn print_status(status: &[crate::db::migrate::MigrationStatus]) -> i32 {
    use crate::db::migrate::MigrationState;
    if status.is_empty() {
        println!("no migrations");
        return 0;
    }
    let width = status.iter().map(|s| s.version.to_string().len()).max().unwrap_or(7).max(7);
    println!("{:<width$}  {:<9}  {:<16}  name", "version", "state", "checksum");
    for s in status {
        println!("{:<width$}  {:<9}  {:<16}  {}", s.version, s.state.as_str(), s.checksum, s.description);
    }
    let count = |state: MigrationState| status.iter().filter(|s| s.state == state).count();
    let advice = [
        (MigrationState::Pending, "pending: run `migrate` (or start the app with database.migrate = true)"),
        (
            MigrationState::Changed,
            "changed after being applied: restore the file, and put the change in a new migration",
        ),
        (
            MigrationState::Missing,
            "applied but not in this binary: restore the file, or use the database this app belongs to",
        ),
        (MigrationState::NotBuilt, "in the migrations folder but not built into this binary: rebuild the app"),
        (
            MigrationState::Dirty,
            "partly applied by a failed run: repair the schema by hand, then delete its row from _sqlx_migrations",
        ),
    ];
    let mut attention = false;
    for (state, what) in advice {
        let n = count(state);
        if n > 0 {
            attention = true;
            println!("{n} {what}");
        }
    }
    if attention {
        1
    } else {
        println!("all {} migrations applied", status.len());
        0
    }
}

/// `migrate new`: the file(s) of the next migration; 1 when they cannot be written.
fn new_migration(dir: Option<PathBuf>, name: &str, reversible: bool, sequential: bool, timestamp: bool) -> i32 {
    let dir = dir.unwrap_or_else(|| {
        eprintln!(
            "the folder migrate!() read at build time is not here: writing to ./migrations (pass --dir to choose)"
        );
        PathBuf::from("migrations")
    });
    let slug = slug(name);
    if slug.is_empty() {
        eprintln!("`{name}` is not a migration name: use letters and digits, e.g. `add_user_bio`");
        return 1;
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create the migrations folder {}: {e}; pass another with --dir", dir.display());
        return 1;
    }
    let existing = match existing(&dir) {
        Ok(existing) => existing,
        Err(e) => {
            eprintln!("cannot read the migrations folder {}: {e}; check its permissions", dir.display());
            return 1;
        }
    };
    let numbered = !existing.is_empty() && existing.iter().all(|(v, _, _)| v.len() < 14);
    let version = if sequential || (numbered && !timestamp) {
        let width = existing.iter().map(|(v, _, _)| v.len()).max().unwrap_or(4);
        let next = existing.iter().filter_map(|(v, _, _)| v.parse::<i64>().ok()).max().unwrap_or(0) + 1;
        format!("{next:0width$}")
    } else {
        // A second's timestamp already taken (two in one second) moves on to the next second.
        let mut at = std::time::SystemTime::now();
        while existing.iter().any(|(v, _, _)| *v == utc_timestamp(at)) {
            at += std::time::Duration::from_secs(1);
        }
        utc_timestamp(at)
    };
    let reversible = reversible || existing.iter().any(|(_, _, up)| *up);
    let files: Vec<(String, &str)> = if reversible {
        vec![
            (format!("{version}_{slug}.up.sql"), "-- What this migration does.\n"),
            (format!("{version}_{slug}.down.sql"), "-- Undo what the .up.sql does.\n"),
        ]
    } else {
        vec![(format!("{version}_{slug}.sql"), "-- What this migration does.\n")]
    };
    for (file, text) in &files {
        let path = dir.join(file);
        // `create_new`: never overwrite a migration that exists.
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
        if let Err(e) = written {
            eprintln!("cannot create {}: {e}", path.display());
            return 1;
        }
        println!("created {}", path.display());
    }
    println!("write the SQL, then rebuild the app: migrate!() embeds the folder when the crate builds");
    0
}

/// `Add user bio!` → `add_user_bio`.
fn slug(name: &str) -> String {
    let mapped: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    mapped.split('_').filter(|part| !part.is_empty()).collect::<Vec<_>>().join("_")
}

/// The folder's migrations: version text, name, whether it is an `.up.sql`.
fn existing(dir: &Path) -> std::io::Result<Vec<(String, String, bool)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".sql") else { continue };
        let Some((version, rest)) = stem.split_once('_') else { continue };
        if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) {
            out.push((version.to_owned(), rest.to_owned(), rest.ends_with(".up")));
        }
    }
    Ok(out)
}

/// `YYYYMMDDHHMMSS` in UTC, the version sqlx-cli gives a new migration.
fn utc_timestamp(time: std::time::SystemTime) -> String {
    let secs = time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}{:02}{:02}{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_civil_dates() {
        let at = |secs| utc_timestamp(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert_eq!(at(0), "19700101000000");
        assert_eq!(at(951_782_400), "20000229000000", "a leap day");
        assert_eq!(at(1_798_757_999), "20261231225959");
    }

    #[test]
    fn names_become_slugs() {
        assert_eq!(slug("Add user bio!"), "add_user_bio");
        assert_eq!(slug("  --  "), "");
        assert_eq!(slug("v2_tags"), "v2_tags");
    }

    #[test]
    fn new_follows_the_folder_s_numbering_and_never_overwrites() {
        let dir = std::env::temp_dir().join(format!("trestle-migrate-new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("0001_create_items.sql"), "").unwrap();
        std::fs::write(dir.join("0009_add_note.sql"), "").unwrap();
        assert_eq!(new_migration(Some(dir.clone()), "add tags", false, false, false), 0);
        assert!(dir.join("0010_add_tags.sql").is_file());
        assert_eq!(new_migration(Some(dir.clone()), "add tags", false, false, false), 0, "0011 is free");
        assert_eq!(new_migration(Some(dir.clone()), "undoable", true, false, true), 0);
        let names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(names.iter().any(|n| n.len() > 20 && n.ends_with("_undoable.up.sql")), "{names:?}");
        assert!(names.iter().any(|n| n.ends_with("_undoable.down.sql")), "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
