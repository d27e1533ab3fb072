//! Reporting on requests: the log line (`server.trace`), the HTTP metrics (feature `metrics`)
//! and the exported span's status (feature `otel`), each an [`Observer`].
//!
//! The stack tells its observers when a request reaches the handlers and how it ended, like
//! tower-http's `OnRequest`/`OnResponse`. They are composed statically — a tuple of `Option`s,
//! with an uninhabited stand-in for a feature that is off — so a request pays no dynamic
//! dispatch and nothing for an observer that is not installed.

use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
#[cfg(test)]
use http::StatusCode;

use crate::error::LoggedCause;

/// Something that reports on each request.
pub(crate) trait Observer: Send + Sync + 'static {
    /// What the observer keeps while the request runs (labels read from the request, an
    /// in-flight guard); dropped without [`on_response`](Observer::on_response) when the client
    /// goes away.
    type Pending<'a>: Send
    where
        Self: 'a;

    /// The request is about to be handled (within its span, before load shedding).
    fn on_request<'a>(&'a self, request: &Request) -> Self::Pending<'a>;

    /// The response is final (rendered as a problem, headers set), and the time since the
    /// request arrived.
    fn on_response(&self, pending: Self::Pending<'_>, response: &Response, latency: Duration);
}

/// What the app asks the stack to report beyond logs: metrics (feature `metrics`) and
/// OpenTelemetry trace status (feature `otel`, when spans are exported).
#[derive(Clone, Default)]
pub(crate) struct Observe {
    /// `telemetry.access_log = false`: only failed requests (5xx) are logged.
    pub(crate) errors_only: bool,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<std::sync::Arc<crate::metrics::HttpMetrics>>,
    #[cfg(feature = "otel")]
    pub(crate) otel: bool,
}

impl Observe {
    /// Whether spans are exported.
    pub(crate) fn otel(&self) -> bool {
        #[cfg(feature = "otel")]
        return self.otel;
        #[cfg(not(feature = "otel"))]
        false
    }

    /// The observers to install, `trace` being `server.trace`; `None` when there are none.
    pub(crate) fn observers(&self, trace: bool) -> Option<Observers> {
        #[cfg(feature = "metrics")]
        let metrics = self.metrics.clone();
        #[cfg(not(feature = "metrics"))]
        let metrics = None;
        // The status goes on the request span, which exists only with `server.trace`.
        #[cfg(feature = "otel")]
        let otel = (self.otel && trace).then_some(OtelStatus);
        #[cfg(not(feature = "otel"))]
        let otel = None;
        let log = trace.then_some(LogLine { all: !self.errors_only });
        (metrics.is_some() || otel.is_some() || log.is_some()).then_some((metrics, otel, log))
    }
}

/// Every observer the stack knows, in the order they hear of a response.
pub(crate) type Observers = (Option<Metrics>, Option<Otel>, Option<LogLine>);

#[cfg(feature = "metrics")]
type Metrics = std::sync::Arc<crate::metrics::HttpMetrics>;
#[cfg(not(feature = "metrics"))]
type Metrics = Off;
#[cfg(feature = "otel")]
type Otel = OtelStatus;
#[cfg(not(feature = "otel"))]
type Otel = Off;

/// Stands in for an observer whose feature is off: it cannot be built, so `Option<Off>` is
/// always `None` and costs nothing.
#[allow(dead_code)] // Used only when a feature is off.
pub(crate) enum Off {}

impl Observer for Off {
    type Pending<'a> = ();

    #[inline]
    fn on_request<'a>(&'a self, _request: &Request) -> Self::Pending<'a> {
        match *self {}
    }

    #[inline]
    fn on_response(&self, _pending: (), _response: &Response, _latency: Duration) {
        match *self {}
    }
}

/// The access log line (`server.trace`): one per request, INFO, or ERROR for a 5xx with the
/// cause's chain as `error` (the one line that reports it); with `status` and `latency_ms`,
/// the request span adding method, route, request id and client. A 4xx is the client's doing,
/// not the server's: INFO like any other answer, with the cause when it has one.
/// `telemetry.access_log = false` keeps only the 5xx lines.
pub(crate) struct LogLine {
    /// Log every request, not only failures.
    pub(crate) all: bool,
}

impl Observer for LogLine {
    type Pending<'a> = ();

    #[inline]
    fn on_request<'a>(&'a self, _request: &Request) -> Self::Pending<'a> {}

    #[inline]
    fn on_response(&self, _pending: (), response: &Response, latency: Duration) {
        let status = response.status().as_u16();
        if status < 500 && !self.all {
            return;
        }
        let latency_ms = latency.as_secs_f64() * 1000.0;
        let cause = response.extensions().get::<LoggedCause>().and_then(|c| c.0.take_for_log());
        match (status, cause) {
            (500.., Some(error)) => tracing::error!(status, latency_ms, %error, "request failed"),
            (500.., None) => tracing::error!(status, latency_ms, "request failed"),
            (_, Some(error)) => tracing::info!(status, latency_ms, %error, "request finished"),
            (_, None) => tracing::info!(status, latency_ms, "request finished"),
        }
    }
}

/// The duration histogram and in-flight gauge (feature `metrics`).
#[cfg(feature = "metrics")]
impl Observer for crate::metrics::HttpMetrics {
    type Pending<'a> = (crate::metrics::InFlight<'a>, usize, Option<axum::extract::MatchedPath>, bool);

    #[inline]
    fn on_request<'a>(&'a self, request: &Request) -> Self::Pending<'a> {
        let route = request.extensions().get::<axum::extract::MatchedPath>().cloned();
        // Only a trusted proxy can say the client used HTTPS (`ClientAddr` is set then).
        let https = request.extensions().get::<super::client::ClientAddr>().is_some_and(|c| c.https);
        (self.start(), crate::semconv::method_index(request.method()), route, https)
    }

    #[inline]
    fn on_response(
        &self,
        (_in_flight, method, route, https): Self::Pending<'_>,
        response: &Response,
        latency: Duration,
    ) {
        let route = route.as_ref().map(axum::extract::MatchedPath::as_str);
        self.record(method, route, https, response.status().as_u16(), latency);
    }
}

/// The exported request span's status (feature `otel`). Set on the exported span only:
/// recording a span field would make a JSON log layer re-serialize every field of the span, and
/// the log line carries the status anyway.
#[cfg(feature = "otel")]
pub(crate) struct OtelStatus;

#[cfg(feature = "otel")]
impl Observer for OtelStatus {
    type Pending<'a> = ();

    #[inline]
    fn on_request<'a>(&'a self, _request: &Request) -> Self::Pending<'a> {}

    #[inline]
    fn on_response(&self, _pending: (), response: &Response, _latency: Duration) {
        crate::telemetry::record_status(&tracing::Span::current(), response.status());
    }
}

impl<O: Observer> Observer for Option<O> {
    type Pending<'a>
        = Option<O::Pending<'a>>
    where
        Self: 'a;

    #[inline]
    fn on_request<'a>(&'a self, request: &Request) -> Self::Pending<'a> {
        self.as_ref().map(|o| o.on_request(request))
    }

    #[inline]
    fn on_response(&self, pending: Self::Pending<'_>, response: &Response, latency: Duration) {
        if let (Some(o), Some(pending)) = (self, pending) {
            o.on_response(pending, response, latency);
        }
    }
}

impl<O: Observer> Observer for std::sync::Arc<O> {
    type Pending<'a>
        = O::Pending<'a>
    where
        Self: 'a;

    #[inline]
    fn on_request<'a>(&'a self, request: &Request) -> Self::Pending<'a> {
        (**self).on_request(request)
    }

    #[inline]
    fn on_response(&self, pending: Self::Pending<'_>, response: &Response, latency: Duration) {
        (**self).on_response(pending, response, latency);
    }
}

impl<A: Observer, B: Observer, C: Observer> Observer for (A, B, C) {
    type Pending<'a>
        = (A::Pending<'a>, B::Pending<'a>, C::Pending<'a>)
    where
        Self: 'a;

    #[inline]
    fn on_request<'a>(&'a self, request: &Request) -> Self::Pending<'a> {
        (self.0.on_request(request), self.1.on_request(request), self.2.on_request(request))
    }

    #[inline]
    fn on_response(&self, (a, b, c): Self::Pending<'_>, response: &Response, latency: Duration) {
        self.0.on_response(a, response, latency);
        self.1.on_response(b, response, latency);
        self.2.on_response(c, response, latency);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use axum::body::Body;
    use axum::response::IntoResponse;

    /// Writes what it hears to a shared journal.
    struct Journal(&'static str, std::sync::Arc<Mutex<Vec<String>>>);

    impl Observer for Journal {
        type Pending<'a> = &'static str;

        fn on_request<'a>(&'a self, request: &Request) -> Self::Pending<'a> {
            self.1.lock().unwrap().push(format!("{} request {}", self.0, request.uri()));
            self.0
        }

        fn on_response(&self, pending: &'static str, response: &Response, _latency: Duration) {
            self.1.lock().unwrap().push(format!("{pending} response {}", response.status().as_u16()));
        }
    }

    #[test]
    fn composed_observers_hear_in_order_and_absent_ones_not_at_all() {
        let journal = std::sync::Arc::new(Mutex::new(Vec::new()));
        let observers =
            (Some(Journal("a", journal.clone())), None::<Journal>, std::sync::Arc::new(Journal("c", journal.clone())));
        let req = Request::get("/x").body(Body::empty()).unwrap();
        let pending = observers.on_request(&req);
        let created = (StatusCode::CREATED, "").into_response();
        observers.on_response(pending, &created, Duration::from_millis(3));
        assert_eq!(*journal.lock().unwrap(), ["a request /x", "c request /x", "a response 201", "c response 201"]);
    }

    #[test]
    fn nothing_to_observe_installs_no_observers() {
        assert!(Observe::default().observers(false).is_none());
        let (metrics, otel, log) = Observe::default().observers(true).expect("the log line");
        assert!(metrics.is_none() && otel.is_none() && log.is_some());
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn metrics_count_a_request_in_flight_until_it_ends() {
        let metrics = std::sync::Arc::new(crate::metrics::HttpMetrics::default());
        let req = Request::get("/x").body(Body::empty()).unwrap();
        let pending = metrics.on_request(&req);
        assert!(format!("{metrics:?}").contains("active: 1"));
        metrics.on_response(pending, &"ok".into_response(), Duration::from_millis(1));
        assert!(format!("{metrics:?}").contains("active: 0"));
    }
}
