//! The Redis backend against the real Redis on 127.0.0.1:6379 (`scripts/services` starts it):
//! replicas share one quota; Redis down, cut off or stalled costs a request at most
//! `rate_limit.redis.timeout`, and is decided by `on_backend_error`; counting resumes when it is
//! back.
#![cfg(feature = "redis")]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::{TcpListener, TcpStream};
use trestle::config::NoConfig;
use trestle::prelude::*;
use trestle::testing::TestApp;

const REDIS: &str = "127.0.0.1:6379";

/// Answers.
#[get("/things")]
async fn things() -> &'static str {
    "things"
}

/// A key prefix no other test run shares.
fn fresh_prefix() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("trestle-test:{}:{nanos}", std::process::id())
}

async fn replica(redis: &str, prefix: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut settings: Vec<(String, String)> = [
        ("rate_limit.enabled", "true"),
        ("rate_limit.requests", "3"),
        ("rate_limit.period", "1h"),
        ("rate_limit.backend", "redis"),
        ("rate_limit.redis.url", &format!("redis://{redis}")),
        ("rate_limit.redis.prefix", prefix),
        ("rate_limit.redis.timeout", "100ms"),
        ("rate_limit.redis.retry_after", "200ms"),
        ("rate_limit.headers", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let app = App::<NoConfig>::new()
        .configure(move |c| settings.iter().fold(c, |c, (k, v)| c.set(k, v)))
        .routes(routes![things]);
    TestApp::new(app).await.unwrap()
}

fn client() -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 7], 40000))
}

#[tokio::test]
async fn replicas_sharing_redis_share_one_quota_per_client() {
    let prefix = fresh_prefix();
    let (a, b) = (replica(REDIS, &prefix, &[]).await, replica(REDIS, &prefix, &[]).await);
    let first = a.get("/things").peer(client()).send().await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.header("ratelimit-policy"), Some("\"default\";q=3;w=3600"));
    assert!(first.header("ratelimit").unwrap().starts_with("\"default\";r=2;"), "{:?}", first.header("ratelimit"));
    assert_eq!(b.get("/things").peer(client()).send().await.status(), 200);
    assert_eq!(a.get("/things").peer(client()).send().await.status(), 200);
    // The quota is spent across both: whichever replica gets the fourth refuses it.
    let refused = b.get("/things").peer(client()).send().await;
    assert_eq!(refused.status(), 429, "{}", refused.text());
    assert!(refused.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1000);
    // Another client is unaffected.
    let other = SocketAddr::from(([198, 51, 100, 8], 40000));
    assert_eq!(a.get("/things").peer(other).send().await.status(), 200);
}

#[tokio::test]
async fn concurrent_requests_racing_for_the_last_of_a_quota_get_exactly_the_quota() {
    let prefix = fresh_prefix();
    let apps = [replica(REDIS, &prefix, &[]).await, replica(REDIS, &prefix, &[]).await];
    let requests = (0..20).map(|i| {
        let app = apps[i % 2].clone();
        tokio::spawn(async move { app.get("/things").peer(client()).send().await.status().as_u16() })
    });
    let mut statuses = Vec::new();
    for r in requests {
        statuses.push(r.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 17, "{statuses:?}");
}

#[tokio::test]
async fn redis_down_fails_open_by_default_and_closed_when_asked() {
    // Nothing listens on port 1.
    let open = replica("127.0.0.1:1", &fresh_prefix(), &[]).await;
    for _ in 0..5 {
        let start = Instant::now();
        let res = open.get("/things").peer(client()).send().await;
        assert_eq!(res.status(), 200, "fail open serves the request");
        assert!(res.header("ratelimit").is_none(), "an uncounted request claims no quota");
        assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
    }
    #[cfg(feature = "metrics")]
    {
        let metrics = open.get("/metrics").send().await.text();
        let line = metrics.lines().find(|l| l.starts_with("trestle_rate_limit_backend_failures_total")).unwrap();
        assert!(line.contains("decision=\"allowed\""), "{line}");
        let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n >= 5.0, "{line}");
    }

    let closed = replica("127.0.0.1:1", &fresh_prefix(), &[("rate_limit.on_backend_error", "deny")]).await;
    let res = closed.get("/things").peer(client()).send().await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.header("retry-after"), Some("1"));
    assert!(res.problem().detail.unwrap_or_default().contains("on_backend_error"));
}

#[tokio::test]
async fn a_stalled_redis_delays_a_request_by_at_most_the_timeout_and_the_next_ones_not_at_all() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let app = replica(&addr.to_string(), &fresh_prefix(), &[("rate_limit.redis.retry_after", "5s")]).await;
    let start = Instant::now();
    let res = app.get("/things").peer(client()).send().await;
    let first = start.elapsed();
    assert_eq!(res.status(), 200);
    assert!(first >= Duration::from_millis(90) && first < Duration::from_millis(600), "{first:?}");
    // Within retry_after, requests do not wait for Redis at all.
    let start = Instant::now();
    for _ in 0..20 {
        assert_eq!(app.get("/things").peer(client()).send().await.status(), 200);
    }
    assert!(start.elapsed() < Duration::from_millis(200), "{:?}", start.elapsed());
}

/// A TCP relay to the real Redis that can be cut (every connection dropped, new ones refused
/// at once) and restored.
struct Relay {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
}

impl Relay {
    async fn start() -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close
                }
                let flag = flag.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(REDIS).await else { return };
                    let relay = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let watch = async {
                        while !flag.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    };
                    tokio::select! {
                        _ = relay => {}
                        () = watch => {}
                    }
                });
            }
        });
        Relay { addr, cut }
    }
}

#[tokio::test]
async fn counting_resumes_where_it_was_when_redis_comes_back() {
    let relay = Relay::start().await;
    let app = replica(&relay.addr.to_string(), &fresh_prefix(), &[("rate_limit.requests", "1")]).await;
    assert_eq!(app.get("/things").peer(client()).send().await.status(), 200);

    relay.cut.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..3 {
        let start = Instant::now();
        let res = app.get("/things").peer(client()).send().await;
        assert_eq!(res.status(), 200, "Redis unreachable: served, uncounted");
        assert!(start.elapsed() < Duration::from_millis(600), "{:?}", start.elapsed());
    }

    relay.cut.store(false, Ordering::SeqCst);
    // After retry_after (200 ms) and a reconnect, the quota spent before the cut still counts.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let res = app.get("/things").peer(client()).send().await;
        if res.status() == 429 {
            break;
        }
        assert_eq!(res.status(), 200);
        assert!(Instant::now() < deadline, "the limiter never went back to Redis");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
