//! The default middleware stack, configured by `[server]`.
//!
//! Outermost first:
//!
//! 1. compression (`server.compression`): gzip or brotli for bodies over 1 KiB;
//! 2. [`Stack`]: request id, request span and log line, timeout (503), concurrency limit (503),
//!    panic → 500, problem rendering, security headers, and with the features on, metrics and
//!    the OpenTelemetry trace context — one service, so a request pays for one layer instead of
//!    six nested ones;
//! 3. CORS (`[server.cors]`, off unless `allowed_origins` is set);
//! 4. body limit (`server.body_limit`, 413 through the extractors).
//!
//! Every piece is an ordinary tower layer; `App::layer` adds the app's own inside them, so they
//! see the request id and run within the request span.

mod request_id;
mod stack;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use http::{HeaderValue, Method};
use tower::ServiceBuilder;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use request_id::RequestId;
pub(crate) use stack::Observe;
pub use stack::{Stack, StackService};

use crate::config::{Cors, ServerConfig};
use crate::error::Renderer;

/// `http.request.method` values: the registered methods; anything else is `_OTHER`
/// (OpenTelemetry's rule, which keeps made-up methods out of span names and metric labels).
pub(crate) const METHODS: [&str; 10] =
    ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER"];

/// Index of `method` in [`METHODS`].
pub(crate) fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::CONNECT => 5,
        Method::OPTIONS => 6,
        Method::TRACE => 7,
        Method::PATCH => 8,
        _ => 9,
    }
}

/// axum's own limit when no `DefaultBodyLimit` is set.
const AXUM_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Wraps `router` in the default stack as `server` configures it. Parts that are switched off
/// are not installed, so they cost nothing; with everything off the router is left as it is.
pub(crate) fn apply(
    router: Router,
    server: &ServerConfig,
    renderer: Arc<dyn Renderer>,
    default_renderer: bool,
    expose_constraint_names: bool,
    observe: Observe,
) -> Result<Router, crate::Error> {
    let cors = if server.cors.allowed_origins.is_empty() { None } else { Some(cors_layer(&server.cors)?) };
    let stack =
        Some(Stack::build(server, renderer, expose_constraint_names, observe)).filter(|s| !s.is_noop(default_renderer));
    let limit = (server.body_limit != AXUM_BODY_LIMIT).then(|| DefaultBodyLimit::max(server.body_limit));
    let router = if stack.is_none() && cors.is_none() && limit.is_none() {
        router
    } else {
        router.layer(ServiceBuilder::new().option_layer(stack).option_layer(cors).option_layer(limit))
    };
    Ok(if server.compression {
        let predicate = SizeAbove::new(1024)
            .and(NotForContentType::GRPC)
            .and(NotForContentType::IMAGES)
            .and(NotForContentType::SSE);
        router.layer(CompressionLayer::new().compress_when(predicate))
    } else {
        router
    })
}

fn cors_layer(cors: &Cors) -> Result<CorsLayer, crate::Error> {
    let bad = |key: &str, value: &str| {
        crate::Error::internal(anyhow::anyhow!(
            "config key `server.cors.{key}` holds {value:?}, which is not valid in an HTTP header; fix it in the config file or APP__SERVER__CORS__{}",
            key.to_uppercase()
        ))
    };
    let origins = if cors.allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list = cors
            .allowed_origins
            .iter()
            .map(|o| HeaderValue::from_str(o).map_err(|_| bad("allowed_origins", o)))
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(list)
    };
    let methods = cors
        .allowed_methods
        .iter()
        .map(|m| Method::from_bytes(m.to_uppercase().as_bytes()).map_err(|_| bad("allowed_methods", m)))
        .collect::<Result<Vec<_>, _>>()?;
    let headers = cors
        .allowed_headers
        .iter()
        .map(|h| h.parse::<http::HeaderName>().map_err(|_| bad("allowed_headers", h)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CorsLayer::new()
        .allow_origin(origins)
        .allow_methods(methods)
        .allow_headers(headers)
        .allow_credentials(cors.allow_credentials)
        .max_age(cors.max_age))
}
