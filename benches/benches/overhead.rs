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
    assert!(res.status().is_success());
    let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    std::hint::black_box(body);
}

fn pair(c: &mut Criterion, group: &str, apps: [(&str, &Router); 2], make: fn() -> Request<Body>) {
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
}

criterion_group!(overhead, benches);
criterion_main!(overhead);
