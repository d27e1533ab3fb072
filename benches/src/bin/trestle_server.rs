//! The trestle side of `benches/load.sh`: the same routes with trestle's default stack.

use trestle::prelude::*;

#[trestle::main]
async fn main() -> Result<(), trestle::StartupError> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3202".into());
    App::new()
        .routes(trestle_benches::trestle_routes())
        .configure(|c| c.set("server.port", port).set("telemetry.format", "json").set("telemetry.filter", "info"))
        // The hand-assembled side has no metrics (pair 6 measures them).
        .configure(|c| c.set("telemetry.metrics.enabled", "false"))
        .run()
        .await
}
