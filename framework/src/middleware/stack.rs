//! `Stack`: request id, span, timeout, load shedding, panic catching, problem rendering and
//! security headers in one service.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use http::{header, HeaderName, HeaderValue, StatusCode, Uri};
use tokio::sync::Semaphore;
use tower::{Layer, Service};
use tracing::{field::Empty, Instrument};

use super::RequestId;
use crate::config::ServerConfig;
use crate::error::{Error, Problem, ProblemExtension, Renderer};
#[cfg(feature = "otel")]
use crate::telemetry::{continue_trace, record_status, start_trace};

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The fused default middleware; built by `App` from `[server]`. See the
/// [module docs](crate::middleware).
#[derive(Clone)]
pub struct Stack {
    shared: Arc<Shared>,
}

struct Shared {
    observe: Observe,
    request_id: bool,
    trace: bool,
    timeout: Option<Duration>,
    catch_panic: bool,
    security_headers: bool,
    limiter: Option<Arc<Semaphore>>,
    renderer: Arc<dyn Renderer>,
    expose_constraint_names: bool,
}

impl Stack {
    /// The stack as `server` configures it, rendering problems with `renderer`.
    pub fn new(server: &ServerConfig, renderer: Arc<dyn Renderer>) -> Self {
        Self::with_database(server, renderer, false)
    }

    /// Like [`new`](Stack::new); `expose_constraint_names` adds a violated database
    /// constraint's name to 409 problems.
    pub fn with_database(server: &ServerConfig, renderer: Arc<dyn Renderer>, expose_constraint_names: bool) -> Self {
        Self::build(server, renderer, expose_constraint_names, Observe::default())
    }

    /// The stack as `server` configures it, also recording what `observe` asks for.
    pub(crate) fn build(
        server: &ServerConfig,
        renderer: Arc<dyn Renderer>,
        expose_constraint_names: bool,
        observe: Observe,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                observe,
                request_id: server.request_id,
                trace: server.trace,
                timeout: (!server.request_timeout.is_zero()).then_some(server.request_timeout),
                catch_panic: server.catch_panic,
                security_headers: server.security_headers,
                limiter: (server.concurrency_limit > 0).then(|| Arc::new(Semaphore::new(server.concurrency_limit))),
                renderer,
                expose_constraint_names,
            }),
        }
    }
}

/// What the stack records beyond logs: metrics (feature `metrics`) and OpenTelemetry trace
/// context (feature `otel`, when spans are exported).
#[derive(Clone, Default)]
pub(crate) struct Observe {
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<Arc<crate::metrics::HttpMetrics>>,
    #[cfg(feature = "otel")]
    pub(crate) otel: bool,
}

impl Observe {
    fn any(&self) -> bool {
        #[allow(unused_mut)]
        let mut any = false;
        #[cfg(feature = "metrics")]
        {
            any |= self.metrics.is_some();
        }
        #[cfg(feature = "otel")]
        {
            any |= self.otel;
        }
        any
    }

    fn otel(&self) -> bool {
        #[cfg(feature = "otel")]
        return self.otel;
        #[cfg(not(feature = "otel"))]
        false
    }
}

/// What `finish` needs to know about the request.
struct Seen {
    id: Option<RequestId>,
    trace_id: Option<String>,
    uri: Uri,
    start: Instant,
    #[cfg(feature = "metrics")]
    method: usize,
    #[cfg(feature = "metrics")]
    route: Option<MatchedPath>,
}

impl Stack {
    /// Whether every part is switched off (and problems render the default way): then the
    /// stack is not installed at all and costs nothing.
    pub(crate) fn is_noop(&self, default_renderer: bool) -> bool {
        let s = &self.shared;
        default_renderer
            && !s.observe.any()
            && !s.request_id
            && !s.trace
            && s.timeout.is_none()
            && !s.catch_panic
            && !s.security_headers
            && s.limiter.is_none()
    }
}

impl<S> Layer<S> for Stack {
    type Service = StackService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StackService { inner, shared: self.shared.clone() }
    }
}

/// The service [`Stack`] wraps around each route.
#[derive(Clone)]
pub struct StackService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request> for StackService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let start = Instant::now();
        let shared = self.shared.clone();
        // The clone is ready; the original (polled ready) serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);

        let id = shared.request_id.then(|| {
            let id = req.headers().get(&X_REQUEST_ID).and_then(RequestId::accept).unwrap_or_else(RequestId::generate);
            req.extensions_mut().insert(id.clone());
            id
        });
        let route = route_of(&req);
        let otel = shared.observe.otel() && shared.trace;
        let trace = otel.then(|| start_trace(req.headers()));
        let span = if let Some(trace) = &trace {
            // Exported spans follow the OpenTelemetry HTTP conventions: named "METHOD route"
            // ("HTTP" for a non-standard method, no route when none matched), kind server.
            // Attributes only the exported span needs are set on it directly (`telemetry::
            // continue_trace`), so log layers do not format them.
            let method = super::METHODS[super::method_index(req.method())];
            let name = match (method, route) {
                ("_OTHER", Some(route)) => format!("HTTP {route}"),
                ("_OTHER", None) => "HTTP".to_owned(),
                (method, Some(route)) => format!("{method} {route}"),
                (method, None) => method.to_owned(),
            };
            tracing::info_span!(
                "request",
                "otel.name" = name,
                "otel.kind" = "server",
                "http.request.method" = method,
                "http.route" = route,
                "url.path" = if route.is_none() { Some(req.uri().path()) } else { None },
                request_id = id.as_ref().map(RequestId::as_str),
                trace_id = trace.id.as_str(),
                "user.id" = Empty,
            )
        } else if shared.trace {
            // Every field costs formatting in every subscriber: the raw path only where no route
            // matched (the route template says it otherwise), status and latency only on the
            // completion event.
            tracing::info_span!(
                "request",
                "http.request.method" = %req.method(),
                "http.route" = route,
                "url.path" = if route.is_none() { Some(req.uri().path()) } else { None },
                request_id = id.as_ref().map(RequestId::as_str),
                "user.id" = Empty,
            )
        } else {
            tracing::Span::none()
        };
        let trace_id = trace.map(|trace| continue_trace(&span, trace, &req, route.is_some()));
        // Health probes are never shed or timed out: a busy server is not a dead one.
        let probe = matches!(route, Some(crate::health::LIVE | crate::health::READY));
        let seen = Seen {
            id,
            trace_id,
            uri: req.uri().clone(),
            start,
            #[cfg(feature = "metrics")]
            method: super::method_index(req.method()),
            #[cfg(feature = "metrics")]
            route: shared.observe.metrics.as_ref().and_then(|_| req.extensions().get::<MatchedPath>().cloned()),
        };

        let future = async move {
            #[cfg(feature = "metrics")]
            let _in_flight = shared.observe.metrics.as_ref().map(|m| m.start());
            let _permit = match &shared.limiter {
                Some(limiter) if !probe => match limiter.clone().try_acquire_owned() {
                    Ok(permit) => Some(permit),
                    Err(_) => {
                        let e = Error::unavailable("the server is at its concurrency limit; retry shortly")
                            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"));
                        return Ok(finish(&shared, e.into_response(), seen).await);
                    }
                },
                _ => None,
            };
            let call = inner.call(req);
            let response = match (shared.timeout.filter(|_| !probe), shared.catch_panic) {
                (Some(limit), true) => match AssertUnwindSafe(tokio::time::timeout(limit, call)).catch_unwind().await {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => Ok(timed_out(limit)),
                    Err(panic) => Ok(panicked(panic)),
                },
                (Some(limit), false) => {
                    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| Ok(timed_out(limit)))
                }
                (None, true) => AssertUnwindSafe(call).catch_unwind().await.unwrap_or_else(|p| Ok(panicked(p))),
                (None, false) => call.await,
            };
            let response = match response {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok(finish(&shared, response, seen).await)
        };
        Box::pin(future.instrument(span))
    }
}

/// Without the `otel` feature there is never a trace to continue (`otel` is always false).
#[cfg(not(feature = "otel"))]
struct StartedTrace {
    id: String,
}

#[cfg(not(feature = "otel"))]
fn start_trace(_headers: &http::HeaderMap) -> StartedTrace {
    StartedTrace { id: String::new() }
}

#[cfg(not(feature = "otel"))]
fn continue_trace(_span: &tracing::Span, trace: StartedTrace, _req: &Request, _matched: bool) -> String {
    trace.id
}

#[cfg(not(feature = "otel"))]
fn record_status(_span: &tracing::Span, _status: u16) {}

/// The matched route template, if any.
fn route_of(req: &Request) -> Option<&str> {
    req.extensions().get::<MatchedPath>().map(MatchedPath::as_str)
}

fn timed_out(limit: Duration) -> Response {
    tracing::error!(timeout_ms = limit.as_millis() as u64, "handler exceeded server.request_timeout");
    Error::unavailable(format!("the request took longer than the server allows ({}ms)", limit.as_millis()))
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
        .into_response()
}

fn panicked(panic: Box<dyn Any + Send>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".to_owned());
    tracing::error!(panic = message, "handler panicked");
    let mut problem = Problem::from_status(StatusCode::INTERNAL_SERVER_ERROR);
    problem.detail = Some("the server failed to handle this request; the request id identifies it in the logs".into());
    Error::from_problem(problem).into_response()
}

/// Renders problems (adding request id and path), turns bare error responses into problems,
/// sets the response headers and records the outcome.
async fn finish(shared: &Shared, mut response: Response, seen: Seen) -> Response {
    let status = response.status();
    if status.as_u16() >= 400 {
        response = render_problem(shared, response, &seen).await;
    }
    #[cfg(feature = "metrics")]
    if let Some(metrics) = &shared.observe.metrics {
        let route = seen.route.as_ref().map(MatchedPath::as_str);
        metrics.record(seen.method, route, response.status().as_u16(), seen.start.elapsed());
    }
    let headers = response.headers_mut();
    if let Some(id) = seen.id {
        headers.insert(X_REQUEST_ID.clone(), id.0);
    }
    if shared.security_headers {
        headers.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
        headers.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
        headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("no-referrer"));
    }

    if !shared.trace {
        return response;
    }
    let status = response.status().as_u16();
    let latency_ms = seen.start.elapsed().as_secs_f64() * 1000.0;
    if shared.observe.otel() {
        // On the exported span only: recording a span field makes a JSON log layer re-serialize
        // every field of the span, and the completion event below carries the status anyway.
        record_status(&tracing::Span::current(), status);
    }
    match status {
        500.. => tracing::error!(status, latency_ms, "request failed"),
        400..500 => tracing::warn!(status, latency_ms, "request rejected"),
        _ => tracing::debug!(status, latency_ms, "request finished"),
    }
    response
}

async fn render_problem(shared: &Shared, response: Response, seen: &Seen) -> Response {
    let (parts, body) = response.into_parts();
    let mut problem = match parts.extensions.get::<ProblemExtension>() {
        Some(ProblemExtension { problem, constraint }) => {
            let mut problem = Problem::clone(problem);
            if let (true, Some(name)) = (shared.expose_constraint_names, constraint) {
                problem.extensions.insert("constraint".into(), name.clone().into());
            }
            problem
        }
        None => {
            // A bare error from outside trestle (axum's own rejections, a 405 from the method
            // router, a tower layer): give it the same problem shape, keeping short text as
            // the detail.
            let is_text =
                parts.headers.get(header::CONTENT_TYPE).is_some_and(|ct| ct.as_bytes().starts_with(b"text/plain"));
            let is_empty = http_body::Body::size_hint(&body).exact() == Some(0);
            if !is_text && !is_empty {
                return Response::from_parts(parts, body);
            }
            let mut problem = Problem::from_status(parts.status);
            if is_text {
                if let Ok(bytes) = axum::body::to_bytes(body, 4096).await {
                    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
                    problem.detail = (!text.is_empty()).then_some(text);
                }
            }
            problem
        }
    };
    problem.request_id = seen.id.as_ref().map(|id| id.as_str().to_owned());
    problem.trace_id.clone_from(&seen.trace_id);
    problem.instance = Some(seen.uri.path().to_owned());
    let mut rendered = shared.renderer.render(&problem);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().append(name.clone(), value.clone());
        }
    }
    rendered
}
