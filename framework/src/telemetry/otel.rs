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
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, Sampler, SdkTracerProvider};
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
pub(super) fn layer<S>(config: &OtlpConfig) -> Result<impl Layer<S> + Send + Sync, TelemetryError>
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
        .with_id_generator(PresetIds::default())
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("trestle");
    let pipeline = Pipeline { provider, queue, flush_limit: config.timeout };
    *PIPELINE.get_or_init(|| Mutex::new(None)).lock().unwrap_or_else(|e| e.into_inner()) = Some(pipeline);
    let quiet = tracing_subscriber::filter::filter_fn(|meta| !QUIET.iter().any(|t| meta.target().starts_with(t)));
    // Source location and target stay (where an app span was opened); thread ids, busy/idle
    // times and the level are not OpenTelemetry conventions, and each attribute is encoded
    // into every export.
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_level(false);
    Ok(layer.with_filter(quiet))
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

thread_local! {
    /// The trace id the next root span built on this thread takes: chosen before the request
    /// span exists, so `trace_id` is one of its initial fields. Recording it afterwards would
    /// make a JSON log layer re-serialize every field of the span (a fifth of the cost of
    /// exporting, callgrind).
    static NEXT_TRACE_ID: std::cell::Cell<Option<TraceId>> = const { std::cell::Cell::new(None) };
}

/// Random ids, except a root span's trace id chosen by [`start_trace`].
#[derive(Debug, Default)]
struct PresetIds(RandomIdGenerator);

impl IdGenerator for PresetIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT_TRACE_ID.with(std::cell::Cell::take).unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

/// A request's trace, before its span exists: the caller's (from `traceparent`/`tracestate`)
/// or a new one. A trace that is not sampled still has an id: it ties the request's log lines
/// together.
pub(crate) struct StartedTrace {
    /// 32 hex digits.
    pub(crate) id: String,
    parent: Option<opentelemetry::Context>,
}

/// Reads the caller's trace context, or picks the id of a new trace.
pub(crate) fn start_trace(headers: &HeaderMap) -> StartedTrace {
    if headers.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        let caller = parent.span().span_context().clone();
        if caller.is_valid() {
            return StartedTrace { id: caller.trace_id().to_string(), parent: Some(parent) };
        }
    }
    let id = RandomIdGenerator::default().new_trace_id();
    NEXT_TRACE_ID.with(|next| next.set(Some(id)));
    StartedTrace { id: id.to_string(), parent: None }
}

/// Builds the request's exported span in `trace`, with the attributes only it carries (set on
/// it directly: log layers never format them). Returns the trace id.
pub(crate) fn continue_trace(
    span: &tracing::Span,
    trace: StartedTrace,
    req: &http::Request<axum::body::Body>,
    matched: bool,
) -> String {
    if let Some(parent) = trace.parent {
        let _ = span.set_parent(parent);
    }
    if matched {
        // Unmatched requests have `url.path` as a span field already (the logs show it too).
        span.set_attribute(semconv::URL_PATH, req.uri().path().to_owned());
    }
    span.set_attribute(semconv::URL_SCHEME, "http");
    if semconv::method_name(req.method()) == semconv::OTHER_METHOD {
        span.set_attribute(semconv::HTTP_REQUEST_METHOD_ORIGINAL, req.method().as_str().to_owned());
    }
    // Building the span takes the preset id; whatever is left must not leak into another trace.
    let cx = span.context();
    NEXT_TRACE_ID.with(std::cell::Cell::take);
    let built = cx.span().span_context().trace_id();
    if built == TraceId::INVALID || built.to_string() == trace.id {
        return trace.id;
    }
    // The span was built elsewhere (another layer set-up): keep the logs true to the export.
    let id = built.to_string();
    span.record("trace_id", id.as_str());
    id
}

/// Sets the response status on the exported span: `http.response.status_code`, and an error
/// status for 5xx (a 4xx is the client's mistake, not the server's).
pub(crate) fn record_status(span: &tracing::Span, status: u16) {
    span.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, i64::from(status));
    if status >= 500 {
        span.set_status(opentelemetry::trace::Status::error(""));
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
    use super::percent_decode;

    #[test]
    fn header_values_are_percent_decoded_like_the_otel_variables() {
        assert_eq!(percent_decode("Basic%20YWxh%3D%3D"), "Basic YWxh==");
        assert_eq!(percent_decode("plain-token"), "plain-token");
        assert_eq!(percent_decode("100%"), "100%", "a lone % is kept");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
