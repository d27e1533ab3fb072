//! `server.catch_panic`: a panicking handler is answered with a 500 problem, the panic message
//! goes to the log (never to the client), and the server keeps serving.

use std::any::Any;

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::error::{Error, Problem};

/// The answer to a request whose handler panicked with `panic`.
pub(crate) fn panicked(panic: Box<dyn Any + Send>) -> Response {
    tracing::error!(panic = message(&*panic), "handler panicked");
    let mut problem = Problem::from_status(StatusCode::INTERNAL_SERVER_ERROR);
    problem.detail = Some("the server failed to handle this request; the request id identifies it in the logs".into());
    Error::from_problem(problem).into_response()
}

/// The panic's message, for the log.
fn message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_read_from_str_and_string_payloads() {
        assert_eq!(message(&"static"), "static");
        assert_eq!(message(&String::from("formatted 42")), "formatted 42");
        assert_eq!(message(&42_u32), "(non-string panic payload)");
    }

    #[test]
    fn a_panic_is_a_500_that_does_not_leak_the_message() {
        let res = panicked(Box::new("secret detail"));
        assert_eq!(res.status(), 500);
        let problem = res.extensions().get::<crate::error::ProblemExtension>().expect("a problem");
        assert!(!problem.problem.detail.as_deref().unwrap_or_default().contains("secret"));
    }
}
