//! `server.concurrency_limit`: beyond that many requests in the handlers at once, new ones get
//! 503 with Retry-After instead of waiting (load shedding, not queueing).

use std::sync::Arc;

use axum::response::{IntoResponse, Response};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Error;

/// The limit on requests handled at once.
pub(crate) struct LoadShed(Arc<Semaphore>);

impl LoadShed {
    /// A limit of `limit` requests; `None` for 0 (no limit).
    pub(crate) fn new(limit: usize) -> Option<Self> {
        (limit > 0).then(|| LoadShed(Arc::new(Semaphore::new(limit))))
    }

    /// A place for one more request, held until dropped; `None` when there is none (answer
    /// with [`overloaded`]).
    #[inline]
    pub(crate) fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }
}

/// The answer to a request beyond the limit.
pub(crate) fn overloaded() -> Response {
    Error::unavailable("the server is at its concurrency limit; retry shortly").with_retry_after(1).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_no_limit() {
        assert!(LoadShed::new(0).is_none());
    }

    #[test]
    fn requests_beyond_the_limit_are_refused_until_one_finishes() {
        let shed = LoadShed::new(1).unwrap();
        let first = shed.admit().unwrap();
        assert!(shed.admit().is_none());
        drop(first);
        assert!(shed.admit().is_some());
    }

    #[test]
    fn overload_is_503_with_retry_after() {
        let refused = overloaded();
        assert_eq!(refused.status(), 503);
        assert_eq!(refused.headers()[http::header::RETRY_AFTER], "1");
    }
}
