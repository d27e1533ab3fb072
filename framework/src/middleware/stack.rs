//! The fused default middleware: every concern of the [module docs](super) in one service, so
//! a request pays for one layer (one boxed future, one `Arc` clone) instead of one per
//! concern. The concerns themselves live in their own modules; this one only puts them in order.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::response::Response;
use futures_util::FutureExt;
use http::Uri;
use tower::{Layer, Service};
use tracing::Instrument;

use super::client::ClientAddr;
use super::load_shed::{self, LoadShed};
use super::observe::{Observer, Observers};
use super::problem::{self, Problems};
use super::request_id::RequestIds;
use super::span::SpanKind;
use super::{catch_panic, security_headers, timeout, RequestId, Settings};
use crate::config::ServerConfig;

/// The fused default middleware, built from `[server]` and the app's [`Settings`].
#[derive(Clone)]
pub(crate) struct Stack {
    shared: Arc<Shared>,
}

struct Shared {
    request_ids: Option<RequestIds>,
    span: SpanKind,
    observers: Option<Observers>,
    timeout: Option<Duration>,
    load_shed: Option<LoadShed>,
    catch_panic: bool,
    problems: Problems,
    security_headers: bool,
    /// Whether the log line observer reports each request (and with it an error's cause).
    logs_requests: bool,
    /// `server.trusted_proxies`: when not empty, each request's client is resolved.
    trusted: super::client::TrustedProxies,
    /// `[rate_limit]`, when anything is limited.
    rate_limit: Option<Arc<crate::rate_limit::Limiter>>,
}

impl Stack {
    /// The stack as `server` and `settings` configure it; fails on an invalid
    /// `server.request_id_header`.
    pub(crate) fn build(server: &ServerConfig, settings: &Settings) -> Result<Self, super::InvalidSetting> {
        let request_ids = RequestIds::new(&server.request_id_header, settings.make_request_id.clone())?;
        let trusted = super::client::TrustedProxies::parse(&server.trusted_proxies, &server.forwarded_header).map_err(
            |value| super::InvalidSetting {
                key: "server.trusted_proxies",
                value,
                problem: "is not an IP address or a network like 10.0.0.0/8 or fd00::/8",
            },
        )?;
        Ok(Self {
            shared: Arc::new(Shared {
                request_ids: server.request_id.then_some(request_ids),
                span: SpanKind::new(server.trace, settings.observe.otel()),
                observers: settings.observe.observers(server.trace),
                timeout: timeout::limit(server.request_timeout),
                load_shed: LoadShed::new(server.concurrency_limit),
                catch_panic: server.catch_panic,
                problems: Problems {
                    renderer: settings.renderer.clone(),
                    expose_constraint_names: settings.expose_constraint_names,
                },
                security_headers: server.security_headers,
                logs_requests: server.trace,
                trusted,
                rate_limit: settings.rate_limit.clone(),
            }),
        })
    }

    /// Whether every part is switched off (and problems render the default way): then the
    /// stack is not installed at all and costs nothing.
    pub(crate) fn is_noop(&self, default_renderer: bool) -> bool {
        let s = &self.shared;
        default_renderer
            && s.observers.is_none()
            && s.request_ids.is_none()
            && s.span == SpanKind::None
            && s.timeout.is_none()
            && !s.catch_panic
            && !s.security_headers
            && s.load_shed.is_none()
            && s.trusted.is_empty()
            && s.rate_limit.is_none()
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
pub(crate) struct StackService<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// What the response side needs to know about the request.
struct Seen {
    id: Option<RequestId>,
    trace_id: Option<String>,
    uri: Uri,
    start: Instant,
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

        let id = shared.request_ids.as_ref().and_then(|ids| ids.assign(&mut req));
        if !shared.trusted.is_empty() {
            if let Some(peer) = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) {
                let client = shared.trusted.resolve(peer, req.headers());
                req.extensions_mut().insert(client);
            }
        }
        let route = req.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
        let (span, trace_id) = shared.span.span(&req, route, id.as_ref());
        let seen = Seen { id, trace_id, uri: req.uri().clone(), start };

        let future = async move {
            let pending = shared.observers.as_ref().map(|o| o.on_request(&req));
            // Over quota, a request is answered here: it takes no place in the handlers.
            let standing = match &shared.rate_limit {
                Some(limiter) => {
                    let check = limiter.check(&req, ClientAddr::of(req.extensions()).map(|c| c.ip), start);
                    limiter.admit(check).await
                }
                None => Ok(None),
            };
            let admitted = match (standing.is_ok(), &shared.load_shed) {
                (false, _) => None,
                (true, Some(shed)) => shed.admit().map(Some),
                (true, None) => Some(None),
            };
            let (response, _permit, standing) = match (admitted, standing) {
                (_, Err(refused)) => (refused, None, None),
                (None, Ok(_)) => (load_shed::overloaded(), None, None),
                (Some(permit), Ok(standing)) => {
                    // Built in place, inside the timeout and the panic catcher: passing the
                    // handler's future through a function copies it (callgrind: +260
                    // instructions a request).
                    let call = inner.call(req);
                    let response = match (shared.timeout, shared.catch_panic) {
                        (Some(limit), true) => {
                            match AssertUnwindSafe(tokio::time::timeout(limit, call)).catch_unwind().await {
                                Ok(Ok(r)) => r,
                                Ok(Err(_)) => Ok(timeout::timed_out(limit)),
                                Err(panic) => Ok(catch_panic::panicked(panic)),
                            }
                        }
                        (Some(limit), false) => {
                            tokio::time::timeout(limit, call).await.unwrap_or_else(|_| Ok(timeout::timed_out(limit)))
                        }
                        (None, true) => {
                            AssertUnwindSafe(call).catch_unwind().await.unwrap_or_else(|p| Ok(catch_panic::panicked(p)))
                        }
                        (None, false) => call.await,
                    };
                    match response {
                        Ok(r) => (r, permit, standing),
                        Err(never) => match never {},
                    }
                }
            };
            let start = seen.start;
            let mut response = finish(&shared, response, seen).await;
            if let (Some(limiter), Some(standing)) = (&shared.rate_limit, &standing) {
                limiter.add_headers(standing, response.headers_mut());
            }
            if let (Some(observers), Some(pending)) = (&shared.observers, pending) {
                observers.on_response(pending, &response, start.elapsed());
            }
            // Without the log line (`server.trace = false`) an error's cause is still logged once.
            if !shared.logs_requests {
                let cause = response.extensions().get::<crate::error::LoggedCause>();
                if let Some(cause) = cause.and_then(|c| c.0.take_for_log()) {
                    crate::error::log_cause(response.status().as_u16(), cause);
                }
            }
            Ok(response)
        };
        Box::pin(future.instrument(span))
    }
}

/// Renders an error response as a problem and sets the response headers.
async fn finish(shared: &Shared, mut response: Response, seen: Seen) -> Response {
    if response.status().as_u16() >= 400 {
        let about =
            problem::Request { id: seen.id.as_ref(), trace_id: seen.trace_id.as_deref(), path: seen.uri.path() };
        // Boxed: rendering is the error path, and inline its state would make every request's
        // future larger (past the allocator's fast size classes).
        response = Box::pin(shared.problems.render(response, about)).await;
    }
    let headers = response.headers_mut();
    if let (Some(id), Some(ids)) = (seen.id, &shared.request_ids) {
        headers.insert(ids.header.clone(), id.0);
    }
    if shared.security_headers {
        security_headers::add(headers);
    }
    response
}
