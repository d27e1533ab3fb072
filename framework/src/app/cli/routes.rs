//! `routes`: the route table, as text or JSON.

use super::super::App;
use crate::config::Config;
use crate::routing::{AuthRequirement, RouteInfo};

pub(super) fn run<C: Config, S: Clone + Send + Sync + 'static>(app: &App<C, S>, json: bool) -> i32 {
    let mut table = app.route_table();
    // The config decides whether health and metrics are served on the app's port; without a
    // loadable config the defaults do.
    let loaded = app.setup.loader.load::<C>().ok();
    if loaded.as_ref().is_some_and(|c| !c.server.health) {
        table.retain(|r| !crate::health::ROUTES.iter().any(|h| h.path == r.path));
    }
    #[cfg(feature = "metrics")]
    let metrics_path = match &loaded {
        Some(c) if c.telemetry.metrics.enabled && c.telemetry.metrics.port.is_none() && c.profile != "production" => {
            Some(c.telemetry.metrics.path.clone())
        }
        Some(_) => None,
        None => Some(crate::config::TelemetryConfig::default().metrics.path),
    };
    #[cfg(not(feature = "metrics"))]
    let metrics_path: Option<String> = None;
    let mut rows: Vec<Row> = table.iter().map(Row::from).collect();
    let limits = loaded.as_ref().map(|c| c.rate_limit.clone()).unwrap_or_default();
    for row in &mut rows {
        row.rate_limit = rate_limit(row, &limits);
    }
    if let Some(path) = metrics_path {
        rows.push(Row {
            methods: "GET".to_owned(),
            path,
            handler: "trestle::metrics".to_owned(),
            auth: AuthRequirement::None,
            scopes: Vec::new(),
            summary: "Prometheus metrics.".to_owned(),
            rate_limit: None,
            own_rate_limit: None,
        });
    }
    rows.sort_by(|a, b| (&a.path, &a.methods).cmp(&(&b.path, &b.methods)));
    if json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "methods": r.methods.split(',').collect::<Vec<_>>(),
                    "path": r.path,
                    "handler": r.handler,
                    "auth": r.auth.to_string(),
                    "scopes": r.scopes,
                    "rate_limit": r.rate_limit,
                    "summary": r.summary,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return 0;
    }
    let width = |f: fn(&Row) -> usize, title: &str| rows.iter().map(f).max().unwrap_or(0).max(title.len());
    let (m, p, h) =
        (width(|r| r.methods.len(), "METHOD"), width(|r| r.path.len(), "PATH"), width(|r| r.handler.len(), "HANDLER"));
    let s = width(|r| r.scopes.join(",").len(), "SCOPES");
    let l = width(|r| r.rate_limit.as_deref().map_or(1, str::len), "RATE LIMIT");
    println!(
        "{:<m$}  {:<p$}  {:<h$}  {:<8}  {:<s$}  {:<l$}  SUMMARY",
        "METHOD", "PATH", "HANDLER", "AUTH", "SCOPES", "RATE LIMIT"
    );
    for r in &rows {
        let line = format!(
            "{:<m$}  {:<p$}  {:<h$}  {:<8}  {:<s$}  {:<l$}  {}",
            r.methods,
            r.path,
            r.handler,
            r.auth.to_string(),
            r.scopes.join(","),
            r.rate_limit.as_deref().unwrap_or("-"),
            r.summary
        );
        println!("{}", line.trim_end());
    }
    0
}

/// One line of the table.
struct Row {
    methods: String,
    path: String,
    handler: String,
    auth: AuthRequirement,
    scopes: Vec<&'static str>,
    summary: String,
    /// The quota that applies (`5/1m`; `None`: not limited).
    rate_limit: Option<String>,
    /// The route's own `rate_limit = "…"`.
    own_rate_limit: Option<&'static str>,
}

/// The quota `row` gets under `limits`: `rate_limit.routes`, else the route's own, else the
/// default when `rate_limit.enabled`; the framework's routes are never limited.
fn rate_limit(row: &Row, limits: &crate::config::RateLimitConfig) -> Option<String> {
    if row.handler.starts_with("trestle::") {
        return None;
    }
    row.methods
        .split(',')
        .find_map(|method| crate::rate_limit::effective_quota(limits, &row.path, method, row.own_rate_limit))
}

impl From<&RouteInfo> for Row {
    fn from(r: &RouteInfo) -> Self {
        Row {
            methods: r.methods.join(","),
            path: r.path.to_owned(),
            handler: r.handler.to_owned(),
            auth: r.auth,
            scopes: r.scopes.to_vec(),
            summary: r.summary.to_owned(),
            rate_limit: None,
            own_rate_limit: r.rate_limit,
        }
    }
}
