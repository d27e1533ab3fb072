//! sqlx errors as problems: the status from the kind of failure, never the SQL or the driver's
//! message.

use std::sync::atomic::{AtomicU64, Ordering};

use http::{header, HeaderValue, StatusCode};
use sqlx::error::ErrorKind;

use super::Error;

/// Pool acquire timeouts turned into 503s, process-wide (sqlx does not count them).
static POOL_TIMEOUTS: AtomicU64 = AtomicU64::new(0);

/// How many pool acquire timeouts have been answered with 503 so far.
#[cfg(feature = "metrics")]
pub(crate) fn pool_timeouts() -> u64 {
    POOL_TIMEOUTS.load(Ordering::Relaxed)
}

/// The problem for a sqlx error; the caller keeps the error itself as the (logged) source.
pub(crate) fn classify(e: &sqlx::Error) -> Error {
    if matches!(e, sqlx::Error::PoolTimedOut) {
        POOL_TIMEOUTS.fetch_add(1, Ordering::Relaxed);
    }
    match e {
        sqlx::Error::RowNotFound => Error::not_found("the requested record does not exist"),
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => {
                Error::conflict("a record with these values already exists").with_constraint(db.constraint())
            }
            ErrorKind::ForeignKeyViolation => {
                Error::conflict("the record refers to, or is referred to by, another record")
                    .with_constraint(db.constraint())
            }
            ErrorKind::NotNullViolation | ErrorKind::CheckViolation => {
                Error::unprocessable("the values are not acceptable to the database").with_constraint(db.constraint())
            }
            // SQLite's BUSY/LOCKED (and extended codes): a write waited past busy_timeout.
            _ if matches!(db.code().as_deref(), Some("5" | "6" | "261" | "262" | "517")) => {
                Error::unavailable("the database is busy; retry shortly")
                    .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            }
            _ => Error::new(StatusCode::INTERNAL_SERVER_ERROR, GENERIC),
        },
        sqlx::Error::PoolTimedOut => Error::unavailable("all database connections are busy; retry shortly")
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1")),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => Error::unavailable("the database is unavailable; retry shortly")
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("5")),
        _ => Error::new(StatusCode::INTERNAL_SERVER_ERROR, GENERIC),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_by_kind() {
        assert_eq!(classify(&sqlx::Error::RowNotFound).status(), StatusCode::NOT_FOUND);
        let busy = classify(&sqlx::Error::PoolTimedOut);
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        let down = classify(&sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)));
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(classify(&sqlx::Error::PoolClosed).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            classify(&sqlx::Error::ColumnNotFound("secret_col".into())).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn question_mark_keeps_the_sqlx_error_as_the_logged_cause() {
        let e = Error::from(sqlx::Error::ColumnNotFound("secret_col".into()));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.problem().detail.as_deref().unwrap_or("").contains("secret_col"));
        assert!(format!("{e:?}").contains("secret_col"));
    }
}
