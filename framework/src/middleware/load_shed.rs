//! `server.concurrency_limit`: beyond that many requests in the handlers at once, new ones get
//! 503 with Retry-After instead of waiting (load shedding, not queueing).

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Error;

/// The limit on requests handled at once.
pub(crate) struct LoadShed(Arc<Semaphore>);

impl LoadShed {
    /// A limit of `limit` requests; `None` for 0 (no limit).
    pub(crate) fn new(limit: usize) -> Option<Self> {
        (limit > 0).then(|| LoadShed(Arc::new(Semaphore::new(limit))))
    }

    /// A place for one more request, held until dropped; or the 503 to answer with.
    pub(crate) fn admit(&self) -> Result<OwnedSemaphorePermit, Response> {
        self.0.clone().try_acquire_owned().map_err(|_| overloaded())
    }
}

fn overloaded() -> Response {
    Error::unavailable("the server is at its concurrency limit; retry shortly")
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_no_limit() {
        assert!(LoadShed::new(0).is_none());
    }

    #[test]
    fn requests_beyond_the_limit_get_503_until_one_finishes() {
        let shed = LoadShed::new(1).unwrap();
        let first = shed.admit().unwrap();
        let refused = shed.admit().unwrap_err();
        assert_eq!(refused.status(), 503);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        drop(first);
        assert!(shed.admit().is_ok());
    }
}
