//! The command line every app gets, run as real processes of `cli_app`: each command's exit
//! code, its output on stdout, logs on stderr, and secrets nowhere.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cli_app");
const SECRET: &str = "0123456789abcdef0123456789abcdef-jwt-secret";

/// What one run printed and how it ended.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `cli_app ARGS` in `dir` with only `env` (and PATH), bounded to 60 s.
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP__TELEMETRY__FORMAT", "json")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cli_app");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cli_app {args:?} did not finish within 60s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run { code: status.code().unwrap_or(-1), stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// A fresh folder and a SQLite database file in it.
struct Sandbox {
    dir: PathBuf,
    url: String,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = common::tempfile_dir();
        let url = format!("sqlite://{}", dir.join("app.db").display());
        Sandbox { dir, url }
    }

    /// `cli_app ARGS` on this sandbox's database, with a valid JWT secret and `env`.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut all = vec![("APP__DATABASE__URL", self.url.as_str()), ("APP__AUTH__JWT__SECRET", SECRET)];
        all.extend_from_slice(env);
        run_in(&self.dir, args, &all)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A URL on loopback where nothing listens.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn help_lists_trestle_s_commands_and_the_app_s_own() {
    let sandbox = Sandbox::new();
    let help = sandbox.run(&["--help"], &[]);
    assert_eq!(help.code, 0, "{help:?}");
    for command in ["serve", "migrate", "routes", "config", "health", "doctor", "openapi", "fill", "fail"] {
        assert!(help.stdout.lines().any(|l| l.trim_start().starts_with(command)), "{command} missing: {help:?}");
    }
    assert!(help.stdout.contains("Insert things named"), "the app command's doc comment is its help: {help:?}");
    assert!(help.stdout.contains("--profile") && help.stdout.contains("--config-dir"), "{help:?}");

    let version = sandbox.run(&["--version"], &[]);
    assert_eq!((version.code, version.stdout.trim()), (0, "trestle-tests 0.1.0"), "{version:?}");

    let migrate_help = sandbox.run(&["migrate", "--help"], &[]);
    for action in ["up", "status", "new", "down"] {
        assert!(migrate_help.stdout.contains(action), "{migrate_help:?}");
    }
}

#[test]
fn a_wrong_command_line_is_a_usage_error_with_exit_2() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["serv"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("unrecognized subcommand 'serv'") && run.stderr.contains("serve"), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    let run = sandbox.run(&["migrate", "down", "--to", "yesterday"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--to"), "{run:?}");
}

#[test]
fn serve_is_the_default_and_a_command_too() {
    let sandbox = Sandbox::new();
    for args in [&[][..], &["serve"][..]] {
        let mut child = Command::new(BIN)
            .args(args)
            .current_dir(&sandbox.dir)
            .env_clear()
            .env("APP__DATABASE__URL", &sandbox.url)
            .env("APP__AUTH__JWT__SECRET", SECRET)
            .env("APP__SERVER__PORT", "0")
            .env("APP__TELEMETRY__FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !line.contains("listening on") {
            line.clear();
            assert!(std::io::BufRead::read_line(&mut reader, &mut line).unwrap() > 0, "exited before listening");
            assert!(Instant::now() < deadline);
        }
        common::sigterm(&child);
        let status = common::wait_exit(&mut child, Duration::from_secs(20));
        assert!(status.success(), "{args:?}: {status:?}");
    }
}

#[test]
fn config_check_reports_every_problem_and_passes_a_good_config() {
    let sandbox = Sandbox::new();
    let good = sandbox.run(&["config", "check"], &[]);
    assert_eq!(good.code, 0, "{good:?}");
    assert!(good.stdout.starts_with("config ok: profile development"), "{good:?}");

    let bad = sandbox.run(
        &["config", "check"],
        &[("APP__SERVER__PORT", "eighty"), ("APP__DATABASE__MAX_CONNECTIONS", "0"), ("APP__SERVER__PROT", "1")],
    );
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stdout.contains("server.port") && bad.stdout.contains("APP__SERVER__PORT"), "{bad:?}");
    assert!(bad.stdout.contains("database.max_connections"), "every problem, not the first: {bad:?}");
    assert!(bad.stdout.contains("did you mean `server.port`"), "the unknown key, with a suggestion: {bad:?}");

    // In production an unknown key is an error, not a warning; --profile chooses it.
    let production = sandbox.run(&["--profile", "production", "config", "check"], &[("APP__SERVER__PROT", "1")]);
    assert_eq!(production.code, 1, "{production:?}");
    assert!(production.stdout.contains("config invalid (profile production)"), "{production:?}");
}

#[test]
fn config_show_names_each_origin_and_redacts_every_secret() {
    let sandbox = Sandbox::new();
    let config = sandbox.dir.join("settings");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("default.toml"),
        "# the app's settings\ngreeting = \"howdy\"\n\n[server]\nport = 4100\n\n[telemetry.otlp.headers]\nx-api-key = \"collector-key-456\"\n",
    )
    .unwrap();
    let db_password = "hunter2-db-password";
    let partner = "sk_live_partner_key_123";
    let url = format!("postgres://app:{db_password}@127.0.0.1:{}/shop", closed_port());
    let run = run_in(
        &sandbox.dir,
        &["--config-dir", "settings", "config", "show"],
        &[
            ("APP__DATABASE__URL", &url),
            ("APP__AUTH__JWT__SECRET", SECRET),
            ("APP__PARTNER_KEY", partner),
            ("APP__SERVER__HOST", "0.0.0.0"),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let line = |key: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{key} =")))
            .unwrap_or_else(|| panic!("no line for {key}: {run:?}"))
            .to_owned()
    };
    let greeting = line("greeting");
    assert!(greeting.contains("\"howdy\"") && greeting.ends_with("# settings/default.toml:2"), "{greeting}");
    assert!(line("port").ends_with("settings/default.toml:5"), "{run:?}");
    assert!(line("host").ends_with("# env APP__SERVER__HOST"), "{run:?}");
    assert!(line("request_timeout").ends_with("# default"), "{run:?}");
    assert!(line("url").contains("postgres://app:***@127.0.0.1"), "the URL without its password: {run:?}");
    assert!(line("secret").contains("[REDACTED]"), "{run:?}");
    assert!(line("partner_key").contains("[REDACTED]"), "{run:?}");
    assert!(line("headers").contains("x-api-key = \"[REDACTED]\""), "{run:?}");
    for secret in [db_password, partner, SECRET, "collector-key-456"] {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "{secret} leaked: {run:?}");
    }
    assert!(run.stdout.contains("[server]\n") && run.stdout.contains("[auth.jwt]\n"), "{run:?}");
    // Only config: the database (whose port is closed) was never asked.
    assert!(!run.stderr.contains("database"), "{run:?}");

    let invalid = run_in(&sandbox.dir, &["config", "show"], &[("APP__SERVER__PORT", "eighty")]);
    assert_eq!(invalid.code, 1, "a config that would not start is not shown as fine: {invalid:?}");
    assert!(invalid.stderr.contains("server.port"), "{invalid:?}");
}

#[test]
fn config_template_lists_every_key_with_its_variable() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["config", "template"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("greeting = \"hello\""), "{run:?}");
    assert!(run.stdout.contains("# env: APP__PARTNER_KEY"), "{run:?}");
    assert!(run.stdout.contains("[database]") && run.stdout.contains("# env: APP__DATABASE__URL"), "{run:?}");
    assert!(!run.stdout.contains(SECRET), "{run:?}");
}

#[test]
fn routes_lists_methods_paths_handlers_auth_and_scopes() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["routes"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let row = |path: &str| run.stdout.lines().find(|l| l.contains(&format!(" {path} "))).unwrap_or_default().to_owned();
    let create = row("/things");
    assert!(create.starts_with("POST") && create.contains("cli_app::create"), "{run:?}");
    assert!(
        create.contains("required") && create.contains("things:write") && create.ends_with("Creates a thing"),
        "{run:?}"
    );
    assert!(row("/things/{id}").contains("optional"), "{run:?}");
    assert!(row("/hello").contains("public") && row("/hello").ends_with("Greets"), "{run:?}");
    let auth_column =
        |line: &str| line.find(" public ").or_else(|| line.find(" optional ")).or_else(|| line.find(" required "));
    assert_eq!(auth_column(&row("/hello")), auth_column(&create), "columns line up: {run:?}");
    assert!(run.stdout.contains("/health/ready"), "the framework's routes are listed too: {run:?}");

    let json = sandbox.run(&["routes", "--json"], &[]);
    assert_eq!(json.code, 0, "{json:?}");
    let routes: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON on stdout");
    let create = routes.as_array().unwrap().iter().find(|r| r["path"] == "/things").expect("/things");
    assert_eq!(create["methods"], serde_json::json!(["POST"]));
    assert_eq!(create["auth"], "required");
    assert_eq!(create["scopes"], serde_json::json!(["things:write"]));
    assert_eq!(create["summary"], "Creates a thing");
    assert_eq!(create["rate_limit"], "5/1m", "the route's own quota");
    let hello = routes.as_array().unwrap().iter().find(|r| r["path"] == "/hello").expect("/hello");
    assert_eq!(hello["rate_limit"], serde_json::Value::Null, "no default quota unless rate_limit.enabled");

    let limited = sandbox
        .run(&["routes"], &[("APP__RATE_LIMIT__ENABLED", "true"), ("APP__RATE_LIMIT__ROUTES", "POST /things=off")]);
    let row =
        |path: &str| limited.stdout.lines().find(|l| l.contains(&format!(" {path} "))).unwrap_or_default().to_owned();
    assert!(row("/hello").contains(" 100/1s "), "the default quota: {limited:?}");
    assert!(row("/things").contains(" - "), "rate_limit.routes overrides the route's own: {limited:?}");
    assert!(row("/health/ready").contains(" - "), "probes are never limited: {limited:?}");

    let off = sandbox.run(&["routes"], &[("APP__SERVER__HEALTH", "false")]);
    assert!(!off.stdout.contains("/health/ready"), "server.health = false serves no probes: {off:?}");
}

#[test]
fn openapi_prints_the_document_or_names_the_bad_key() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["openapi"], &[("APP__OPENAPI__TITLE", "Things API")]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("the document, as JSON, on stdout");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Things API", "[openapi] applies");
    let create = &doc["paths"]["/things"]["post"];
    assert_eq!(create["summary"], "Creates a thing");
    assert_eq!(create["security"][0]["bearer"], serde_json::json!(["things:write"]));
    assert!(doc["paths"].get("/health/ready").is_none(), "the probes are not the app's API: {run:?}");

    let bad = sandbox.run(&["openapi"], &[("APP__OPENAPI__PATH", "openapi.json")]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stdout.is_empty(), "no half document: {bad:?}");
    assert!(bad.stderr.contains("openapi.path") && bad.stderr.contains("APP__OPENAPI__PATH"), "{bad:?}");
}

/// Removes the files `migrate new` created, even when the test fails.
struct Created(Vec<PathBuf>);

impl Drop for Created {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Held by the tests that would see a file `migrate new` adds to `tests/cli_migrations` for a
/// moment (as `not built`): they take turns.
static MIGRATIONS_FOLDER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn folder_lock() -> std::sync::MutexGuard<'static, ()> {
    MIGRATIONS_FOLDER.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `migrate` up, status, down and new against one database.
fn migrate_lifecycle(sandbox: &Sandbox) {
    let _turn = folder_lock();
    // A run killed half-way may have left the file it created: start from the committed four.
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("cli_migrations");
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("0001_") && !name.starts_with("0002_") {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let status = sandbox.run(&["migrate", "status"], &[]);
    assert_eq!(status.code, 1, "pending migrations fail the gate: {status:?}");
    assert!(status.stdout.contains("2 pending"), "{status:?}");
    let row = |run: &Run, version: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(version))
            .unwrap_or_default()
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(row(&status, "1 "), "pending");

    let up = sandbox.run(&["migrate"], &[]);
    assert_eq!(up.code, 0, "{up:?}");
    assert_eq!(up.stdout.trim(), "applied 2 migration(s): 1, 2", "stdout holds the result only: {up:?}");
    assert!(up.stderr.contains("migration applied"), "logs go to stderr: {up:?}");
    let again = sandbox.run(&["migrate", "up"], &[]);
    assert_eq!((again.code, again.stdout.trim()), (0, "nothing to apply: the schema is up to date"), "{again:?}");

    let status = sandbox.run(&["migrate", "status"], &[]);
    assert_eq!(status.code, 0, "{status:?}");
    assert_eq!((row(&status, "1 "), row(&status, "2 ")), ("applied".into(), "applied".into()), "{status:?}");
    assert!(
        status.stdout.lines().nth(1).unwrap().split_whitespace().nth(2).unwrap().len() == 16,
        "a checksum: {status:?}"
    );

    let fill = sandbox.run(&["fill", "--count", "3"], &[]);
    assert_eq!((fill.code, fill.stdout.trim()), (0, "things: 3"), "{fill:?}");

    let down = sandbox.run(&["migrate", "down"], &[]);
    assert_eq!((down.code, down.stdout.trim()), (0, "reverted 1 migration(s): 2"), "{down:?}");
    let status = sandbox.run(&["migrate", "status"], &[]);
    assert_eq!((status.code, row(&status, "2 ")), (1, "pending".into()), "{status:?}");
    let down = sandbox.run(&["migrate", "down", "--to", "0"], &[]);
    assert_eq!((down.code, down.stdout.trim()), (0, "reverted 1 migration(s): 1"), "{down:?}");
    let up = sandbox.run(&["migrate"], &[]);
    assert_eq!(up.code, 0, "{up:?}");

    // A new file in the folder, not yet built in: the binary says so, and the gate fails.
    let new = sandbox.run(&["migrate", "new", "Add size"], &[]);
    assert_eq!(new.code, 0, "{new:?}");
    let created: Vec<PathBuf> =
        new.stdout.lines().filter_map(|l| l.strip_prefix("created ")).map(PathBuf::from).collect();
    let _cleanup = Created(created.clone());
    assert_eq!(created.len(), 2, "the folder holds reversible pairs, so a pair: {new:?}");
    let names: Vec<String> = created.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["0003_add_size.up.sql", "0003_add_size.down.sql"], "{new:?}");
    assert!(created[0].parent().unwrap().ends_with("tests/cli_migrations"), "the folder migrate!() reads: {new:?}");
    let status = sandbox.run(&["migrate", "status"], &[]);
    assert_eq!(status.code, 1, "{status:?}");
    assert_eq!(row(&status, "3 "), "not", "{status:?}");
    assert!(status.stdout.contains("not built into this binary: rebuild the app"), "{status:?}");
    let serve_warns = sandbox.run(&["migrate"], &[]);
    assert!(serve_warns.stderr.contains("0003_add_size.up.sql"), "{serve_warns:?}");
}

#[test]
fn migrate_applies_lists_reverts_and_creates_on_sqlite() {
    let sandbox = Sandbox::new();
    migrate_lifecycle(&sandbox);
}

#[tokio::test]
async fn migrate_applies_lists_reverts_and_creates_on_postgres() {
    let Some(db) = trestle::testing::TestDatabase::from_env::<trestle::db::Postgres>("TEST_POSTGRES_URL").await else {
        eprintln!("TEST_POSTGRES_URL not set: skipped");
        return;
    };
    let mut sandbox = Sandbox::new();
    sandbox.url = db.url().to_owned();
    let sandbox = tokio::task::spawn_blocking(move || {
        migrate_lifecycle(&sandbox);
        sandbox
    })
    .await
    .unwrap();
    drop((sandbox, db));
}

#[test]
fn migrate_says_what_it_cannot_do() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["migrate", "new", "--", "---"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("is not a migration name") && run.stdout.is_empty(), "{run:?}");
    let url = format!("postgres://app:pw@127.0.0.1:{}/shop", closed_port());
    let run = run_in(
        &sandbox.dir,
        &["migrate", "status"],
        &[("APP__DATABASE__URL", &url), ("APP__DATABASE__CONNECT_RETRIES", "0"), ("APP__AUTH__JWT__SECRET", SECRET)],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("127.0.0.1") && !run.stderr.contains(":pw@"), "{run:?}");
}

#[test]
fn health_probes_a_live_a_not_ready_and_a_dead_server() {
    let sandbox = Sandbox::new();
    let env = [("APP__DATABASE__URL", sandbox.url.as_str()), ("APP__AUTH__JWT__SECRET", SECRET)];
    let server = common::start_binary(BIN, &env);
    let url = format!("http://{}/health/ready", server.addr);
    let live = sandbox.run(&["health", "--url", &url], &[]);
    assert_eq!(live.code, 0, "{live:?}");
    assert!(live.stdout.contains("ready") && live.stdout.contains("200"), "{live:?}");

    // The default URL comes from the config: server.host and server.port.
    let port = server.addr.port().to_string();
    let from_config = sandbox.run(&["health"], &[("APP__SERVER__HOST", "0.0.0.0"), ("APP__SERVER__PORT", &port)]);
    assert_eq!(from_config.code, 0, "a wildcard host is probed on loopback: {from_config:?}");
    drop(server);

    let failing =
        [("APP__DATABASE__URL", sandbox.url.as_str()), ("APP__AUTH__JWT__SECRET", SECRET), ("CLI_APP_NOT_READY", "1")];
    let not_ready = common::start_binary(BIN, &failing);
    let url = format!("http://{}/health/ready", not_ready.addr);
    let run = sandbox.run(&["health", "--url", &url], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("503") && run.stdout.contains("switch"), "the failing check is named: {run:?}");
    drop(not_ready);

    let dead = format!("http://127.0.0.1:{}/health/ready", closed_port());
    let run = sandbox.run(&["health", "--url", &dead, "--timeout", "2s"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("cannot connect"), "{run:?}");
    let run = sandbox.run(&["health", "--url", "https://example.invalid/health"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("plain http"), "{run:?}");
}

#[test]
fn health_gives_up_on_a_server_that_never_answers() {
    let sandbox = Sandbox::new();
    // Accepts, never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/health/ready", listener.local_addr().unwrap());
    let started = Instant::now();
    let run = sandbox.run(&["health", "--url", &url, "--timeout", "300ms"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("did not answer within 300ms"), "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[test]
fn doctor_passes_a_healthy_setup_line_by_line() {
    let _turn = folder_lock();
    let sandbox = Sandbox::new();
    assert_eq!(sandbox.run(&["migrate"], &[]).code, 0);
    let port = closed_port().to_string();
    let run = sandbox.run(&["doctor"], &[("APP__SERVER__PORT", &port)]);
    assert_eq!(run.code, 0, "{run:?}");
    for check in ["config", "database", "migrations", "auth", "port"] {
        assert!(
            run.stdout.lines().any(|l| l.starts_with("ok") && l.split_whitespace().nth(1) == Some(check)),
            "{check}: {run:?}"
        );
    }
}

#[test]
fn doctor_fails_each_broken_part_with_its_fix() {
    let sandbox = Sandbox::new();
    // The database is down (nothing listens on its port), the JWT secret is too short, the port
    // is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let url = format!("postgres://app:hunter2@127.0.0.1:{}/shop", closed_port());
    let started = Instant::now();
    let run = run_in(
        &sandbox.dir,
        &["doctor"],
        &[("APP__DATABASE__URL", &url), ("APP__AUTH__JWT__SECRET", "short"), ("APP__SERVER__PORT", &port)],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let line = |check: &str| {
        run.stdout.lines().find(|l| l.split_whitespace().nth(1) == Some(check)).unwrap_or_default().to_owned()
    };
    assert!(line("config").starts_with("ok"), "{run:?}");
    let database = line("database");
    assert!(database.starts_with("FAIL") && database.contains("APP__DATABASE__URL"), "{run:?}");
    assert!(!run.stdout.contains("hunter2") && !run.stderr.contains("hunter2"), "{run:?}");
    assert!(line("auth").starts_with("FAIL") && line("auth").contains("APP__AUTH__JWT__SECRET"), "{run:?}");
    let port_line = line("port");
    assert!(port_line.starts_with("FAIL") && port_line.contains("APP__SERVER__PORT"), "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(20), "one bounded attempt, not startup's retries");

    let broken = sandbox.run(&["doctor"], &[("APP__SERVER__PORT", "eighty")]);
    assert_eq!(broken.code, 1, "{broken:?}");
    assert!(broken.stdout.starts_with("FAIL  config") && broken.stdout.contains("APP__SERVER__PORT"), "{broken:?}");
}

#[test]
fn doctor_checks_the_rate_limiters_redis_and_never_shows_its_password() {
    let sandbox = Sandbox::new();
    let port = closed_port().to_string();
    let line = |run: &Run| {
        run.stdout.lines().find(|l| l.split_whitespace().nth(1) == Some("rate_limit")).unwrap_or_default().to_owned()
    };
    // The in-process store has nothing to reach: no line.
    let memory = sandbox.run(&["doctor"], &[("APP__SERVER__PORT", &port)]);
    assert_eq!(line(&memory), "", "{memory:?}");
    // The Redis scripts/services runs.
    let up = sandbox.run(&["doctor"], &[("APP__SERVER__PORT", &port), ("APP__RATE_LIMIT__BACKEND", "redis")]);
    assert!(line(&up).starts_with("ok") && line(&up).contains("answers"), "{up:?}");
    let url = format!("redis://:hunter3@127.0.0.1:{}", closed_port());
    let env = [
        ("APP__SERVER__PORT", port.as_str()),
        ("APP__RATE_LIMIT__BACKEND", "redis"),
        ("APP__RATE_LIMIT__REDIS__URL", &url),
    ];
    let down = sandbox.run(&["doctor", "--timeout", "1s"], &env);
    assert_eq!(down.code, 1, "{down:?}");
    let failed = line(&down);
    assert!(failed.starts_with("FAIL") && failed.contains("APP__RATE_LIMIT__REDIS__URL"), "{down:?}");
    assert!(!down.stdout.contains("hunter3") && !down.stderr.contains("hunter3"), "{down:?}");
}

#[test]
fn an_app_command_runs_with_the_context_and_a_failure_exits_1() {
    let sandbox = Sandbox::new();
    // The command's app is prepared as for serving: migrations applied first.
    let fill = sandbox.run(&["fill", "--count", "2"], &[]);
    assert_eq!((fill.code, fill.stdout.trim()), (0, "things: 2"), "{fill:?}");
    let fill = sandbox.run(&["fill", "--count", "1"], &[]);
    assert_eq!(fill.stdout.trim(), "things: 3", "{fill:?}");

    let fail = sandbox.run(&["fail"], &[]);
    assert_eq!(fail.code, 1, "{fail:?}");
    assert!(fail.stderr.contains("command `fail` failed: the fail command always fails"), "{fail:?}");
    let usage = sandbox.run(&["fill"], &[]);
    assert_eq!(usage.code, 2, "a missing argument is a usage error: {usage:?}");
    assert!(usage.stderr.contains("--count"), "{usage:?}");
}

#[test]
fn a_config_dir_that_is_not_a_folder_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["--config-dir", "no-such-folder", "config", "check"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--config-dir no-such-folder is not a folder"), "{run:?}");
}

#[test]
fn sigterm_while_the_database_is_retried_stops_startup_even_as_pid_1() {
    // PID 1 of a PID namespace (as in a container): the kernel drops a signal it has no handler
    // for, so the handlers must exist from the start of startup.
    let sandbox = Sandbox::new();
    let url = format!("postgres://app:pw@127.0.0.1:{}/shop", closed_port());
    let mut child = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", BIN, "serve"])
        .current_dir(&sandbox.dir)
        .env_clear()
        .env("APP__DATABASE__URL", &url)
        .env("APP__AUTH__JWT__SECRET", SECRET)
        .env("APP__SERVER__PORT", "0")
        .env("APP__DATABASE__CONNECT_RETRIES", "20")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("unshare");
    // The app: the child of unshare, once it is there and retrying.
    std::thread::sleep(Duration::from_millis(1500));
    let children = std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id())).unwrap();
    let app: u32 = children.split_whitespace().next().expect("unshare's child").parse().unwrap();
    let ns_pid = std::fs::read_to_string(format!("/proc/{app}/status")).unwrap();
    let ns_pid = ns_pid.lines().find(|l| l.starts_with("NSpid")).unwrap().split_whitespace().last().unwrap().to_owned();
    assert_eq!(ns_pid, "1", "the app is PID 1 of its namespace");
    let sent = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &app.to_string()]).status().unwrap().success());
    let status = common::wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert!(sent.elapsed() < Duration::from_secs(3), "stopped at once, not after the retries: {:?}", sent.elapsed());
}
