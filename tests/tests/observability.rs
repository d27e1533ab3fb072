//! OpenTelemetry export from a real server process to an OTLP receiver running in this test
//! (HTTP/protobuf and gRPC), trace context from `traceparent`, the trace id in problem bodies
//! and logs, and a collector that is down or hangs.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use common::*;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// What the receiver got: spans (with their resource's `service.name`) and request headers.
#[derive(Default)]
struct Received {
    spans: Vec<(String, Span)>,
    api_keys: Vec<String>,
    paths: Vec<String>,
}

/// An OTLP receiver on a thread of its own: `grpc` speaks gRPC over HTTP/2, otherwise
/// HTTP/1.1 with protobuf bodies at `/v1/traces`.
struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Received>>,
}

impl Receiver {
    fn start(grpc: bool) -> Self {
        let received = Arc::new(Mutex::new(Received::default()));
        let store = received.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let store = store.clone();
                    let service = hyper::service::service_fn(move |req| handle(req, grpc, store.clone()));
                    tokio::spawn(async move {
                        let io = TokioIo::new(stream);
                        let _ = if grpc {
                            hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                                .serve_connection(io, service)
                                .await
                        } else {
                            hyper::server::conn::http1::Builder::new().serve_connection(io, service).await
                        };
                    });
                }
            });
        });
        Self { addr: rx.recv().unwrap(), received }
    }

    fn spans(&self) -> Vec<(String, Span)> {
        self.received.lock().unwrap().spans.clone()
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn handle(req: Request<Incoming>, grpc: bool, store: Arc<Mutex<Received>>) -> Result<Response<Body>, Infallible> {
    let key = req.headers().get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let path = req.uri().path().to_owned();
    let mut body = req.into_body().collect().await.unwrap().to_bytes();
    if grpc {
        // A gRPC message: compressed flag, 4-byte length, then the protobuf.
        assert_eq!(path, "/opentelemetry.proto.collector.trace.v1.TraceService/Export");
        assert_eq!(body.get_u8(), 0, "uncompressed");
        let len = body.get_u32() as usize;
        assert_eq!(len, body.len());
    } else {
        assert!(path.ends_with("/v1/traces"), "{path}");
    }
    let request = ExportTraceServiceRequest::decode(body).expect("a valid OTLP trace export");
    {
        let mut store = store.lock().unwrap();
        store.api_keys.push(key);
        store.paths.push(path);
        for resource_spans in request.resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| text(kv.value.as_ref()?.value.as_ref()?))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                store.spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
    }
    let response = if grpc {
        let mut trailers = hyper::HeaderMap::new();
        trailers.insert("grpc-status", hyper::header::HeaderValue::from_static("0"));
        // An empty ExportTraceServiceResponse, framed.
        let body = Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])).with_trailers(async move { Some(Ok(trailers)) });
        Response::builder().header("content-type", "application/grpc").body(body.boxed()).unwrap()
    } else {
        Response::builder()
            .header("content-type", "application/x-protobuf")
            .body(Full::new(Bytes::new()).boxed())
            .unwrap()
    };
    Ok(response)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn attr(span: &Span, key: &str) -> Option<Value> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.clone()?.value)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts slow_server exporting to `receiver` over `protocol`. Batches are held for a minute,
/// so only the flush at shutdown can deliver them.
fn start_exporting(receiver: &Receiver, protocol: &str, extra: &[(&str, &str)]) -> Server {
    let endpoint = format!("http://{}", receiver.addr);
    let mut env = vec![
        ("APP__TELEMETRY__OTLP__ENDPOINT", endpoint.as_str()),
        ("APP__TELEMETRY__OTLP__PROTOCOL", protocol),
        ("APP__TELEMETRY__OTLP__SERVICE_NAME", "shop"),
        ("APP__TELEMETRY__OTLP__HEADERS", "x-api-key=sekrit-key-123"),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
    ];
    env.extend_from_slice(extra);
    start(&env)
}

fn exports_request_and_app_spans_continuing_the_callers_trace(protocol: &str) {
    let receiver = Receiver::start(protocol == "grpc");
    // At DEBUG, trestle's own export diagnostics are logged too: none may show a header value.
    let mut server = start_exporting(&receiver, protocol, &[("APP__TELEMETRY__FILTER", "debug")]);
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let headers =
        [("traceparent", traceparent.as_str()), ("tracestate", "shop=a1,upstream=b2"), ("user-agent", "probe/1.0")];
    let response = get_with(server.addr, "/items/7?expand=tags&sig=s3cret", &headers).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let request_id =
        response.lines().find_map(|l| l.strip_prefix("x-request-id: ")).expect("x-request-id header").trim().to_owned();

    // A line logged inside the app's own span carries the request's ids and its own span id.
    let line = wait_for(&server.lines, "looking the item up");
    let nested: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(nested["request_id"], request_id.as_str(), "{line}");
    assert_eq!(nested["trace_id"], TRACE_ID, "{line}");
    assert_eq!(nested["span"]["name"], "load_item", "{line}");
    assert_eq!(nested["span"]["item.id"], 7, "{line}");
    let nested_span_id = nested["span_id"].as_str().expect("span_id").to_owned();
    assert_eq!(nested_span_id.len(), 16, "{line}");

    let response = get(server.addr, "/fail").unwrap();
    assert!(response.starts_with("HTTP/1.1 500"), "{response}");

    // A problem body carries the trace id beside the request id; so does the log line.
    let other_trace = "0af7651916cd43dd8448eb211c80319c";
    let response =
        get_with(server.addr, "/items/0", &[("traceparent", &format!("00-{other_trace}-b7ad6b7169203331-01"))])
            .unwrap();
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let body: serde_json::Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["trace_id"], other_trace, "{body}");
    assert!(body["request_id"].is_string(), "{body}");
    let line = wait_for(&server.lines, "\"status\":404");
    let log: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(log["trace_id"], other_trace, "{line}");
    assert_eq!(log["request_id"], body["request_id"], "{line}");
    assert_eq!(log["span"]["request_id"], body["request_id"], "{line}");
    assert_eq!(log["span"]["http.route"], "/items/{id}", "{line}");
    assert_eq!(log["status"], 404, "{line}");
    assert!(log["latency_ms"].is_number(), "{line}");

    assert!(receiver.spans().is_empty(), "nothing is sent before the batch delay or shutdown");
    sigterm(&server.child);
    let status = wait_exit(&mut server.child, Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");

    let spans = receiver.spans();
    let (service, request) = spans
        .iter()
        .find(|(_, s)| hex(&s.trace_id) == TRACE_ID && s.name == "GET /items/{id}")
        .unwrap_or_else(|| panic!("no request span in {:?}", spans.iter().map(|(_, s)| &s.name).collect::<Vec<_>>()));
    assert_eq!(service, "shop");
    assert_eq!(hex(&request.parent_span_id), PARENT_ID, "the caller's span is the parent");
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(request.trace_state, "shop=a1,upstream=b2", "tracestate travels with the trace");
    assert_eq!(attr(request, "http.request.method"), Some(Value::StringValue("GET".into())));
    assert_eq!(attr(request, "http.route"), Some(Value::StringValue("/items/{id}".into())));
    assert_eq!(attr(request, "url.path"), Some(Value::StringValue("/items/7".into())));
    assert_eq!(attr(request, "url.query"), Some(Value::StringValue("expand=tags&sig=REDACTED".into())));
    assert_eq!(attr(request, "url.scheme"), Some(Value::StringValue("http".into())));
    assert_eq!(attr(request, "server.address"), Some(Value::StringValue("test".into())), "from Host");
    assert_eq!(attr(request, "client.address"), Some(Value::StringValue("127.0.0.1".into())));
    assert_eq!(attr(request, "user_agent.original"), Some(Value::StringValue("probe/1.0".into())));
    assert_eq!(attr(request, "network.protocol.version"), Some(Value::StringValue("1.1".into())));
    assert_eq!(attr(request, "trace_id"), None, "the span's own trace id is not repeated as an attribute");
    assert_eq!(attr(request, "error.type"), None);
    let status = request.status.clone().unwrap_or_default();
    assert_eq!(status.code, 0, "a 200 leaves the status unset");
    assert_eq!(attr(request, "http.response.status_code"), Some(Value::IntValue(200)));
    assert!(attr(request, "request_id").is_some());

    let (_, child) =
        spans.iter().find(|(_, s)| s.name == "load_item" && hex(&s.trace_id) == TRACE_ID).expect("app span");
    assert_eq!(child.parent_span_id, request.span_id, "the app's span is a child of the request span");
    assert_eq!(attr(child, "item.id"), Some(Value::IntValue(7)));
    assert_eq!(hex(&child.span_id), nested_span_id, "the log line names the span it was logged in");

    let (_, failed) = spans.iter().find(|(_, s)| s.name == "GET /fail").expect("the 500's span");
    assert_eq!(attr(failed, "error.type"), Some(Value::StringValue("500".into())));
    let status = failed.status.clone().expect("a status");
    assert_eq!(status.code, 2, "ERROR");
    assert!(status.message.contains("500"), "{status:?}");

    let rejected = spans.iter().find(|(_, s)| hex(&s.trace_id) == other_trace && s.kind == SpanKind::Server as i32);
    let rejected = &rejected.expect("404 request span").1;
    assert_eq!(attr(rejected, "http.response.status_code"), Some(Value::IntValue(404)));
    assert_eq!(rejected.status.clone().unwrap_or_default().code, 0, "a 4xx is the client's: status unset");
    assert_eq!(attr(rejected, "error.type"), None);

    let received = receiver.received.lock().unwrap();
    assert!(received.api_keys.iter().all(|k| k == "sekrit-key-123"), "configured headers are sent");
    let logs = rest_of(&server.lines).join("\n");
    assert!(logs.contains("spans flushed") && !logs.contains("some were lost"), "{logs}");
    assert!(!logs.contains("sekrit"), "a header value reached the logs: {logs}");
}

#[test]
fn text_log_lines_in_a_nested_span_carry_the_request_id_trace_id_and_span_id() {
    let receiver = Receiver::start(false);
    for format in ["compact", "pretty"] {
        let mut server = start_exporting(&receiver, "http/protobuf", &[("APP__TELEMETRY__FORMAT", format)]);
        let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
        let response = get_with(server.addr, "/items/3", &[("traceparent", traceparent.as_str())]).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let request_id =
            response.lines().find_map(|l| l.strip_prefix("x-request-id: ")).expect("x-request-id").trim().to_owned();
        let line = wait_for(&server.lines, "looking the item up");
        // Pretty lines go on below with the spans they are in; the request id is among them.
        let mut text = line.clone();
        if format == "pretty" {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !text.contains(&request_id) && Instant::now() < deadline {
                if let Ok(next) = server.lines.recv_timeout(Duration::from_millis(200)) {
                    text.push('\n');
                    text.push_str(&next);
                }
            }
        }
        assert!(text.contains(&request_id), "{format}: {text}");
        assert!(line.contains(&format!("trace_id={TRACE_ID}")), "{format}: {line}");
        let span_id = line.split("span_id=").nth(1).expect("span_id").get(..16).unwrap().to_owned();
        assert!(span_id.chars().all(|c| c.is_ascii_hexdigit()), "{format}: {line}");
        sigterm(&server.child);
        assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
    }
}

#[test]
fn http_protobuf_export_carries_the_callers_trace_and_flushes_on_shutdown() {
    exports_request_and_app_spans_continuing_the_callers_trace("http/protobuf");
}

#[test]
fn grpc_export_carries_the_callers_trace_and_flushes_on_shutdown() {
    exports_request_and_app_spans_continuing_the_callers_trace("grpc");
}

#[test]
fn without_traceparent_a_new_trace_starts_and_is_reported() {
    let receiver = Receiver::start(false);
    // A collector behind a base path: the traces path is appended to it.
    let base = format!("http://{}/collector", receiver.addr);
    // No service name configured: the executable's name.
    let env = [("APP__TELEMETRY__OTLP__ENDPOINT", base.as_str()), ("APP__TELEMETRY__OTLP__SERVICE_NAME", "")];
    let mut server = start_exporting(&receiver, "http/protobuf", &env);
    let response = get(server.addr, "/missing").unwrap();
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let body: serde_json::Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let trace_id = body["trace_id"].as_str().expect("a trace id").to_owned();
    assert_eq!(trace_id.len(), 32);
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
    let spans = receiver.spans();
    let (service, span) = spans.iter().find(|(_, s)| hex(&s.trace_id) == trace_id).expect("the 404's span");
    assert_eq!(service, "slow_server");
    assert!(span.parent_span_id.is_empty(), "a root span");
    assert_eq!(span.name, "GET", "no route matched: the span is named by the method alone");
    assert_eq!(attr(span, "url.path"), Some(Value::StringValue("/missing".into())));
    assert!(receiver.received.lock().unwrap().paths.iter().all(|p| p == "/collector/v1/traces"));
}

#[test]
fn forwarded_client_and_scheme_are_believed_only_from_trusted_proxies() {
    let receiver = Receiver::start(false);
    let spoof = [("x-forwarded-for", "198.51.100.7"), ("x-forwarded-proto", "https")];
    for trusted in [false, true] {
        let extra: &[(&str, &str)] =
            if trusted { &[("APP__SERVER__TRUSTED_PROXIES", "127.0.0.1/32, ::1")] } else { &[] };
        let mut server = start_exporting(&receiver, "http/protobuf", extra);
        let who = get_with(server.addr, "/whoami", &spoof).unwrap();
        let want = if trusted { "198.51.100.7" } else { "127.0.0.1" };
        assert!(who.ends_with(want), "trusted = {trusted}: {who}");
        // The request's log lines name the client behind the proxy; a spoofed header never.
        let _ = get_with(server.addr, "/not-here-for-the-log", &spoof).unwrap();
        let line = wait_for(&server.lines, "/not-here-for-the-log");
        assert_eq!(line.contains("\"client.address\":\"198.51.100.7\""), trusted, "trusted = {trusted}: {line}");
        let metrics = get(server.addr, "/metrics").unwrap();
        let scheme = if trusted { "https" } else { "http" };
        assert!(
            metrics
                .contains(&format!("http_route=\"/whoami\",http_response_status_code=\"200\",url_scheme=\"{scheme}\"")),
            "{metrics}"
        );
        sigterm(&server.child);
        assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
        let spans = receiver.spans();
        let (_, span) = spans.iter().rev().find(|(_, s)| s.name == "GET /whoami").expect("the request span");
        assert_eq!(attr(span, "client.address"), Some(Value::StringValue(want.into())), "trusted = {trusted}");
        assert_eq!(attr(span, "url.scheme"), Some(Value::StringValue(scheme.into())), "trusted = {trusted}");
    }
}

/// Starts items_server on a SQLite file, exporting to `receiver`.
fn start_items_server(receiver: &Receiver, extra: &[(&str, &str)]) -> Server {
    let endpoint = format!("http://{}", receiver.addr);
    let mut env = vec![
        ("APP__TELEMETRY__OTLP__ENDPOINT", endpoint.as_str()),
        ("APP__TELEMETRY__OTLP__PROTOCOL", "http/protobuf"),
        ("APP__DATABASE__URL", "sqlite://items.db?mode=rwc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
    ];
    env.extend_from_slice(extra);
    start_binary(env!("CARGO_BIN_EXE_items_server"), &env)
}

#[test]
fn each_statement_is_a_client_span_under_the_span_it_ran_in() {
    let receiver = Receiver::start(false);
    let mut server = start_items_server(&receiver, &[]);
    assert!(post(server.addr, "/items/1/apple").unwrap().starts_with("HTTP/1.1 200"));
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let found = get_with(server.addr, "/items/1", &[("traceparent", traceparent.as_str())]).unwrap();
    assert!(found.ends_with("apple"), "{found}");
    // Five unique violations: each marks its own INSERT failed, whichever of sqlx's statement
    // event and trestle's error arrives first.
    for id in 2..=6 {
        let taken = post(server.addr, &format!("/items/{id}/apple")).unwrap();
        assert!(taken.starts_with("HTTP/1.1 409"), "{taken}");
    }
    // The insert fails inside its own span; the handler's `?` converts the error after that span
    // ended: the INSERT is still the statement marked failed, not the handler's SELECT.
    let counted = post(server.addr, "/counted/9/apple").unwrap();
    assert!(counted.starts_with("HTTP/1.1 409"), "{counted}");
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());

    let spans = receiver.spans();
    let names: Vec<&str> = spans.iter().map(|(_, s)| s.name.as_str()).collect();
    let (_, store) = spans.iter().find(|(_, s)| s.name == "store_item").expect("the store_item span");
    let nested_insert = spans.iter().map(|(_, s)| s).find(|s| s.name == "INSERT" && s.parent_span_id == store.span_id);
    let nested_insert = nested_insert.unwrap_or_else(|| panic!("no INSERT under store_item in {names:?}"));
    assert_eq!(nested_insert.status.clone().unwrap_or_default().code, 2, "the nested INSERT failed");
    let count = spans.iter().map(|(_, s)| s).find(|s| s.name == "SELECT" && hex(&s.trace_id) == hex(&store.trace_id));
    assert_eq!(
        count.expect("the COUNT statement").status.clone().unwrap_or_default().code,
        0,
        "the SELECT did not fail"
    );
    let in_trace = |name: &str| spans.iter().map(|(_, s)| s).find(|s| hex(&s.trace_id) == TRACE_ID && s.name == name);
    let app_span = in_trace("load_item").unwrap_or_else(|| panic!("no load_item span in {names:?}"));
    let select = in_trace("SELECT").unwrap_or_else(|| panic!("no SELECT span in {names:?}"));
    assert_eq!(select.kind, SpanKind::Client as i32);
    assert_eq!(select.parent_span_id, app_span.span_id, "the statement is a child of the span it ran in");
    assert_eq!(attr(select, "db.system.name"), Some(Value::StringValue("sqlite".into())));
    assert_eq!(attr(select, "db.namespace"), Some(Value::StringValue("items.db".into())));
    assert_eq!(attr(select, "db.operation.name"), Some(Value::StringValue("SELECT".into())));
    assert_eq!(
        attr(select, "db.query.text"),
        Some(Value::StringValue("SELECT name FROM items WHERE id = $1 AND name <> ?".into())),
        "parameters stay placeholders and literals are removed"
    );
    assert_eq!(attr(select, "db.response.returned_rows"), Some(Value::IntValue(1)));
    assert!(
        matches!(attr(select, "db.client.connection.wait_time"), Some(Value::DoubleValue(w)) if w >= 0.0),
        "the pool wait is on the statement: {:?}",
        select.attributes
    );
    assert!(select.end_time_unix_nano >= select.start_time_unix_nano);
    assert!(select.start_time_unix_nano >= app_span.start_time_unix_nano, "the statement ran inside its parent");
    assert_eq!(select.status.clone().unwrap_or_default().code, 0);

    let (_, failed) = spans
        .iter()
        .filter(|(_, s)| s.name == "INSERT")
        .find(|(_, s)| s.status.as_ref().is_some_and(|st| st.code == 2))
        .unwrap_or_else(|| panic!("no failed INSERT span in {names:?}"));
    // SQLite's extended code for a UNIQUE constraint.
    assert_eq!(attr(failed, "error.type"), Some(Value::StringValue("2067".into())));
    assert_eq!(attr(failed, "db.response.status_code"), Some(Value::StringValue("2067".into())));
    let inserts = |code: i32| {
        spans.iter().filter(|(_, s)| s.name == "INSERT" && s.status.clone().unwrap_or_default().code == code).count()
    };
    assert_eq!(inserts(0), 1, "the first insert succeeded");
    assert_eq!(inserts(2), 6, "each conflicting insert failed (five, and the nested one)");
    assert!(
        spans
            .iter()
            .filter(|(_, s)| s.name != "INSERT")
            .all(|(_, s)| s.status.clone().unwrap_or_default().code != 2 || s.kind == SpanKind::Server as i32),
        "no other statement took a failure"
    );
    assert!(!format!("{spans:?}").contains("hidden-literal"), "a literal was exported");
}

#[test]
fn statement_spans_can_be_switched_off() {
    let receiver = Receiver::start(false);
    let mut server = start_items_server(&receiver, &[("APP__TELEMETRY__OTLP__DB_SPANS", "false")]);
    assert!(post(server.addr, "/items/1/pear").unwrap().starts_with("HTTP/1.1 200"));
    assert!(get(server.addr, "/items/1").unwrap().ends_with("pear"));
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
    let spans = receiver.spans();
    assert!(spans.iter().any(|(_, s)| s.name == "load_item"), "the app's spans are still exported");
    assert!(spans.iter().all(|(_, s)| s.kind != SpanKind::Client as i32), "no statement spans");
}

/// The spans exported for one request with a sampled `traceparent`, at `sample_ratio` 0.
fn exported_with_a_sampled_parent(extra: &[(&str, &str)]) -> usize {
    let receiver = Receiver::start(false);
    let mut env = vec![("APP__TELEMETRY__OTLP__SAMPLE_RATIO", "0")];
    env.extend_from_slice(extra);
    let mut server = start_exporting(&receiver, "http/protobuf", &env);
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let response = get_with(server.addr, "/items/0", &[("traceparent", &traceparent)]).unwrap();
    // Sampled or not, the trace continues: its id is in the problem body.
    assert!(response.contains(TRACE_ID), "{response}");
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
    receiver.spans().len()
}

#[test]
fn the_callers_sampling_decision_is_followed_unless_switched_off() {
    assert!(exported_with_a_sampled_parent(&[]) >= 2, "request and app span, though sample_ratio is 0");
    let exported = exported_with_a_sampled_parent(&[("APP__TELEMETRY__OTLP__PARENT_SAMPLING", "false")]);
    assert_eq!(exported, 0, "an edge service decides itself");
}

/// Requests answered while the collector is unreachable, and how long shutdown took.
fn serve_with_collector_at(endpoint: &str) -> (Duration, Duration, Vec<String>) {
    let mut server = start(&[
        ("APP__TELEMETRY__OTLP__ENDPOINT", endpoint),
        ("APP__TELEMETRY__OTLP__TIMEOUT", "2s"),
        ("APP__TELEMETRY__OTLP__QUEUE_SIZE", "64"),
    ]);
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..300 {
        let sent = Instant::now();
        let response = get(server.addr, &format!("/items/{}", i + 1)).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        slowest = slowest.max(sent.elapsed());
    }
    let serving = started.elapsed();
    // The loss shows on /metrics once an export has failed (a batch interval plus at most the
    // export timeout).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let metrics = get(server.addr, "/metrics").unwrap();
        let lost: f64 = ["dropped", "failed"]
            .iter()
            .map(|outcome| {
                let prefix = format!("trestle_otlp_spans_total{{outcome=\"{outcome}\"}} ");
                let line =
                    metrics.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{prefix} in {metrics}"));
                line[prefix.len()..].parse::<f64>().unwrap()
            })
            .sum();
        if lost > 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "lost spans are never counted: {metrics}");
        std::thread::sleep(Duration::from_millis(100));
    }
    sigterm(&server.child);
    let signalled = Instant::now();
    let status = wait_exit(&mut server.child, Duration::from_secs(15));
    assert!(status.success(), "exit status {status:?}");
    let shutdown = signalled.elapsed();
    // An export waits up to 2s for the collector; no request may wait on it.
    assert!(slowest < Duration::from_secs(1), "a request waited {slowest:?} (all 300 took {serving:?})");
    (serving, shutdown, rest_of(&server.lines))
}

#[test]
fn a_collector_that_refuses_connections_costs_requests_nothing() {
    // Nothing listens on port 9 (discard) here: connections are refused at once.
    let (_, shutdown, logs) = serve_with_collector_at("http://127.0.0.1:9");
    assert!(shutdown < Duration::from_secs(6), "shutdown took {shutdown:?}");
    let logs = logs.join("\n");
    assert!(logs.contains("some were lost"), "the loss is reported: {logs}");
}

#[test]
fn a_collector_that_never_answers_costs_requests_nothing_and_shutdown_is_bounded() {
    // Accepts connections and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let (_, shutdown, logs) = serve_with_collector_at(&format!("http://{addr}"));
    // The flush takes at most telemetry.otlp.timeout (2s).
    assert!(shutdown < Duration::from_secs(6), "shutdown took {shutdown:?}");
    let logs = logs.join("\n");
    assert!(logs.contains("some were lost"), "the loss is reported: {logs}");
}

/// What a start with `env` printed to stderr; the start must fail.
fn failed_start(env: &[(&str, &str)]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_slow_server"))
        .current_dir(tempfile_dir())
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_otlp_settings_stop_startup_naming_the_key_and_never_the_secret() {
    let stderr = failed_start(&[("APP__TELEMETRY__OTLP__ENDPOINT", "collector:4317")]);
    assert!(stderr.contains("telemetry.otlp.endpoint") && stderr.contains("http://"), "{stderr}");
    assert!(stderr.contains("APP__TELEMETRY__OTLP__ENDPOINT"), "{stderr}");

    let stderr = failed_start(&[("APP__TELEMETRY__OTLP__ENDPOINT", "https://ada:hunter22@collector:4318")]);
    assert!(stderr.contains("telemetry.otlp.endpoint") && stderr.contains("telemetry.otlp.headers"), "{stderr}");
    assert!(!stderr.contains("hunter22"), "{stderr}");

    let stderr = failed_start(&[
        ("APP__TELEMETRY__OTLP__ENDPOINT", "http://127.0.0.1:4317"),
        ("APP__TELEMETRY__OTLP__HEADERS", "x-api-key=token\u{7f}hunter22"),
    ]);
    assert!(stderr.contains("telemetry.otlp.headers"), "{stderr}");
    assert!(!stderr.contains("hunter22"), "{stderr}");

    let stderr = failed_start(&[("APP__TELEMETRY__OTLP__HEADERS", "authorization hunter22")]);
    assert!(stderr.contains("telemetry.otlp.headers") && stderr.contains("name=value"), "{stderr}");
    assert!(!stderr.contains("hunter22"), "{stderr}");

    let stderr = failed_start(&[("APP__TELEMETRY__OTLP__SAMPLE_RATIO", "1.5")]);
    assert!(stderr.contains("telemetry.otlp.sample_ratio") && stderr.contains("between 0.0"), "{stderr}");
}

#[test]
fn metrics_can_be_served_on_a_port_of_their_own() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let mut server = start(&[("APP__TELEMETRY__METRICS__PORT", free.as_str())]);
    let line = wait_for(&server.lines, "metrics on");
    let log: serde_json::Value = serde_json::from_str(&line).unwrap();
    let metrics: SocketAddr = log["addr"].as_str().unwrap().parse().unwrap();
    assert_eq!(metrics.port().to_string(), free);

    assert!(get(server.addr, "/metrics").unwrap().starts_with("HTTP/1.1 404"), "not on the app's port");
    for id in 1..=4 {
        assert!(get(server.addr, &format!("/items/{id}")).unwrap().starts_with("HTTP/1.1 200"));
    }
    let scraped = get(metrics, "/metrics").unwrap();
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    let wanted = r#"http_server_request_duration_seconds_count{http_request_method="GET",http_route="/items/{id}",http_response_status_code="200",url_scheme="http"} 4"#;
    assert!(scraped.contains(wanted), "{scraped}");
    assert!(!scraped.contains(r#"http_route="/metrics""#), "scrapes on the metrics port are not counted");
    assert!(get(metrics, "/items/1").unwrap().starts_with("HTTP/1.1 404"), "the app is not on the metrics port");

    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
    let deadline = Instant::now() + Duration::from_secs(2);
    while std::net::TcpStream::connect(metrics).is_ok() {
        assert!(Instant::now() < deadline, "the metrics port outlived the server");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn outgoing_calls_carry_the_request_span_as_their_parent() {
    let receiver = Receiver::start(false);
    let mut server = start_exporting(&receiver, "http/protobuf", &[]);
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let response = get_with(server.addr, "/outgoing", &[("traceparent", &traceparent)]).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let sent = response.split("\r\n\r\n").nth(1).unwrap().trim().to_owned();
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "a W3C traceparent: {sent}");
    assert_eq!((parts[0], parts[1], parts[3]), ("00", TRACE_ID, "01"), "same trace, still sampled: {sent}");
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
    let spans = receiver.spans();
    let (_, request) = spans.iter().find(|(_, s)| s.name == "GET /outgoing").expect("the request span");
    assert_eq!(parts[2], hex(&request.span_id), "the next service's parent is this request's span");
}
