//! Rate limiting through the public API: quotas per client, per route, by address, subject or
//! the app's key; 429 problems and the RateLimit headers; startup errors that say what to do.

use std::net::SocketAddr;

use trestle::config::NoConfig;
use trestle::prelude::*;
use trestle::testing::{TestApp, TestResponse};
use trestle::{Context, StartupError};

const SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";

/// Lists things.
#[get("/things")]
async fn things() -> &'static str {
    "things"
}

/// Signs in (limited on its own).
#[post("/login", rate_limit = "2/1m")]
async fn login(State(ctx): State<Context<NoConfig>>) -> trestle::Result<String> {
    Ok(ctx.jwt().issue("someone", ())?)
}

/// Never limited.
#[get("/free", rate_limit = "off")]
async fn free() -> &'static str {
    "free"
}

/// Two methods, one quota.
#[route(method = ["GET", "POST"], path = "/both", rate_limit = "2/1m")]
async fn both() -> &'static str {
    "both"
}

fn peer(n: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, n], 40000))
}

/// An app with `Context` as its state, configured with `settings`.
fn base(settings: &[(&str, &str)]) -> App<NoConfig, Context<NoConfig>> {
    let settings: Vec<(String, String)> = settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    App::new().configure(move |c| settings.iter().fold(c, |c, (k, v)| c.set(k, v))).state(|ctx| ctx.clone())
}

async fn app(settings: &[(&str, &str)]) -> TestApp {
    let app = base(settings).auth().configure(|c| c.set("auth.jwt.secret", SECRET));
    TestApp::new(app.routes(routes![things, login, free, both])).await.unwrap()
}

fn assert_limited(res: &TestResponse, policy: &str) {
    assert_eq!(res.status(), 429, "{}", res.text());
    let problem = res.problem();
    assert_eq!(problem.problem_type, trestle::rate_limit::RATE_LIMITED);
    assert!(problem.detail.as_deref().unwrap_or_default().contains("retry in"), "{problem:?}");
    let wait: u64 = res.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!(wait >= 1, "{wait}");
    assert_eq!(res.header("ratelimit-policy"), Some(policy));
    assert!(res.header("ratelimit").unwrap().contains(";r=0;"), "{:?}", res.header("ratelimit"));
}

#[tokio::test]
async fn a_client_gets_its_quota_then_429_with_retry_after_and_other_clients_are_unaffected() {
    let app = app(&[
        ("rate_limit.enabled", "true"),
        ("rate_limit.requests", "3"),
        ("rate_limit.period", "1m"),
        ("rate_limit.headers", "true"),
    ])
    .await;
    for left in [2, 1, 0] {
        let res = app.get("/things").peer(peer(1)).send().await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.header("ratelimit-policy"), Some("\"default\";q=3;w=60"));
        let header = res.header("ratelimit").unwrap();
        assert!(header.starts_with(&format!("\"default\";r={left};t=")), "{header}");
    }
    let refused = app.get("/things").peer(peer(1)).send().await;
    assert_limited(&refused, "\"default\";q=3;w=60");
    assert!(refused.header("x-request-id").is_some(), "the 429 goes through the stack like any answer");
    // Another address has its own quota; a 404 counts too (scanners are clients).
    assert_eq!(app.get("/things").peer(peer(2)).send().await.status(), 200);
    assert_eq!(app.get("/nowhere").peer(peer(1)).send().await.status(), 429);
    // The health probes are never limited.
    assert_eq!(app.get("/health/live").peer(peer(1)).send().await.status(), 200);
    assert!(app.get("/health/live").peer(peer(1)).send().await.header("ratelimit").is_none());
}

#[tokio::test]
async fn a_routes_own_quota_applies_without_the_default_and_counts_apart_from_it() {
    // Default off: only the route with its own quota is limited.
    let app = app(&[("rate_limit.headers", "true")]).await;
    for _ in 0..5 {
        let res = app.get("/things").peer(peer(1)).send().await;
        assert_eq!(res.status(), 200);
        assert!(res.header("ratelimit").is_none(), "an unlimited route sends no RateLimit headers");
    }
    assert_eq!(app.post("/login").peer(peer(1)).send().await.status(), 200);
    assert_eq!(app.post("/login").peer(peer(1)).send().await.status(), 200);
    assert_limited(&app.post("/login").peer(peer(1)).send().await, "\"route\";q=2;w=60");

    // With the default on, spending the login quota leaves the default one whole.
    let app = app_with_default().await;
    for _ in 0..2 {
        app.post("/login").peer(peer(3)).send().await;
    }
    assert_eq!(app.post("/login").peer(peer(3)).send().await.status(), 429);
    let res = app.get("/things").peer(peer(3)).send().await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("ratelimit").map(|h| h.starts_with("\"default\";r=9;")), Some(true));
    // `rate_limit = "off"` exempts a route from the default.
    for _ in 0..15 {
        let res = app.get("/free").peer(peer(3)).send().await;
        assert_eq!(res.status(), 200);
        assert!(res.header("ratelimit").is_none());
    }
}

async fn app_with_default() -> TestApp {
    let quota = [("rate_limit.requests", "10"), ("rate_limit.period", "1m"), ("rate_limit.headers", "true")];
    app(&[("rate_limit.enabled", "true"), quota[0], quota[1], quota[2]]).await
}

#[tokio::test]
async fn by_default_only_429s_carry_the_ratelimit_headers() {
    let app = app(&[("rate_limit.enabled", "true"), ("rate_limit.requests", "1"), ("rate_limit.period", "1m")]).await;
    let served = app.get("/things").peer(peer(1)).send().await;
    assert_eq!(served.status(), 200);
    assert!(served.header("ratelimit").is_none() && served.header("ratelimit-policy").is_none());
    assert_limited(&app.get("/things").peer(peer(1)).send().await, "\"default\";q=1;w=60");
}

#[tokio::test]
async fn config_overrides_a_routes_quota_and_can_limit_any_route() {
    let app = app(&[("rate_limit.routes", "POST /login=off, GET /things=1/1h")]).await;
    for _ in 0..5 {
        assert_eq!(app.post("/login").peer(peer(1)).send().await.status(), 200);
    }
    assert_eq!(app.get("/things").peer(peer(1)).send().await.status(), 200);
    assert_limited(&app.get("/things").peer(peer(1)).send().await, "\"route\";q=1;w=3600");
}

#[tokio::test]
async fn a_burst_lets_a_client_send_more_at_once_than_its_steady_rate() {
    let app = app(&[
        ("rate_limit.enabled", "true"),
        ("rate_limit.requests", "1"),
        ("rate_limit.period", "1h"),
        ("rate_limit.burst", "4"),
    ])
    .await;
    for _ in 0..4 {
        assert_eq!(app.get("/things").peer(peer(1)).send().await.status(), 200);
    }
    let refused = app.get("/things").peer(peer(1)).send().await;
    assert_eq!(refused.status(), 429);
    // The next request fits one interval (an hour) from now, not in a minute.
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((3500..=3600).contains(&wait), "{wait}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_quota_and_spoofing_gains_nothing() {
    let app = app(&[
        ("rate_limit.enabled", "true"),
        ("rate_limit.requests", "1"),
        ("rate_limit.period", "1h"),
        ("server.trusted_proxies", "10.0.0.1"),
    ])
    .await;
    let proxy = SocketAddr::from(([10, 0, 0, 1], 5000));
    let via_proxy = |client: &str| app.get("/things").peer(proxy).header("x-forwarded-for", client.to_owned());
    assert_eq!(via_proxy("198.51.100.1").send().await.status(), 200);
    assert_eq!(via_proxy("198.51.100.2").send().await.status(), 200);
    assert_eq!(via_proxy("198.51.100.1").send().await.status(), 429);
    // A client talking directly cannot pose as someone else: its forged header is ignored.
    let direct = SocketAddr::from(([203, 0, 113, 7], 5000));
    assert_eq!(app.get("/things").peer(direct).header("x-forwarded-for", "198.51.100.9").send().await.status(), 200);
    let spoofed = app.get("/things").peer(direct).header("x-forwarded-for", "198.51.100.10").send().await;
    assert_eq!(spoofed.status(), 429, "the same peer, whatever it claims, spends one quota");
}

#[tokio::test]
async fn by_subject_each_token_holder_has_a_quota_and_anonymous_or_forged_tokens_fall_back_to_the_address() {
    let app = app(&[
        ("rate_limit.enabled", "true"),
        ("rate_limit.requests", "1"),
        ("rate_limit.period", "1h"),
        ("rate_limit.key", "subject"),
    ])
    .await;
    let keys =
        trestle::config::JwtConfig { secret: Some(trestle::Secret::new(SECRET.to_owned())), ..Default::default() };
    let jwt = trestle::auth::Jwt::from_config(&keys).unwrap();
    let (ada, bob) = (jwt.issue("ada", ()).unwrap(), jwt.issue("bob", ()).unwrap());
    // Same address, two subjects: two quotas.
    assert_eq!(app.get("/things").peer(peer(1)).bearer(&ada).send().await.status(), 200);
    assert_eq!(app.get("/things").peer(peer(1)).bearer(&bob).send().await.status(), 200);
    assert_eq!(app.get("/things").peer(peer(2)).bearer(&ada).send().await.status(), 429, "ada's quota follows her");
    // A token that does not verify is no identity: counted by address, so forging new subjects
    // gains nothing.
    let forged = format!("{}x", &ada[..ada.len() - 1]);
    assert_eq!(app.get("/things").peer(peer(3)).bearer(&forged).send().await.status(), 200);
    assert_eq!(app.get("/things").peer(peer(3)).bearer("garbage").send().await.status(), 429);
    assert_eq!(app.get("/things").peer(peer(3)).send().await.status(), 429);
}

#[tokio::test]
async fn by_the_apps_key_requests_with_one_key_share_a_quota() {
    let settings = [
        ("rate_limit.enabled", "true"),
        ("rate_limit.requests", "1"),
        ("rate_limit.period", "1h"),
        ("rate_limit.key", "app"),
    ];
    let app = base(&settings)
        .routes(routes![things])
        .rate_limit_key(|req| req.headers().get("x-api-key")?.to_str().ok().map(str::to_owned));
    let app = TestApp::new(app).await.unwrap();
    let with_key = |key: &'static str, n| app.get("/things").peer(peer(n)).header("x-api-key", key);
    assert_eq!(with_key("k1", 1).send().await.status(), 200);
    assert_eq!(with_key("k2", 1).send().await.status(), 200);
    assert_eq!(with_key("k1", 2).send().await.status(), 429);
    // No key: the address.
    assert_eq!(app.get("/things").peer(peer(1)).send().await.status(), 200);
    assert_eq!(app.get("/things").peer(peer(1)).send().await.status(), 429);
}

async fn startup_error(app: App<NoConfig, Context<NoConfig>>) -> String {
    let e = TestApp::new(app).await.expect_err("the app must not start");
    assert!(matches!(e, StartupError::RateLimit { .. } | StartupError::Config(_)), "{e:?}");
    e.to_string()
}

#[tokio::test]
async fn settings_that_cannot_work_stop_startup_saying_what_to_do() {
    let keyed = |key| base(&[("rate_limit.enabled", "true"), ("rate_limit.key", key)]).routes(routes![things]);
    let e = startup_error(keyed("subject")).await;
    assert!(e.contains("App::auth()") && e.contains("rate_limit.key"), "{e}");
    let e = startup_error(keyed("app")).await;
    assert!(e.contains("App::rate_limit_key") && e.contains("RATE_LIMIT__KEY"), "{e}");
    let e = startup_error(keyed("ip").rate_limit_key(|_| None)).await;
    assert!(e.contains("rate_limit.key = \"app\""), "{e}");
    for (key, value, says) in [
        ("rate_limit.requests", "0", "at least 1"),
        ("rate_limit.period", "0s", "longer than 0s"),
        ("rate_limit.key", "everyone", "rate_limit.key"),
        ("rate_limit.backend", "etcd", "rate_limit.backend"),
        ("rate_limit.routes", "/login=5/1m", "POST /api/users/login"),
        ("rate_limit.routes", "POST /login=5 per minute", "\"5/1m\""),
        ("rate_limit.routes", "POST /login", "has no `=`"),
    ] {
        let e = startup_error(base(&[(key, value)]).routes(routes![things])).await;
        assert!(e.contains(key) && e.contains(says), "{key} = {value}: {e}");
    }
}

#[cfg(not(feature = "redis"))]
#[tokio::test]
async fn the_redis_backend_without_the_feature_names_the_feature() {
    let app = base(&[("rate_limit.enabled", "true"), ("rate_limit.backend", "redis")]).routes(routes![things]);
    let e = startup_error(app).await;
    assert!(e.contains("features = [\"redis\"]"), "{e}");
}

#[test]
fn the_route_table_shows_each_routes_own_quota() {
    let routes: trestle::routing::Routes<Context<NoConfig>> = routes![things, login, free, both];
    let table = routes.table();
    let quotas: Vec<_> = table.iter().map(|r| r.rate_limit).collect();
    assert_eq!(quotas, [None, Some("2/1m"), Some("off"), Some("2/1m")]);
}

#[tokio::test]
async fn a_routes_methods_share_its_quota_and_head_counts_as_get() {
    let app = app(&[]).await;
    assert_eq!(app.get("/both").peer(peer(1)).send().await.status(), 200);
    assert_eq!(app.post("/both").peer(peer(1)).send().await.status(), 200);
    assert_eq!(app.get("/both").peer(peer(1)).send().await.status(), 429, "one quota for GET and POST");
    assert_eq!(app.request(http::Method::HEAD, "/both").peer(peer(1)).send().await.status(), 429);

    // A method of its own in the config wins over the route's (HEAD over the GET it falls back to).
    let app = self::app(&[("rate_limit.routes", "HEAD /both=off")]).await;
    for _ in 0..2 {
        app.get("/both").peer(peer(1)).send().await;
    }
    assert_eq!(app.get("/both").peer(peer(1)).send().await.status(), 429);
    assert_eq!(app.request(http::Method::HEAD, "/both").peer(peer(1)).send().await.status(), 200);
}

#[tokio::test]
async fn browsers_can_read_a_429_and_preflights_spend_no_quota() {
    let app = app(&[
        ("rate_limit.enabled", "true"),
        ("rate_limit.requests", "1"),
        ("rate_limit.period", "1h"),
        ("server.cors.allowed_origins", "https://app.example"),
    ])
    .await;
    let origin = |req: trestle::testing::TestRequest| req.peer(peer(1)).header("origin", "https://app.example");
    for _ in 0..3 {
        let preflight = origin(app.request(http::Method::OPTIONS, "/things"))
            .header("access-control-request-method", "GET")
            .send()
            .await;
        assert_eq!(preflight.status(), 200, "{}", preflight.text());
    }
    assert_eq!(origin(app.get("/things")).send().await.status(), 200, "the preflights did not count");
    let refused = origin(app.get("/things")).send().await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.header("access-control-allow-origin"), Some("https://app.example"));
    let exposed = refused.header("access-control-expose-headers").unwrap_or_default().to_ascii_lowercase();
    for name in ["retry-after", "ratelimit", "ratelimit-policy", "x-request-id"] {
        assert!(exposed.split(',').any(|h| h.trim() == name), "{name} in {exposed}");
    }
}

#[tokio::test]
async fn a_panicking_key_function_counts_the_request_by_its_address() {
    let settings = [
        ("rate_limit.enabled", "true"),
        ("rate_limit.requests", "1"),
        ("rate_limit.period", "1h"),
        ("rate_limit.key", "app"),
    ];
    let app = base(&settings).routes(routes![things]).rate_limit_key(|_| panic!("the app's bug"));
    let app = TestApp::new(app).await.unwrap();
    assert_eq!(app.get("/things").peer(peer(1)).send().await.status(), 200);
    assert_eq!(app.get("/things").peer(peer(1)).send().await.status(), 429);
    assert_eq!(app.get("/things").peer(peer(2)).send().await.status(), 200);
}

#[tokio::test]
async fn a_key_function_with_nothing_limited_is_no_error() {
    // Rate limiting off: the app's key function waits for a config that turns it on.
    let app = base(&[]).routes(routes![things]).rate_limit_key(|_| None);
    assert_eq!(TestApp::new(app).await.unwrap().get("/things").send().await.status(), 200);
}
