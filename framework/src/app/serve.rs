//! The accept loop and graceful shutdown.
//!
//! Our own loop on hyper rather than `axum::serve`, which sets no timer (so hyper's header-read
//! timeout is off and slow clients are never reaped) and has no connection cap. Connections are
//! served by hyper's HTTP/1 builder directly, not hyper-util's `auto` one: `auto` sniffs for the
//! HTTP/2 preface with no timer, even with `http1_only`, and would serve prior-knowledge HTTP/2
//! (when feature unification turns hyper's `http2` on) outside every limit set here. A client
//! that opens with the HTTP/2 preface gets its connection closed.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::response::IntoResponse;
use axum::Router;
use bytes::Bytes;
use http::header::{CONNECTION, HOST};
use http::{HeaderValue, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

use crate::config::ServerConfig;

/// Binds `addr` with a listen backlog of `backlog`, and says which address it got (port 0 picks
/// one). `TcpListener::bind` would fix the backlog at 128, which a burst of connects overflows.
pub(crate) async fn bind(addr: &str, backlog: u32) -> std::io::Result<(TcpListener, SocketAddr)> {
    let mut last = None;
    for candidate in tokio::net::lookup_host(addr).await? {
        match listen(candidate, backlog) {
            Ok(listener) => {
                let local = listener.local_addr()?;
                return Ok((listener, local));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the address resolved to no socket address")
    }))
}

fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As `TcpListener::bind` does: a restart may rebind while old connections sit in TIME_WAIT.
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Set when shutdown starts (before `server.shutdown_delay`): from then on every response asks
/// the client to close its connection, so keep-alive clients move to another replica before the
/// listener closes rather than finding their idle connection closed under them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Draining(Arc<AtomicBool>);

impl Draining {
    pub(crate) fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What every connection of one listener shares.
struct Shared {
    builder: http1::Builder,
    router: Router,
    draining: Draining,
    body_read_timeout: Option<Duration>,
}

/// Serves `router` on `listener` until `shutdown` completes, then drains in-flight requests for
/// up to `server.shutdown_timeout`. Responses carry `Connection: close` once `draining` is set.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    server: &ServerConfig,
    draining: Draining,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // hyper starts this timer when it starts reading a request head: at accept, so a client
        // that sends nothing is closed too, and again whenever a kept-alive connection goes idle.
        .header_read_timeout(server.header_read_timeout)
        .max_headers(100)
        .max_buf_size(64 * 1024);
    let shared = Arc::new(Shared {
        builder,
        router,
        draining,
        body_read_timeout: Some(server.body_read_timeout).filter(|d| !d.is_zero()),
    });
    // Flips to true when the listener closes: idle connections close, busy ones after their
    // response.
    let (stop, stopping) = watch::channel(false);
    // Flips to true at the drain deadline: every connection still open is then dropped.
    let (force_close, closing) = watch::channel(false);
    let connections = Arc::new(Semaphore::new(server.max_connections));
    tokio::pin!(shutdown);

    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the connection semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Per-connection errors (reset before accept) are routine; running out of
                    // file descriptors is not, and retrying at once would spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        spawn_connection(stream, peer, permit, &shared, &stopping, &closing);
    }

    // Connections the kernel completed but we did not accept yet would be reset when the
    // listener closes; serve them instead (their responses ask them to close).
    while let Ok(permit) = connections.clone().try_acquire_owned() {
        match std::future::poll_fn(|cx| Poll::Ready(listener.poll_accept(cx))).await {
            Poll::Ready(Ok((stream, peer))) => spawn_connection(stream, peer, permit, &shared, &stopping, &closing),
            Poll::Ready(Err(_)) | Poll::Pending => break,
        }
    }
    // Stop accepting: new connections are refused from here on.
    drop(listener);
    let _ = stop.send(true);
    let max = u32::try_from(server.max_connections).unwrap_or(u32::MAX);
    let open = server.max_connections - connections.available_permits();
    tracing::info!(
        open_connections = open,
        timeout_ms = server.shutdown_timeout.as_millis() as u64,
        "draining in-flight requests"
    );
    // Every connection holds a permit until it closes: all of them back means all closed.
    let drained = tokio::time::timeout(server.shutdown_timeout, connections.acquire_many(max)).await;
    match drained {
        Ok(_) => tracing::info!("all connections closed"),
        Err(_) => {
            tracing::warn!("server.shutdown_timeout elapsed with requests still running; closing them");
            let _ = force_close.send(true);
        }
    }
}

fn spawn_connection(
    stream: TcpStream,
    peer: SocketAddr,
    permit: tokio::sync::OwnedSemaphorePermit,
    shared: &Arc<Shared>,
    stopping: &watch::Receiver<bool>,
    closing: &watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let shared = shared.clone();
    let mut stopping = stopping.clone();
    let mut closing = closing.clone();
    tokio::spawn(async move {
        let service = {
            let shared = shared.clone();
            hyper::service::service_fn(move |req| handle(shared.clone(), peer, req))
        };
        let conn = shared.builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
        tokio::pin!(conn);
        let result = tokio::select! {
            result = conn.as_mut() => Some(result),
            () = flipped(&mut stopping) => {
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    result = conn.as_mut() => Some(result),
                    () = flipped(&mut closing) => None,
                }
            }
            () = flipped(&mut closing) => None,
        };
        if let Some(Err(e)) = result {
            tracing::debug!(error = %e, peer = %peer, "connection closed with an error");
        }
        drop(permit);
    });
}

/// Completes when `flag` turns true.
async fn flipped(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}

/// One request: the protocol checks hyper leaves to us, then the router with the peer address
/// as axum's `ConnectInfo<SocketAddr>`.
async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: http::Request<Incoming>,
) -> Result<axum::response::Response, Infallible> {
    if req.version() == Version::HTTP_11 && !req.headers().contains_key(HOST) {
        // RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request without Host.
        let mut response =
            crate::Error::bad_request("an HTTP/1.1 request must carry a Host header (RFC 9112 §3.2)").into_response();
        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        return Ok(response);
    }
    let stalled = Arc::new(AtomicBool::new(false));
    let mut req = req.map(|body| TimedBody::new(body, shared.body_read_timeout, &stalled));
    req.extensions_mut().insert(ConnectInfo(peer));
    let mut response = shared.router.clone().oneshot(req).await?;
    if stalled.load(Ordering::Relaxed) {
        // The rest of the body may still be on its way: the connection cannot be reused.
        response = crate::Error::new(
            StatusCode::REQUEST_TIMEOUT,
            "the request body stalled for longer than server.body_read_timeout",
        )
        .into_response();
        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    } else if shared.draining.is_draining() && response.status() != StatusCode::SWITCHING_PROTOCOLS {
        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response)
}

/// A request body that fails when no frame arrives for `server.body_read_timeout`, and says so
/// in `stalled` so the response becomes 408.
struct TimedBody {
    inner: Incoming,
    timeout: Option<Duration>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    stalled: Option<Arc<AtomicBool>>,
}

impl TimedBody {
    fn new(inner: Incoming, timeout: Option<Duration>, stalled: &Arc<AtomicBool>) -> Self {
        let timeout = timeout.filter(|_| !inner.is_end_stream());
        let stalled = timeout.map(|_| stalled.clone());
        Self { inner, timeout, sleep: None, stalled }
    }
}

/// The error a stalled body yields to the extractor reading it.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled for longer than server.body_read_timeout")]
struct BodyStalled;

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                // The clock restarts with each frame: the limit is on a stall, not the whole body.
                this.sleep = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let Some(timeout) = this.timeout else { return Poll::Pending };
                let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if sleep.as_mut().poll(cx).is_ready() {
                    if let Some(stalled) = &this.stalled {
                        stalled.store(true, Ordering::Relaxed);
                    }
                    return Poll::Ready(Some(Err(Box::new(BodyStalled))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Completes on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "SIGINT", "shutdown requested"),
        () = terminate => tracing::info!(signal = "SIGTERM", "shutdown requested"),
    }
}
