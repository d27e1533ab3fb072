//! The accept loop and graceful shutdown.
//!
//! Our own loop on hyper-util rather than `axum::serve`, which sets no timer (so hyper's
//! header-read timeout is off and slow clients are never reaped) and has no connection cap.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::config::ServerConfig;

/// Binds `addr`, and says which address it got (port 0 picks one).
pub(crate) async fn bind(addr: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves `router` on `listener` until `shutdown` completes, then drains in-flight requests for
/// up to `server.shutdown_timeout`.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    server: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(server.header_read_timeout)
        .max_headers(100)
        .max_buf_size(64 * 1024);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    // Flips to true at the drain deadline: every connection still open is then dropped.
    let (force_close, closing) = tokio::sync::watch::channel(false);
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
        let _ = stream.set_nodelay(true);
        let service = connection_service(router.clone(), peer);
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let mut closing = closing.clone();
        tokio::spawn(async move {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::select! {
                result = watcher.watch(conn) => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, peer = %peer, "connection closed with an error");
                    }
                }
                _ = closing.wait_for(|closed| *closed) => {}
            }
            drop(permit);
        });
    }

    // Stop accepting first: new connections are refused from here on.
    drop(listener);
    let open = graceful.count();
    tracing::info!(
        open_connections = open,
        timeout_ms = server.shutdown_timeout.as_millis() as u64,
        "draining in-flight requests"
    );
    match tokio::time::timeout(server.shutdown_timeout, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => {
            tracing::warn!("server.shutdown_timeout elapsed with requests still running; closing them");
            let _ = force_close.send(true);
        }
    }
}

/// The router with the peer address available as axum's `ConnectInfo<SocketAddr>`.
fn connection_service(
    router: Router,
    peer: SocketAddr,
) -> impl tower::Service<http::Request<Incoming>, Response = axum::response::Response, Error = Infallible, Future: Send>
       + Clone
       + Send
       + 'static {
    tower::service_fn(move |mut req: http::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(req)
    })
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
