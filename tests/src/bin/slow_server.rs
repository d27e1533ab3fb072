//! A trestle server with a slow route, started by the shutdown tests.

use std::time::Duration;

use trestle::prelude::*;

async fn slow() -> &'static str {
    tracing::info!("slow request started");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    "finished"
}

#[trestle::main]
async fn main() -> trestle::Result<()> {
    App::new().routes(Router::new().route("/slow", get(slow)).route("/fast", get(|| async { "fast" }))).run().await
}
