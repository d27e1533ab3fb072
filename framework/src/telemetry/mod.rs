//! Logging and tracing set-up from `[telemetry]`.
//!
//! `format = "auto"` writes pretty logs on a terminal and JSON otherwise; `filter` uses
//! `RUST_LOG` syntax and `RUST_LOG` wins when set. Every line logged inside a request, at any
//! depth of spans, carries the request's `request_id` and, when spans are exported, its
//! `trace_id` and the line's own `span_id` (see `logs`); JSON lines also carry the innermost
//! span's fields as `span`.
//!
//! With the `otel` feature and `telemetry.otlp.endpoint` set, the same spans are exported over
//! OTLP (see `[telemetry.otlp]` in the README); [`inject_context`] carries the trace on to the
//! services the app calls.

#[cfg(feature = "otel")]
mod db_spans;
#[cfg(feature = "otel")]
mod export;
mod logs;
#[cfg(feature = "otel")]
mod otel;

#[cfg(all(feature = "otel", any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
pub(crate) use db_spans::describe_database;
#[cfg(all(feature = "otel", feature = "metrics"))]
pub(crate) use otel::export_counts;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub use otel::inject_context;
#[cfg(feature = "otel")]
pub(crate) use otel::{active as otel_active, continue_trace, record_status, start_trace};

use std::io::IsTerminal;

use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{LogFormat, TelemetryConfig};

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter does not parse.
    #[error("the log filter {filter:?} from {source_name} is invalid ({reason}); write it like \"info,my_app=debug\"")]
    BadFilter {
        /// The filter text.
        filter: String,
        /// `RUST_LOG` or `telemetry.filter`.
        source_name: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// `[telemetry.otlp]` cannot be used as written.
    #[error("cannot export spans to telemetry.otlp.endpoint {endpoint:?}: {reason}")]
    Otlp {
        /// The configured endpoint.
        endpoint: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

impl TelemetryError {
    /// The config key to change, when one is to blame (for the message's environment variable).
    pub fn config_key(&self) -> Option<&'static str> {
        match self {
            TelemetryError::BadFilter { source_name: "RUST_LOG", .. } => None,
            TelemetryError::BadFilter { .. } => Some("telemetry.filter"),
            TelemetryError::Otlp { .. } => Some("telemetry.otlp.endpoint"),
        }
    }
}

/// Installs the global subscriber. Returns `Ok(false)` when one was already installed (a test
/// that builds several apps, or an app that set up its own): that one is kept.
pub fn init(config: &TelemetryConfig) -> Result<bool, TelemetryError> {
    install(config, std::io::stdout, std::io::stdout().is_terminal())
}

/// Whether text logs are coloured: on a terminal, unless `NO_COLOR` is set (no-color.org).
fn colour(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Logs for a command of the app's command line (`migrate`, `doctor`, the app's own): to
/// stderr, so its stdout holds only the command's output, and without trace export, so a
/// command does not wait on a collector.
pub(crate) fn init_for_command(config: &TelemetryConfig) -> Result<bool, TelemetryError> {
    let mut config = config.clone();
    config.otlp.endpoint.clear();
    install(&config, std::io::stderr, std::io::stderr().is_terminal())
}

/// The global subscriber of `config`, writing to `writer`; text formats colour their output
/// only when it is a terminal (`terminal`), so a file or a pipe gets no escape codes.
fn install<W>(config: &TelemetryConfig, writer: W, terminal: bool) -> Result<bool, TelemetryError>
where
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    if tracing::dispatcher::has_been_set() {
        return Ok(false);
    }
    let (filter, source_name) = match std::env::var("RUST_LOG") {
        Ok(f) if !f.trim().is_empty() => (f, "RUST_LOG"),
        _ => (config.filter.clone(), "telemetry.filter"),
    };
    let parse = || {
        EnvFilter::builder().parse(&filter).map_err(|e| TelemetryError::BadFilter {
            filter: filter.clone(),
            source_name,
            reason: e.to_string(),
        })
    };
    // The filter applies to the whole subscriber, unless statement spans are exported: those
    // come from sqlx's DEBUG events, which must reach their layer while the logs stay at
    // `filter`, so then each layer gets the filter of its own.
    let per_layer = db_spans_wanted(config);
    let (global, logs_filter) = if per_layer { (None, Some(parse()?)) } else { (Some(parse()?), None) };
    let export_filters = if per_layer { Some([parse()?, parse()?]) } else { None };
    let format = match config.format {
        LogFormat::Auto if terminal => LogFormat::Pretty,
        LogFormat::Auto => LogFormat::Json,
        other => other,
    };
    let registry = tracing_subscriber::registry().with(global).with(otlp_layer(config, export_filters)?);
    // A per-layer filter costs every span and event a pass through tracing-subscriber's
    // per-layer bookkeeping (a tenth of the default stack, callgrind), so the log layer gets one
    // only when it must.
    macro_rules! install {
        ($layer:expr) => {
            match logs_filter {
                Some(filter) => registry.with($layer.with_filter(filter)).try_init(),
                None => registry.with($layer).try_init(),
            }
        };
    }
    let installed = match format {
        LogFormat::Json => {
            install!(fmt::layer().with_writer(writer).event_format(logs::JsonLines).fmt_fields(logs::JsonFields))
        }
        LogFormat::Compact => {
            let format = || fmt::format().compact();
            install!(fmt::layer()
                .with_writer(writer)
                .with_ansi(colour(terminal))
                .event_format(logs::TextLines::new(format().with_ansi(false), format().with_ansi(true))))
        }
        LogFormat::Pretty | LogFormat::Auto => {
            let format = || fmt::format().pretty();
            let lines = logs::TextLines::new(format().with_ansi(false), format().with_ansi(true));
            install!(fmt::layer()
                .with_writer(writer)
                .with_ansi(colour(terminal))
                .event_format(lines)
                .fmt_fields(fmt::format::PrettyFields::new()))
        }
    };
    #[cfg(feature = "otel")]
    if installed.is_ok() && config.otlp.enabled() {
        otel::remember_dispatch();
    }
    Ok(installed.is_ok())
}

/// Whether statement spans are exported: `telemetry.otlp.db_spans` while spans are exported.
fn db_spans_wanted(config: &TelemetryConfig) -> bool {
    cfg!(feature = "otel") && config.otlp.enabled() && config.otlp.db_spans
}

/// The OTLP export layer, when `telemetry.otlp.endpoint` is set; `filters` are the log filter
/// for its two parts (spans, statements) when the subscriber has none for every layer.
#[cfg(feature = "otel")]
fn otlp_layer<S>(
    config: &TelemetryConfig,
    filters: Option<[EnvFilter; 2]>,
) -> Result<Option<impl tracing_subscriber::Layer<S>>, TelemetryError>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + Send + Sync,
{
    if !config.otlp.enabled() {
        return Ok(None);
    }
    otel::layer(&config.otlp, filters).map(Some)
}

/// Without the `otel` feature an endpoint is a mistake worth stopping for: no span would leave.
#[cfg(not(feature = "otel"))]
fn otlp_layer(
    config: &TelemetryConfig,
    _filters: Option<[EnvFilter; 2]>,
) -> Result<Option<tracing_subscriber::layer::Identity>, TelemetryError> {
    if config.otlp.enabled() {
        return Err(TelemetryError::Otlp {
            endpoint: config.otlp.endpoint.clone(),
            reason: "this build has no OpenTelemetry support; add `features = [\"otel\"]` to the trestle dependency, or unset the endpoint".into(),
        });
    }
    Ok(None)
}

/// Sends the spans still queued for export (bounded by `telemetry.otlp.timeout`). `App::run`
/// calls it after the server drained; an app serving by other means calls it before exiting.
pub async fn shutdown() {
    #[cfg(feature = "otel")]
    otel::shutdown().await;
}
