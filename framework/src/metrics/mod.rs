//! Prometheus metrics (feature `metrics`), served at `GET /metrics` (`telemetry.metrics.path`),
//! on the app's port or on `telemetry.metrics.port`.
//!
//! What the framework records, named after the OpenTelemetry semantic conventions as
//! Prometheus writes them:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `http_server_request_duration_seconds` | histogram (`telemetry.metrics.buckets`, 100 µs to 10 s) | `http_request_method`, `http_route`, `http_response_status_code`, `url_scheme`; `error_type` on 5xx |
//! | `http_server_active_requests` | gauge | |
//! | `db_client_connections` | gauge | `db_client_connection_pool_name`, `db_client_connection_state` (`idle`, `used`) |
//! | `db_client_connection_max` | gauge | `db_client_connection_pool_name` |
//! | `db_client_connection_timeouts_total` | counter | `db_client_connection_pool_name` |
//! | `trestle_otlp_spans_total` | counter | `outcome` (`exported`, `dropped`, `failed`); with `otel`, while exporting |
//! | `trestle_rate_limit_limited_total` | counter | requests refused with 429; while rate limiting is on |
//! | `trestle_rate_limit_backend_failures_total` | counter | `decision` (`allowed`, `denied`): requests Redis could not decide |
//!
//! The histogram's `_count` is the request count. `http_route` is the route template
//! (`/articles/{slug}`), never the raw path, and `unmatched` for every request no route
//! matched, so the number of series is fixed by the router, not by clients.
//!
//! The app adds its own metrics with [`Context::metrics`](crate::Context::metrics), using the
//! [`prometheus_client`] types re-exported here:
//!
//! ```
//! use trestle::metrics::prometheus_client::metrics::counter::Counter;
//! use trestle::prelude::*;
//!
//! #[derive(Clone)]
//! struct AppState {
//!     signups: Counter,
//! }
//!
//! # fn app() -> App<trestle::config::NoConfig, AppState> {
//! App::new().config::<trestle::config::NoConfig>().state(|ctx| {
//!     let signups = Counter::default();
//!     ctx.metrics().register("app_signups", "Accounts created.", signups.clone());
//!     AppState { signups }
//! })
//! # }
//! ```
//!
//! A scrape that asks for OpenMetrics (`Accept: application/openmetrics-text`, as Prometheus
//! does) gets it; anything else gets the Prometheus text format 0.0.4.

mod http;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod pool;

use std::sync::{Arc, Mutex};

use ::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::collector::Collector;
use prometheus_client::registry::{Metric, Registry, Unit};

pub(crate) use self::http::{HttpMetrics, InFlight};
pub use self::http::{DEFAULT_BUCKETS, UNMATCHED_ROUTE};
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub(crate) use pool::PoolMetrics;
/// The Prometheus client library the metric types come from.
pub use prometheus_client;

/// The app's metric registry: the framework's HTTP (and database) metrics plus whatever the app
/// registers. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    pub(crate) http: Arc<HttpMetrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry holding the framework's HTTP metrics, with the default buckets.
    pub fn new() -> Self {
        Self::with_buckets(&DEFAULT_BUCKETS)
    }

    /// A registry whose request duration histogram has `buckets` (upper bounds in seconds,
    /// increasing: `telemetry.metrics.buckets`).
    pub fn with_buckets(buckets: &[f64]) -> Self {
        let http = Arc::new(HttpMetrics::new(buckets));
        let mut registry = Registry::default();
        registry.register_collector(Box::new(http.clone()));
        #[cfg(feature = "otel")]
        registry.register_collector(Box::new(SpanExport));
        Self { registry: Arc::new(Mutex::new(registry)), http }
    }

    /// Adds an app metric. `name` follows Prometheus naming (`app_orders`; a counter gets
    /// `_total` appended when rendered).
    pub fn register(&self, name: impl Into<String>, help: impl Into<String>, metric: impl Metric) {
        self.lock().register(name, help, metric);
    }

    /// Adds an app metric measured in `unit` (its name gets the unit as a suffix).
    pub fn register_with_unit(
        &self,
        name: impl Into<String>,
        help: impl Into<String>,
        unit: Unit,
        metric: impl Metric,
    ) {
        self.lock().register_with_unit(name, help, unit, metric);
    }

    /// Adds a collector: code run at every scrape (a queue's depth, a cache's size).
    pub fn register_collector(&self, collector: impl Collector) {
        self.lock().register_collector(Box::new(collector));
    }

    /// Everything, in the Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.lock())
            .expect("writing to a String cannot fail");
        out
    }

    /// Everything, in the OpenMetrics text format (ends with `# EOF`).
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::with_capacity(4096);
        prometheus_client::encoding::text::encode(&mut out, &self.lock()).expect("writing to a String cannot fail");
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while registering leaves the registry as it was: keep serving it.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The router serving the metrics at `path`.
    pub(crate) fn router(&self, path: &str) -> Router {
        let metrics = self.clone();
        Router::new().route(path, get(move |headers: HeaderMap| async move { metrics.respond(&headers) }))
    }

    fn respond(&self, headers: &HeaderMap) -> Response {
        let openmetrics = headers
            .get_all(header::ACCEPT)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.contains("application/openmetrics-text")));
        if openmetrics {
            const TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
            ([(header::CONTENT_TYPE, HeaderValue::from_static(TYPE))], self.render_openmetrics()).into_response()
        } else {
            const TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
            ([(header::CONTENT_TYPE, HeaderValue::from_static(TYPE))], self.render()).into_response()
        }
    }
}

/// The rate limiter's refusals and backend failures, read at scrape time.
#[derive(Clone)]
pub(crate) struct RateLimitMetrics(pub(crate) Arc<crate::rate_limit::Limiter>);

impl std::fmt::Debug for RateLimitMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimitMetrics")
    }
}

impl Collector for RateLimitMetrics {
    fn encode(&self, mut encoder: prometheus_client::encoding::DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::NoLabelSet;
        use prometheus_client::metrics::MetricType;
        let (limited, failures) = self.0.counts();
        encoder
            .encode_descriptor(
                "trestle_rate_limit_limited",
                "Requests refused with 429 for being over their quota.",
                None,
                MetricType::Counter,
            )?
            .encode_counter::<NoLabelSet, _, u64>(&limited, None)?;
        let decision = match self.0.on_backend_error() {
            crate::config::OnBackendError::Allow => "allowed",
            crate::config::OnBackendError::Deny => "denied",
        };
        encoder
            .encode_descriptor(
                "trestle_rate_limit_backend_failures",
                "Requests the rate limit backend (Redis) could not decide, and what they got (rate_limit.on_backend_error).",
                None,
                MetricType::Counter,
            )?
            .encode_family(&[("decision", decision)])?
            .encode_counter::<NoLabelSet, _, u64>(&failures, None)?;
        Ok(())
    }
}

/// What became of the spans handed to the OTLP exporter: lost spans are worth an alert.
#[cfg(feature = "otel")]
#[derive(Debug)]
struct SpanExport;

#[cfg(feature = "otel")]
impl Collector for SpanExport {
    fn encode(&self, mut encoder: prometheus_client::encoding::DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(counts) = crate::telemetry::export_counts() else { return Ok(()) };
        let mut family = encoder.encode_descriptor(
            "trestle_otlp_spans",
            "Finished spans: exported, dropped (export queue full) or failed (collector down or slow).",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (outcome, n) in ["exported", "dropped", "failed"].into_iter().zip(counts) {
            family
                .encode_family(&[("outcome", outcome)])?
                .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&n, None)?;
        }
        Ok(())
    }
}
