//! OpenTelemetry export (feature `otel`): `tracing` spans become OTLP spans, sent over gRPC or
//! HTTP/protobuf through a bounded [`ExportQueue`]; W3C `traceparent`/`tracestate` continue a
//! caller's trace.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::export::ExportQueue;
use super::TelemetryError;
use crate::config::{OtlpConfig, OtlpProtocol};
use crate::semconv;

/// The running pipeline: set once, when the layer is installed in the global subscriber.
struct Pipeline {
    provider: SdkTracerProvider,
    queue: ExportQueue,
    /// `telemetry.otlp.timeout`: the flush at shutdown takes no longer.
    flush_limit: Duration,
}

static PIPELINE: OnceLock<Mutex<Option<Pipeline>>> = OnceLock::new();

/// Targets whose spans are never exported: the exporter's own HTTP/gRPC stack, which would
/// otherwise trace its own exports.
const QUIET: [&str; 6] = ["h2", "hyper", "tonic", "tower", "opentelemetry", "rustls"];

/// The layer exporting spans as `config` says, and the pipeline to keep for flushing. Must run
/// inside the tokio runtime (the export task starts here).
pub(super) fn layer<S>(
    config: &OtlpConfig,
    filters: Option<[tracing_subscriber::EnvFilter; 2]>,
) -> Result<impl Layer<S> + Send + Sync, TelemetryError>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(TelemetryError::Otlp {
            endpoint: config.endpoint.clone(),
            reason: "spans are exported by a tokio task: call telemetry::init from inside the runtime (an async main)"
                .into(),
        });
    }
    let exporter = exporter(config)?;
    let service_name =
        if config.service_name.trim().is_empty() { default_service_name() } else { config.service_name.clone() };
    let resource = Resource::builder().with_service_name(service_name).build();
    let mut exporter = exporter;
    opentelemetry_sdk::trace::SpanExporter::set_resource(&mut exporter, &resource);
    let queue = ExportQueue::start(exporter, config.queue_size, config.timeout, super::export::send_every());
    let provider = SdkTracerProvider::builder()
        // The provider's handle and ours (for the flush at shutdown) share one queue.
        .with_span_processor(queue.clone())
        .with_sampler(sampler(config))
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("trestle");
    let quiet = || tracing_subscriber::filter::filter_fn(|meta| !QUIET.iter().any(|t| meta.target().starts_with(t)));
    let (export_filter, statements) = match filters {
        Some([export, spans]) if config.db_spans => {
            use tracing::Level;
            use tracing_subscriber::filter::FilterExt;
            // The spans the export layer sees (the statements' parents), and sqlx's statement
            // and acquire events with trestle's "it failed", whatever the log filter says.
            let events = tracing_subscriber::filter::Targets::new()
                .with_target("sqlx::query", Level::DEBUG)
                .with_target("sqlx::pool::acquire", Level::DEBUG)
                .with_target(super::db_spans::ERROR_TARGET, Level::TRACE);
            let seen = quiet().and(spans).or(events);
            (Some(export), Some(super::db_spans::DbSpans::new(tracer.clone()).with_filter(seen)))
        }
        Some([export, _]) => (Some(export), None),
        None => (None, None),
    };
    let pipeline = Pipeline { provider, queue, flush_limit: config.timeout };
    *PIPELINE.get_or_init(|| Mutex::new(None)).lock().unwrap_or_else(|e| e.into_inner()) = Some(pipeline);
    // Source location and target stay (where an app span was opened); thread ids, busy/idle
    // times and the level are not OpenTelemetry conventions, and each attribute is encoded
    // into every export.
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_level(false);
    Ok(layer.with_filter(tracing_subscriber::filter::FilterExt::and(quiet(), export_filter)).and_then(statements))
}

/// The OpenTelemetry context of the span `id` (its own span as the active one), when spans are
/// exported.
pub(crate) fn otel_context(id: &tracing::span::Id) -> Option<opentelemetry::Context> {
    let dispatch = DISPATCH.get()?.upgrade()?;
    tracing_opentelemetry::get_otel_context(id, &dispatch)
}

/// The subscriber the export layer runs in, for [`span_ids`]: log lines are formatted inside
/// the subscriber, where `tracing`'s own lookup of the current dispatcher answers "none".
static DISPATCH: OnceLock<tracing::dispatcher::WeakDispatch> = OnceLock::new();

/// Remembers the global subscriber, once `telemetry::init` has installed it.
pub(crate) fn remember_dispatch() {
    tracing::dispatcher::get_default(|dispatch| {
        let _ = DISPATCH.set(dispatch.downgrade());
    });
}

/// The exported trace and span ids of the span `id`, when it is exported.
pub(crate) fn span_ids(id: &tracing::span::Id) -> Option<(TraceId, SpanId)> {
    let cx = otel_context(id)?;
    let span = cx.span();
    let ids = span.span_context();
    ids.is_valid().then(|| (ids.trace_id(), ids.span_id()))
}

/// `sample_ratio` of new traces; a caller's decision is followed when `parent_sampling` says so.
fn sampler(config: &OtlpConfig) -> Sampler {
    let ratio = Sampler::TraceIdRatioBased(config.sample_ratio);
    if config.parent_sampling {
        Sampler::ParentBased(Box::new(ratio))
    } else {
        ratio
    }
}

fn exporter(config: &OtlpConfig) -> Result<opentelemetry_otlp::SpanExporter, TelemetryError> {
    let endpoint = config.endpoint.trim().trim_end_matches('/').to_owned();
    let bad = |reason: String| TelemetryError::Otlp { endpoint: endpoint.clone(), reason };
    let headers: Vec<(String, String)> = config.headers.iter().map(|(k, v)| (k.clone(), v.expose().clone())).collect();
    let https = endpoint.starts_with("https://");
    let built = match config.protocol {
        OtlpProtocol::Grpc => {
            // Checked when the config loaded; decoded as the HTTP exporter decodes them.
            let mut map = HeaderMap::new();
            for (name, value) in &headers {
                let name = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| bad(format!("the header name {name:?} in telemetry.otlp.headers is not valid")))?;
                let value = http::HeaderValue::from_str(&percent_decode(value))
                    .map_err(|_| bad(format!("the value of header {name:?} in telemetry.otlp.headers is not valid")))?;
                map.insert(name, value);
            }
            let metadata = opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(map);
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .with_timeout(config.timeout)
                .with_metadata(metadata);
            if https {
                let tls = opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new().with_enabled_roots();
                builder = builder.with_tls_config(tls);
            }
            builder.build()
        }
        OtlpProtocol::HttpProtobuf => {
            // A collector's base URL gets the traces path, as OTEL_EXPORTER_OTLP_ENDPOINT does.
            let url = if endpoint.ends_with("/v1/traces") { endpoint.clone() } else { format!("{endpoint}/v1/traces") };
            let connector =
                hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build();
            let client = opentelemetry_http::hyper::HyperClient::new(connector, config.timeout, None);
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_http_client(client)
                .with_endpoint(url)
                .with_timeout(config.timeout)
                .with_headers(headers.into_iter().collect::<HashMap<_, _>>())
                .build()
        }
    };
    built.map_err(|e| bad(e.to_string()))
}

/// `%XX` sequences decoded (header values are written percent-encoded, as in
/// `OTEL_EXPORTER_OTLP_HEADERS`); anything else is kept as written.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_owned())
}

/// The executable's file name: what an operator recognises in a trace view.
fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "trestle-app".to_owned())
}

/// Spans exported, dropped (queue full) and failed (collector down or slow) so far; `None`
/// when nothing is exported.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) fn export_counts() -> Option<[u64; 3]> {
    let pipeline = PIPELINE.get()?.lock().unwrap_or_else(|e| e.into_inner());
    let stats = pipeline.as_ref()?.queue.stats();
    let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
    Some([load(&stats.exported), load(&stats.dropped), load(&stats.failed)])
}

/// Whether spans are being exported (the layer is in the global subscriber).
pub(crate) fn active() -> bool {
    PIPELINE.get().is_some_and(|p| p.lock().unwrap_or_else(|e| e.into_inner()).is_some())
}

/// A request's trace, before its span exists: the caller's (from `traceparent`/`tracestate`),
/// or none (the span starts a new one).
pub(crate) struct StartedTrace {
    parent: Option<opentelemetry::Context>,
}

/// Reads the caller's trace context.
pub(crate) fn start_trace(headers: &HeaderMap) -> StartedTrace {
    if headers.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        if parent.span().span_context().is_valid() {
            return StartedTrace { parent: Some(parent) };
        }
    }
    StartedTrace { parent: None }
}

/// Query parameters whose values are credentials (OpenTelemetry's list for `url.query`): their
/// values are exported as `REDACTED`.
const SECRET_QUERY_PARAMS: [&str; 4] = ["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"];

/// Builds the request's exported span in `trace`, with the attributes only it carries (set on
/// it directly: log layers never format them). Returns the trace id, also when the trace is not
/// sampled: it ties the request's log lines and problem documents together.
pub(crate) fn continue_trace(
    span: &tracing::Span,
    trace: StartedTrace,
    req: &http::Request<axum::body::Body>,
    matched: bool,
    client: Option<(std::net::IpAddr, bool)>,
    client_in_field: bool,
) -> Option<String> {
    if let Some(parent) = trace.parent {
        let _ = span.set_parent(parent);
    }
    let uri = req.uri();
    if matched {
        // Unmatched requests have `url.path` as a span field already (the logs show it too).
        span.set_attribute(semconv::URL_PATH, uri.path().to_owned());
    }
    if let Some(query) = uri.query() {
        span.set_attribute(semconv::URL_QUERY, redact_query(query));
    }
    // The server speaks plain HTTP; a trusted proxy in front (`server.trusted_proxies`) says
    // when the client used HTTPS.
    let https = client.is_some_and(|(_, https)| https);
    span.set_attribute(semconv::URL_SCHEME, if https { "https" } else { "http" });
    if semconv::method_name(req.method()) == semconv::OTHER_METHOD {
        span.set_attribute(semconv::HTTP_REQUEST_METHOD_ORIGINAL, req.method().as_str().to_owned());
    }
    if let Some((host, port)) = server_address(req) {
        span.set_attribute(semconv::SERVER_ADDRESS, host);
        if let Some(port) = port {
            span.set_attribute(semconv::SERVER_PORT, i64::from(port));
        }
    }
    // Behind trusted proxies the address is a span field already (the logs show it too).
    if let (Some((ip, _)), false) = (client, client_in_field) {
        span.set_attribute(semconv::CLIENT_ADDRESS, ip.to_string());
    }
    if let Some(agent) = req.headers().get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()) {
        span.set_attribute(semconv::USER_AGENT_ORIGINAL, agent.to_owned());
    }
    span.set_attribute(semconv::NETWORK_PROTOCOL_VERSION, semconv::protocol_version(req.version()));
    let cx = span.context();
    let id = cx.span().span_context().trace_id();
    (id != TraceId::INVALID).then(|| id.to_string())
}

/// `server.address` and `server.port`: from `Host` (HTTP/1.1) or the URI's authority.
fn server_address(req: &http::Request<axum::body::Body>) -> Option<(String, Option<u16>)> {
    let authority = match req.uri().authority() {
        Some(authority) => authority.clone(),
        None => req.headers().get(http::header::HOST)?.to_str().ok()?.parse::<http::uri::Authority>().ok()?,
    };
    Some((authority.host().trim_start_matches('[').trim_end_matches(']').to_owned(), authority.port_u16()))
}

/// `query` with the values of [`SECRET_QUERY_PARAMS`] replaced.
fn redact_query(query: &str) -> String {
    let secret = |pair: &str| SECRET_QUERY_PARAMS.iter().any(|name| pair.split('=').next() == Some(name));
    if !query.split('&').any(secret) {
        return query.to_owned();
    }
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            if secret(pair) {
                format!("{}=REDACTED", pair.split('=').next().unwrap_or_default())
            } else {
                pair.to_owned()
            }
        })
        .collect();
    pairs.join("&")
}

/// Sets the response status on the exported span: `http.response.status_code`, and an error
/// status for 5xx (a 4xx is the client's mistake, not the server's).
pub(crate) fn record_status(span: &tracing::Span, status: http::StatusCode) {
    span.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
    if status.is_server_error() {
        // No exception type is known here: the status code is the error type (HTTP conventions).
        span.set_attribute(semconv::ERROR_TYPE, status.as_str().to_owned());
        span.set_status(opentelemetry::trace::Status::error(status.to_string()));
    }
}

/// Writes the current span's trace context (`traceparent`, `tracestate`) into `headers`, so a
/// call to another service continues this trace. Does nothing when spans are not exported.
pub fn inject_context(headers: &mut HeaderMap) {
    let cx = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
}

/// Sends every span still queued, bounded by `telemetry.otlp.timeout`; then stops the
/// pipeline. Called by `App::run` after the last request finished.
pub(crate) async fn shutdown() {
    let Some(pipeline) = PIPELINE.get().and_then(|p| p.lock().unwrap_or_else(|e| e.into_inner()).take()) else {
        return;
    };
    let flushed = pipeline.queue.flush(pipeline.flush_limit).await;
    let stats = pipeline.queue.stats();
    let exported = stats.exported.load(std::sync::atomic::Ordering::Relaxed);
    match stats.losses() {
        None if flushed => tracing::info!(exported, "spans flushed"),
        None => tracing::warn!(exported, "the span export task had stopped; spans still queued were lost"),
        Some(losses) => tracing::warn!(exported, "spans flushed, but some were lost: {losses}"),
    }
    let _ = pipeline.provider.shutdown();
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, redact_query};

    #[test]
    fn credentials_in_the_query_are_redacted() {
        assert_eq!(redact_query("q=shoes&page=2"), "q=shoes&page=2");
        assert_eq!(redact_query("sig=abc&q=1&Signature=x%3D"), "sig=REDACTED&q=1&Signature=REDACTED");
        assert_eq!(redact_query("signature=kept"), "signature=kept", "names are case-sensitive");
    }

    #[test]
    fn header_values_are_percent_decoded_like_the_otel_variables() {
        assert_eq!(percent_decode("Basic%20YWxh%3D%3D"), "Basic YWxh==");
        assert_eq!(percent_decode("plain-token"), "plain-token");
        assert_eq!(percent_decode("100%"), "100%", "a lone % is kept");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
