//! The apps `benches/overhead.rs` compares: each trestle app beside the raw axum app that does
//! the same work, written the way a good axum developer would write it.

use std::time::Duration;

use axum::response::IntoResponse;
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
    bare(trestle::App::new().routes(trestle_routes())).into_router().await.expect("bench app builds")
}

/// `/plain`, `/json` and `POST /echo` with trestle's extractors.
pub fn trestle_routes() -> Router {
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
                // One access line per request at INFO, as trestle's stack writes by default.
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
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
        .configure(|c| c.set("server.health", "false"))
        // Metrics are pair 6's subject; the hand-assembled stack has none.
        .configure(|c| c.set("telemetry.metrics.enabled", "false"))
        .for_benchmarks()
        .into_router()
        .await
        .expect("bench app builds")
}

/// trestle exactly as an app gets it: every default on (request ids, request span and log line,
/// metrics, panic catching, timeout, security headers, health routes). Against `raw_bare`, the
/// ratio is the whole default stack's cost.
pub async fn trestle_defaults() -> Router {
    trestle::App::new().routes(trestle_routes()).for_benchmarks().into_router().await.expect("bench app builds")
}

/// `trestle_defaults` with the access log off (`telemetry.access_log = false`: only 5xx lines):
/// against `trestle_defaults`, what one INFO line per request costs.
pub async fn trestle_quiet() -> Router {
    trestle::App::new()
        .routes(trestle_routes())
        .configure(|c| c.set("telemetry.access_log", "false"))
        .for_benchmarks()
        .into_router()
        .await
        .expect("bench app builds")
}

/// `trestle_defaults` with CORS (one allowed origin) and load shedding
/// (`server.concurrency_limit`) on: what those two cost when configured.
pub async fn trestle_limits() -> Router {
    trestle::App::new()
        .routes(trestle_routes())
        .configure(|c| {
            c.set("server.cors.allowed_origins", "https://app.example.com").set("server.concurrency_limit", "1024")
        })
        .for_benchmarks()
        .into_router()
        .await
        .expect("bench app builds")
}

/// `trestle_defaults` with the rate limiter on (in process, a quota no request reaches, keyed
/// by client address, `rate_limit.headers` off as by default): what checking every request
/// against its quota costs.
pub async fn trestle_rate_limited() -> Router {
    trestle::App::new()
        .routes(trestle_routes())
        .configure(|c| {
            c.set("rate_limit.enabled", "true").set("rate_limit.requests", "1000000000").set("rate_limit.period", "1s")
        })
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
    /// No process environment, no `.env`, no config files: the bench is the same everywhere.
    fn for_benchmarks(self) -> Self {
        let empty: [(&str, &str); 0] = [];
        self.configure(|loader| loader.env_vars(empty).dotenv(None).profile("bench"))
    }
}

// ---- Route macros: a `#[get]` route against the same route registered by hand. ----

/// The plaintext handler, registered by the macro.
#[trestle::get("/plain")]
pub async fn macro_plain() -> &'static str {
    "Hello, world!"
}

/// Raw axum: `/plain` registered by hand.
pub fn hand_route() -> Router {
    Router::new().route("/plain", get(plain))
}

/// The same route through `routes![…]`, no trestle stack.
pub fn macro_route() -> Router {
    trestle::routes![macro_plain].into_router().expect("one route cannot conflict")
}

// ---- Pair 4: an authenticated route. ----

/// The HMAC secret both sides use.
pub const SECRET: &str = "benchmark-secret-of-at-least-thirty-two-bytes";

/// Claims as an axum developer would write them for the same token.
#[derive(Debug, Deserialize, Serialize)]
pub struct RawClaims {
    /// Subject.
    pub sub: String,
    /// Expiry.
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
}

/// Keys and validation for the raw side, built once, as state.
#[derive(Clone)]
pub struct RawJwt {
    key: std::sync::Arc<jsonwebtoken::DecodingKey>,
    validation: std::sync::Arc<jsonwebtoken::Validation>,
}

impl RawJwt {
    /// HS256 with `SECRET`, or EdDSA with the test key.
    pub fn new(eddsa: bool) -> Self {
        let (key, alg) = if eddsa {
            (
                jsonwebtoken::DecodingKey::from_ed_pem(&key_file("ed25519_public.pem")).unwrap(),
                jsonwebtoken::Algorithm::EdDSA,
            )
        } else {
            (jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()), jsonwebtoken::Algorithm::HS256)
        };
        let mut validation = jsonwebtoken::Validation::new(alg);
        validation.leeway = 30;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        RawJwt { key: std::sync::Arc::new(key), validation: std::sync::Arc::new(validation) }
    }

    /// `jsonwebtoken::decode`, as the raw extractor calls it.
    pub fn decode(&self, token: &str) -> Option<RawClaims> {
        jsonwebtoken::decode::<RawClaims>(token, &self.key, &self.validation).ok().map(|d| d.claims)
    }
}

/// The test keys in `tests/fixtures/keys`.
pub fn key_file(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/keys").join(name)).unwrap()
}

/// A hand-written bearer-token extractor.
pub struct RawAuth(pub RawClaims);

impl axum::extract::FromRequestParts<RawJwt> for RawAuth {
    type Rejection = http::StatusCode;

    async fn from_request_parts(parts: &mut http::request::Parts, jwt: &RawJwt) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(http::StatusCode::UNAUTHORIZED)?;
        jwt.decode(token).map(RawAuth).ok_or(http::StatusCode::UNAUTHORIZED)
    }
}

async fn raw_me(RawAuth(claims): RawAuth) -> String {
    claims.sub
}

async fn trestle_me(auth: trestle::auth::Auth) -> String {
    auth.0.sub
}

/// Raw axum: `GET /me` behind the hand-written extractor.
pub fn raw_auth(eddsa: bool) -> Router {
    Router::new().route("/me", get(raw_me)).with_state(RawJwt::new(eddsa))
}

/// The trestle config for HS256 or EdDSA.
pub fn jwt_config(eddsa: bool) -> trestle::config::JwtConfig {
    let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/keys");
    if eddsa {
        trestle::config::JwtConfig {
            algorithm: "EdDSA".into(),
            private_key_file: Some(keys.join("ed25519_private.pem")),
            public_key_file: Some(keys.join("ed25519_public.pem")),
            ..Default::default()
        }
    } else {
        trestle::config::JwtConfig { secret: Some(trestle::Secret::new(SECRET.into())), ..Default::default() }
    }
}

/// trestle: `GET /me` behind `Auth`, every optional layer off (as in pair 1).
pub async fn trestle_auth(eddsa: bool) -> Router {
    let config = jwt_config(eddsa);
    let mut app =
        bare(trestle::App::new().auth().state(|ctx| ctx.clone()).routes(Router::new().route("/me", get(trestle_me))));
    for (key, value) in [
        ("auth.jwt.algorithm", config.algorithm.clone()),
        ("auth.jwt.secret", config.secret.map(|s| s.expose().clone()).unwrap_or_default()),
        ("auth.jwt.private_key_file", config.private_key_file.map(|p| p.display().to_string()).unwrap_or_default()),
        ("auth.jwt.public_key_file", config.public_key_file.map(|p| p.display().to_string()).unwrap_or_default()),
    ] {
        if !value.is_empty() {
            app = app.configure(|c| c.set(key, value));
        }
    }
    app.into_router().await.expect("bench app builds")
}

/// A token both sides accept.
pub fn token(eddsa: bool) -> String {
    trestle::auth::Jwt::from_config(&jwt_config(eddsa)).unwrap().issue("bench-user", ()).unwrap()
}

// ---- Pair 5: a database read, SQLite in memory, same query, same pool settings. ----

async fn raw_item(
    axum::extract::State(pool): axum::extract::State<sqlx::SqlitePool>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<String, http::StatusCode> {
    sqlx::query_scalar::<_, String>("SELECT name FROM items WHERE id = ?")
        .bind(id)
        .fetch_one(&pool)
        .await
        .map_err(|_| http::StatusCode::INTERNAL_SERVER_ERROR)
}

async fn trestle_item(db: trestle::Db<sqlx::Sqlite>, trestle::Path(id): trestle::Path<i64>) -> trestle::Result<String> {
    Ok(sqlx::query_scalar::<_, String>("SELECT name FROM items WHERE id = ?").bind(id).fetch_one(&*db).await?)
}

/// Raw axum and sqlx: `GET /items/{id}` on an in-memory SQLite pool of 10 connections.
pub async fn raw_db() -> Router {
    // The same URL trestle's side uses: one private in-memory database shared by the pool.
    let options: sqlx::sqlite::SqliteConnectOptions = "sqlite::memory:".parse().unwrap();
    let pool = sqlx::pool::PoolOptions::<sqlx::Sqlite>::new().max_connections(10).connect_with(options).await.unwrap();
    sqlx::raw_sql(include_str!("../migrations/0001_items.sql")).execute(&pool).await.unwrap();
    Router::new().route("/items/{id}", get(raw_item)).with_state(pool)
}

/// trestle: the db pair's route with the request span on (statements are traced inside it),
/// for the cost of statement spans.
pub async fn trestle_db_traced() -> Router {
    trestle::App::new()
        .database_with::<sqlx::Sqlite>()
        .migrations(trestle::migrate!())
        .configure(|c| {
            c.set("database.url", "sqlite::memory:")
                .set("database.max_connections", "10")
                .set("server.health", "false")
                .set("telemetry.metrics.enabled", "false")
        })
        .for_benchmarks()
        .state(|ctx| ctx.clone())
        .routes(Router::new().route("/items/{id}", get(trestle_item)))
        .into_router()
        .await
        .expect("bench app builds")
}

/// trestle: the same route with `Db`, the same pool size, every optional layer off.
pub async fn trestle_db() -> Router {
    bare(
        trestle::App::new()
            .database_with::<sqlx::Sqlite>()
            .migrations(trestle::migrate!())
            .configure(|c| c.set("database.url", "sqlite::memory:").set("database.max_connections", "10"))
            .state(|ctx| ctx.clone())
            .routes(Router::new().route("/items/{id}", get(trestle_item))),
    )
    .into_router()
    .await
    .expect("bench app builds")
}

/// Every optional layer of the default stack off, for the pairs that measure one feature.
fn bare<S: Clone + Send + Sync + 'static>(
    app: trestle::App<trestle::config::NoConfig, S>,
) -> trestle::App<trestle::config::NoConfig, S> {
    app.configure(|c| {
        c.set("server.request_id", "false")
            .set("server.trace", "false")
            .set("server.catch_panic", "false")
            .set("server.security_headers", "false")
            .set("server.compression", "false")
            .set("server.request_timeout", "0s")
            .set("server.health", "false")
            .set("telemetry.metrics.enabled", "false")
    })
    .for_benchmarks()
}

// ---- Pair 6: Prometheus metrics on every request. ----

/// The labels a careful axum developer would use: route template, method, status class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct RawLabels {
    http_request_method: String,
    http_route: String,
    http_response_status_class: String,
}

/// A request histogram and an in-flight gauge, with prometheus-client, as in axum's own
/// metrics example.
#[derive(Clone)]
struct RawMetrics {
    requests: prometheus_client::metrics::family::Family<RawLabels, prometheus_client::metrics::histogram::Histogram>,
    in_flight: prometheus_client::metrics::gauge::Gauge,
}

async fn track(
    axum::extract::State(m): axum::extract::State<RawMetrics>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let start = std::time::Instant::now();
    let route = req.extensions().get::<axum::extract::MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = req.method().to_string();
    m.in_flight.inc();
    let response = next.run(req).await;
    m.in_flight.dec();
    let labels = RawLabels {
        http_request_method: method,
        http_route: route,
        http_response_status_class: format!("{}xx", response.status().as_u16() / 100),
    };
    m.requests.get_or_create(&labels).observe(start.elapsed().as_secs_f64());
    response
}

/// Raw axum: pair 1's routes with a hand-written metrics middleware and `/metrics`.
pub fn raw_metrics() -> Router {
    const BOUNDS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];
    let metrics = RawMetrics {
        requests: prometheus_client::metrics::family::Family::new_with_constructor(|| {
            prometheus_client::metrics::histogram::Histogram::new(BOUNDS)
        }),
        in_flight: Default::default(),
    };
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("http_server_request_duration_seconds", "Request duration.", metrics.requests.clone());
    registry.register("http_server_active_requests", "Requests in flight.", metrics.in_flight.clone());
    let registry = std::sync::Arc::new(registry);
    let scrape = move || {
        let registry = registry.clone();
        async move {
            let mut out = String::new();
            prometheus_client::encoding::text::encode(&mut out, &registry).expect("encoding to a String");
            out
        }
    };
    raw_bare().route("/metrics", get(scrape)).route_layer(axum::middleware::from_fn_with_state(metrics, track))
}

/// trestle: pair 1's bare app with `telemetry.metrics` on.
pub async fn trestle_metrics() -> Router {
    bare(trestle::App::new().routes(trestle_routes()))
        .configure(|c| c.set("telemetry.metrics.enabled", "true"))
        .into_router()
        .await
        .expect("bench app builds")
}

// ---- The cost of exporting spans (not a pair: raw axum has no equivalent built in). ----

/// Installs trestle's telemetry as production has it (JSON logs at INFO on stdout: the startup
/// lines and one access line per request); with `export`, also OTLP export over
/// HTTP/protobuf (default 1 s batches) to an in-process stand-in collector.
/// `db_spans` is `telemetry.otlp.db_spans` (a client span per SQL statement).
pub async fn json_logs(export: bool, db_spans: bool) {
    let mut telemetry = trestle::config::TelemetryConfig {
        format: trestle::config::LogFormat::Json,
        filter: "info".into(),
        ..Default::default()
    };
    telemetry.otlp.db_spans = db_spans;
    if export {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let addr = listener.local_addr().expect("bound");
        let sink = Router::new().route("/v1/traces", post(|| async { "" }));
        tokio::spawn(async move { axum::serve(listener, sink).await });
        telemetry.otlp.endpoint = format!("http://{addr}");
        telemetry.otlp.protocol = trestle::config::OtlpProtocol::HttpProtobuf;
    }
    trestle::telemetry::init(&telemetry).expect("telemetry starts");
}

// ---- The error path: `?` on an app error, hand-written `IntoResponse` against `ApiError`. ----

/// The raw side's error: what an axum developer writes by hand, a problem document per variant.
#[derive(Debug)]
pub enum RawError {
    /// No such item.
    NotFound(u32),
}

impl axum::response::IntoResponse for RawError {
    fn into_response(self) -> axum::response::Response {
        let RawError::NotFound(id) = self;
        let body = serde_json::json!({
            "type": "about:blank", "title": "Not Found", "status": 404, "detail": format!("no item {id}"),
        });
        (http::StatusCode::NOT_FOUND, [(http::header::CONTENT_TYPE, "application/problem+json")], axum::Json(body))
            .into_response()
    }
}

/// The trestle side's error: the derive gives status and title.
#[derive(Debug, thiserror::Error, trestle::ApiError)]
pub enum ItemError {
    /// No such item.
    #[error("no item {0}")]
    #[api(status = 404)]
    NotFound(u32),
}

fn find_raw(id: u32) -> Result<&'static str, RawError> {
    if id == 1 {
        Ok("found")
    } else {
        Err(RawError::NotFound(id))
    }
}

fn find(id: u32) -> Result<&'static str, ItemError> {
    if id == 1 {
        Ok("found")
    } else {
        Err(ItemError::NotFound(id))
    }
}

async fn raw_lookup(axum::extract::Path(id): axum::extract::Path<u32>) -> Result<&'static str, RawError> {
    let found = find_raw(std::hint::black_box(id))?;
    Ok(found)
}

async fn trestle_lookup(trestle::Path(id): trestle::Path<u32>) -> trestle::Result<&'static str> {
    let found = find(std::hint::black_box(id))?;
    Ok(found)
}

/// Raw axum: `GET /items/{id}`, `?` on a hand-written error type (no middleware).
pub fn raw_errors() -> Router {
    Router::new().route("/items/{id}", get(raw_lookup))
}

/// trestle: the same route, `?` converting a derived `ApiError` into `trestle::Error` (every
/// optional layer off, as in pair 1).
pub async fn trestle_errors() -> Router {
    let routes = Router::new().route("/items/{id}", get(trestle_lookup));
    bare(trestle::App::new().routes(routes)).into_router().await.expect("bench app builds")
}

// ---- Error paths: a 404 for an unknown route and a 422 for a body of the wrong shape. ----

/// Raw axum's side of the error paths: what trestle's stack does for them, by hand — a request
/// span, a completion line (INFO, as trestle's access line) and problem+json bodies.
pub fn raw_error_paths() -> Router {
    Router::new()
        .route("/echo", post(raw_checked_echo))
        .fallback(raw_not_found)
        .layer(axum::middleware::from_fn(raw_request_log))
}

async fn raw_request_log(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use tracing::Instrument;
    let start = std::time::Instant::now();
    let span = tracing::info_span!("request", "http.request.method" = %req.method(), "url.path" = req.uri().path());
    let response = next.run(req).instrument(span.clone()).await;
    let _entered = span.enter();
    let status = response.status().as_u16();
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    match status {
        500.. => tracing::error!(status, latency_ms, "request failed"),
        _ => tracing::info!(status, latency_ms, "request finished"),
    }
    response
}

fn raw_problem(status: http::StatusCode, detail: Option<String>, instance: &str) -> axum::response::Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason(),
        "status": status.as_u16(),
        "detail": detail,
        "instance": instance,
    });
    (status, [(http::header::CONTENT_TYPE, "application/problem+json")], axum::Json(body)).into_response()
}

async fn raw_not_found(uri: http::Uri) -> axum::response::Response {
    raw_problem(http::StatusCode::NOT_FOUND, None, uri.path())
}

async fn raw_checked_echo(
    body: Result<axum::Json<Message>, axum::extract::rejection::JsonRejection>,
) -> axum::response::Response {
    match body {
        Ok(axum::Json(m)) => axum::Json(m).into_response(),
        Err(rejection) => raw_problem(rejection.status(), Some(rejection.body_text()), "/echo"),
    }
}

/// trestle's side: `POST /echo` with `trestle::Json`, the stack with its request span and log
/// line on (request ids, panic catching, timeout, security headers and metrics off: the raw
/// side has none of them).
pub async fn trestle_error_paths() -> Router {
    bare(trestle::App::new().routes(Router::new().route("/echo", post(trestle_echo))))
        .configure(|c| c.set("server.trace", "true"))
        .into_router()
        .await
        .expect("bench app builds")
}
