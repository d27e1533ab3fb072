//! `doctor`: everything the app needs to start, checked one by one, with the fix for each
//! failure.

use std::time::Duration;

use clap::Args;

use super::super::{App, StartupError};
use crate::config::{Config, Loaded};

/// `doctor`'s options.
#[derive(Args, Debug)]
pub(super) struct Options {
    /// How long each check of a server (database, Redis) waits for an answer.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::config::duration::parse(text)
}

/// One check's line: its name, whether it passed, what was found (and the fix).
struct Line {
    check: &'static str,
    ok: bool,
    detail: String,
}

pub(super) async fn run<C: Config, S: Clone + Send + Sync + 'static>(app: App<C, S>, options: Options) -> i32 {
    let mut lines = Vec::new();
    let config = match app.load_config() {
        Ok(config) => config,
        Err(e) => {
            let detail = e.to_string().lines().collect::<Vec<_>>().join("\n           ");
            print(&[Line { check: "config", ok: false, detail }]);
            println!("the other checks need a config that loads: fix the config first");
            return 1;
        }
    };
    let files: Vec<String> = config.files.iter().map(|p| p.display().to_string()).collect();
    let mut detail = format!(
        "profile {}, {}",
        config.profile,
        if files.is_empty() { "no config files".to_owned() } else { files.join(", ") }
    );
    for warning in &config.warnings {
        detail.push_str(&format!("\n           warning: {warning}"));
    }
    lines.push(Line { check: "config", ok: true, detail });
    if let Err(e) = super::command_logs(&config) {
        lines.push(Line { check: "telemetry", ok: false, detail: e.to_string() });
    }
    database(&app, &config, options.timeout, &mut lines).await;
    if app.setup.resources.auth {
        lines.push(match crate::auth::Jwt::from_config(&config.auth.jwt) {
            Ok(_) => Line { check: "auth", ok: true, detail: format!("{} keys load", config.auth.jwt.algorithm) },
            Err(e) => Line { check: "auth", ok: false, detail: with_env_var(e.to_string(), e.config_key(), &config) },
        });
    }
    if let Some(store) = crate::rate_limit::check_store(&config.rate_limit, options.timeout).await {
        lines.push(match store {
            Ok(detail) => Line { check: "rate_limit", ok: true, detail },
            Err(e) => {
                Line { check: "rate_limit", ok: false, detail: with_env_var(e, Some("rate_limit.redis.url"), &config) }
            }
        });
    }
    ports(&config, &mut lines);
    print(&lines);
    i32::from(lines.iter().any(|l| !l.ok))
}

fn print(lines: &[Line]) {
    for line in lines {
        let word = if line.ok { "ok" } else { "FAIL" };
        println!("{word:<4}  {:<10} {}", line.check, line.detail);
    }
}

fn with_env_var<C>(message: String, key: Option<&str>, config: &Loaded<C>) -> String {
    match key {
        Some(key) => format!("{message} ({key}, environment variable {})", config.env.var(key)),
        None => message,
    }
}

/// The database answers, and its migrations are those of this binary.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
async fn database<C: Config, S>(app: &App<C, S>, config: &Loaded<C>, timeout: Duration, lines: &mut Vec<Line>) {
    use crate::db::migrate::MigrationState;
    let Some((connect, migrations)) = &app.setup.resources.database else { return };
    let mut settings = config.database.clone();
    settings.migrate = false;
    // One attempt, bounded: the doctor reports, it does not wait out a startup's retries.
    settings.connect_retries = 0;
    settings.connect_timeout = settings.connect_timeout.min(timeout);
    let url = settings.url.as_ref().map(|u| u.redacted()).unwrap_or_default();
    let handle = match connect(settings, None).await {
        Ok(handle) => {
            lines.push(Line { check: "database", ok: true, detail: format!("{url} answers") });
            handle
        }
        Err(e) => {
            let key = e.config_key();
            lines.push(Line { check: "database", ok: false, detail: with_env_var(e.to_string(), key, config) });
            return;
        }
    };
    if let Some(migrations) = migrations {
        let line = match tokio::time::timeout(timeout, handle.migration_status(migrations)).await {
            Err(_) => Line {
                check: "migrations",
                ok: false,
                detail: format!("no answer within {}ms (--timeout)", timeout.as_millis()),
            },
            Ok(Ok(status)) => {
                let applied = status.iter().filter(|s| s.state == MigrationState::Applied).count();
                let listed = |keep: &dyn Fn(MigrationState) -> bool| {
                    status
                        .iter()
                        .filter(|s| keep(s.state))
                        .map(|s| format!("{} {}", s.version, s.state.as_str()))
                        .collect::<Vec<_>>()
                };
                let pending = listed(&|s| s == MigrationState::Pending);
                let wrong = listed(&|s| s.needs_attention() && s != MigrationState::Pending);
                if !wrong.is_empty() {
                    let detail = format!("{}: `migrate status` says what to do about each", wrong.join(", "));
                    Line { check: "migrations", ok: false, detail }
                } else if pending.is_empty() {
                    Line { check: "migrations", ok: true, detail: format!("all {applied} applied") }
                } else if config.database.migrate {
                    let detail = format!(
                        "{applied} applied; {} applied when the app starts (database.migrate = true)",
                        pending.join(", ")
                    );
                    Line { check: "migrations", ok: true, detail }
                } else {
                    let detail = format!(
                        "{}: run `migrate` before serving (database.migrate = false, {})",
                        pending.join(", "),
                        config.env.var("database.migrate")
                    );
                    Line { check: "migrations", ok: false, detail }
                }
            }
            Ok(Err(e)) => Line { check: "migrations", ok: false, detail: e.to_string() },
        };
        lines.push(line);
    }
    handle.close().await;
}

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
async fn database<C: Config, S>(_: &App<C, S>, _: &Loaded<C>, _: Duration, _: &mut Vec<Line>) {}

/// The ports the app would listen on are free.
fn ports<C>(config: &Loaded<C>, lines: &mut Vec<Line>) {
    let server = &config.server;
    #[cfg(feature = "metrics")]
    let metrics = config.telemetry.metrics.port.filter(|_| config.telemetry.metrics.enabled);
    #[cfg(not(feature = "metrics"))]
    let metrics = None;
    let wanted = [Some((server.port, "server.port")), metrics.map(|port| (port, "telemetry.metrics.port"))];
    for (port, key) in wanted.into_iter().flatten() {
        let addr = format!("{}:{port}", server.host);
        let line = match std::net::TcpListener::bind(&addr) {
            Ok(_) => Line { check: "port", ok: true, detail: format!("{addr} is free ({key})") },
            Err(e) => {
                let error = StartupError::Bind {
                    addr: addr.clone(),
                    keys: key.to_owned(),
                    env_vars: config.env.var(key),
                    source: e,
                };
                Line { check: "port", ok: false, detail: error.to_string() }
            }
        };
        lines.push(line);
    }
}
