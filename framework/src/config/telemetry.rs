//! `[telemetry]`: logs, OpenTelemetry export (`[telemetry.otlp]`) and Prometheus metrics
//! (`[telemetry.metrics]`).
//!
//! The sections exist whatever features are compiled in, so a config written for the `otel` or
//! `metrics` feature still loads without it; setting `otlp.endpoint` without the feature is a
//! startup error that names the feature to turn on.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use trestle_macros::Config;

use super::{duration, Secret};

/// `[telemetry]`: logs, traces and metrics.
#[derive(Clone, Debug, Config, Deserialize)]
pub struct TelemetryConfig {
    /// Log format: auto (pretty on a terminal, JSON otherwise), pretty, compact or json.
    #[config(default = "auto")]
    pub format: LogFormat,
    /// Which logs to keep, in `RUST_LOG` syntax; `RUST_LOG` wins when set. Spans exported over
    /// OTLP pass the same filter.
    #[config(default = "info")]
    pub filter: String,
    /// One INFO line per request (method, route, status, latency, request id); `false` keeps
    /// only the ERROR lines of failed (5xx) requests. Needs `server.trace`.
    #[config(default = true)]
    pub access_log: bool,
    /// OpenTelemetry trace export (feature `otel`); off until `endpoint` is set.
    #[config(nested)]
    pub otlp: OtlpConfig,
    /// Prometheus metrics (feature `metrics`).
    #[config(nested)]
    pub metrics: MetricsConfig,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Pretty on a terminal, JSON otherwise.
    Auto,
    /// Multi-line, coloured, for people.
    Pretty,
    /// One line per event, for people.
    Compact,
    /// One JSON object per line, for machines.
    Json,
}

/// `[telemetry.otlp]`: where and how spans are exported (feature `otel`).
#[derive(Clone, Debug, Config, Deserialize)]
pub struct OtlpConfig {
    /// Collector address: `http://localhost:4317` for gRPC, `http://localhost:4318` for
    /// HTTP/protobuf (`/v1/traces` is appended unless the URL ends with it). Empty: no export.
    /// Credentials go in `headers`, not in the URL.
    #[config(default = "", validate = endpoint)]
    pub endpoint: String,
    /// `grpc` or `http/protobuf`.
    #[config(default = "grpc")]
    pub protocol: OtlpProtocol,
    /// `service.name` of every span; empty: the executable's name.
    #[config(default = "")]
    pub service_name: String,
    /// Fraction of new traces recorded, 0.0 to 1.0.
    #[config(default = 1.0, validate = ratio)]
    pub sample_ratio: f64,
    /// Follow the caller's sampling decision (the `traceparent` flag), as OpenTelemetry SDKs
    /// do. Turn off on a service facing the internet: there any client can ask for its
    /// requests to be recorded. The trace is continued either way.
    #[config(default = true)]
    pub parent_sampling: bool,
    /// Export a client span for each SQL statement (from sqlx's statement events): what it ran
    /// (literals removed), how many rows, how long it waited for a connection, whether it
    /// failed. Costs about 37k instructions per statement (callgrind, `dbspans` pair: half of it
    /// the OTLP encoding, a third sqlx's statement event and turning it into a span).
    #[config(default = true)]
    pub db_spans: bool,
    /// Headers sent with every export (API keys: kept secret). A table, or
    /// `"name=value,name2=value2"` in an environment variable. Values are printable ASCII and
    /// percent-decoded (`Basic%20abc` sends `Basic abc`), as `OTEL_EXPORTER_OTLP_HEADERS`.
    #[config(default = BTreeMap::<String, String>::new(), validate = valid_headers)]
    #[serde(deserialize_with = "headers")]
    pub headers: BTreeMap<String, Secret<String>>,
    /// Longest one export may take; a slower collector loses that batch, never a request.
    /// Also bounds the flush at shutdown.
    #[config(default = "5s")]
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Most finished spans waiting for export (plus the batch being sent); beyond it new spans
    /// are dropped (counted and logged) rather than slowing requests or growing memory.
    #[config(default = 2048, validate = super::schema::at_least_one)]
    pub queue_size: usize,
}

impl OtlpConfig {
    /// Whether spans are to be exported.
    pub fn enabled(&self) -> bool {
        !self.endpoint.trim().is_empty()
    }
}

fn endpoint(endpoint: &str) -> Result<(), &'static str> {
    let endpoint = endpoint.trim();
    if endpoint.is_empty() {
        return Ok(());
    }
    let Some(rest) = endpoint.strip_prefix("http://").or_else(|| endpoint.strip_prefix("https://")) else {
        return Err("must be an http:// or https:// URL, like http://localhost:4317 (or empty: no export)");
    };
    if rest.split(['/', '?', '#']).next().is_some_and(|authority| authority.contains('@')) {
        return Err("must not hold credentials (they would show in logs); send them in telemetry.otlp.headers");
    }
    if endpoint.parse::<http::Uri>().is_err() {
        return Err("is not a valid URL; write it like http://localhost:4317");
    }
    Ok(())
}

/// Header names must be HTTP header names; values printable ASCII (what gRPC metadata takes).
fn valid_headers(headers: &BTreeMap<String, Secret<String>>) -> Result<(), &'static str> {
    for (name, value) in headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err("holds a header name that is not valid in HTTP (letters, digits and `-`)");
        }
        if !value.expose().bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err("holds a header value that is not printable ASCII (percent-encode it or fix it)");
        }
    }
    Ok(())
}

fn ratio(ratio: &f64) -> Result<(), &'static str> {
    if !(0.0..=1.0).contains(ratio) {
        return Err("must be between 0.0 (no new traces) and 1.0 (every trace)");
    }
    Ok(())
}

/// The OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (port 4317 by convention).
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP over HTTP with protobuf bodies (port 4318 by convention).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

/// `[telemetry.metrics]`: the Prometheus endpoint (feature `metrics`).
#[derive(Clone, Debug, Config, Deserialize)]
pub struct MetricsConfig {
    /// Serve metrics (when the `metrics` feature is compiled in).
    #[config(default = true)]
    pub enabled: bool,
    /// Path of the metrics endpoint.
    #[config(default = "/metrics", validate = path)]
    pub path: String,
    /// Serve metrics on this port instead of the app's (same host); unset: the app's port.
    /// Keeps them off a public listener.
    pub port: Option<u16>,
    /// Upper bounds, in seconds, of the request duration histogram's buckets: increasing, at
    /// most 64. The default spans 100 µs to 10 s.
    #[config(default = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0], validate = buckets)]
    pub buckets: Vec<f64>,
}

#[allow(clippy::ptr_arg)] // The derive passes the field as it is.
fn buckets(bounds: &Vec<f64>) -> Result<(), &'static str> {
    if bounds.is_empty() || bounds.len() > 64 {
        return Err("must list 1 to 64 bucket bounds in seconds, like [0.001, 0.01, 0.1, 1]");
    }
    if bounds.iter().any(|b| !b.is_finite() || *b <= 0.0) {
        return Err("bucket bounds must be positive numbers of seconds, like 0.005");
    }
    if bounds.windows(2).any(|w| w[0] >= w[1]) {
        return Err("bucket bounds must increase, like [0.001, 0.01, 0.1, 1]");
    }
    Ok(())
}

fn path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("must start with `/`, like \"/metrics\"");
    }
    Ok(())
}

/// Headers as a table, or as `name=value` pairs separated by commas (what an environment
/// variable can hold). Values are secrets: collectors take API keys this way.
fn headers<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Secret<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Table(BTreeMap<String, String>),
        Text(String),
    }
    let pairs = match Raw::deserialize(d)? {
        Raw::Table(t) => t,
        Raw::Text(text) => {
            let mut table = BTreeMap::new();
            for (n, pair) in text.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
                // Nothing of the text is echoed: it is usually a credential.
                let Some((name, value)) = pair.split_once('=') else {
                    return Err(serde::de::Error::custom(format!(
                        "header {} has no `=`; write name=value,name2=value2",
                        n + 1
                    )));
                };
                table.insert(name.trim().to_owned(), value.trim().to_owned());
            }
            table
        }
    };
    Ok(pairs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), Secret::new(v))).collect())
}
