//! The database layer against the real servers: SQLite (in memory or a temp file), PostgreSQL
//! (`TEST_POSTGRES_URL`) and MariaDB (`TEST_MYSQL_URL`). `scripts/test` sets both and starts the
//! servers; without them the PostgreSQL and MySQL tests print that they are skipped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use trestle::axum::routing::{get, post};
use trestle::config::NoConfig;
use trestle::prelude::*;
use trestle::testing::{TestApp, TestDatabase};
use trestle::Context;

/// A TCP proxy in front of a database server whose connections can be cut and restored, to
/// take the database away from a running app without stopping the shared server.
struct Proxy {
    addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: std::net::SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (flag, list) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { continue };
                if !flag.load(Ordering::SeqCst) {
                    drop(client); // cut: refuse by closing at once
                    continue;
                }
                list.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Proxy { addr, up, conns }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.conns.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// `url` with its host and port replaced by `addr`.
fn via(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let userinfo = authority.rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
    format!("{scheme}://{userinfo}{addr}{tail}")
}

/// Polls `check` until it is true, for at most `within`.
async fn eventually(within: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

macro_rules! backend_tests {
    ($module:ident, $db:ty, placeholders = $ph:literal, $make:expr) => {
        mod $module {
            use super::*;

            type DB = $db;

            /// SQL with `?` placeholders, in this backend's style.
            fn sql(text: &'static str) -> trestle::sqlx::AssertSqlSafe<String> {
                if $ph == "$" {
                    let mut out = String::new();
                    let mut n = 0;
                    for c in text.chars() {
                        if c == '?' {
                            n += 1;
                            out.push_str(&format!("${n}"));
                        } else {
                            out.push(c);
                        }
                    }
                    trestle::sqlx::AssertSqlSafe(out)
                } else {
                    trestle::sqlx::AssertSqlSafe(text.to_owned())
                }
            }

            async fn database() -> Option<TestDatabase> {
                $make
            }

            #[derive(Deserialize, Serialize)]
            struct Item {
                id: i64,
                name: String,
            }

            async fn create(
                db: trestle::Db<DB>,
                Json(item): Json<Item>,
            ) -> trestle::Result<trestle::axum::http::StatusCode> {
                trestle::sqlx::query(sql("INSERT INTO items (id, name) VALUES (?, ?)"))
                    .bind(item.id)
                    .bind(item.name)
                    .execute(&*db)
                    .await?;
                Ok(trestle::axum::http::StatusCode::CREATED)
            }

            async fn read(db: trestle::Db<DB>, Path(id): Path<i64>) -> trestle::Result<Json<Item>> {
                let (id, name): (i64, String) = trestle::sqlx::query_as(sql("SELECT id, name FROM items WHERE id = ?"))
                    .bind(id)
                    .fetch_one(&*db)
                    .await?;
                Ok(Json(Item { id, name }))
            }

            async fn count(db: trestle::Db<DB>) -> trestle::Result<String> {
                let (n,): (i64,) = trestle::sqlx::query_as("SELECT COUNT(*) FROM items").fetch_one(&*db).await?;
                Ok(n.to_string())
            }

            async fn hold(db: trestle::Db<DB>) -> trestle::Result<&'static str> {
                let _conn = db.acquire().await?;
                tokio::time::sleep(Duration::from_millis(1500)).await;
                Ok("released")
            }

            fn app(url: &str) -> trestle::App<NoConfig, Context<NoConfig>> {
                trestle::App::new()
                    .database_with::<DB>()
                    .migrations(trestle::migrate!())
                    .configure(|c| c.set("database.url", url))
                    .state(|ctx| ctx.clone())
                    .routes(
                        Router::new()
                            .route("/items", post(create).get(count))
                            .route("/items/{id}", get(read))
                            .route("/hold", get(hold)),
                    )
            }

            #[trestle::test]
            async fn crud_through_db() {
                let Some(db) = database().await else { return };
                let app = TestApp::new(app(db.url())).await.unwrap();
                let res = app.post("/items").json(&Item { id: 1, name: "apple".into() }).send().await;
                assert_eq!(res.status(), 201, "{}", res.text());
                let res = app.get("/items/1").send().await;
                assert_eq!(res.json::<serde_json::Value>()["name"], "apple");
                assert_eq!(app.get("/items").send().await.text(), "1");
                let res = app.get("/items/2").send().await;
                assert_eq!(res.status(), 404);
                assert!(res.problem().request_id.is_some());
            }

            #[trestle::test]
            async fn unique_violation_is_409_without_sql() {
                let Some(db) = database().await else { return };
                let (_file, url) = persistent(&db);
                let strict = TestApp::new(app(&url)).await.unwrap();
                assert_eq!(strict.post("/items").json(&Item { id: 1, name: "pear".into() }).send().await.status(), 201);
                let res = strict.post("/items").json(&Item { id: 2, name: "pear".into() }).send().await;
                assert_eq!(res.status(), 409);
                let body = res.text().to_lowercase();
                for leak in ["insert", "items_name", "unique", "duplicate", "constraint", "pear", "select"] {
                    assert!(!body.contains(leak), "{leak:?} leaked into {body}");
                }

                let open = TestApp::new(app(&url).configure(|c| c.set("database.expose_constraint_names", "true")))
                    .await
                    .unwrap();
                let res = open.post("/items").json(&Item { id: 3, name: "pear".into() }).send().await;
                let problem = res.problem();
                assert_eq!(problem.status, 409);
                let named = problem.extensions["constraint"].as_str().unwrap().to_lowercase();
                assert!(named.contains("name"), "{named}");
            }

            #[trestle::test]
            async fn pool_exhaustion_is_503_within_the_acquire_timeout() {
                let Some(db) = database().await else { return };
                let app =
                    TestApp::new(app(db.url()).configure(|c| {
                        c.set("database.max_connections", "1").set("database.acquire_timeout", "300ms")
                    }))
                    .await
                    .unwrap();
                let holder = tokio::spawn({
                    let app = app.clone();
                    async move { app.get("/hold").send().await }
                });
                let mut saw_503 = false;
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline && !saw_503 {
                    let started = Instant::now();
                    let res = app.get("/items").send().await;
                    assert!(started.elapsed() < Duration::from_secs(2), "waited {:?}: a hang", started.elapsed());
                    if res.status() == 503 {
                        assert_eq!(res.header("retry-after"), Some("1"));
                        assert!(res.problem().detail.unwrap().contains("connections are busy"));
                        saw_503 = true;
                    }
                }
                assert!(saw_503, "the second request never got 503");
                assert_eq!(holder.await.unwrap().status(), 200);
                assert_eq!(app.get("/items").send().await.status(), 200, "the pool recovers");
            }

            #[trestle::test]
            async fn concurrent_inserts_all_land() {
                let Some(db) = database().await else { return };
                let app = TestApp::new(app(db.url())).await.unwrap();
                let tasks: Vec<_> = (0..200)
                    .map(|i| {
                        let app = app.clone();
                        tokio::spawn(async move {
                            app.post("/items").json(&Item { id: i, name: format!("item-{i}") }).send().await.status()
                        })
                    })
                    .collect();
                let mut created = 0;
                for task in tasks {
                    let status = task.await.unwrap();
                    if status.is_success() {
                        created += 1;
                    } else {
                        assert_eq!(status, 503, "only back-pressure may refuse an insert");
                    }
                }
                assert_eq!(app.get("/items").send().await.text(), created.to_string());
                assert!(created >= 190, "only {created} of 200 inserts landed");
            }

            #[trestle::test]
            async fn migrations_apply_once_and_restart_cleanly() {
                let Some(db) = database().await else { return };
                let (_file, url) = persistent(&db);
                let first = TestApp::new(app(&url)).await.unwrap();
                assert_eq!(first.post("/items").json(&Item { id: 7, name: "kept".into() }).send().await.status(), 201);
                drop(first);
                let second = TestApp::new(app(&url)).await.expect("a restart with every migration applied is fine");
                assert_eq!(second.get("/items").send().await.text(), "1", "rows survive a restart");
                let second =
                    TestApp::new(app(&url).routes(Router::new().route("/applied", get(applied)))).await.unwrap();
                assert_eq!(second.get("/applied").send().await.text(), "2");
            }

            #[trestle::test]
            async fn prepare_connects_and_migrates_without_serving() {
                let Some(db) = database().await else { return };
                let (_file, url) = persistent(&db);
                let app = app(&url);
                let config = app.load_config().expect("config loads without touching the database");
                let prepared = app.prepare(config).await.expect("connects and migrates");
                let pool = prepared.context().try_db::<DB>().expect("the pool is open after prepare");
                let (n,): (i64,) =
                    trestle::sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(&*pool).await.unwrap();
                assert_eq!(n, 2, "both migrations applied by prepare alone");
                drop(pool);
                prepared.close().await;
            }

            async fn applied(db: trestle::Db<DB>) -> trestle::Result<String> {
                let (n,): (i64,) =
                    trestle::sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(&*db).await?;
                Ok(n.to_string())
            }

            #[trestle::test]
            async fn a_failing_migration_stops_startup_naming_it() {
                let Some(db) = database().await else { return };
                let app = trestle::App::new()
                    .database_with::<DB>()
                    .migrations(trestle::migrate!("broken_migrations"))
                    .configure(|c| c.set("database.url", db.url()));
                let err = TestApp::new(app).await.unwrap_err();
                assert!(
                    matches!(&err, trestle::StartupError::Database { source: trestle::db::DbError::Migration(_), .. }),
                    "{err:?}"
                );
                let err = err.to_string();
                assert!(err.contains("migration 2 (broken index) failed"), "{err}");
                assert!(err.contains("fix the migration"), "{err}");
            }

            #[trestle::test]
            async fn readiness_stays_ready_while_the_pool_is_busy() {
                let Some(db) = database().await else { return };
                let (_file, url) = persistent(&db);
                let app = TestApp::new(app(&url).configure(|c| {
                    c.set("database.max_connections", "1")
                        .set("database.acquire_timeout", "200ms")
                        .set("server.readiness_timeout", "1s")
                }))
                .await
                .unwrap();
                let holder = {
                    let app = app.clone();
                    tokio::spawn(async move { app.get("/hold").send().await.status() })
                };
                // The one connection is taken once a query cannot get one.
                assert!(
                    eventually(Duration::from_secs(5), async || app.get("/items").send().await.status() == 503).await,
                    "the pool never filled"
                );
                let res = app.get("/health/ready").send().await;
                assert_eq!(res.status(), 200, "a busy pool made the replica unready: {}", res.text());
                assert_eq!(holder.await.unwrap(), 200);
            }

            #[trestle::test]
            async fn readiness_follows_the_database() {
                let Some(db) = database().await else { return };
                let Some(upstream) = server_addr(db.url()) else { return };
                let proxy = Proxy::start(upstream).await;
                let app = TestApp::new(
                    app(&via(db.url(), proxy.addr))
                        .configure(|c| c.set("server.readiness_timeout", "1s").set("database.acquire_timeout", "1s")),
                )
                .await
                .unwrap();
                assert_eq!(app.get("/health/ready").send().await.status(), 200);
                proxy.cut();
                assert!(
                    eventually(Duration::from_secs(10), async || app.get("/health/ready").send().await.status() == 503)
                        .await,
                    "readiness stayed 200 with the database gone"
                );
                let res = app.get("/health/ready").send().await;
                assert_eq!(res.problem().errors[0].field, "database");
                let res = app.get("/items").send().await;
                assert_eq!(res.status(), 503, "{}", res.text());
                proxy.restore();
                assert!(
                    eventually(Duration::from_secs(10), async || app.get("/health/ready").send().await.status() == 200)
                        .await,
                    "readiness did not come back"
                );
                assert_eq!(app.get("/items").send().await.status(), 200);
            }

            #[trestle::test]
            async fn connections_cut_while_idle_are_replaced_before_a_request_gets_them() {
                let Some(db) = database().await else { return };
                let Some(upstream) = server_addr(db.url()) else { return };
                let proxy = Proxy::start(upstream).await;
                let app = TestApp::new(app(&via(db.url(), proxy.addr))).await.unwrap();
                // Several connections in the pool, all used just now.
                for _ in 0..3 {
                    let all = tokio::join!(
                        app.get("/items").send(),
                        app.get("/items").send(),
                        app.get("/items").send(),
                        app.get("/items").send()
                    );
                    assert!([all.0, all.1, all.2, all.3].iter().all(|r| r.status() == 200));
                }
                // Every pooled connection is cut (as a database restart or a firewall would) and
                // the database is reachable again at once; the pool does not know yet.
                proxy.cut();
                proxy.restore();
                // Idle for over a second, each is pinged when handed out, fails, and is replaced:
                // no request sees a dead connection.
                tokio::time::sleep(Duration::from_millis(1200)).await;
                for _ in 0..8 {
                    let res = app.get("/items").send().await;
                    assert_eq!(res.status(), 200, "a request got a dead connection: {}", res.text());
                }
            }
        }
    };
}

/// The host:port of a server URL (none for SQLite).
fn server_addr(url: &str) -> Option<std::net::SocketAddr> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    hostport.parse().ok()
}

/// A URL that outlives one app: the same server database, or for SQLite a temp file (an
/// in-memory database ends with its last connection).
fn persistent(db: &TestDatabase) -> (Option<tempfile_path::TempPath>, String) {
    if db.url().starts_with("sqlite") {
        let path = tempfile_path::TempPath::new();
        let url = format!("sqlite://{}", path.0.display());
        (Some(path), url)
    } else {
        (None, db.url().to_owned())
    }
}

mod tempfile_path {
    /// A path in the temp folder, removed (with SQLite's side files) when dropped.
    pub struct TempPath(pub std::path::PathBuf);

    impl TempPath {
        pub fn new() -> Self {
            TempPath(std::env::temp_dir().join(format!("trestle-test-{:016x}.db", rand())))
        }
    }

    fn rand() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
        h.finish()
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
            }
        }
    }
}

backend_tests!(sqlite, trestle::db::Sqlite, placeholders = "?", Some(TestDatabase::sqlite()));
backend_tests!(
    postgres,
    trestle::db::Postgres,
    placeholders = "$",
    TestDatabase::from_env::<trestle::db::Postgres>("TEST_POSTGRES_URL").await
);
backend_tests!(
    mysql,
    trestle::db::MySql,
    placeholders = "?",
    TestDatabase::from_env::<trestle::db::MySql>("TEST_MYSQL_URL").await
);

async fn unreachable<DB: trestle::db::Backend>(url: &str) {
    let started = Instant::now();
    let app = trestle::App::new().database_with::<DB>().configure(|c| {
        c.set("database.url", url).set("database.connect_retries", "2").set("database.connect_timeout", "1s")
    });
    let err = TestApp::new(app).await.unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(750), "gave up after {:?}", started.elapsed());
    match &err {
        trestle::StartupError::Database { source: trestle::db::DbError::Unreachable { attempts, .. }, env_var } => {
            assert_eq!((*attempts, env_var.as_deref()), (3, Some("APP__DATABASE__URL")));
        }
        other => panic!("expected an unreachable database, got {other:?}"),
    }
    let err = format!("{err:?}");
    assert!(err.contains("after 3 attempts"), "{err}");
    assert!(err.contains("APP__DATABASE__URL"), "{err}");
    assert!(!err.contains("hunter2"), "the password leaked: {err}");
}

#[trestle::test]
async fn postgres_unreachable_at_startup_fails_after_the_retries() {
    unreachable::<trestle::db::Postgres>("postgres://postgres:hunter2@127.0.0.1:1/app").await;
}

#[trestle::test]
async fn mysql_unreachable_at_startup_fails_after_the_retries() {
    unreachable::<trestle::db::MySql>("mysql://root:hunter2@127.0.0.1:1/app").await;
}

/// Startup with `url` stops at the first attempt (well before one backoff) with a message
/// holding `expected`, no password and no PostgreSQL source position.
async fn rejected<DB: trestle::db::Backend>(url: &str, expected: &str) {
    let started = Instant::now();
    let app = trestle::App::new().database_with::<DB>().configure(|c| {
        c.set("database.url", url).set("database.connect_retries", "5").set("database.connect_timeout", "5s")
    });
    let err = TestApp::new(app).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(240), "retried a hopeless connection: {:?}", started.elapsed());
    assert!(
        matches!(&err, trestle::StartupError::Database { source: trestle::db::DbError::Rejected { .. }, .. }),
        "{err:?}"
    );
    let err = err.to_string();
    assert!(err.contains(expected), "{err}");
    assert!(!err.contains("hunter2"), "the password leaked: {err}");
    assert!(!err.contains(" at line "), "a source position leaked: {err}");
    assert!(err.contains("APP__DATABASE__URL"), "{err}");
}

#[trestle::test]
async fn sqlite_unopenable_at_startup_fails_fast() {
    rejected::<trestle::db::Sqlite>("sqlite:///no/such/folder/app.db", "unable to open database file").await;
}

#[trestle::test]
async fn postgres_unknown_database_fails_fast_naming_it() {
    let Ok(base) = std::env::var("TEST_POSTGRES_URL") else { return };
    let (server, _) = base.rsplit_once('/').unwrap();
    let server = server.replacen("postgres://postgres@", "postgres://postgres:hunter2@", 1);
    rejected::<trestle::db::Postgres>(
        &format!("{server}/trestle_no_such_db"),
        "database \"trestle_no_such_db\" does not exist",
    )
    .await;
}

#[trestle::test]
async fn mysql_wrong_password_fails_fast_naming_the_user() {
    let Ok(base) = std::env::var("TEST_MYSQL_URL") else { return };
    let url = base.replacen("mysql://root@", "mysql://trestle_nobody:hunter2@", 1);
    rejected::<trestle::db::MySql>(&url, "Access denied for user 'trestle_nobody'").await;
}

#[trestle::test]
async fn mysql_unknown_database_fails_fast_naming_it() {
    let Ok(base) = std::env::var("TEST_MYSQL_URL") else { return };
    let (server, _) = base.rsplit_once('/').unwrap();
    rejected::<trestle::db::MySql>(&format!("{server}/trestle_no_such_db"), "Unknown database 'trestle_no_such_db'")
        .await;
}

#[trestle::test]
async fn a_url_for_another_backend_is_a_clear_error() {
    let app = trestle::App::new()
        .database_with::<trestle::db::Sqlite>()
        .configure(|c| c.set("database.url", "postgres://u:hunter2@localhost/db"));
    let err = TestApp::new(app).await.unwrap_err();
    assert!(matches!(&err, trestle::StartupError::Database { source: trestle::db::DbError::WrongBackend { .. }, .. }));
    let err = format!("{err:?}");
    assert!(err.contains("is not a SQLite URL") && err.contains("postgres://u:***@localhost/db"), "{err}");
}

#[trestle::test]
async fn a_missing_url_names_the_key_and_variable() {
    let err = TestApp::new(trestle::App::new().database_with::<trestle::db::Sqlite>()).await.unwrap_err();
    assert!(matches!(&err, trestle::StartupError::Database { source: trestle::db::DbError::MissingUrl { .. }, .. }));
    let err = err.to_string();
    assert!(err.contains("database.url is not set") && err.contains("APP__DATABASE__URL"), "{err}");
}

#[trestle::test]
async fn test_databases_are_dropped_afterwards() {
    use trestle::sqlx::migrate::MigrateDatabase;
    for var in ["TEST_POSTGRES_URL", "TEST_MYSQL_URL"] {
        let exists = |url: String| async move {
            if var == "TEST_POSTGRES_URL" {
                trestle::db::Postgres::database_exists(&url).await.unwrap()
            } else {
                trestle::db::MySql::database_exists(&url).await.unwrap()
            }
        };
        let db = if var == "TEST_POSTGRES_URL" {
            TestDatabase::from_env::<trestle::db::Postgres>(var).await
        } else {
            TestDatabase::from_env::<trestle::db::MySql>(var).await
        };
        let Some(db) = db else { continue };
        let url = db.url().to_owned();
        assert!(exists(url.clone()).await, "{var}: the test database exists while in use");
        drop(db);
        assert!(!exists(url).await, "{var}: the test database is gone afterwards");
    }
}

/// Starts `n` migrate-only processes on `url` at once; all must succeed, the two migrations
/// must be applied once, and only once logged as applied.
fn migrate_concurrently(url: &str, n: usize) {
    let dir = std::env::temp_dir();
    let children: Vec<_> = (0..n)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_migrate_only"))
                .current_dir(&dir)
                .env_clear()
                .env("APP__DATABASE__URL", url)
                .env("APP__TELEMETRY__FORMAT", "json")
                .env("APP__TELEMETRY__FILTER", "info")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut applied = 0;
    for mut child in children {
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "a migrating process failed: {text}");
        assert!(text.contains("database schema up to date"), "{text}");
        applied += text.matches("migration applied").count();
    }
    assert_eq!(applied, 2, "each migration is logged as applied by exactly one process");
}

/// The rows of `_sqlx_migrations` at `url`.
macro_rules! count_migrations {
    ($db:ty, $url:expr) => {{
        let pool = trestle::sqlx::Pool::<$db>::connect($url).await.unwrap();
        let (n,): (i64,) =
            trestle::sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    }};
}

/// Starts four migrating processes at once on `url`, then counts the rows of
/// `_sqlx_migrations` there.
macro_rules! migrate_at_once {
    ($db:ty, $url:expr) => {{
        let url: String = $url;
        tokio::task::spawn_blocking({
            let url = url.clone();
            move || migrate_concurrently(&url, 4)
        })
        .await
        .unwrap();
        count_migrations!($db, &url)
    }};
}

#[trestle::test]
async fn sqlite_processes_migrating_at_once_apply_each_migration_once() {
    for _ in 0..3 {
        let file = tempfile_path::TempPath::new();
        assert_eq!(migrate_at_once!(trestle::db::Sqlite, format!("sqlite://{}", file.0.display())), 2);
    }
}

#[trestle::test]
async fn postgres_processes_migrating_at_once_apply_each_migration_once() {
    let Some(db) = TestDatabase::from_env::<trestle::db::Postgres>("TEST_POSTGRES_URL").await else { return };
    assert_eq!(migrate_at_once!(trestle::db::Postgres, db.url().to_owned()), 2);
}

#[trestle::test]
async fn mysql_processes_migrating_at_once_apply_each_migration_once() {
    let Some(db) = TestDatabase::from_env::<trestle::db::MySql>("TEST_MYSQL_URL").await else { return };
    assert_eq!(migrate_at_once!(trestle::db::MySql, db.url().to_owned()), 2);
}

/// A handler whose connection the server ends mid-request (`pg_terminate_backend`, SQLSTATE
/// 57P01), as when an administrator or a failover kills it.
async fn terminated(db: trestle::Db<trestle::db::Postgres>) -> trestle::Result<String> {
    let mut conn = db.acquire().await?;
    let (pid,): (i32,) = trestle::sqlx::query_as("SELECT pg_backend_pid()").fetch_one(&mut *conn).await?;
    trestle::sqlx::query("SELECT pg_terminate_backend($1)").bind(pid).execute(&*db).await?;
    let (n,): (i32,) = trestle::sqlx::query_as("SELECT 1").fetch_one(&mut *conn).await?;
    Ok(n.to_string())
}

#[trestle::test]
async fn postgres_backend_terminated_mid_request_is_503_not_500() {
    let Some(db) = TestDatabase::from_env::<trestle::db::Postgres>("TEST_POSTGRES_URL").await else { return };
    let app = trestle::App::new()
        .database_with::<trestle::db::Postgres>()
        .configure(|c| c.set("database.url", db.url()))
        .state(|ctx| ctx.clone())
        .routes(Router::new().route("/terminated", get(terminated)));
    let app = TestApp::new(app).await.unwrap();
    let res = app.get("/terminated").send().await;
    assert_eq!(res.status(), 503, "{}", res.text());
    assert_eq!(res.header("retry-after"), Some("5"));
    let detail = res.problem().detail.unwrap();
    assert!(detail.contains("database is unreachable"), "{detail}");
}

/// A transaction that loses a deadlock (PostgreSQL 40P01) is told to retry: 503, not 500.
async fn deadlock(db: trestle::Db<trestle::db::Postgres>) -> trestle::Result<&'static str> {
    trestle::sqlx::query("CREATE TABLE IF NOT EXISTS locks (id INT PRIMARY KEY)").execute(&*db).await?;
    trestle::sqlx::query("INSERT INTO locks VALUES (1), (2) ON CONFLICT DO NOTHING").execute(&*db).await?;
    let (mut a, mut b) = (db.begin().await?, db.begin().await?);
    trestle::sqlx::query("SELECT * FROM locks WHERE id = 1 FOR UPDATE").execute(&mut *a).await?;
    trestle::sqlx::query("SELECT * FROM locks WHERE id = 2 FOR UPDATE").execute(&mut *b).await?;
    let first = trestle::sqlx::query("SELECT * FROM locks WHERE id = 2 FOR UPDATE").execute(&mut *a);
    let second = trestle::sqlx::query("SELECT * FROM locks WHERE id = 1 FOR UPDATE").execute(&mut *b);
    // The loser's error ends the handler at once; its transactions roll back when dropped.
    tokio::try_join!(first, second)?;
    Ok("no deadlock")
}

#[trestle::test]
async fn postgres_deadlock_is_503_with_retry_after() {
    let Some(db) = TestDatabase::from_env::<trestle::db::Postgres>("TEST_POSTGRES_URL").await else { return };
    let app = trestle::App::new()
        .database_with::<trestle::db::Postgres>()
        .configure(|c| c.set("database.url", db.url()))
        .state(|ctx| ctx.clone())
        .routes(Router::new().route("/deadlock", get(deadlock)));
    let app = TestApp::new(app).await.unwrap();
    let res = app.get("/deadlock").send().await;
    assert_eq!(res.status(), 503, "{}", res.text());
    assert_eq!(res.header("retry-after"), Some("1"));
    assert!(res.problem().detail.unwrap().contains("retry it"));
}

async fn sleep_pg(db: trestle::Db<trestle::db::Postgres>) -> trestle::Result<&'static str> {
    trestle::sqlx::query("SELECT pg_sleep(5)").execute(&*db).await?;
    Ok("slept")
}

async fn show_statement_timeout(db: trestle::Db<trestle::db::Postgres>) -> trestle::Result<String> {
    let (t,): (String,) = trestle::sqlx::query_as("SHOW statement_timeout").fetch_one(&*db).await?;
    Ok(t)
}

fn postgres_timeout_app(url: &str) -> trestle::App<NoConfig, Context<NoConfig>> {
    trestle::App::new()
        .database_with::<trestle::db::Postgres>()
        .configure(|c| c.set("database.url", url))
        .state(|ctx| ctx.clone())
        .routes(Router::new().route("/sleep", get(sleep_pg)).route("/timeout", get(show_statement_timeout)))
}

#[trestle::test]
async fn postgres_statement_timeout_cancels_a_slow_query_with_503() {
    let Some(db) = TestDatabase::from_env::<trestle::db::Postgres>("TEST_POSTGRES_URL").await else { return };
    let app = TestApp::new(postgres_timeout_app(db.url()).configure(|c| c.set("database.statement_timeout", "1s")))
        .await
        .unwrap();
    let started = Instant::now();
    let res = app.get("/sleep").send().await;
    assert!(started.elapsed() < Duration::from_secs(3), "the query ran {:?}", started.elapsed());
    assert_eq!(res.status(), 503, "{}", res.text());
    assert!(res.header("retry-after").is_some());
    assert!(res.problem().detail.unwrap().contains("took too long"));
}

#[trestle::test]
async fn postgres_statement_timeout_defaults_to_a_little_under_the_request_timeout() {
    let Some(db) = TestDatabase::from_env::<trestle::db::Postgres>("TEST_POSTGRES_URL").await else { return };
    let app = TestApp::new(postgres_timeout_app(db.url()).configure(|c| c.set("server.request_timeout", "2s")))
        .await
        .unwrap();
    assert_eq!(app.get("/timeout").send().await.text(), "1800ms");
    let off = TestApp::new(postgres_timeout_app(db.url()).configure(|c| c.set("database.statement_timeout", "0s")))
        .await
        .unwrap();
    assert_eq!(off.get("/timeout").send().await.text(), "0");
}

async fn sleep_mysql(db: trestle::Db<trestle::db::MySql>) -> trestle::Result<String> {
    let (n,): (i64,) = trestle::sqlx::query_as("SELECT SLEEP(5)").fetch_one(&*db).await?;
    Ok(n.to_string())
}

#[trestle::test]
async fn mysql_statement_timeout_cancels_a_slow_query_with_503() {
    let Some(db) = TestDatabase::from_env::<trestle::db::MySql>("TEST_MYSQL_URL").await else { return };
    let app = trestle::App::new()
        .database_with::<trestle::db::MySql>()
        .configure(|c| c.set("database.url", db.url()).set("database.statement_timeout", "1s"))
        .state(|ctx| ctx.clone())
        .routes(Router::new().route("/sleep", get(sleep_mysql)));
    let app = TestApp::new(app).await.unwrap();
    let started = Instant::now();
    let res = app.get("/sleep").send().await;
    assert!(started.elapsed() < Duration::from_secs(3), "the query ran {:?}", started.elapsed());
    assert_eq!(res.status(), 503, "{}", res.text());
}
