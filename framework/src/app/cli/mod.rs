//! The command line every app gets: [`App::run`](crate::App::run) parses the process arguments
//! with [clap](https://docs.rs/clap) and runs one command. With no arguments it serves, so an app
//! written before the command line existed behaves as it did.
//!
//! | command | what it does |
//! |---|---|
//! | `serve` (the default) | serves HTTP until SIGINT/SIGTERM, then drains |
//! | `migrate` / `migrate up` | applies the pending migrations and exits |
//! | `migrate status` | lists every migration: applied, pending, changed, missing, not built |
//! | `migrate new NAME` | creates the next migration file(s) in the app's migrations folder |
//! | `migrate down [--to VERSION]` | reverts the newest migration (or back to `VERSION`) with its `.down.sql` |
//! | `routes [--json]` | the route table: methods, path, handler, auth, scopes, summary |
//! | `config check` | loads and validates the config, reporting every problem |
//! | `config show` | the effective config, each value with its origin; secrets redacted |
//! | `config template` | a commented template of every key |
//! | `health [--url URL]` | probes a running instance's readiness, for container health checks |
//! | `doctor` | checks config, database, migrations, JWT keys and ports, with the fix for each failure |
//!
//! Every command takes `--profile NAME` (instead of `APP_ENV`) and `--config-dir DIR` (instead
//! of `APP_CONFIG_DIR`). Commands that need only config (`config`, `routes`, `health`,
//! `migrate new`) neither connect the database nor start telemetry; `migrate`, `doctor` and the
//! app's own commands log to stderr and never export traces. A command's output goes to stdout,
//! its logs and the reason it could not run to stderr. `--version` prints the version of the
//! app's package when `main` is a `#[trestle::main]`.
//!
//! An app adds commands of its own with [`App::commands`](crate::App::commands): a
//! `#[derive(clap::Subcommand)]` enum and the function that runs it.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done; every check passed |
//! | 1 | a check failed (invalid config, a migration pending or changed, not ready, a doctor check), or the command could not run (the reason on stderr) |
//! | 2 | the command line itself is wrong (unknown command or option; clap's usage error) |
//!
//! The deploy recipe: `database.migrate = false` in production, a deploy step running
//! `APP migrate` (under the migration lock, so concurrent deploys wait for each other), then
//! the replicas with `APP serve`; `APP migrate status` as a gate that fails while anything is
//! pending.

mod config;
mod doctor;
mod health;
mod migrate;
mod routes;

use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::OnceLock;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use super::{App, Context, StartupError};
use crate::config::Config;

/// The error an app command returns.
pub(crate) type CommandError = Box<dyn std::error::Error + Send + Sync>;
type CommandFuture = Pin<Box<dyn Future<Output = Result<(), CommandError>> + Send>>;

/// The app's own subcommands: how to add them to the parser and how to run the one chosen.
pub(crate) struct AppCommands<C> {
    augment: fn(clap::Command) -> clap::Command,
    has: fn(&str) -> bool,
    #[allow(clippy::type_complexity)]
    run: Box<dyn FnOnce(&ArgMatches, Context<C>) -> Result<CommandFuture, clap::Error> + Send>,
}

impl<C> AppCommands<C> {
    pub(crate) fn new<E, F, Fut, Err>(run: F) -> Self
    where
        E: Subcommand + 'static,
        F: FnOnce(E, Context<C>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Err>> + Send + 'static,
        Err: std::fmt::Display + 'static,
    {
        Self {
            augment: E::augment_subcommands,
            has: E::has_subcommand,
            run: Box::new(move |matches, context| {
                let command = E::from_arg_matches(matches)?;
                let future = run(command, context);
                // `{:#}`: anyhow's and trestle's errors print their whole cause chain.
                Ok(Box::pin(
                    async move { future.await.map_err(|e| Box::new(Failed(format!("{e:#}"))) as CommandError) },
                ))
            }),
        }
    }
}

/// What an app command's error said.
#[derive(Debug)]
struct Failed(String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

/// The app's package, as `#[trestle::main]` records it: the name and version `--version`
/// prints, the description `--help` starts with.
#[derive(Clone, Copy)]
pub(crate) struct Package {
    pub(crate) name: &'static str,
    pub(crate) version: &'static str,
    pub(crate) description: &'static str,
}

static PACKAGE: OnceLock<Package> = OnceLock::new();

/// Set by `#[trestle::main]` (through `__private`).
pub(crate) fn set_package(package: Package) {
    let _ = PACKAGE.set(package);
}

/// The options every command takes.
#[derive(Args, Debug, Default)]
struct Globals {
    /// The config profile (`development`, `test`, `production`, …); overrides `APP_ENV`.
    #[arg(long, global = true, value_name = "NAME")]
    profile: Option<String>,
    /// The folder of `default.toml` and `{profile}.toml`; overrides `APP_CONFIG_DIR`.
    #[arg(long, global = true, value_name = "DIR")]
    config_dir: Option<PathBuf>,
}

// The framework's command line (see the module docs). No doc comment here: clap would show it
// as every app's description.
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    globals: Globals,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve HTTP until SIGINT or SIGTERM, then drain in-flight requests (the default).
    Serve,
    /// Apply, list, create or revert database migrations (`migrate` alone applies them).
    Migrate {
        #[command(subcommand)]
        action: Option<migrate::Action>,
    },
    /// List the routes: methods, path, handler, auth, scopes and summary.
    Routes {
        /// Print JSON (an array of routes) for tools.
        #[arg(long)]
        json: bool,
    },
    /// Check the config, show the effective values and their origins, or print a template.
    Config {
        #[command(subcommand)]
        action: config::Action,
    },
    /// Probe a running instance's readiness: exit 0 when it answers 2xx, 1 otherwise.
    Health(health::Probe),
    /// Check config, database, migrations, JWT keys and ports: one line each, with the fix.
    Doctor(doctor::Options),
    /// Print the OpenAPI 3.1 document of the app's routes (JSON), as `openapi.path` serves it.
    Openapi,
}

/// The names of the framework's commands, which an app's own may not take.
fn builtin_names() -> Vec<String> {
    Cli::command().get_subcommands().map(|c| c.get_name().to_owned()).collect()
}

/// The parser: the framework's commands, the app's, and the app's name and version (`program`
/// names it without `#[trestle::main]`).
fn parser<C>(commands: Option<&AppCommands<C>>, program: Option<&OsString>) -> clap::Command {
    let mut cmd = Cli::command();
    if let Some(commands) = commands {
        if let Some(name) = builtin_names().into_iter().find(|name| (commands.has)(name)) {
            panic!(
                "the app's command `{name}` has the name of one of trestle's (serve, migrate, routes, config, health, doctor, openapi): rename it, e.g. with #[command(name = \"app-{name}\")]"
            );
        }
        cmd = (commands.augment)(cmd);
    }
    match PACKAGE.get() {
        Some(package) => {
            cmd = cmd.name(package.name).bin_name(package.name).version(package.version);
            if !package.description.is_empty() {
                cmd = cmd.about(package.description);
            }
        }
        None => {
            let name = program
                .map(PathBuf::from)
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "app".to_owned());
            cmd = cmd.name(name.clone()).bin_name(name);
        }
    }
    cmd
}

/// Parses `args` (the first is the program) and runs the command; the exit code.
pub(crate) async fn run<C: Config, S: Clone + Send + Sync + 'static>(
    app: App<C, S>,
    args: Vec<OsString>,
) -> Result<i32, StartupError> {
    let matches = match parser(app.commands.as_ref(), args.first()).try_get_matches_from(args) {
        Ok(matches) => matches,
        Err(e) => {
            // `--help` and `--version` print to stdout and exit 0; usage errors to stderr, 2.
            let _ = e.print();
            return Ok(e.exit_code());
        }
    };
    let globals = Globals::from_arg_matches(&matches).unwrap_or_default();
    if let Some(dir) = globals.config_dir.as_ref().filter(|d| !d.is_dir()) {
        eprintln!(
            "error: --config-dir {} is not a folder: create it, or point to the folder of default.toml",
            dir.display()
        );
        return Ok(2);
    }
    let app = app.configure(|mut loader| {
        if let Some(profile) = globals.profile {
            loader = loader.profile(profile);
        }
        if let Some(dir) = globals.config_dir {
            loader = loader.dir(dir);
        }
        loader
    });
    if let Some((name, _)) = matches.subcommand() {
        if app.commands.as_ref().is_some_and(|c| (c.has)(name)) {
            return run_app_command(app, &matches).await;
        }
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return Ok(e.exit_code());
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => app.run_until(super::serve::shutdown_signal()).await.map(|()| 0),
        Command::Migrate { action } => migrate::run(app, action.unwrap_or_default()).await,
        Command::Routes { json } => Ok(routes::run(&app, json)),
        Command::Config { action } => Ok(config::run(&app, action)),
        Command::Health(probe) => Ok(health::run(&app, probe).await),
        Command::Doctor(options) => Ok(doctor::run(app, options).await),
        Command::Openapi => Ok(match app.openapi() {
            Ok(doc) => {
                println!("{}", serde_json::to_string_pretty(&doc).expect("a JSON value serializes"));
                0
            }
            Err(e) => {
                eprintln!("the OpenAPI document cannot be built: {e}");
                1
            }
        }),
    }
}

/// An app command: config, logs to stderr, resources and state as for serving, then the app's
/// function with the context.
async fn run_app_command<C: Config, S: Clone + Send + Sync + 'static>(
    mut app: App<C, S>,
    matches: &ArgMatches,
) -> Result<i32, StartupError> {
    let Some(commands) = app.commands.take() else { return Ok(2) };
    let name = matches.subcommand_name().unwrap_or_default().to_owned();
    let config = app.load_config()?;
    command_logs(&config)?;
    let prepared = app.prepare(config).await?;
    let result = match (commands.run)(matches, prepared.context().clone()) {
        Ok(future) => future.await,
        Err(e) => {
            let _ = e.print();
            prepared.close().await;
            return Ok(e.exit_code());
        }
    };
    prepared.close().await;
    result.map(|()| 0).map_err(|source| StartupError::Command { name, source })
}

/// Logs for a command: stderr, no trace export; the config's warnings (unknown keys) logged, as
/// `serve` logs them.
fn command_logs<C>(config: &crate::config::Loaded<C>) -> Result<(), StartupError> {
    crate::telemetry::init_for_command(&config.telemetry).map_err(|source| StartupError::Telemetry {
        env_var: source.config_key().map(|key| config.env.var(key)),
        source,
    })?;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    Ok(())
}
