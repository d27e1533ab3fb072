//! The request span: every event inside a request carries its fields. Plain (for logs) or, when
//! spans are exported (feature `otel`), following the OpenTelemetry HTTP conventions.

use axum::extract::Request;
use tracing::field::Empty;

use super::RequestId;

/// Which span each request gets (`server.trace`, and whether spans are exported).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpanKind {
    /// No span (`server.trace = false`).
    None,
    /// Method, route (or path when none matched), request id, user id; the client's address
    /// behind trusted proxies.
    Plain,
    /// Also the exported span's name and kind, and the caller's trace as parent.
    #[cfg(feature = "otel")]
    Otel,
}

impl SpanKind {
    /// The kind for `trace` (`server.trace`) and `otel` (spans are exported).
    pub(crate) fn new(trace: bool, otel: bool) -> Self {
        match (trace, otel) {
            (false, _) => SpanKind::None,
            #[cfg(feature = "otel")]
            (true, true) => SpanKind::Otel,
            _ => SpanKind::Plain,
        }
    }

    /// The span for `req` (`route` is its matched template) and, when exported, its trace id.
    #[inline]
    pub(crate) fn span(
        self,
        req: &Request,
        route: Option<&str>,
        id: Option<&RequestId>,
    ) -> (tracing::Span, Option<String>) {
        match self {
            SpanKind::None => (tracing::Span::none(), None),
            // Every field costs formatting in every subscriber: the raw path only where no route
            // matched (the route template says it otherwise), status and latency only on the
            // completion event.
            SpanKind::Plain => (
                tracing::info_span!(
                    "request",
                    "http.request.method" = req.method().as_str(),
                    "http.route" = route,
                    "url.path" = if route.is_none() { Some(req.uri().path()) } else { None },
                    request_id = id.map(RequestId::as_str),
                    "client.address" = forwarded_client(req).map(tracing::field::display),
                    "user.id" = Empty,
                ),
                None,
            ),
            #[cfg(feature = "otel")]
            SpanKind::Otel => otel_span(req, route, id),
        }
    }
}

/// Exported spans follow the OpenTelemetry HTTP conventions: named "METHOD route" ("HTTP" for a
/// non-standard method, no route when none matched), kind server. Attributes only the exported
/// span needs are set on it directly (`telemetry::continue_trace`), so log layers do not format
/// them.
#[cfg(feature = "otel")]
fn otel_span(req: &Request, route: Option<&str>, id: Option<&RequestId>) -> (tracing::Span, Option<String>) {
    let trace = crate::telemetry::start_trace(req.headers());
    let method = crate::semconv::method_name(req.method());
    let span = tracing::info_span!(
        "request",
        "otel.name" = otel_name(method, route),
        "otel.kind" = "server",
        "http.request.method" = method,
        "http.route" = route,
        "url.path" = if route.is_none() { Some(req.uri().path()) } else { None },
        request_id = id.map(RequestId::as_str),
        "client.address" = forwarded_client(req).map(tracing::field::display),
        "user.id" = Empty,
    );
    let client = super::client::ClientAddr::of(req.extensions()).map(|c| (c.ip, c.https));
    let in_field = forwarded_client(req).is_some();
    let trace_id = crate::telemetry::continue_trace(&span, trace, req, route.is_some(), client, in_field);
    (span, trace_id)
}

/// The client's address when trusted proxies reported it (`server.trusted_proxies`): then it
/// is a span field, so every log line of the request names the client behind the proxy. (A
/// direct peer is not: formatting it would cost every request, and the exported span has it.)
fn forwarded_client(req: &Request) -> Option<std::net::IpAddr> {
    req.extensions().get::<super::client::ClientAddr>().map(|c| c.ip)
}

/// The exported span's name: `method` is already folded into the registered set.
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
fn otel_name(method: &str, route: Option<&str>) -> String {
    match (method, route) {
        (crate::semconv::OTHER_METHOD, Some(route)) => format!("HTTP {route}"),
        (crate::semconv::OTHER_METHOD, None) => "HTTP".to_owned(),
        (method, Some(route)) => format!("{method} {route}"),
        (method, None) => method.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    #[test]
    fn exported_span_names_follow_the_http_conventions() {
        assert_eq!(otel_name("GET", Some("/items/{id}")), "GET /items/{id}");
        assert_eq!(otel_name("GET", None), "GET");
        assert_eq!(otel_name("_OTHER", Some("/x")), "HTTP /x");
        assert_eq!(otel_name("_OTHER", None), "HTTP");
    }

    #[test]
    fn no_span_without_server_trace() {
        assert_eq!(SpanKind::new(false, true), SpanKind::None);
        let req = Request::get("/").body(Body::empty()).unwrap();
        let (span, trace_id) = SpanKind::None.span(&req, None, None);
        assert!(span.is_none());
        assert!(trace_id.is_none());
    }

    #[test]
    fn plain_spans_carry_no_trace_id() {
        assert_eq!(SpanKind::new(true, false), SpanKind::Plain);
        let req = Request::get("/").body(Body::empty()).unwrap();
        assert!(SpanKind::Plain.span(&req, Some("/"), None).1.is_none());
    }
}
