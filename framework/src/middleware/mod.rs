//! The default middleware stack, configured by `[server]`.
//!
//! Outermost first:
//!
//! 1. compression (`server.compression`): gzip or brotli for bodies over 1 KiB, skipped for
//!    requests that accept no encoding;
//! 2. CORS (`[server.cors]`, off unless `allowed_origins` is set): outside the rest, so the
//!    stack's own answers (429, 503) carry its headers and preflights are answered before they
//!    are counted; exposes `Retry-After`, `RateLimit`, `RateLimit-Policy` and the request id;
//! 3. the fused stack, one tower service (`stack.rs`) running, in this order:
//!    1. the request id (`server.request_id`): the client's well-formed id in
//!       `server.request_id_header`, else a new one from the app's [`MakeRequestId`]; the
//!       client's address and scheme when `server.trusted_proxies` names the peer ([`ClientIp`]);
//!    2. the request span (`server.trace`; with feature `otel` and export on, the
//!       OpenTelemetry span continuing the caller's trace);
//!    3. the observers hearing of the request: the in-flight gauge (feature `metrics`);
//!    4. the rate limit (`[rate_limit]`, 429 over quota; see [`rate_limit`](crate::rate_limit))
//!       and the concurrency limit (`server.concurrency_limit`, 503 beyond it);
//!    5. the timeout (`server.request_timeout`, 503) and panic catching (`server.catch_panic`,
//!       500) around the handler;
//!    6. on the way out: error responses rendered as problems with the request id, trace id and
//!       path; the request id header; the `RateLimit` headers; security headers
//!       (`server.security_headers`); then the observers hearing of the response: metrics, the
//!       exported span's status, the log line.
//!
//!    Each concern is its own module with its own tests; the service is fused so that a
//!    request pays for one layer (one boxed future) instead of one per concern (the
//!    hand-assembled tower-http stack in `benches/` costs about 17% more instructions);
//! 4. body limit (`server.body_limit`, 413 through the extractors).
//!
//! The app's own layers (`App::layer`) go inside all of these, so they see the request id and
//! run within the request span. Parts that are switched off are not run; with everything off
//! the stack is not installed at all. The framework's own routes (health probes, metrics) get a
//! quiet version: request ids, problems and security headers, but no span, log line, metrics,
//! CORS, timeout, rate limit or load shedding.

mod catch_panic;
mod client;
mod compression;
mod load_shed;
mod observe;
mod problem;
mod request_id;
mod security_headers;
mod span;
mod stack;
mod timeout;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use http::{HeaderValue, Method};
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use client::ClientIp;
pub(crate) use observe::Observe;
pub use request_id::{MakeRequestId, RandomRequestId, RequestId};
use stack::Stack;

use crate::config::{Cors, ServerConfig};
use crate::error::Renderer;

/// What the app decides about the stack, beside `[server]`.
#[derive(Clone)]
pub(crate) struct Settings {
    /// Renders every problem.
    pub(crate) renderer: Arc<dyn Renderer>,
    /// `renderer` is the default one (then an all-off stack need not be installed).
    pub(crate) default_renderer: bool,
    /// Add a violated database constraint's name to 409 problems.
    pub(crate) expose_constraint_names: bool,
    /// The app's strategy for new request ids; `None` for [`RandomRequestId`].
    pub(crate) make_request_id: Option<Arc<dyn MakeRequestId>>,
    /// Metrics and trace export to report to.
    pub(crate) observe: Observe,
    /// The rate limiter, when `[rate_limit]` or a route's own quota limits anything.
    pub(crate) rate_limit: Option<Arc<crate::rate_limit::Limiter>>,
}

impl Settings {
    /// The same stack without metrics or trace export: the framework's own routes still get
    /// request ids and problem bodies, but are not measured.
    pub(crate) fn unobserved(&self) -> Self {
        Self { expose_constraint_names: false, observe: Observe::default(), rate_limit: None, ..self.clone() }
    }
}

/// A `[server]` setting the stack cannot use; `App` reports it as a startup error naming the
/// key's environment variable.
#[derive(Debug)]
pub(crate) struct InvalidSetting {
    /// The config key.
    pub(crate) key: &'static str,
    /// Its value (these keys hold no secrets).
    pub(crate) value: String,
    /// What is wrong with it.
    pub(crate) problem: &'static str,
}

/// axum's own limit when no `DefaultBodyLimit` is set.
const AXUM_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Wraps `router` in the default stack as `server` and `settings` configure it. Parts that are
/// switched off are not installed, so they cost nothing; with everything off the router is left
/// as it is.
pub(crate) fn apply(router: Router, server: &ServerConfig, settings: &Settings) -> Result<Router, InvalidSetting> {
    let cors = if server.cors.allowed_origins.is_empty() {
        None
    } else {
        Some(cors_layer(&server.cors, &server.request_id_header)?)
    };
    let stack = Some(Stack::build(server, settings)?).filter(|s| !s.is_noop(settings.default_renderer));
    let limit = (server.body_limit != AXUM_BODY_LIMIT).then(|| DefaultBodyLimit::max(server.body_limit));
    let router = if stack.is_none() && cors.is_none() && limit.is_none() {
        router
    } else {
        // CORS outside the stack: the stack's own answers (429, 503, timeouts) carry the CORS
        // headers a browser needs to read them, and preflights are answered before they are
        // counted, limited or logged.
        router.layer(ServiceBuilder::new().option_layer(cors).option_layer(stack).option_layer(limit))
    };
    Ok(if server.compression { router.layer(compression::CompressLayer::new()) } else { router })
}

/// The stack for the framework's own routes (health probes, metrics): request ids, problem
/// bodies and security headers, but no request span or log line, no metrics, no CORS, and no
/// timeout or load shedding — a probe every few seconds is not traffic, and a busy server is
/// not a dead one.
pub(crate) fn apply_framework(
    router: Router,
    server: &ServerConfig,
    settings: &Settings,
) -> Result<Router, InvalidSetting> {
    let quiet = ServerConfig {
        trace: false,
        request_timeout: std::time::Duration::ZERO,
        concurrency_limit: 0,
        cors: Cors { allowed_origins: Vec::new(), ..server.cors.clone() },
        ..server.clone()
    };
    apply(router, &quiet, &settings.unobserved())
}

fn cors_layer(cors: &Cors, request_id_header: &str) -> Result<CorsLayer, InvalidSetting> {
    // Config validation rejects these first; this guards a `ServerConfig` built in code.
    let bad = |key: &'static str, value: &str| InvalidSetting {
        key,
        value: value.to_owned(),
        problem: "is not valid in an HTTP header",
    };
    let origins = if cors.allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list = cors
            .allowed_origins
            .iter()
            .map(|o| HeaderValue::from_str(o).map_err(|_| bad("server.cors.allowed_origins", o)))
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(list)
    };
    let methods = cors
        .allowed_methods
        .iter()
        .map(|m| Method::from_bytes(m.to_uppercase().as_bytes()).map_err(|_| bad("server.cors.allowed_methods", m)))
        .collect::<Result<Vec<_>, _>>()?;
    let headers = cors
        .allowed_headers
        .iter()
        .map(|h| h.parse::<http::HeaderName>().map_err(|_| bad("server.cors.allowed_headers", h)))
        .collect::<Result<Vec<_>, _>>()?;
    // What browsers may read besides the safelisted headers: when to retry, the quota, and the
    // request id to quote in a bug report.
    let mut exposed =
        vec![http::header::RETRY_AFTER, crate::rate_limit::RATELIMIT, crate::rate_limit::RATELIMIT_POLICY];
    exposed.extend(request_id_header.parse::<http::HeaderName>().ok());
    Ok(CorsLayer::new()
        .allow_origin(origins)
        .allow_methods(methods)
        .allow_headers(headers)
        .expose_headers(exposed)
        .allow_credentials(cors.allow_credentials)
        .max_age(cors.max_age))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_config_built_in_code_with_a_bad_cors_origin_is_refused_naming_the_key() {
        let mut server = crate::config::ServerConfig::default();
        server.cors.allowed_origins = vec!["https://ok.example".into(), "bad\norigin".into()];
        let settings = Settings {
            renderer: Arc::new(crate::error::ProblemJson),
            default_renderer: true,
            expose_constraint_names: false,
            make_request_id: None,
            observe: Observe::default(),
            rate_limit: None,
        };
        let e = apply(Router::new(), &server, &settings).map(|_| ()).unwrap_err();
        assert_eq!((e.key, e.value.as_str()), ("server.cors.allowed_origins", "bad\norigin"));
    }
}
