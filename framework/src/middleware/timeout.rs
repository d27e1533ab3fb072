//! `server.request_timeout`: a handler that takes longer is answered with 503 and Retry-After.

use std::time::Duration;

use axum::response::{IntoResponse, Response};

use crate::error::Error;

/// The limit `server.request_timeout` sets; zero means none.
pub(crate) fn limit(configured: Duration) -> Option<Duration> {
    (!configured.is_zero()).then_some(configured)
}

/// The answer when the handler exceeded `limit` (logged as an error: the server was too slow).
pub(crate) fn timed_out(limit: Duration) -> Response {
    tracing::error!(timeout_ms = limit.as_millis() as u64, "handler exceeded server.request_timeout");
    Error::unavailable(format!("the request took longer than the server allows ({}ms)", limit.as_millis()))
        .with_retry_after(1)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_no_limit() {
        assert_eq!(limit(Duration::ZERO), None);
        assert_eq!(limit(Duration::from_secs(3)), Some(Duration::from_secs(3)));
    }

    #[test]
    fn a_timeout_is_503_with_retry_after() {
        let res = timed_out(Duration::from_millis(250));
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()[http::header::RETRY_AFTER], "1");
    }
}
