//! Shared vocabulary: the HTTP method set and the OpenTelemetry semantic-convention names that
//! the middleware, the metrics and the trace export all use.
//!
//! A leaf: it imports nothing from the crate, so any module can use it without a cycle.
//! `tracing` span and event field names stay literal in the macros (they must be tokens); the
//! constants here are for everything else (OpenTelemetry attribute keys, metric labels).

// Some names are only used with the `metrics` or `otel` feature.
#![cfg_attr(not(all(feature = "metrics", feature = "otel")), allow(dead_code))]

use http::Method;

/// The `http.request.method` value of a method outside [`METHODS`]' registered ones.
pub(crate) const OTHER_METHOD: &str = "_OTHER";

/// `http.request.method` values: the registered methods; anything else is [`OTHER_METHOD`]
/// (OpenTelemetry's rule, which keeps made-up methods out of span names and metric labels).
pub(crate) const METHODS: [&str; 10] =
    ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", OTHER_METHOD];

/// Index of `method` in [`METHODS`].
pub(crate) fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::CONNECT => 5,
        Method::OPTIONS => 6,
        Method::TRACE => 7,
        Method::PATCH => 8,
        _ => 9,
    }
}

/// `method`'s `http.request.method` value: its name, or [`OTHER_METHOD`].
pub(crate) fn method_name(method: &Method) -> &'static str {
    METHODS[method_index(method)]
}

/// The path of the request URL (attribute key).
pub(crate) const URL_PATH: &str = "url.path";
/// The URL scheme (attribute key).
pub(crate) const URL_SCHEME: &str = "url.scheme";
/// The method as sent, when it is not a registered one (attribute key).
pub(crate) const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";
/// The response status code (attribute key).
pub(crate) const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";

/// Prometheus label for `http.request.method` (dots are not allowed in label names).
pub(crate) const LABEL_METHOD: &str = "http_request_method";
/// Prometheus label for `http.route`.
pub(crate) const LABEL_ROUTE: &str = "http_route";
/// Prometheus label for the class (`2xx`, …) of `http.response.status_code`.
pub(crate) const LABEL_STATUS_CLASS: &str = "http_response_status_class";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_methods_name_themselves_and_others_fold_into_other() {
        for name in &METHODS[..9] {
            let method = Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(method_name(&method), *name);
        }
        assert_eq!(method_name(&Method::from_bytes(b"BREW").unwrap()), OTHER_METHOD);
    }
}
