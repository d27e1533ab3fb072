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
/// The query string, credentials redacted (attribute key).
pub(crate) const URL_QUERY: &str = "url.query";
/// The host the client addressed (attribute key).
pub(crate) const SERVER_ADDRESS: &str = "server.address";
/// The port the client addressed (attribute key).
pub(crate) const SERVER_PORT: &str = "server.port";
/// The client's address: the peer (attribute key).
pub(crate) const CLIENT_ADDRESS: &str = "client.address";
/// The `User-Agent` header (attribute key).
pub(crate) const USER_AGENT_ORIGINAL: &str = "user_agent.original";
/// The HTTP version, `1.1` (attribute key).
pub(crate) const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
/// What kind of error ended the operation: for HTTP, the 5xx status code (attribute key).
pub(crate) const ERROR_TYPE: &str = "error.type";
/// The response status code (attribute key).
pub(crate) const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";

/// `network.protocol.version` for `version`.
pub(crate) fn protocol_version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// Prometheus label for `http.request.method` (dots are not allowed in label names).
pub(crate) const LABEL_METHOD: &str = "http_request_method";
/// Prometheus label for `http.route`.
pub(crate) const LABEL_ROUTE: &str = "http_route";
/// Prometheus label for `http.response.status_code`.
pub(crate) const LABEL_STATUS_CODE: &str = "http_response_status_code";
/// Prometheus label for `url.scheme`.
pub(crate) const LABEL_URL_SCHEME: &str = "url_scheme";
/// Prometheus label for `error.type`.
pub(crate) const LABEL_ERROR_TYPE: &str = "error_type";

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
