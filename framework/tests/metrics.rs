//! `/metrics` (feature `metrics`): the Prometheus text parses, counters move by exactly the
//! requests sent, cardinality stays bounded, app metrics and pool metrics are served.
#![cfg(feature = "metrics")]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use trestle::axum::routing::{get, post};
use trestle::metrics::prometheus_client::metrics::counter::Counter;
use trestle::prelude::*;
use trestle::testing::TestApp;

/// One sample line: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict reader of the Prometheus text format 0.0.4: every line is a `# HELP`/`# TYPE`
/// comment or a sample whose family was declared by a `# TYPE` line before it.
fn parse(text: &str) -> Vec<Sample> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "{line}");
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment in Prometheus text: {line}");
        let (name, rest) = line.split_at(line.find(['{', ' ']).expect("a sample line"));
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(char::is_numeric),
            "bad metric name in {line}"
        );
        let family = ["_bucket", "_sum", "_count", "_total"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        assert!(types.contains_key(family) || types.contains_key(name), "sample before its # TYPE: {line}");
        let mut labels = BTreeMap::new();
        let value_text = if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices().peekable();
            let end = loop {
                let (start, c) = chars.next().expect("unterminated label set");
                if c == '}' {
                    break start;
                }
                let key_start = if c == ',' { chars.next().unwrap().0 } else { start };
                let eq = body[key_start..].find('=').unwrap() + key_start;
                let key = body[key_start..eq].to_owned();
                while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                    chars.next();
                }
                assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "label value must be quoted: {line}");
                let mut value = String::new();
                loop {
                    match chars.next().expect("unterminated label value").1 {
                        '\\' => value.push(match chars.next().unwrap().1 {
                            'n' => '\n',
                            other => other,
                        }),
                        '"' => break,
                        c => value.push(c),
                    }
                }
                labels.insert(key, value);
            };
            &body[end + 1..]
        } else {
            rest
        };
        let value = match value_text.trim() {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad sample value in {line}")),
        };
        samples.push(Sample { name: name.to_owned(), labels, value });
    }
    samples
}

/// The value of the one sample named `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .collect();
    assert!(matching.len() <= 1, "{name} {labels:?} matches {matching:?}");
    matching.first().map(|s| s.value)
}

async fn scrape(app: &TestApp) -> Vec<Sample> {
    let response = app.get("/metrics").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    parse(&response.text())
}

fn count(route: &str, method: &str, code: &str) -> [(&'static str, String); 4] {
    [
        ("http_route", route.to_owned()),
        ("http_request_method", method.to_owned()),
        ("http_response_status_code", code.to_owned()),
        ("url_scheme", "http".to_owned()),
    ]
}

fn requests(samples: &[Sample], route: &str, method: &str, code: &str) -> f64 {
    let labels = count(route, method, code);
    let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    value(samples, "http_server_request_duration_seconds_count", &labels).unwrap_or(0.0)
}

#[derive(Deserialize, Serialize)]
struct Item {
    name: String,
}

async fn app() -> TestApp {
    let routes = Router::new()
        .route("/items/{id}", get(|Path(id): Path<u32>| async move { format!("item {id}") }))
        .route("/items", post(|Json(item): Json<Item>| async move { Json(item) }))
        .route("/boom", get(|| async { Error::internal(std::io::Error::other("broken")) }));
    TestApp::new(App::new().routes(routes)).await.unwrap()
}

#[tokio::test]
async fn request_counts_move_by_exactly_the_requests_sent() {
    let app = app().await;
    let before = scrape(&app).await;
    for id in 0..7 {
        assert_eq!(app.get(&format!("/items/{id}")).send().await.status(), 200);
    }
    for _ in 0..3 {
        let response = app.post("/items").header("content-type", "application/json").body("{not json").send().await;
        assert_eq!(response.status(), 400);
    }
    assert_eq!(app.get("/boom").send().await.status(), 500);
    assert_eq!(app.get("/health/live").send().await.status(), 200);
    assert_eq!(app.get("/health/ready").send().await.status(), 200);
    let after = scrape(&app).await;
    assert!(
        after.iter().all(|s| !s.labels.get("http_route").is_some_and(|r| r.starts_with("/health"))),
        "probes are not traffic"
    );

    let delta = |route, method, code| requests(&after, route, method, code) - requests(&before, route, method, code);
    assert_eq!(delta("/items/{id}", "GET", "200"), 7.0);
    assert_eq!(delta("/items", "POST", "400"), 3.0);
    assert_eq!(delta("/items", "POST", "200"), 0.0);
    assert_eq!(delta("/boom", "GET", "500"), 1.0);
    assert!(
        after.iter().all(|s| s.labels.get("http_route").map(String::as_str) != Some("/metrics")),
        "scrapes are not traffic"
    );
    // A server error's series says its error type; others have none.
    let boom = |key: &str| {
        after
            .iter()
            .find(|s| s.labels.get("http_route").map(String::as_str) == Some("/boom"))
            .unwrap()
            .labels
            .get(key)
            .cloned()
    };
    assert_eq!(boom("error_type").as_deref(), Some("500"));
    assert!(after
        .iter()
        .filter(|s| s.labels.get("http_route").map(String::as_str) == Some("/items/{id}"))
        .all(|s| !s.labels.contains_key("error_type")));

    // The histogram is whole: cumulative buckets end at +Inf == _count, and time was spent.
    let route = [("http_route", "/items/{id}"), ("http_request_method", "GET")];
    let mut buckets: Vec<(f64, f64)> = after
        .iter()
        .filter(|s| s.name == "http_server_request_duration_seconds_bucket")
        .filter(|s| route.iter().all(|(k, v)| s.labels[*k] == *v))
        .map(|s| (s.labels["le"].replace("+Inf", "inf").parse::<f64>().unwrap(), s.value))
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(buckets.len(), 17, "16 bounds and +Inf");
    assert_eq!(buckets[0].0, 0.0001, "sub-millisecond requests get buckets of their own");
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "cumulative: {buckets:?}");
    assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, 7.0));
    let labels: Vec<(&str, &str)> = route.to_vec();
    assert!(value(&after, "http_server_request_duration_seconds_sum", &labels).unwrap() > 0.0);
}

#[tokio::test]
async fn a_flood_of_distinct_404s_adds_no_label_values() {
    let app = app().await;
    assert_eq!(app.get("/nothing-here").send().await.status(), 404);
    let series = |samples: &[Sample]| -> BTreeSet<String> {
        samples.iter().map(|s| format!("{}{:?}", s.name, s.labels)).collect()
    };
    scrape(&app).await; // creates the /metrics series itself
    let before = scrape(&app).await;
    for i in 0..10_000 {
        let path = format!("/flood/{i}/{:x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        // Made-up methods fold into `_OTHER`, which the first of them creates.
        let method = if i % 1000 == 0 { Method::from_bytes(format!("X{i}").as_bytes()).unwrap() } else { Method::GET };
        let status = app.request(method, &path).send().await.status();
        assert_eq!(status, 404);
    }
    let after = scrape(&app).await;
    let new: Vec<String> = series(&after).difference(&series(&before)).cloned().collect();
    assert!(
        new.iter().all(|s| s.contains("\"_OTHER\"")),
        "only the one `_OTHER` method series may appear, got: {new:#?}"
    );
    assert!(new.len() <= 19, "one histogram (17 buckets, sum, count) at most: {}", new.len());
    let unmatched = requests(&after, "unmatched", "GET", "404") - requests(&before, "unmatched", "GET", "404");
    assert_eq!(unmatched, 9_990.0);
    assert_eq!(requests(&after, "unmatched", "_OTHER", "404"), 10.0);
    assert!(after.iter().all(|s| !s.labels.values().any(|v| v.starts_with("/flood"))), "no raw path is a label");
}

#[tokio::test]
async fn in_flight_requests_are_a_gauge() {
    let release = Arc::new(tokio::sync::Notify::new());
    let entered = Arc::new(tokio::sync::Notify::new());
    let (r, e) = (release.clone(), entered.clone());
    let routes = Router::new().route(
        "/wait",
        get(move || {
            let (r, e) = (r.clone(), e.clone());
            async move {
                e.notify_one();
                r.notified().await;
                "done"
            }
        }),
    );
    let app = TestApp::new(App::new().routes(routes)).await.unwrap();
    let waiting = tokio::spawn({
        let app = app.clone();
        async move { app.get("/wait").send().await.status() }
    });
    entered.notified().await;
    // The scrape itself is not traffic.
    assert_eq!(value(&scrape(&app).await, "http_server_active_requests", &[]), Some(1.0));
    release.notify_one();
    assert_eq!(waiting.await.unwrap(), 200);
    assert_eq!(value(&scrape(&app).await, "http_server_active_requests", &[]), Some(0.0));
}

#[derive(Clone)]
struct Signups(Counter);

#[tokio::test]
async fn app_metrics_registered_on_the_context_are_served() {
    let app = App::new()
        .state(|ctx| {
            let signups = Counter::default();
            ctx.metrics().register("shop_signups", "Accounts created.", signups.clone());
            Signups(signups)
        })
        .routes(Router::new().route(
            "/signup",
            post(|State(Signups(c)): State<Signups>| async move {
                c.inc();
                "welcome"
            }),
        ));
    let app = TestApp::new(app).await.unwrap();
    for _ in 0..3 {
        assert_eq!(app.post("/signup").send().await.status(), 200);
    }
    let samples = scrape(&app).await;
    assert_eq!(value(&samples, "shop_signups_total", &[]), Some(3.0));

    // OpenMetrics for scrapers that ask for it.
    let response = app.get("/metrics").header("accept", "application/openmetrics-text; version=1.0.0").send().await;
    assert!(response.header("content-type").unwrap().starts_with("application/openmetrics-text"));
    let text = response.text();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("shop_signups_total 3"), "{text}");
}

#[tokio::test]
async fn the_path_is_configurable_and_metrics_can_be_switched_off() {
    let app =
        TestApp::new(App::new().configure(|c| c.set("telemetry.metrics.path", "/internal/prometheus"))).await.unwrap();
    assert_eq!(app.get("/metrics").send().await.status(), 404);
    let response = app.get("/internal/prometheus").send().await;
    assert_eq!(response.status(), 200);
    assert!(parse(&response.text()).iter().any(|s| s.name == "http_server_active_requests"));

    let off = TestApp::new(App::new().configure(|c| c.set("telemetry.metrics.enabled", "false"))).await.unwrap();
    assert_eq!(off.get("/metrics").send().await.status(), 404);
}

#[tokio::test]
async fn a_path_without_a_slash_is_a_config_error() {
    let error = TestApp::new(App::new().configure(|c| c.set("telemetry.metrics.path", "metrics"))).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("telemetry.metrics.path") && message.contains("start with `/`") && message.contains("in code"),
        "{message}"
    );
}

/// `promtool check metrics` (Prometheus's own linter) on a scrape with every family present:
/// HTTP histograms with an error series, the pool gauges, an app counter.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn promtool_finds_nothing_to_lint() {
    use trestle::db::Sqlite;

    let db = trestle::testing::TestDatabase::sqlite();
    let routes = Router::new()
        .route("/items/{id}", get(|Path(id): Path<u32>| async move { format!("item {id}") }))
        .route("/boom", get(|| async { Error::internal(std::io::Error::other("broken")) }));
    let app = App::new()
        .database_with::<Sqlite>()
        .configure(|c| c.set("database.url", db.url()))
        .state(|ctx| {
            let signups: Counter = Counter::default();
            ctx.metrics().register("shop_signups", "Accounts created.", signups);
            ctx.clone()
        })
        .routes(routes);
    let app = TestApp::new(app).await.unwrap();
    assert_eq!(app.get("/items/1").send().await.status(), 200);
    assert_eq!(app.get("/boom").send().await.status(), 500);
    assert_eq!(app.get("/nowhere").send().await.status(), 404);
    let text = app.get("/metrics").send().await.text();
    assert!(text.contains("db_client_connections{") && text.contains("error_type=\"500\""), "{text}");

    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs (scripts/tools installs it)");
    std::io::Write::write_all(promtool.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let output = promtool.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && said.trim().is_empty(), "promtool: {said}\n{text}");
}

#[tokio::test]
async fn production_keeps_metrics_off_the_app_port() {
    let app = TestApp::new(App::new().configure(|c| c.profile("production"))).await.unwrap();
    assert_eq!(app.get("/metrics").send().await.status(), 404);
    assert_eq!(app.get("/health/live").send().await.status(), 200);
}

#[tokio::test]
async fn buckets_are_configurable_and_checked() {
    let app = TestApp::new(
        App::new()
            .routes(Router::new().route("/x", get(|| async { "x" })))
            .configure(|c| c.set("telemetry.metrics.buckets", "0.001, 0.01, 0.1")),
    )
    .await
    .unwrap();
    assert_eq!(app.get("/x").send().await.status(), 200);
    let bounds: Vec<String> = scrape(&app)
        .await
        .iter()
        .filter(|s| s.name == "http_server_request_duration_seconds_bucket")
        .map(|s| s.labels["le"].clone())
        .collect();
    assert_eq!(bounds, ["0.001", "0.01", "0.1", "+Inf"]);

    for (bad, says) in [("0.1, 0.01", "must increase"), ("0, 1", "positive"), ("", "1 to 64")] {
        let error = TestApp::new(App::new().configure(|c| c.set("telemetry.metrics.buckets", bad))).await.unwrap_err();
        let message = error.to_string();
        assert!(message.contains("telemetry.metrics.buckets") && message.contains(says), "{bad:?}: {message}");
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn pool_metrics_show_connections_and_acquire_timeouts() {
    use trestle::db::Sqlite;

    let db = trestle::testing::TestDatabase::sqlite();
    let hold = Arc::new(tokio::sync::Notify::new());
    let held = Arc::new(tokio::sync::Notify::new());
    let (h, e) = (hold.clone(), held.clone());
    let app = App::new()
        .configure(|c| {
            c.set("database.url", db.url())
                .set("database.max_connections", "1")
                .set("database.acquire_timeout", "100ms")
        })
        .database_with::<Sqlite>()
        .state(|ctx| ctx.try_db::<Sqlite>().unwrap())
        .routes(
            Router::new()
                .route(
                    "/hold",
                    get(move |db: Db<Sqlite>| {
                        let (h, e) = (h.clone(), e.clone());
                        async move {
                            let _conn = db.acquire().await?;
                            e.notify_one();
                            h.notified().await;
                            Ok::<_, Error>("released")
                        }
                    }),
                )
                .route(
                    "/query",
                    get(|db: Db<Sqlite>| async move {
                        let one: i64 = trestle::sqlx::query_scalar("SELECT 1").fetch_one(&*db).await?;
                        Ok::<_, Error>(one.to_string())
                    }),
                ),
        );
    let app = TestApp::new(app).await.unwrap();
    assert_eq!(app.get("/query").send().await.status(), 200);
    let before = scrape(&app).await;
    let pool = ("db_client_connection_pool_name", "sqlite");
    assert_eq!(value(&before, "db_client_connection_max", &[pool]), Some(1.0));
    let open = |s: &[Sample], state| value(s, "db_client_connections", &[pool, ("db_client_connection_state", state)]);
    assert_eq!(open(&before, "idle").unwrap() + open(&before, "used").unwrap(), 1.0);

    let holder = tokio::spawn({
        let app = app.clone();
        async move { app.get("/hold").send().await.status() }
    });
    held.notified().await;
    let busy = app.get("/query").send().await;
    assert_eq!(busy.status(), 503);
    let during = scrape(&app).await;
    assert_eq!(open(&during, "used"), Some(1.0));
    assert_eq!(open(&during, "idle"), Some(0.0));
    let timeouts = |s: &[Sample]| value(s, "db_client_connection_timeouts_total", &[pool]).unwrap();
    assert_eq!(timeouts(&during) - timeouts(&before), 1.0);
    hold.notify_one();
    assert_eq!(holder.await.unwrap(), 200);
    // sqlx returns a connection to the pool from a task of its own.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while open(&scrape(&app).await, "idle") != Some(1.0) {
        assert!(std::time::Instant::now() < deadline, "the connection never went back to idle");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_metrics_path_the_app_already_uses_is_a_startup_error() {
    let routes = Router::new().route("/metrics", get(|| async { "mine" }));
    let error = TestApp::new(App::new().routes(routes)).await.unwrap_err();
    assert!(matches!(error, trestle::StartupError::Routes(_)), "{error:?}");
    let error = error.to_string();
    assert!(error.contains("telemetry.metrics.path") && error.contains("APP__TELEMETRY__METRICS__PATH"), "{error}");

    // On a port of its own, the path is the app's.
    let routes = Router::new().route("/metrics", get(|| async { "mine" }));
    let app =
        TestApp::new(App::new().routes(routes).configure(|c| c.set("telemetry.metrics.port", "0"))).await.unwrap();
    assert_eq!(app.get("/metrics").send().await.text(), "mine");
}
