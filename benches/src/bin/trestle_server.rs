//! The trestle side of `benches/load.sh`: the same routes with trestle's default stack.

use trestle::prelude::*;

#[trestle::main]
async fn main() -> trestle::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3202".into());
    App::new()
        .routes(trestle_benches::trestle_routes())
        .config_set("server.port", port)
        .config_set("telemetry.format", "json")
        .config_set("telemetry.filter", "info")
        // The hand-assembled side has no metrics (pair 6 measures them).
        .config_set("telemetry.metrics.enabled", "false")
        .run()
        .await
}
