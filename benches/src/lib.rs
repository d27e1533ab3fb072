//! The apps `benches/overhead.rs` compares: each trestle app beside the raw axum app that does
//! the same work, written the way a good axum developer would write it.

use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

/// The small JSON document both sides return and accept.
#[derive(Debug, Deserialize, Serialize)]
pub struct Message {
    /// Any text.
    pub message: String,
    /// Any number.
    pub count: u32,
}

async fn plain() -> &'static str {
    "Hello, world!"
}

async fn raw_json() -> axum::Json<Message> {
    axum::Json(Message { message: "Hello, world!".into(), count: 42 })
}

async fn raw_echo(axum::Json(m): axum::Json<Message>) -> axum::Json<Message> {
    axum::Json(m)
}

async fn trestle_json() -> trestle::Json<Message> {
    trestle::Json(Message { message: "Hello, world!".into(), count: 42 })
}

async fn trestle_echo(trestle::Json(m): trestle::Json<Message>) -> trestle::Json<Message> {
    trestle::Json(m)
}

/// Raw axum: `/plain`, `/json`, `POST /echo`, no middleware.
pub fn raw_bare() -> Router {
    Router::new().route("/plain", get(plain)).route("/json", get(raw_json)).route("/echo", post(raw_echo))
}

/// The same routes on trestle with every optional layer of the default stack turned off.
pub async fn trestle_bare() -> Router {
    trestle::App::new()
        .routes(trestle_routes())
        .config_set("server.request_id", "false")
        .config_set("server.trace", "false")
        .config_set("server.catch_panic", "false")
        .config_set("server.security_headers", "false")
        .config_set("server.compression", "false")
        .config_set("server.request_timeout", "0s")
        .config_set("server.health", "false")
        .for_benchmarks()
        .into_router()
        .await
        .expect("bench app builds")
}

fn trestle_routes() -> Router {
    Router::new().route("/plain", get(plain)).route("/json", get(trestle_json)).route("/echo", post(trestle_echo))
}

/// Request ids as a careful axum developer would make them: random, 128 bits, hex.
#[derive(Clone, Copy, Default)]
pub struct RandomId;

impl MakeRequestId for RandomId {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        let id = format!("{:032x}", fastrand::u128(..));
        Some(RequestId::new(id.parse().expect("hex is a header value")))
    }
}

/// Raw axum with the hand-assembled tower-http equivalent of trestle's default stack.
pub fn raw_stack() -> Router {
    let x_request_id = http::HeaderName::from_static("x-request-id");
    let stack = ServiceBuilder::new()
        .layer(
            CompressionLayer::new().compress_when(
                SizeAbove::new(1024)
                    .and(NotForContentType::GRPC)
                    .and(NotForContentType::IMAGES)
                    .and(NotForContentType::SSE),
            ),
        )
        .layer(SetRequestIdLayer::new(x_request_id.clone(), RandomId))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
        )
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(SetResponseHeaderLayer::if_not_present(
            http::header::X_CONTENT_TYPE_OPTIONS,
            http::HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            http::header::X_FRAME_OPTIONS,
            http::HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            http::header::REFERRER_POLICY,
            http::HeaderValue::from_static("no-referrer"),
        ))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(http::StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(30)))
        .layer(RequestBodyLimitLayer::new(2 * 1024 * 1024));
    raw_bare().layer(stack)
}

/// trestle with its default stack.
pub async fn trestle_stack() -> Router {
    trestle::App::new()
        .routes(trestle_routes())
        .config_set("server.health", "false")
        .for_benchmarks()
        .into_router()
        .await
        .expect("bench app builds")
}

/// Benchmarks build apps without the process environment or config files.
trait ForBenchmarks {
    fn for_benchmarks(self) -> Self;
}

impl<S: Clone + Send + Sync + 'static> ForBenchmarks for trestle::App<trestle::config::NoConfig, S> {
    fn for_benchmarks(self) -> Self {
        let empty: [(&str, &str); 0] = [];
        let loader = self.config_loader().clone().env_vars(empty).dotenv(None).profile("bench");
        self.loader(loader)
    }
}
