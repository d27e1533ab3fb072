//! The framework's HTTP metrics: a duration histogram per (method, route template, status
//! class) and the number of requests in flight, kept in atomics and read at scrape time.
//!
//! Label values come from closed sets: the route templates the router was built with (one
//! `unmatched` value for every path no route matched), the standard methods plus `_OTHER`, and
//! five status classes. A flood of distinct paths or made-up methods adds no series.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use crate::semconv::{LABEL_METHOD, LABEL_ROUTE, LABEL_STATUS_CLASS, METHODS};

/// The `http_route` value of requests no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Bucket upper bounds in seconds: OpenTelemetry's advice for `http.server.request.duration`.
const BOUNDS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];
const BOUNDS_NANOS: [u64; 14] = {
    let mut nanos = [0; 14];
    let mut i = 0;
    while i < BOUNDS.len() {
        nanos[i] = (BOUNDS[i] * 1e9) as u64;
        i += 1;
    }
    nanos
};

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Per-route histograms, one per (method, status class), allocated on first use.
struct RouteCells([OnceLock<Box<Histogram>>; METHODS.len() * CLASSES.len()]);

impl RouteCells {
    fn new() -> Self {
        Self(std::array::from_fn(|_| OnceLock::new()))
    }

    fn observe(&self, method: usize, status: u16, nanos: u64) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.0[method * CLASSES.len() + class].get_or_init(Box::default).observe(nanos);
    }
}

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, nanos: u64) {
        let bucket = BOUNDS_NANOS.partition_point(|&bound| bound < nanos);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Sum in seconds, count and per-bucket counts (not cumulative), as the encoder takes them.
    fn snapshot(&self) -> (f64, u64, [(f64, u64); BOUNDS.len() + 1]) {
        let buckets: [(f64, u64); BOUNDS.len() + 1] = std::array::from_fn(|i| {
            (BOUNDS.get(i).copied().unwrap_or(f64::INFINITY), self.buckets[i].load(Ordering::Relaxed))
        });
        let count = buckets.iter().map(|(_, n)| n).sum();
        (self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9, count, buckets)
    }
}

/// HTTP server metrics, recorded by the default middleware stack.
#[derive(Default)]
pub(crate) struct HttpMetrics {
    routes: RwLock<HashMap<Box<str>, RouteCells>>,
    unmatched: OnceLock<RouteCells>,
    active: AtomicI64,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics").field("active", &self.active.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

/// Counts a request as in flight until dropped (also when the client goes away mid-request).
pub(crate) struct InFlight<'a>(&'a HttpMetrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl HttpMetrics {
    pub(crate) fn start(&self) -> InFlight<'_> {
        self.active.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Records one finished request. `route` is the matched template, `None` when no route
    /// matched.
    pub(crate) fn record(&self, method: usize, route: Option<&str>, status: u16, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let Some(route) = route else {
            self.unmatched.get_or_init(RouteCells::new).observe(method, status, nanos);
            return;
        };
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        if let Some(cells) = routes.get(route) {
            return cells.observe(method, status, nanos);
        }
        drop(routes);
        // First request on this template: the set is the router's, so this happens once per
        // route and the map stays bounded.
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        routes.entry(route.into()).or_insert_with(RouteCells::new).observe(method, status, nanos);
    }
}

impl Collector for HttpMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "http_server_request_duration",
            "Duration of HTTP server requests, by method, route template and status class.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        let mut sorted: Vec<(&str, &RouteCells)> = routes.iter().map(|(k, v)| (&**k, v)).collect();
        sorted.sort_unstable_by_key(|(route, _)| *route);
        sorted.extend(self.unmatched.get().map(|cells| (UNMATCHED_ROUTE, cells)));
        for (route, cells) in sorted {
            for (i, cell) in cells.0.iter().enumerate() {
                let Some(histogram) = cell.get() else { continue };
                let labels = [
                    (LABEL_METHOD, METHODS[i / CLASSES.len()]),
                    (LABEL_ROUTE, route),
                    (LABEL_STATUS_CLASS, CLASSES[i % CLASSES.len()]),
                ];
                let (sum, count, buckets) = histogram.snapshot();
                family.encode_family(&labels)?.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
        drop(routes);
        encoder
            .encode_descriptor(
                "http_server_active_requests",
                "HTTP server requests being handled now.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&self.active.load(Ordering::Relaxed))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_bucket_whose_bound_covers_them() {
        let h = Histogram::default();
        h.observe(5_000_000); // exactly 5 ms: `le` is inclusive
        h.observe(5_000_001);
        h.observe(11_000_000_000); // beyond 10 s
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 3);
        assert_eq!(buckets[0], (0.005, 1));
        assert_eq!(buckets[1], (0.01, 1));
        assert_eq!(buckets[14].1, 1);
        assert!(buckets[14].0.is_infinite());
        assert!((sum - 11.010000001).abs() < 1e-9);
    }

    #[test]
    fn unknown_methods_and_odd_statuses_fold_into_fixed_labels() {
        let brew = http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(crate::semconv::method_name(&brew), "_OTHER");
        let m = HttpMetrics::default();
        m.record(9, None, 999, Duration::from_millis(1));
        m.record(0, Some("/a"), 42, Duration::from_millis(1));
        let cells = m.unmatched.get().unwrap();
        assert!(cells.0[9 * 5 + 4].get().is_some(), "999 counts as 5xx");
        assert!(m.routes.read().unwrap()["/a"].0[0].get().is_some(), "a status under 100 counts as 1xx");
    }
}
