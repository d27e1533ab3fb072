//! Logging and tracing set-up from `[telemetry]`.
//!
//! `format = "auto"` writes pretty logs on a terminal and JSON otherwise; `filter` uses
//! `RUST_LOG` syntax and `RUST_LOG` wins when set. Every event inside a request carries the
//! request span's fields (method, route, request id).

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
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
        /// `RUST_LOG` or `telemetry.filter` (`APP__TELEMETRY__FILTER`).
        source_name: &'static str,
        /// The parser's message.
        reason: String,
    },
}

/// Installs the global subscriber. Returns `Ok(false)` when one was already installed (a test
/// that builds several apps, or an app that set up its own): that one is kept.
pub fn init(config: &TelemetryConfig) -> Result<bool, TelemetryError> {
    let (filter, source_name) = match std::env::var("RUST_LOG") {
        Ok(f) if !f.trim().is_empty() => (f, "RUST_LOG"),
        _ => (config.filter.clone(), "telemetry.filter (APP__TELEMETRY__FILTER)"),
    };
    let env_filter = EnvFilter::builder().parse(&filter).map_err(|e| TelemetryError::BadFilter {
        filter: filter.clone(),
        source_name,
        reason: e.to_string(),
    })?;
    let format = match config.format {
        LogFormat::Auto if std::io::stdout().is_terminal() => LogFormat::Pretty,
        LogFormat::Auto => LogFormat::Json,
        other => other,
    };
    let registry = tracing_subscriber::registry().with(env_filter);
    let installed = match format {
        LogFormat::Json => registry
            .with(fmt::layer().json().flatten_event(true).with_current_span(true).with_span_list(false))
            .try_init(),
        LogFormat::Compact => registry.with(fmt::layer().compact()).try_init(),
        LogFormat::Pretty | LogFormat::Auto => registry.with(fmt::layer().pretty()).try_init(),
    };
    Ok(installed.is_ok())
}
