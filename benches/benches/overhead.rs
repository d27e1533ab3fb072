//! trestle against raw axum, in process (`oneshot` on the finished router, no socket).
//!
//! `cargo bench -p trestle-benches`; each group holds a raw axum app and the trestle app doing
//! the same work. Compare within a group, from one run: the machine is shared and noisy.

use axum::body::Body;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use http::Request;
use tower::ServiceExt;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn get(path: &'static str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn echo() -> Request<Body> {
    Request::post("/echo")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"message":"Hello, world!","count":42}"#))
        .unwrap()
}

async fn call(router: &Router, req: Request<Body>) {
    let res = router.clone().oneshot(req).await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    std::hint::black_box(body);
}

fn pair(c: &mut Criterion, group: &str, apps: [(&str, &Router); 2], make: impl Fn() -> Request<Body>) {
    let rt = runtime();
    let mut g = c.benchmark_group(group);
    for (name, router) in apps {
        g.bench_function(name, |b| b.to_async(&rt).iter(|| call(router, make())));
    }
    g.finish();
}

fn install_subscriber() {
    // Spans and INFO events are on, as in production; the output goes nowhere.
    let _ = tracing_subscriber::fmt().with_env_filter("info").with_writer(std::io::sink).try_init();
}

fn benches(c: &mut Criterion) {
    install_subscriber();
    let rt = runtime();
    let raw_bare = trestle_benches::raw_bare();
    let trestle_bare = rt.block_on(trestle_benches::trestle_bare());
    let raw_stack = trestle_benches::raw_stack();
    let trestle_stack = rt.block_on(trestle_benches::trestle_stack());

    pair(c, "1-plaintext-bare", [("axum", &raw_bare), ("trestle", &trestle_bare)], || get("/plain"));
    pair(c, "1-json-bare", [("axum", &raw_bare), ("trestle", &trestle_bare)], || get("/json"));
    pair(c, "2-plaintext-stack", [("axum+tower-http", &raw_stack), ("trestle", &trestle_stack)], || get("/plain"));
    pair(c, "2-json-stack", [("axum+tower-http", &raw_stack), ("trestle", &trestle_stack)], || get("/json"));
    pair(c, "3-json-echo", [("axum", &raw_bare), ("trestle", &trestle_bare)], echo);

    for (name, eddsa) in [("4-auth-hs256", false), ("4-auth-eddsa", true)] {
        let raw = trestle_benches::raw_auth(eddsa);
        let ours = rt.block_on(trestle_benches::trestle_auth(eddsa));
        let bearer = format!("Bearer {}", trestle_benches::token(eddsa));
        pair(c, name, [("axum+jsonwebtoken", &raw), ("trestle", &ours)], || {
            Request::get("/me").header("authorization", bearer.as_str()).body(Body::empty()).unwrap()
        });
    }

    let raw_db = rt.block_on(trestle_benches::raw_db());
    let trestle_db = rt.block_on(trestle_benches::trestle_db());
    pair(c, "5-db-read", [("axum+sqlx", &raw_db), ("trestle", &trestle_db)], || get("/items/2"));

    let raw_metrics = trestle_benches::raw_metrics();
    let trestle_metrics = rt.block_on(trestle_benches::trestle_metrics());
    pair(c, "6-metrics", [("axum+prometheus-client", &raw_metrics), ("trestle", &trestle_metrics)], || get("/json"));

    let hand = trestle_benches::hand_route();
    let by_macro = trestle_benches::macro_route();
    pair(c, "route-macro", [("axum", &hand), ("trestle-macro", &by_macro)], || get("/plain"));
}

/// The `Auth` extractor's work against a bare `jsonwebtoken::decode` (the auth issue's 5%).
fn verify(c: &mut Criterion) {
    for (name, eddsa) in [("verify-hs256", false), ("verify-eddsa", true)] {
        let token = trestle_benches::token(eddsa);
        let raw = trestle_benches::RawJwt::new(eddsa);
        let jwt = trestle::auth::Jwt::from_config(&trestle_benches::jwt_config(eddsa)).unwrap();
        let mut g = c.benchmark_group(name);
        g.bench_function("jsonwebtoken::decode", |b| b.iter(|| std::hint::black_box(raw.decode(&token).unwrap())));
        g.bench_function("trestle Jwt::verify", |b| b.iter(|| std::hint::black_box(jwt.verify::<()>(&token).unwrap())));
        g.finish();
    }
}

criterion_group!(overhead, benches, verify);
criterion_main!(overhead);
