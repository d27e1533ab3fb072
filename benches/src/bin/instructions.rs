//! Runs one side of a benchmark pair N times in process, for `benches/callgrind.sh`, which
//! counts instructions under valgrind (repeatable to ±0.1%, unlike wall-clock time on a shared
//! machine) and subtracts two runs to get the cost of one request.
//!
//! `instructions <case> <requests>`; cases: see `CASES`.

use axum::body::Body;
use axum::Router;
use http::Request;
use tower::ServiceExt;

const CASES: &[&str] = &[
    "bare-axum",
    "bare-trestle",
    "plain-axum",
    "plain-trestle",
    "stack-axum",
    "stack-trestle",
    "echo-axum",
    "echo-trestle",
    "auth-axum",
    "auth-trestle",
    "db-axum",
    "db-trestle",
    "route-hand",
    "route-macro",
    "metrics-axum",
    "metrics-trestle",
    "otel-off",
    "otel-on",
    "ok-axum",
    "ok-trestle",
    "error-axum",
    "error-trestle",
    "big-axum",
    "big-trestle",
    "limits-off",
    "limits-on",
    "dbspans-off",
    "dbspans-on",
    "notfound-axum",
    "notfound-trestle",
    "invalid-axum",
    "invalid-trestle",
    "ratelimit-off",
    "accesslog-off",
    "accesslog-on",
    "ratelimit-on",
];

fn request(case: &str, bearer: &str) -> Request<Body> {
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    match case.split('-').next().unwrap() {
        "echo" => Request::post("/echo")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"message":"Hello, world!","count":42}"#))
            .unwrap(),
        "auth" => Request::get("/me").header("authorization", bearer).body(Body::empty()).unwrap(),
        "db" | "dbspans" => get("/items/2"),
        "big" => Request::post("/echo")
            .header("content-type", "application/json")
            .body(Body::from(format!(r#"{{"message":"{}","count":42}}"#, "x".repeat(64 * 1024))))
            .unwrap(),
        "limits" => Request::get("/json").header("origin", "https://app.example.com").body(Body::empty()).unwrap(),
        "ok" => get("/items/1"),
        "error" => get("/items/2"),
        "notfound" => get("/nowhere"),
        "invalid" => Request::post("/echo")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"message":5,"count":42}"#))
            .unwrap(),
        "bare" | "stack" | "metrics" | "otel" => get("/json"),
        // From a client address, as a served request is: the limiter keys on it.
        "ratelimit" => Request::get("/json")
            .extension(axum::extract::ConnectInfo(std::net::SocketAddr::from(([192, 0, 2, 7], 40000))))
            .body(Body::empty())
            .unwrap(),
        _ => get("/plain"),
    }
}

async fn router(case: &str) -> Router {
    match case {
        "plain-axum" | "echo-axum" | "bare-axum" | "big-axum" => trestle_benches::raw_bare(),
        "big-trestle" => trestle_benches::trestle_bare().await,
        "limits-off" => trestle_benches::trestle_defaults().await,
        "limits-on" => trestle_benches::trestle_limits().await,
        "ratelimit-off" => trestle_benches::trestle_defaults().await,
        "accesslog-off" => trestle_benches::trestle_quiet().await,
        "accesslog-on" => trestle_benches::trestle_defaults().await,
        "ratelimit-on" => trestle_benches::trestle_rate_limited().await,
        "bare-trestle" => trestle_benches::trestle_defaults().await,
        "plain-trestle" | "echo-trestle" => trestle_benches::trestle_bare().await,
        "stack-axum" => trestle_benches::raw_stack(),
        "stack-trestle" => trestle_benches::trestle_stack().await,
        "auth-axum" => trestle_benches::raw_auth(false),
        "auth-trestle" => trestle_benches::trestle_auth(false).await,
        "db-axum" => trestle_benches::raw_db().await,
        "db-trestle" => trestle_benches::trestle_db().await,
        "route-hand" => trestle_benches::hand_route(),
        "route-macro" => trestle_benches::macro_route(),
        "metrics-axum" => trestle_benches::raw_metrics(),
        "metrics-trestle" => trestle_benches::trestle_metrics().await,
        "otel-off" | "otel-on" => trestle_benches::trestle_stack().await,
        "ok-axum" | "error-axum" => trestle_benches::raw_errors(),
        "ok-trestle" | "error-trestle" => trestle_benches::trestle_errors().await,
        "notfound-axum" | "invalid-axum" => trestle_benches::raw_error_paths(),
        "dbspans-off" | "dbspans-on" => trestle_benches::trestle_db_traced().await,
        "notfound-trestle" | "invalid-trestle" => trestle_benches::trestle_error_paths().await,
        other => panic!("unknown case {other}; one of {CASES:?}"),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_else(|| panic!("usage: instructions <case> <requests>; cases {CASES:?}"));
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // Every case logs as a trestle app does in production: JSON lines at INFO on stdout
        // (callgrind.sh sends them to /dev/null). "otel-on" also exports spans to a loopback
        // collector.
        trestle_benches::json_logs(
            matches!(case.as_str(), "otel-on" | "dbspans-off" | "dbspans-on"),
            case != "dbspans-off",
        )
        .await;
        let router = router(&case).await;
        let bearer = format!("Bearer {}", trestle_benches::token(false));
        for _ in 0..n {
            let res = router.clone().oneshot(request(&case, &bearer)).await.unwrap();
            let expected = match case.split('-').next().unwrap() {
                "error" | "notfound" => 404,
                "invalid" => 422,
                _ => 200,
            };
            assert_eq!(res.status().as_u16(), expected, "{case}");
            std::hint::black_box(axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap());
        }
        trestle::telemetry::shutdown().await;
    });
}
