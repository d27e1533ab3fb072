//! The framework's HTTP metrics: a duration histogram per (method, route template, status
//! code) and the number of requests in flight, kept in atomics and read at scrape time.
//!
//! Label values come from closed sets: the route templates the router was built with (one
//! `unmatched` value for every path no route matched), the standard methods plus `_OTHER`, and
//! the status codes the app answers with (100 to 599; codes outside are counted at the nearest
//! end). A flood of distinct paths or made-up methods adds no series. The status code, not its
//! class, is the label (OpenTelemetry's `http.response.status_code`): an app answers with a
//! handful of codes per route, so the series stay few, and "how many 429s" is worth a series.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use crate::semconv::{LABEL_ERROR_TYPE, LABEL_METHOD, LABEL_ROUTE, LABEL_STATUS_CODE, LABEL_URL_SCHEME, METHODS};

/// The `http_route` value of requests no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The default bucket upper bounds in seconds (`telemetry.metrics.buckets`): 100 µs to 10 s, so
/// sub-millisecond services get quantiles too (OpenTelemetry's advice starts at 5 ms, where a
/// 0.2 ms service would put every request in the first bucket).
pub const DEFAULT_BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Lowest and highest status code with a histogram of its own.
const CODES: std::ops::RangeInclusive<u16> = 100..=599;
const CODE_COUNT: usize = 500;

/// Bucket bounds, in seconds and in nanoseconds (what requests are compared with).
struct Bounds {
    seconds: Box<[f64]>,
    nanos: Box<[u64]>,
}

impl Bounds {
    fn new(seconds: &[f64]) -> Self {
        Self { seconds: seconds.into(), nanos: seconds.iter().map(|s| (s * 1e9) as u64).collect() }
    }
}

/// One method's histograms, one per status code.
type CodeCells = [OnceLock<Box<Histogram>>; CODE_COUNT];

/// One route's histograms: per method and scheme (`http`, `https`), per status code, allocated
/// on first use.
struct RouteCells([OnceLock<Box<CodeCells>>; METHODS.len() * 2]);

impl RouteCells {
    fn new() -> Self {
        Self(std::array::from_fn(|_| OnceLock::new()))
    }

    fn observe(&self, bounds: &Bounds, method: usize, https: bool, status: u16, nanos: u64) {
        let codes =
            self.0[method * 2 + usize::from(https)].get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())));
        let code = usize::from(status.clamp(*CODES.start(), *CODES.end()) - CODES.start());
        codes[code].get_or_init(|| Histogram::new(bounds.nanos.len())).observe(&bounds.nanos, nanos);
    }

    /// Every histogram with its method, scheme and status code.
    fn each(&self) -> impl Iterator<Item = (&'static str, &'static str, u16, &Histogram)> {
        self.0.iter().enumerate().filter_map(|(m, codes)| Some((m, codes.get()?))).flat_map(|(m, codes)| {
            let scheme = if m % 2 == 1 { "https" } else { "http" };
            codes
                .iter()
                .enumerate()
                .filter_map(move |(c, cell)| Some((METHODS[m / 2], scheme, CODES.start() + c as u16, &**cell.get()?)))
        })
    }
}

struct Histogram {
    /// One per bound, then the `+Inf` bucket.
    buckets: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn new(bounds: usize) -> Box<Self> {
        Box::new(Self { buckets: (0..=bounds).map(|_| AtomicU64::new(0)).collect(), sum_nanos: AtomicU64::new(0) })
    }

    fn observe(&self, bounds: &[u64], nanos: u64) {
        let bucket = bounds.partition_point(|&bound| bound < nanos);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Sum in seconds, count and per-bucket counts (not cumulative), as the encoder takes them.
    fn snapshot(&self, bounds: &[f64]) -> (f64, u64, Vec<(f64, u64)>) {
        let buckets: Vec<(f64, u64)> = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, n)| (bounds.get(i).copied().unwrap_or(f64::INFINITY), n.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        (self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9, count, buckets)
    }
}

/// HTTP server metrics, recorded by the default middleware stack.
pub(crate) struct HttpMetrics {
    bounds: Bounds,
    routes: RwLock<HashMap<Box<str>, RouteCells>>,
    unmatched: OnceLock<RouteCells>,
    active: AtomicI64,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self::new(&DEFAULT_BUCKETS)
    }
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
    /// Metrics whose histograms have `buckets` (upper bounds in seconds, increasing).
    pub(crate) fn new(buckets: &[f64]) -> Self {
        Self {
            bounds: Bounds::new(buckets),
            routes: RwLock::default(),
            unmatched: OnceLock::new(),
            active: AtomicI64::new(0),
        }
    }

    pub(crate) fn start(&self) -> InFlight<'_> {
        self.active.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Records one finished request. `route` is the matched template, `None` when no route
    /// matched; `https` says the client used HTTPS (as a trusted proxy reports).
    pub(crate) fn record(&self, method: usize, route: Option<&str>, https: bool, status: u16, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let Some(route) = route else {
            self.unmatched.get_or_init(RouteCells::new).observe(&self.bounds, method, https, status, nanos);
            return;
        };
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        if let Some(cells) = routes.get(route) {
            return cells.observe(&self.bounds, method, https, status, nanos);
        }
        drop(routes);
        // First request on this template: the set is the router's, so this happens once per
        // route and the map stays bounded.
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        routes.entry(route.into()).or_insert_with(RouteCells::new).observe(&self.bounds, method, https, status, nanos);
    }
}

impl Collector for HttpMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "http_server_request_duration",
            "Duration of HTTP server requests, by method, route template and status code.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        let mut sorted: Vec<(&str, &RouteCells)> = routes.iter().map(|(k, v)| (&**k, v)).collect();
        sorted.sort_unstable_by_key(|(route, _)| *route);
        sorted.extend(self.unmatched.get().map(|cells| (UNMATCHED_ROUTE, cells)));
        for (route, cells) in sorted {
            for (method, scheme, status, histogram) in cells.each() {
                let status = status.to_string();
                let mut labels = vec![
                    (LABEL_METHOD, method),
                    (LABEL_ROUTE, route),
                    (LABEL_STATUS_CODE, status.as_str()),
                    (LABEL_URL_SCHEME, scheme),
                ];
                // A server error's type is its status code (OpenTelemetry's HTTP conventions).
                if status.starts_with('5') {
                    labels.push((LABEL_ERROR_TYPE, status.as_str()));
                }
                let (sum, count, buckets) = histogram.snapshot(&self.bounds.seconds);
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
        let bounds = Bounds::new(&DEFAULT_BUCKETS);
        let h = Histogram::new(DEFAULT_BUCKETS.len());
        h.observe(&bounds.nanos, 100_000); // exactly 100 µs: `le` is inclusive
        h.observe(&bounds.nanos, 200_000); // a sub-millisecond request has a bucket of its own
        h.observe(&bounds.nanos, 11_000_000_000); // beyond 10 s
        let (sum, count, buckets) = h.snapshot(&bounds.seconds);
        assert_eq!(count, 3);
        assert_eq!(buckets[0], (0.0001, 1));
        assert_eq!(buckets[1], (0.00025, 1));
        assert_eq!(buckets[16].1, 1);
        assert!(buckets[16].0.is_infinite());
        assert!((sum - 11.0003).abs() < 1e-9);
    }

    #[test]
    fn unknown_methods_and_odd_statuses_fold_into_fixed_labels() {
        let brew = http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(crate::semconv::method_name(&brew), "_OTHER");
        let m = HttpMetrics::default();
        m.record(9, None, false, 999, Duration::from_millis(1));
        m.record(0, Some("/a"), false, 42, Duration::from_millis(1));
        m.record(0, Some("/a"), true, 404, Duration::from_millis(1));
        let unmatched: Vec<_> = m.unmatched.get().unwrap().each().map(|(m, _, s, _)| (m, s)).collect();
        assert_eq!(unmatched, [("_OTHER", 599)], "999 counts as 599");
        let routes = m.routes.read().unwrap();
        let a: Vec<_> = routes["/a"].each().map(|(m, scheme, s, _)| (m, scheme, s)).collect();
        assert_eq!(a, [("GET", "http", 100), ("GET", "https", 404)], "a status under 100 counts as 100");
    }
}
