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
use tokio::io::{AsyncRead, AsyncWrite};
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

/// The largest request head hyper accepts (a longer one is 431); a request line that alone
/// reaches it is answered 414 by `Watched` before hyper sees it.
const HEAD_LIMIT: usize = 64 * 1024;

/// What a request line of `HEAD_LIMIT` bytes or more gets, written before the connection closes.
const URI_TOO_LONG: &[u8] = b"HTTP/1.1 414 URI Too Long\r\ncontent-type: application/problem+json\r\n\
content-length: 106\r\nconnection: close\r\n\r\n\
{\"type\":\"about:blank\",\"title\":\"URI Too Long\",\"status\":414,\"detail\":\"the request line is 64 KiB or longer\"}";

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
    timeouts: Timeouts,
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
        // hyper's own header timer restarts when a kept-alive connection goes idle, so it cannot
        // give idle connections a timeout of their own: `Watched` times both.
        .header_read_timeout(None)
        .keep_alive(!server.keep_alive_timeout.is_zero())
        .max_headers(100)
        // Both: the buffer alone can hold more than its maximum when a large read lands at once.
        .max_header_size(HEAD_LIMIT)
        .max_buf_size(HEAD_LIMIT);
    let shared = Arc::new(Shared {
        builder,
        router,
        draining,
        body_read_timeout: Some(server.body_read_timeout).filter(|d| !d.is_zero()),
        timeouts: Timeouts { header: server.header_read_timeout, idle: server.keep_alive_timeout },
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
        let phase = Arc::new(Phase::default());
        let service = {
            let shared = shared.clone();
            let phase = phase.clone();
            hyper::service::service_fn(move |req| handle(shared.clone(), phase.clone(), peer, req))
        };
        let io = TokioIo::new(Watched::new(stream, phase, shared.timeouts));
        let conn = shared.builder.serve_connection(io, service).with_upgrades();
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
    phase: Arc<Phase>,
    peer: SocketAddr,
    req: http::Request<Incoming>,
) -> Result<http::Response<ResponseBody>, Infallible> {
    phase.busy();
    let response = respond(shared, peer, req).await?;
    // The connection is idle again once hyper has written the whole body and dropped it; an
    // upgraded one (a WebSocket) belongs to the handler from then on and is never timed.
    let upgraded = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    Ok(response.map(|body| ResponseBody { inner: body, phase, upgraded }))
}

async fn respond(
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

/// The two timers on a connection waiting for a request: `header` from accept, or from the first
/// byte of the next request on a kept-alive connection (Go's `ReadHeaderTimeout`), and `idle`
/// from the end of a response to that first byte (nginx's `keepalive_timeout`).
#[derive(Clone, Copy, Debug)]
struct Timeouts {
    header: Duration,
    idle: Duration,
}

/// Where a connection is between requests, shared by its IO (which times it) and its service
/// (which moves it). `requests` tells the IO that the state changed even when, between two of
/// its reads, a whole request went by.
#[derive(Debug, Default)]
struct Phase {
    busy: AtomicBool,
    requests: std::sync::atomic::AtomicU64,
    /// The connection's task, woken when it turns idle: hyper does not read again on its own
    /// until the socket is readable, and the idle timer must start now.
    reader: futures_util::task::AtomicWaker,
}

impl Phase {
    fn busy(&self) {
        self.busy.store(true, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn idle(&self) {
        self.busy.store(false, Ordering::Release);
        self.reader.wake();
    }

    /// Registers the reading task before `busy` is read (see `poll_read`), so an `idle` that
    /// comes in between still finds the waker: no lost wake-up, no lock per read.
    fn wake_on_idle(&self, cx: &Context<'_>) {
        self.reader.register(cx.waker());
    }
}

/// What the IO timer is armed for.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Armed {
    /// Reading a request head (deadline `header`).
    Head,
    /// Waiting for the first byte of the next request (deadline `idle`).
    Idle,
    /// A request is being handled: no deadline.
    Busy,
}

/// The connection's socket, closed (a read error) when a request head or the next request does
/// not come in time.
struct Watched {
    stream: TcpStream,
    phase: Arc<Phase>,
    timeouts: Timeouts,
    armed: Armed,
    /// The request count when `armed` was last set.
    seen: u64,
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// Bytes of the current request head before its first line feed; `None` once it came.
    line: Option<usize>,
    /// The request line was too long: 414 is written, and what the client still sends is read
    /// and dropped (closing with unread data would reset the connection and lose the 414).
    rejected: bool,
}

impl Watched {
    fn new(stream: TcpStream, phase: Arc<Phase>, timeouts: Timeouts) -> Self {
        // The first head is timed from accept.
        let deadline = Box::pin(tokio::time::sleep(timeouts.header));
        Self { stream, phase, timeouts, armed: Armed::Head, seen: 0, deadline, line: Some(0), rejected: false }
    }

    fn arm(&mut self, armed: Armed) {
        self.armed = armed;
        self.line = Some(0);
        let after = match armed {
            Armed::Head => self.timeouts.header,
            Armed::Idle => self.timeouts.idle,
            Armed::Busy => return,
        };
        self.deadline.as_mut().reset(tokio::time::Instant::now() + after);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        // hyper may not read while it answers; this task must still hear when the answer ends.
        this.phase.wake_on_idle(cx);
        let requests = this.phase.requests.load(Ordering::Relaxed);
        let busy = this.phase.busy.load(Ordering::Acquire);
        if busy {
            this.armed = Armed::Busy;
            this.seen = requests;
        } else if this.armed == Armed::Busy || requests != this.seen {
            // A response has been written since the last read: wait for the next request.
            this.seen = requests;
            this.arm(Armed::Idle);
        }
        if this.rejected {
            return this.poll_discard(cx);
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        match polled {
            Poll::Ready(Ok(())) => {
                if this.armed == Armed::Idle && buf.filled().len() > before {
                    this.arm(Armed::Head);
                }
                if this.armed == Armed::Head && this.line_too_long(&buf.filled()[before..]) {
                    // hyper would answer 431 for the whole head; the request line is what is long.
                    buf.set_filled(before);
                    let _ = this.stream.try_write(URI_TOO_LONG);
                    // FIN after the 414 (a plain `shutdown(Write)` for a TCP stream: never pending),
                    // so the client reads it to the end while we keep reading.
                    let _ = Pin::new(&mut this.stream).poll_shutdown(cx);
                    this.rejected = true;
                    this.deadline.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(1));
                    return this.poll_discard(cx);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.armed != Armed::Busy && this.deadline.as_mut().poll(cx).is_ready() {
                    let what = if this.armed == Armed::Head {
                        "request head not received within server.header_read_timeout"
                    } else {
                        "idle keep-alive connection reached server.keep_alive_timeout"
                    };
                    tracing::debug!(reason = what, "closing connection");
                    return Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, what)));
                }
                Poll::Pending
            }
        }
    }
}

impl Watched {
    /// Counts `read` into the current request line: whether it has reached `HEAD_LIMIT`.
    fn line_too_long(&mut self, read: &[u8]) -> bool {
        let Some(seen) = self.line else { return false };
        match read.iter().position(|&b| b == b'\n') {
            Some(at) => {
                self.line = None;
                seen + at >= HEAD_LIMIT
            }
            None => {
                self.line = Some(seen + read.len());
                seen + read.len() >= HEAD_LIMIT
            }
        }
    }

    /// Reads and drops what a rejected client still sends, for up to a second, then fails the
    /// read so hyper closes the connection.
    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let mut scratch = [0u8; 4096];
        loop {
            let mut sink = tokio::io::ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.stream).poll_read(cx, &mut sink) {
                Poll::Ready(Ok(())) if !sink.filled().is_empty() => {}
                Poll::Ready(_) => break,
                Poll::Pending => {
                    if self.deadline.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    break;
                }
            }
        }
        Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "request line of 64 KiB or more")))
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A response body that marks its connection idle when hyper drops it (written, or abandoned).
struct ResponseBody {
    inner: axum::body::Body,
    phase: Arc<Phase>,
    upgraded: bool,
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if !self.upgraded {
            self.phase.idle();
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_414_answer_is_well_formed_and_names_the_limit() {
        let text = std::str::from_utf8(URI_TOO_LONG).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let declared: usize = head.lines().find_map(|l| l.strip_prefix("content-length: ")).unwrap().parse().unwrap();
        assert_eq!(declared, body.len(), "content-length does not match the body");
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"], 414);
        assert!(body.contains(&format!("{} KiB", HEAD_LIMIT / 1024)), "{body}");
    }
}
