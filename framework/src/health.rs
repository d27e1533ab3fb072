//! `GET /health/live` and `GET /health/ready`.
//!
//! Liveness answers 200 while the process serves. Readiness runs every registered check
//! (concurrently, each bounded by `server.readiness_timeout`) and answers 200 when all pass, or
//! 503 with a problem naming the failing ones; during shutdown it answers 503 at once, so load
//! balancers stop sending traffic before the server stops accepting it.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::error::Error;
use crate::Json;

/// The liveness probe's path.
pub(crate) const LIVE: &str = "/health/live";
/// The readiness probe's path.
pub(crate) const READY: &str = "/health/ready";

/// The health routes, for the route table.
pub(crate) const ROUTES: [crate::routing::RouteInfo; 2] = [
    health_route(LIVE, "200 while the process serves"),
    health_route(READY, "200 when every readiness check passes, 503 otherwise"),
];

const fn health_route(path: &'static str, summary: &'static str) -> crate::routing::RouteInfo {
    crate::routing::RouteInfo {
        methods: &["GET"],
        path,
        handler: "trestle::health",
        params: &[],
        body: None,
        auth: crate::routing::AuthRequirement::None,
        scopes: &[],
        summary,
        description: "",
        tags: &[],
        deprecated: false,
        rate_limit: None,
        package: "trestle",
        version: env!("CARGO_PKG_VERSION"),
        openapi: None,
    }
}

type CheckFn = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// The readiness checks and the shutdown flag.
#[derive(Clone, Default)]
pub(crate) struct Health {
    checks: Vec<(String, CheckFn)>,
    draining: Arc<AtomicBool>,
    timeout: Duration,
}

impl Health {
    /// Registers a readiness check: a cheap probe of one dependency (a database ping).
    pub(crate) fn add_check<F, Fut, E>(&mut self, name: impl Into<String>, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let check = Arc::new(move || {
            let fut = check();
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) }) as Pin<Box<dyn Future<Output = _> + Send>>
        });
        self.checks.push((name.into(), check));
    }

    /// Marks the process as shutting down: readiness answers 503 from now on.
    pub(crate) fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub(crate) fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `/health/live` and `/health/ready` routes.
    pub(crate) fn router(self) -> Router {
        Router::new()
            .route(LIVE, get(|| async { Json(json!({ "status": "live" })) }))
            .route(READY, get(ready))
            .with_state(Arc::new(self))
    }

    /// Runs every check; `(name, Ok | Err(message))` in registration order.
    pub(crate) async fn run_checks(&self) -> Vec<(String, Result<(), String>)> {
        let runs = self.checks.iter().map(|(name, check)| {
            let limit = self.timeout;
            async move {
                let result = match tokio::time::timeout(limit, check()).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("no answer within {}ms (server.readiness_timeout)", limit.as_millis())),
                };
                (name.clone(), result)
            }
        });
        futures_util::future::join_all(runs).await
    }
}

async fn ready(State(health): State<Arc<Health>>) -> Response {
    if health.draining.load(Ordering::SeqCst) {
        return Error::unavailable("the server is shutting down").into_response();
    }
    let results = health.run_checks().await;
    // The reasons (hosts, users, driver messages) go to the log; probes are often public.
    for (name, result) in &results {
        if let Err(reason) = result {
            tracing::warn!(check = %name, reason = %reason, "readiness check failing");
        }
    }
    let summary: BTreeMap<&str, &str> =
        results.iter().map(|(n, r)| (n.as_str(), if r.is_ok() { "ok" } else { "failing" })).collect();
    let failing: Vec<&(String, Result<(), String>)> = results.iter().filter(|(_, r)| r.is_err()).collect();
    if failing.is_empty() {
        return Json(json!({ "status": "ready", "checks": summary })).into_response();
    }
    let names: Vec<&str> = failing.iter().map(|(n, _)| n.as_str()).collect();
    let mut error =
        Error::unavailable(format!("not ready: {} failing", names.join(", "))).with_extension("checks", json!(summary));
    for (name, _) in failing {
        error = error.with_field(name.clone(), "failing (the reason is in the server log)");
    }
    error.into_response()
}
