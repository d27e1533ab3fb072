//! `retry_on_unique_violation`: let the database's unique constraint decide a race.

use std::future::Future;

use crate::error::database::is_unique_violation;

/// Runs `run(attempt)` again while it fails with a unique violation, up to `attempts` runs in
/// all; returns the first success, or the last error.
///
/// Use it where two requests may create the same unique thing at once — a slug from the same
/// title, a generated code. Checking first ("is the slug free?") and inserting after leaves a
/// window in which both requests see it free and the second insert fails; instead, insert, let
/// the constraint decide, and on a violation try again with a new value. `attempt` counts from
/// 0, so the closure can try the natural value first and a suffixed one after.
///
/// Every unique violation is retried, so a statement that could violate another unique
/// constraint too should check [`constraint`](crate::db::constraint) itself. Any other error is
/// returned at once. `run` runs at least once, even with `attempts` 0. On PostgreSQL a failed
/// statement aborts its transaction: begin the transaction inside the closure, so each attempt
/// has its own.
///
/// ```no_run
/// use trestle::prelude::*;
///
/// /// Inserts a post under `base`, or `base-2`, `base-3`… when that slug is taken.
/// async fn insert_post(db: &Db, base: &str) -> Result<String, trestle::sqlx::Error> {
///     trestle::db::retry_on_unique_violation(5, |attempt| async move {
///         let slug = if attempt == 0 { base.to_owned() } else { format!("{base}-{}", attempt + 1) };
///         trestle::sqlx::query("INSERT INTO posts (slug) VALUES ($1)").bind(&slug).execute(&**db).await?;
///         Ok(slug)
///     })
///     .await
/// }
/// ```
pub async fn retry_on_unique_violation<T, F, Fut>(attempts: u32, mut run: F) -> Result<T, sqlx::Error>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut attempt = 0;
    loop {
        match run(attempt).await {
            Err(e) if is_unique_violation(&e) && attempt + 1 < attempts => attempt += 1,
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::cell::Cell;

    use sqlx::error::{DatabaseError, ErrorKind};

    use super::*;

    /// A database error as a driver reports it: a unique violation when `.0`, else another.
    #[derive(Debug)]
    struct Violation(bool);

    impl std::fmt::Display for Violation {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(if self.0 { "unique violation" } else { "other error" })
        }
    }

    impl std::error::Error for Violation {}

    impl DatabaseError for Violation {
        fn message(&self) -> &str {
            "violation"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            None
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> ErrorKind {
            if self.0 {
                ErrorKind::UniqueViolation
            } else {
                ErrorKind::Other
            }
        }
    }

    /// Runs the helper with a closure that fails (with a unique violation when `unique`) until
    /// attempt `succeeds_at`; returns the result and how many times the closure ran.
    async fn outcome(attempts: u32, succeeds_at: u32, unique: bool) -> (Result<u32, sqlx::Error>, u32) {
        let runs = Cell::new(0);
        let result = retry_on_unique_violation(attempts, |attempt| {
            runs.set(runs.get() + 1);
            async move {
                if attempt >= succeeds_at {
                    Ok(attempt)
                } else {
                    Err(sqlx::Error::Database(Box::new(Violation(unique))))
                }
            }
        })
        .await;
        (result, runs.get())
    }

    #[tokio::test]
    async fn a_unique_violation_is_retried_with_the_next_attempt() {
        let (result, runs) = outcome(4, 2, true).await;
        assert_eq!((result.unwrap(), runs), (2, 3));
    }

    #[tokio::test]
    async fn the_last_violation_is_returned_after_every_attempt() {
        let (result, runs) = outcome(3, 10, true).await;
        assert!(is_unique_violation(&result.unwrap_err()));
        assert_eq!(runs, 3);
        let (result, runs) = outcome(0, 10, true).await;
        assert!(result.is_err());
        assert_eq!(runs, 1, "runs once even with no attempts");
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let (result, runs) = outcome(4, 2, false).await;
        assert!(!is_unique_violation(&result.unwrap_err()));
        assert_eq!(runs, 1);
    }
}
