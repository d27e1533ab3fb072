//! A database outage against a private PostgreSQL cluster, stopped and started again under a
//! running app: once the framework has seen the server down, requests answer 503 "unreachable"
//! at once instead of waiting `database.acquire_timeout`, and succeed again when it is back.
//!
//! Needs PostgreSQL's `initdb` and `pg_ctl` (under `/usr/lib/postgresql/*/bin`, or on `PATH`);
//! without them the test prints that it is skipped. As root, the cluster runs as the `postgres`
//! user (PostgreSQL refuses to run as root).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use trestle::axum::routing::get;
use trestle::config::NoConfig;
use trestle::testing::TestApp;
use trestle::Context;

/// A PostgreSQL cluster in a temp folder, stopped and removed on drop (also when a test fails).
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// Creates and starts a cluster on a free port, or `None` when PostgreSQL is not installed.
    fn start() -> Option<Cluster> {
        let bin = pg_bin()?;
        let dir = std::env::temp_dir().join(format!("trestle-pg-{}-{}", std::process::id(), nanos()));
        std::fs::create_dir_all(&dir).unwrap();
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown").arg("postgres").arg(&dir).status().unwrap();
            assert!(status.success(), "chown postgres {}", dir.display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Cluster { bin, dir, port, as_postgres };
        let data = cluster.data();
        cluster.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "--no-sync"]);
        cluster.pg_ctl_start();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl_start(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.display());
        let log = self.dir.join("log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-o", &options, "-w", "start"]);
    }

    /// Stops the server as a crash would: connections dropped, nothing flushed.
    fn crash(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").args(["-D", &self.data(), "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().or_else(|| {
        std::env::var_os("PATH")?.to_str()?.split(':').map(PathBuf::from).find(|p| Path::new(p).join("initdb").exists())
    })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

async fn one(db: trestle::Db<trestle::db::Postgres>) -> trestle::Result<String> {
    let (n,): (i32,) = trestle::sqlx::query_as("SELECT 1").fetch_one(&*db).await?;
    Ok(n.to_string())
}

/// A request's status, detail and how long it took.
async fn timed(app: &TestApp) -> (u16, String, Duration) {
    let start = Instant::now();
    let res = app.get("/one").send().await;
    let status = res.status();
    let detail = if status == 200 { String::new() } else { res.problem().detail.unwrap_or_default() };
    (status.as_u16(), detail, start.elapsed())
}

// Several threads, as a served app has: the probe the first failure starts runs beside the
// requests (in-process requests on one thread would starve it until a request waits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_answer_at_once_while_the_database_is_down_and_recover() {
    let Some(cluster) = Cluster::start() else {
        eprintln!("skipped: PostgreSQL's initdb and pg_ctl are not installed");
        return;
    };
    let app = TestApp::new(
        trestle::App::new()
            .database_with::<trestle::db::Postgres>()
            .configure(|c| c.set("database.url", cluster.url()).set("database.acquire_timeout", "5s"))
            .state(|ctx: &Context<NoConfig>| ctx.clone())
            .routes(trestle::axum::Router::new().route("/one", get(one))),
    )
    .await
    .unwrap();
    assert_eq!(timed(&app).await.0, 200);

    cluster.crash();
    // The first request may wait for the pool (up to acquire_timeout) and tells the framework.
    let (status, detail, took) = timed(&app).await;
    eprintln!("first request after the crash: {status} in {took:?}: {detail}");
    assert_eq!(status, 503, "{detail}");
    assert!(took <= Duration::from_millis(5500), "{took:?}");
    // The probe that failure started needs a moment to confirm (a request racing it may wait
    // for the pool once more); then every request answers at once.
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let (status, detail, took) = timed(&app).await;
        assert_eq!(status, 503, "{detail}");
        if detail.contains("the database is unreachable") && took < Duration::from_millis(500) {
            eprintln!("the first fast 503 came in {took:?}: {detail}");
            break;
        }
        assert!(Instant::now() < deadline, "still slow or vague after the crash: {took:?}: {detail}");
    }
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let start = Instant::now();
        let res = app.get("/one").send().await;
        let took = start.elapsed();
        assert_eq!(res.status(), 503);
        assert_eq!(res.header("retry-after"), Some("1"));
        assert!(res.problem().detail.unwrap_or_default().contains("the database is unreachable"));
        assert!(took < Duration::from_millis(500), "a request took {took:?} while the database was known down");
        slowest = slowest.max(took);
    }
    eprintln!("while down: 10 requests answered 503 unreachable, the slowest in {slowest:?}");

    cluster.pg_ctl_start();
    let back = Instant::now();
    loop {
        let (status, detail, took) = timed(&app).await;
        if status == 200 {
            eprintln!("requests succeed {:?} after the restart", back.elapsed());
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(10), "still {status} 10s after the restart ({took:?}): {detail}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..5 {
        assert_eq!(timed(&app).await.0, 200);
    }
}
