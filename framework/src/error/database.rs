//! sqlx errors as problems: the status from the kind of failure, never the SQL or the driver's
//! message.

use std::sync::atomic::{AtomicU64, Ordering};

use http::StatusCode;
use sqlx::error::ErrorKind;

use super::Error;

/// Pool acquire timeouts turned into 503s, process-wide (sqlx does not count them).
static POOL_TIMEOUTS: AtomicU64 = AtomicU64::new(0);

/// Called by [`classify`] for each error that may mean the server is unreachable: the `db`
/// module installs its pools' probe here (this module is a leaf and does not import `db`).
pub(crate) static ON_UNREACHABLE: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// How many pool acquire timeouts have been answered with 503 so far.
#[cfg(feature = "metrics")]
pub(crate) fn pool_timeouts() -> u64 {
    POOL_TIMEOUTS.load(Ordering::Relaxed)
}

/// What a sqlx error says about the database, whichever backend: the one place that reads
/// SQLSTATEs, MySQL error numbers and SQLite result codes, for startup and for requests alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trouble {
    /// The server cannot be reached, is shutting down or starting, ended the session, or has no
    /// connection slot left: transient.
    Unreachable,
    /// The transaction lost a serialization conflict, a deadlock or a lock wait: retryable.
    Conflict,
    /// SQLite: a write waited past `busy_timeout` for another connection's lock.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Busy,
    /// The server cancelled the statement (`database.statement_timeout`).
    Timeout,
    /// Retrying cannot help: the server refused us, or the settings are wrong.
    Rejected(Fix),
    /// Anything else: a bug in the query, a constraint, a missing row.
    Other,
}

/// What to change when the database refuses a connection for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fix {
    /// Wrong user or password, or the user may not connect.
    Credentials,
    /// The database named in the URL does not exist.
    UnknownDatabase,
    /// SQLite: the file cannot be opened or is not a database.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Path,
    /// TLS is misconfigured (certificates, `sslmode`).
    Tls,
    /// An option is not valid.
    Configuration,
}

impl Fix {
    /// The advice that ends the startup message.
    pub(crate) fn advice(self) -> &'static str {
        match self {
            Fix::Credentials => "check the user and password in database.url, and that the user may connect",
            Fix::UnknownDatabase => "create the database, or fix its name in database.url",
            Fix::Path => "check that the folder exists and is writable, and that the file is a SQLite database (database.create_if_missing creates missing files)",
            Fix::Tls => "check the TLS settings in database.url (sslmode, certificates)",
            Fix::Configuration => "fix the option in database.url or [database]",
        }
    }
}

/// Classifies `e` (see [`Trouble`]).
pub(crate) fn trouble(e: &sqlx::Error) -> Trouble {
    match e {
        sqlx::Error::Database(db) => database_trouble(&**db),
        sqlx::Error::Io(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => Trouble::Unreachable,
        sqlx::Error::Tls(_) => Trouble::Rejected(Fix::Tls),
        sqlx::Error::Configuration(_) => Trouble::Rejected(Fix::Configuration),
        _ => Trouble::Other,
    }
}

fn database_trouble(db: &dyn sqlx::error::DatabaseError) -> Trouble {
    #[cfg(feature = "mysql")]
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return mysql_trouble(my.number());
    }
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return sqlite_trouble(db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0));
    }
    db.code().map_or(Trouble::Other, |code| sqlstate_trouble(&code))
}

/// PostgreSQL's SQLSTATEs (<https://www.postgresql.org/docs/current/errcodes-appendix.html>).
fn sqlstate_trouble(code: &str) -> Trouble {
    match code {
        // connection_exception (class 08), admin/crash shutdown, cannot_connect_now,
        // too_many_connections
        _ if code.starts_with("08") => Trouble::Unreachable,
        "57P01" | "57P02" | "57P03" | "53300" => Trouble::Unreachable,
        // serialization_failure, deadlock_detected, lock_not_available
        "40001" | "40P01" | "55P03" => Trouble::Conflict,
        // query_canceled: statement_timeout
        "57014" => Trouble::Timeout,
        // invalid_authorization_specification, invalid_password
        "28000" | "28P01" => Trouble::Rejected(Fix::Credentials),
        // invalid_catalog_name
        "3D000" => Trouble::Rejected(Fix::UnknownDatabase),
        _ => Trouble::Other,
    }
}

/// MySQL's and MariaDB's error numbers.
#[cfg(feature = "mysql")]
fn mysql_trouble(number: u16) -> Trouble {
    match number {
        // too many connections, server shutdown, can't connect, server gone away, lost
        // connection, connection killed
        1040 | 1053 | 2002 | 2003 | 2006 | 2013 | 1927 => Trouble::Unreachable,
        // lock wait timeout, deadlock
        1205 | 1213 => Trouble::Conflict,
        // query interrupted, MySQL max_execution_time, MariaDB max_statement_time
        1317 | 3024 | 1969 => Trouble::Timeout,
        // access denied (to the server, to the database), plugin auth
        1044 | 1045 | 1698 => Trouble::Rejected(Fix::Credentials),
        1049 => Trouble::Rejected(Fix::UnknownDatabase),
        _ => Trouble::Other,
    }
}

/// SQLite's result codes (extended codes keep the primary one in the low byte).
#[cfg(feature = "sqlite")]
fn sqlite_trouble(code: i32) -> Trouble {
    match code & 0xff {
        // BUSY, LOCKED
        5 | 6 => Trouble::Busy,
        // CANTOPEN, NOTADB
        14 | 26 => Trouble::Rejected(Fix::Path),
        // AUTH
        23 => Trouble::Rejected(Fix::Credentials),
        _ => Trouble::Other,
    }
}

/// Whether a probe connection failing with `e` means the server is down (refused, reset, shutting
/// down or starting), rather than up but full (no connection slot left) or refusing us for good.
pub(crate) fn means_down(e: &sqlx::Error) -> bool {
    trouble(e) == Trouble::Unreachable && !server_full(e)
}

/// PostgreSQL's too_many_connections, MySQL's 1040: the server is up, only full.
fn server_full(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else { return false };
    #[cfg(feature = "mysql")]
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return my.number() == 1040;
    }
    db.code().as_deref() == Some("53300")
}

/// The problem while a pool knows its server is down: at once, without waiting for a connection.
pub(crate) fn unreachable() -> Error {
    Error::unavailable("the database is unreachable; retry shortly").with_retry_after(1)
}

/// The driver's message without what only its developers need: PostgreSQL's source position
/// (`… at line 948`).
pub(crate) fn plain_message(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
            std::io::ErrorKind::TimedOut => "timed out".to_owned(),
            // getaddrinfo's failure: in a static binary in an empty root or a FROM scratch image,
            // name resolution needs the /etc files a container runtime mounts.
            _ if io.to_string().contains("failed to lookup address") => format!(
                "{io}: the database host name does not resolve; check the host in database.url, and that the system has /etc/hosts and /etc/resolv.conf (container runtimes mount them; in a bare root use an IP address)"
            ),
            _ => io.to_string(),
        },
        other => other.to_string(),
    }
}

/// The problem for a sqlx error; the caller keeps the error itself as the (logged) source.
pub(crate) fn classify(e: &sqlx::Error) -> Error {
    if matches!(e, sqlx::Error::PoolTimedOut) {
        POOL_TIMEOUTS.fetch_add(1, Ordering::Relaxed);
    }
    #[cfg(feature = "otel")]
    mark_statement_failed(e);
    let trouble = trouble(e);
    if trouble == Trouble::Unreachable {
        if let Some(suspect) = ON_UNREACHABLE.get() {
            suspect();
        }
    }
    match e {
        sqlx::Error::RowNotFound => Error::not_found("the requested record does not exist"),
        sqlx::Error::PoolTimedOut => Error::unavailable(
            "no database connection became free within database.acquire_timeout: all connections are busy, or the database is unreachable; retry shortly",
        )
        .with_retry_after(1),
        sqlx::Error::Database(db) => match (db.kind(), trouble) {
            (ErrorKind::UniqueViolation, _) => {
                Error::conflict("a record with these values already exists").with_constraint(db.constraint())
            }
            (ErrorKind::ForeignKeyViolation, _) => {
                Error::conflict("the record refers to, or is referred to by, another record")
                    .with_constraint(db.constraint())
            }
            (ErrorKind::NotNullViolation | ErrorKind::CheckViolation, _) => {
                Error::unprocessable("the values are not acceptable to the database").with_constraint(db.constraint())
            }
            (_, trouble) => by_trouble(trouble),
        },
        _ => by_trouble(trouble),
    }
}

fn by_trouble(trouble: Trouble) -> Error {
    let retry = |detail: &str, seconds| Error::unavailable(detail).with_retry_after(seconds);
    match trouble {
        Trouble::Unreachable => retry(
            "the database is unreachable (connection lost, refused, or the server is restarting or full); retry shortly",
            5,
        ),
        Trouble::Conflict => {
            retry("the database stopped this transaction to resolve a conflict with another one; retry it", 1)
        }
        Trouble::Busy => retry("the database is busy; retry shortly", 1),
        Trouble::Timeout => retry("the database query took too long and was cancelled; retry shortly", 1),
        Trouble::Rejected(Fix::Tls) => retry("the database is unreachable (TLS); retry shortly", 5),
        Trouble::Rejected(_) | Trouble::Other => Error::new(StatusCode::INTERNAL_SERVER_ERROR, GENERIC),
    }
}

const GENERIC: &str = "the server failed to handle this request; the request id identifies it in the logs";

/// Whether `e` is a unique-constraint violation (to answer "email already taken" yourself).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation)
}

/// The name of the constraint `e` violated. PostgreSQL reports it; SQLite and MySQL only name
/// it in their messages (`UNIQUE constraint failed: users.email`, `Duplicate entry … for key
/// 'users_email'`), which this reads.
pub fn constraint(e: &sqlx::Error) -> Option<String> {
    let sqlx::Error::Database(db) = e else { return None };
    if let Some(name) = db.constraint() {
        return Some(name.to_owned());
    }
    let message = db.message();
    if let Some((_, columns)) = message.split_once("constraint failed: ") {
        return Some(columns.trim().to_owned());
    }
    let (_, key) = message.split_once("for key '")?;
    key.split_once('\'').map(|(name, _)| name.to_owned())
}

/// Says that the statement just run failed (errors from running one: the database's, or the
/// connection's; not "no row", not a pool timeout, where no statement ran), as a TRACE event
/// with target `trestle::db::error` that only the statement-span layer (`telemetry::db_spans`,
/// which matches that target) listens to: `kind` becomes the span's `error.type`, `code` its
/// `db.response.status_code`. An event rather than a call keeps this module a leaf.
#[cfg(feature = "otel")]
fn mark_statement_failed(e: &sqlx::Error) {
    let failed = |kind: &str, code: Option<&str>| tracing::trace!(target: "trestle::db::error", kind, code);
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code();
            // The SQLSTATE is the error type where there is one (OpenTelemetry's advice).
            failed(code.as_deref().unwrap_or("database"), code.as_deref());
        }
        sqlx::Error::Io(_) => failed("io", None),
        sqlx::Error::Tls(_) => failed("tls", None),
        sqlx::Error::Protocol(_) => failed("protocol", None),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_that_does_not_resolve_says_where_names_come_from() {
        let lookup =
            std::io::Error::other("failed to lookup address information: Temporary failure in name resolution");
        let text = plain_message(&sqlx::Error::Io(lookup));
        assert!(text.contains("database.url") && text.contains("/etc/hosts") && text.contains("IP address"), "{text}");
    }

    #[test]
    fn statuses_by_kind() {
        assert_eq!(classify(&sqlx::Error::RowNotFound).status(), StatusCode::NOT_FOUND);
        let busy = classify(&sqlx::Error::PoolTimedOut);
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[http::header::RETRY_AFTER], "1");
        let down = classify(&sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)));
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(classify(&sqlx::Error::PoolClosed).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            classify(&sqlx::Error::ColumnNotFound("secret_col".into())).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn mid_run_failures_are_503_and_only_bugs_500() {
        for code in ["08006", "08001", "57P01", "57P02", "57P03", "53300"] {
            assert_eq!(sqlstate_trouble(code), Trouble::Unreachable, "{code}");
        }
        for code in ["40001", "40P01"] {
            assert_eq!(sqlstate_trouble(code), Trouble::Conflict, "{code}");
        }
        assert_eq!(sqlstate_trouble("57014"), Trouble::Timeout);
        assert_eq!(sqlstate_trouble("42P01"), Trouble::Other, "undefined table is a bug");
        #[cfg(feature = "mysql")]
        {
            for n in [1040, 1053, 2006, 2013] {
                assert_eq!(mysql_trouble(n), Trouble::Unreachable, "{n}");
            }
            for n in [1205, 1213] {
                assert_eq!(mysql_trouble(n), Trouble::Conflict, "{n}");
            }
            assert_eq!(mysql_trouble(1146), Trouble::Other, "unknown table is a bug");
        }
        #[cfg(feature = "sqlite")]
        {
            assert_eq!(sqlite_trouble(5), Trouble::Busy);
            assert_eq!(sqlite_trouble(517), Trouble::Busy);
            assert_eq!(sqlite_trouble(14), Trouble::Rejected(Fix::Path));
        }
        for trouble in [Trouble::Unreachable, Trouble::Conflict, Trouble::Busy, Trouble::Timeout] {
            let e = by_trouble(trouble);
            assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE, "{trouble:?}");
            assert!(e.headers().contains_key(http::header::RETRY_AFTER), "{trouble:?}");
        }
        assert_eq!(by_trouble(Trouble::Other).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn startup_rejections_are_not_retried() {
        assert_eq!(sqlstate_trouble("28P01"), Trouble::Rejected(Fix::Credentials));
        assert_eq!(sqlstate_trouble("3D000"), Trouble::Rejected(Fix::UnknownDatabase));
        #[cfg(feature = "mysql")]
        {
            assert_eq!(mysql_trouble(1045), Trouble::Rejected(Fix::Credentials));
            assert_eq!(mysql_trouble(1049), Trouble::Rejected(Fix::UnknownDatabase));
        }
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(trouble(&refused), Trouble::Unreachable);
        assert!(means_down(&refused));
        assert_eq!(plain_message(&refused), "connection refused");
        assert_eq!(trouble(&sqlx::Error::Tls("bad certificate".into())), Trouble::Rejected(Fix::Tls));
    }

    #[test]
    fn question_mark_keeps_the_sqlx_error_as_the_logged_cause() {
        let e = Error::from(sqlx::Error::ColumnNotFound("secret_col".into()));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.problem().detail.as_deref().unwrap_or("").contains("secret_col"));
        assert!(format!("{e:?}").contains("secret_col"));
    }
}
