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
    // After retry_after (200 ms) and a reconnect, the quota spent before the cut still counts:
    // the first answer Redis decides (it carries the RateLimit headers) is a 429.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let res = app.get("/things").peer(client()).send().await;
        if res.header("ratelimit").is_some() {
            assert_eq!(res.status(), 429, "Redis forgot the request made before the cut");
            break;
        }
        assert_eq!(res.status(), 200);
        assert!(Instant::now() < deadline, "the limiter never went back to Redis");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `redis-cli` against the shared Redis.
fn redis_cli(args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli").args(["-h", "127.0.0.1", "-p", "6379"]).args(args).output();
    let out = out.expect("redis-cli runs (scripts/services starts Redis)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn a_clients_key_lives_until_its_quota_is_whole_and_a_whole_quota_serves_again() {
    let prefix = fresh_prefix();
    let app = replica(REDIS, &prefix, &[("rate_limit.requests", "2"), ("rate_limit.period", "1s")]).await;
    assert_eq!(app.get("/things").peer(client()).send().await.status(), 200);
    // One of two used: whole again in half a period.
    let ttl: i64 = redis_cli(&["PTTL", &format!("{prefix}:default:ip:198.51.100.7")]).parse().unwrap();
    assert!((400..=500).contains(&ttl), "the key expires when the quota is whole (~500 ms): {ttl} ms");
    assert_eq!(app.get("/things").peer(client()).send().await.status(), 200);
    assert_eq!(app.get("/things").peer(client()).send().await.status(), 429);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(app.get("/things").peer(client()).send().await.status(), 200, "one interval later one more fits");
}

/// A Redis of its own speaking only TLS, with a certificate for localhost from a CA of its own.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl TlsRedis {
    fn start() -> TlsRedis {
        let dir = std::env::temp_dir().join(fresh_prefix().replace(':', "-"));
        std::fs::create_dir_all(&dir).unwrap();
        // A CA of its own, and a certificate it signs for localhost and 127.0.0.1.
        let openssl = |args: &[&str]| {
            let out =
                std::process::Command::new("openssl").current_dir(&dir).args(args).output().expect("openssl runs");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=trestle test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
        ]);
        std::fs::write(dir.join("leaf.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
            .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-out",
            "cert.pem",
            "-extfile",
            "leaf.ext",
        ]);
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1", "--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&dir)
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the TLS Redis did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        TlsRedis { child, port, dir }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn rediss_verifies_the_server_against_the_configured_ca() {
    let redis = TlsRedis::start();
    let url = format!("rediss://localhost:{}", redis.port);
    let ca = redis.dir.join("ca.pem").display().to_string();
    let settings = |ca: Option<&str>| {
        let mut s = vec![
            ("rate_limit.redis.url".to_owned(), url.clone()),
            ("rate_limit.requests".to_owned(), "1".to_owned()),
            ("rate_limit.on_backend_error".to_owned(), "deny".to_owned()),
            ("rate_limit.redis.timeout".to_owned(), "2s".to_owned()),
        ];
        s.extend(ca.map(|ca| ("rate_limit.redis.ca_file".to_owned(), ca.to_owned())));
        s
    };
    // Trusting the CA that signed the server's certificate: counted in the TLS Redis.
    let trusted = settings(Some(&ca));
    let trusted: Vec<(&str, &str)> = trusted.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = replica("unused:1", &fresh_prefix(), &trusted).await;
    assert_eq!(app.get("/things").peer(client()).send().await.status(), 200);
    assert_eq!(app.get("/things").peer(client()).send().await.status(), 429);
    // With only the public roots, the private CA's server is refused (and fails closed here).
    let untrusted = settings(None);
    let untrusted: Vec<(&str, &str)> = untrusted.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = replica("unused:1", &fresh_prefix(), &untrusted).await;
    assert_eq!(app.get("/things").peer(client()).send().await.status(), 503);
}
