//! The default stack and the problem documents, through `TestApp`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use trestle::axum::response::IntoResponse;
use trestle::axum::routing::{get, post};
use trestle::error::Problem;
use trestle::prelude::*;
use trestle::testing::{TestApp, TestResponse};

#[derive(Debug, Deserialize, Serialize)]
struct Item {
    name: String,
    qty: u32,
}

#[derive(Debug, thiserror::Error, trestle::ApiError)]
enum ShopError {
    #[error("no item called {0:?}")]
    #[api(status = 404, title = "Item not found", type = "https://example.com/problems/no-item")]
    NoItem(String),
    #[error("the warehouse database is on fire")]
    #[api(status = 503)]
    Warehouse,
}

async fn create(Json(item): Json<Item>) -> Json<Item> {
    Json(item)
}

async fn item(Path(id): Path<u32>) -> trestle::Result<String> {
    match id {
        1 => Ok("one".into()),
        2 => Err(ShopError::NoItem("two".into()))?,
        3 => Err(ShopError::Warehouse)?,
        4 => Err(std::io::Error::other("disk /dev/sda1 failed"))?,
        _ => Err(Error::not_found("no such item").with_field("id", "unknown id")),
    }
}

async fn search(Query(q): Query<std::collections::HashMap<String, u32>>) -> String {
    format!("{}", q.values().sum::<u32>())
}

async fn boom() -> &'static str {
    panic!("handler exploded")
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "late"
}

async fn big() -> String {
    "x".repeat(10_000)
}

fn routes() -> Router {
    Router::new()
        .route("/items", post(create))
        .route("/items/{id}", get(item))
        .route("/search", get(search))
        .route("/boom", get(boom))
        .route("/slow", get(slow))
        .route("/big", get(big))
}

async fn app() -> TestApp {
    TestApp::new(
        App::new()
            .routes(routes())
            .configure(|c| c.set("server.request_timeout", "200ms").set("server.body_limit", "1KiB")),
    )
    .await
    .unwrap()
}

/// Every problem carries the response's request id and the request path.
#[track_caller]
fn problem(res: &TestResponse, status: u16) -> Problem {
    assert_eq!(res.status().as_u16(), status, "body: {}", res.text());
    let p = res.problem();
    assert_eq!(p.status, status);
    let id = res.header("x-request-id").expect("x-request-id on every response");
    assert_eq!(p.request_id.as_deref(), Some(id));
    assert!(p.instance.is_some());
    p
}

#[tokio::test]
async fn malformed_json_is_400_with_position() {
    let res =
        app().await.post("/items").header("content-type", "application/json").body("{\"name\": \"a\", }").send().await;
    let p = problem(&res, 400);
    assert!(p.detail.unwrap().contains("malformed JSON at byte"));
    assert_eq!(p.extensions["line"], 1);
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_422_naming_the_field() {
    let res = app().await.post("/items").json(&serde_json::json!({ "name": "a", "qty": -1 })).send().await;
    let p = problem(&res, 422);
    assert_eq!(p.errors[0].field, "qty");
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = app().await;
    let res = app.post("/items").header("content-type", "text/plain").body("{}").send().await;
    assert!(problem(&res, 415).detail.unwrap().contains("application/json"));
    let res = app.post("/items").body("{}").send().await;
    problem(&res, 415);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let body = serde_json::to_vec(&Item { name: "n".repeat(4096), qty: 1 }).unwrap();
    let res = app().await.post("/items").header("content-type", "application/json").body(body).send().await;
    assert!(problem(&res, 413).detail.unwrap().contains("server.body_limit"));
}

#[tokio::test]
async fn unparsable_path_and_query_are_400() {
    let app = app().await;
    let res = app.get("/items/abc").send().await;
    assert!(problem(&res, 400).detail.unwrap().contains("path parameter"));
    let res = app.get("/search?a=1&b=x").send().await;
    assert!(problem(&res, 400).detail.unwrap().contains("query string"));
    assert_eq!(app.get("/search?a=1&b=2").send().await.text(), "3");
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_405_with_allow() {
    let app = app().await;
    problem(&app.get("/nowhere").send().await, 404);
    let res = app.delete("/items").send().await;
    problem(&res, 405);
    assert_eq!(res.header("allow"), Some("POST"));
}

#[tokio::test]
async fn a_panicking_handler_is_500_and_the_app_keeps_serving() {
    let app = app().await;
    let res = app.get("/boom").send().await;
    let p = problem(&res, 500);
    assert!(!p.detail.unwrap().contains("exploded"), "the panic message stays in the log");
    assert_eq!(app.get("/items/1").send().await.text(), "one");
}

#[tokio::test]
async fn a_slow_handler_is_503_after_the_timeout() {
    let started = std::time::Instant::now();
    let res = app().await.get("/slow").send().await;
    assert!(started.elapsed() < Duration::from_secs(3));
    problem(&res, 503);
    assert_eq!(res.header("retry-after"), Some("1"));
}

#[tokio::test]
async fn api_errors_keep_their_status_type_and_title() {
    let app = app().await;
    let p = problem(&app.get("/items/2").send().await, 404);
    assert_eq!(p.title, "Item not found");
    assert_eq!(p.problem_type, "https://example.com/problems/no-item");
    assert_eq!(p.detail.as_deref(), Some("no item called \"two\""));

    let p = problem(&app.get("/items/3").send().await, 503);
    assert!(!p.detail.unwrap().contains("fire"), "5xx details stay in the log");

    let p = problem(&app.get("/items/4").send().await, 500);
    assert!(!p.detail.unwrap().contains("sda1"));

    let p = problem(&app.get("/items/9").send().await, 404);
    assert_eq!(p.errors[0].field, "id");
}

#[tokio::test]
async fn request_id_is_generated_when_absent() {
    let app = app().await;
    let a = app.get("/items/1").send().await;
    let b = app.get("/items/1").send().await;
    let (a, b) = (a.header("x-request-id").unwrap().to_owned(), b.header("x-request-id").unwrap().to_owned());
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
}

#[tokio::test]
async fn request_id_is_kept_when_well_formed() {
    let res = app().await.get("/nowhere").header("x-request-id", "client-id.42").send().await;
    assert_eq!(res.header("x-request-id"), Some("client-id.42"));
    assert_eq!(res.problem().request_id.as_deref(), Some("client-id.42"));
}

#[tokio::test]
async fn garbage_or_huge_request_ids_are_replaced() {
    let app = app().await;
    for bad in ["<script>alert(1)</script>".to_owned(), "x".repeat(10 * 1024), "a b".to_owned()] {
        let res = app.get("/nowhere").header("x-request-id", bad.as_str()).send().await;
        let id = res.header("x-request-id").unwrap();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 32);
        assert!(!res.text().contains(&bad[..bad.len().min(20)]));
    }
}

#[tokio::test]
async fn request_id_header_is_configurable() {
    let app =
        TestApp::new(App::new().routes(routes()).configure(|c| c.set("server.request_id_header", "x-correlation-id")))
            .await
            .unwrap();
    let res = app.get("/nowhere").header("x-correlation-id", "corr-7").header("x-request-id", "other-1").send().await;
    assert_eq!(res.header("x-correlation-id"), Some("corr-7"));
    assert_eq!(res.header("x-request-id"), None);
    assert_eq!(res.problem().request_id.as_deref(), Some("corr-7"));

    let res = app.get("/items/1").header("x-request-id", "ignored-1").send().await;
    assert_eq!(res.header("x-correlation-id").map(str::len), Some(32), "x-request-id is not read");
}

#[tokio::test]
async fn an_invalid_request_id_header_name_fails_at_startup_naming_the_key() {
    let built = TestApp::new(
        App::new().routes(routes()).configure(|c| c.env_vars([("APP__SERVER__REQUEST_ID_HEADER", "bad header")])),
    )
    .await;
    let Err(err) = built else { panic!("an invalid header name is refused") };
    assert!(matches!(err, trestle::StartupError::Config(_)), "refused when config loads: {err:?}");
    let text = err.to_string();
    assert!(text.contains("server.request_id_header") && text.contains("APP__SERVER__REQUEST_ID_HEADER"), "{text}");
}

#[tokio::test]
async fn a_custom_make_request_id_makes_the_ids_the_client_did_not_send() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use trestle::axum::extract::Request;
    use trestle::axum::http::HeaderValue;
    use trestle::middleware::MakeRequestId;

    #[derive(Default)]
    struct Sequential(AtomicU64);

    impl MakeRequestId for Sequential {
        fn make_request_id(&self, request: &Request) -> Option<RequestId> {
            let n = self.0.fetch_add(1, Ordering::Relaxed);
            Some(RequestId::new(HeaderValue::from_str(&format!("seq-{n}{}", request.uri().path().len())).unwrap()))
        }
    }

    let app = TestApp::new(App::new().routes(routes()).request_id(Sequential::default())).await.unwrap();
    assert_eq!(app.get("/items/1").send().await.header("x-request-id"), Some("seq-08"));
    let res = app.get("/nowhere").send().await;
    assert_eq!(res.header("x-request-id"), Some("seq-18"));
    assert_eq!(res.problem().request_id.as_deref(), Some("seq-18"));
    let kept = app.get("/items/1").header("x-request-id", "client-1").send().await;
    assert_eq!(kept.header("x-request-id"), Some("client-1"), "a client's well-formed id is still kept");
}

#[tokio::test]
async fn security_headers_are_set() {
    let res = app().await.get("/items/1").send().await;
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(res.header("x-frame-options"), Some("DENY"));
    assert_eq!(res.header("referrer-policy"), Some("no-referrer"));
}

#[tokio::test]
async fn layers_can_be_turned_off() {
    let app = TestApp::new(App::new().routes(routes()).configure(|c| {
        c.set("server.security_headers", "false").set("server.request_id", "false").set("server.health", "false")
    }))
    .await
    .unwrap();
    let res = app.get("/items/1").send().await;
    assert_eq!(res.header("x-content-type-options"), None);
    assert_eq!(res.header("x-request-id"), None);
    assert_eq!(app.get("/health/live").send().await.status(), 404);
}

#[tokio::test]
async fn large_bodies_are_compressed_small_ones_not() {
    let app = app().await;
    let res = app.get("/big").header("accept-encoding", "gzip").send().await;
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    assert!(res.bytes().len() < 1000);
    let res = app.get("/items/1").header("accept-encoding", "gzip").send().await;
    assert_eq!(res.header("content-encoding"), None);
}

#[tokio::test]
async fn cors_is_off_by_default_and_on_when_configured() {
    let res = app().await.get("/items/1").header("origin", "https://app.example.com").send().await;
    assert_eq!(res.header("access-control-allow-origin"), None);

    let app = TestApp::new(
        App::new().routes(routes()).configure(|c| c.set("server.cors.allowed_origins", "https://app.example.com")),
    )
    .await
    .unwrap();
    let res = app
        .request(http::Method::OPTIONS, "/items")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await;
    assert_eq!(res.header("access-control-allow-origin"), Some("https://app.example.com"));
    let res = app.get("/items/1").header("origin", "https://evil.example.com").send().await;
    assert_eq!(res.header("access-control-allow-origin"), None);
    // Probes are for load balancers, not browsers: no CORS on them.
    let res = app.get("/health/live").header("origin", "https://app.example.com").send().await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("access-control-allow-origin"), None);
    assert!(res.header("x-request-id").is_some(), "framework routes still get request ids");
}

#[tokio::test]
async fn a_bad_trusted_proxy_network_stops_startup_naming_the_key() {
    for (bad, says) in [("10.0.0.0/33", "prefix length"), ("proxy.internal", "not an IP address")] {
        let app = App::new().routes(routes()).configure(|c| c.set("server.trusted_proxies", bad));
        let message = TestApp::new(app).await.unwrap_err().to_string();
        assert!(message.contains("server.trusted_proxies") && message.contains(says), "{bad}: {message}");
    }
    let app = App::new().routes(routes()).configure(|c| c.set("server.forwarded_header", "x-real-ip"));
    let message = TestApp::new(app).await.unwrap_err().to_string();
    assert!(message.contains("server.forwarded_header") && message.contains("\"forwarded\""), "{message}");
}

#[tokio::test]
async fn concurrency_limit_sheds_load_with_503() {
    let app =
        TestApp::new(App::new().routes(routes()).configure(|c| c.set("server.concurrency_limit", "1"))).await.unwrap();
    let first = tokio::spawn({
        let app = app.clone();
        async move { app.get("/slow").send().await }
    });
    // Poll until the first request holds the only permit.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let res = app.get("/items/1").send().await;
        if res.status() == 503 {
            assert_eq!(res.header("retry-after"), Some("1"));
            assert!(res.problem().detail.unwrap().contains("concurrency limit"));
            assert_eq!(app.get("/health/live").send().await.status(), 200, "probes are never shed");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never shed load");
        tokio::task::yield_now().await;
    }
    first.abort();
}

#[tokio::test]
async fn a_custom_renderer_changes_every_problem() {
    let conduit = |p: &Problem| {
        let message = p.detail.clone().unwrap_or_else(|| p.title.clone());
        (p.status(), Json(serde_json::json!({ "errors": { "body": [message] } }))).into_response()
    };
    let app = TestApp::new(App::new().routes(routes()).renderer(conduit)).await.unwrap();
    let res = app.post("/items").json(&serde_json::json!({ "name": 1 })).send().await;
    assert_eq!(res.status(), 422);
    let body: serde_json::Value = res.json();
    assert!(body["errors"]["body"][0].as_str().unwrap().contains("name"), "{body}");
    let res = app.delete("/items").send().await;
    assert_eq!(res.status(), 405);
    assert_eq!(res.header("allow"), Some("POST"));
    assert_eq!(res.json::<serde_json::Value>()["errors"]["body"][0], "Method Not Allowed");
}

#[tokio::test]
async fn readiness_reflects_the_checks() {
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = healthy.clone();
    let app = TestApp::new(App::new().readiness_check("upstream", move || {
        let ok = flag.load(std::sync::atomic::Ordering::SeqCst);
        async move {
            if ok {
                Ok(())
            } else {
                Err("connection refused")
            }
        }
    }))
    .await
    .unwrap();
    assert_eq!(app.get("/health/live").send().await.status(), 200);
    let res = app.get("/health/ready").send().await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>()["checks"]["upstream"], "ok");

    healthy.store(false, std::sync::atomic::Ordering::SeqCst);
    let res = app.get("/health/ready").send().await;
    let p = problem(&res, 503);
    assert_eq!(p.errors[0].field, "upstream");
    assert!(!res.text().contains("connection refused"), "the reason stays in the log: {}", res.text());
    assert_eq!(p.extensions["checks"]["upstream"], "failing");

    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(app.get("/health/ready").send().await.status(), 200);
}

#[tokio::test]
async fn a_hanging_readiness_check_times_out() {
    let app = TestApp::new(
        App::new()
            .configure(|c| c.set("server.readiness_timeout", "50ms"))
            .readiness_check("stuck", || async { std::future::pending::<Result<(), String>>().await }),
    )
    .await
    .unwrap();
    let res = app.get("/health/ready").send().await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.problem().errors[0].field, "stuck");
}

#[tokio::test]
async fn axum_extractors_rejections_also_become_problems() {
    async fn raw(trestle::axum::Json(v): trestle::axum::Json<Item>) -> String {
        v.name
    }
    let app = TestApp::new(App::new().routes(Router::new().route("/raw", post(raw)))).await.unwrap();
    let res = app.post("/raw").header("content-type", "application/json").body("{oops").send().await;
    let p = problem(&res, 400);
    assert!(p.detail.unwrap().contains("JSON"));
}

#[tokio::test]
async fn app_layers_are_ordinary_tower_layers_inside_the_stack() {
    use trestle::axum::extract::Request;
    use trestle::axum::middleware::{from_fn, Next};

    // A plain axum middleware: it sees the request id the stack assigned, so it runs inside.
    async fn tag(req: Request, next: Next) -> trestle::axum::response::Response {
        let seen = req.extensions().get::<trestle::RequestId>().map(|id| id.to_string()).unwrap_or_default();
        let mut res = next.run(req).await;
        res.headers_mut().insert("x-seen-request-id", seen.parse().unwrap());
        res
    }
    let app = TestApp::new(App::new().routes(routes()).layer(from_fn(tag))).await.unwrap();
    let res = app.get("/items/1").header("x-request-id", "abc-123").send().await;
    assert_eq!(res.text(), "one");
    assert_eq!(res.header("x-seen-request-id"), Some("abc-123"));
}
