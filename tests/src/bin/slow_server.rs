//! A trestle server with a slow route, started by the shutdown and observability tests.

use std::time::Duration;

use trestle::axum::routing::{get, post};
use trestle::prelude::*;

async fn slow() -> &'static str {
    tracing::info!("slow request started");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    "finished"
}

/// An app span inside the request span: exported as its child. Item 0 does not exist.
async fn item(Path(id): Path<u32>) -> trestle::Result<String> {
    let span = tracing::info_span!("load_item", item.id = i64::from(id));
    let _entered = span.enter();
    tracing::info!("looking the item up");
    if id == 0 {
        return Err(Error::not_found("there is no item 0"));
    }
    Ok(format!("item {id}"))
}

/// The `traceparent` this request would send to another service.
async fn outgoing() -> String {
    let mut headers = trestle::axum::http::HeaderMap::new();
    trestle::telemetry::inject_context(&mut headers);
    headers.get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned()
}

#[trestle::main]
async fn main() -> Result<(), trestle::StartupError> {
    App::new()
        .routes(
            Router::new()
                .route("/slow", get(slow))
                .route("/fast", get(|| async { "fast" }))
                .route("/echo", post(|body: String| async move { body }))
                .route("/items/{id}", get(item))
                .route("/outgoing", get(outgoing))
                .route("/fail", get(|| async { Error::internal(std::io::Error::other("disk on fire")) }))
                .route("/whoami", get(|ip: trestle::middleware::ClientIp| async move { ip.0.to_string() })),
        )
        .run()
        .await
}
