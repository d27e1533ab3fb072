//! `config check|show|template`: the config without starting anything.

use clap::Subcommand;

use super::super::App;
use crate::config::loader::toml_key;
use crate::config::{Config, Origin, Setting};

/// What `config` does.
#[derive(Subcommand, Debug)]
pub(super) enum Action {
    /// Load and validate the config; report every problem; exit 1 when there is one.
    Check,
    /// Print the effective config, each value with where it came from; secrets redacted.
    Show,
    /// Print a commented template of every key, its default and its environment variable.
    Template,
}

pub(super) fn run<C: Config, S>(app: &App<C, S>, action: Action) -> i32 {
    match action {
        Action::Check => check(app),
        Action::Show => show(app),
        Action::Template => {
            print!("{}", crate::config::template_with::<C>(app.setup.loader.env_names()));
            0
        }
    }
}

fn check<C: Config, S>(app: &App<C, S>) -> i32 {
    let (result, warnings) = app.setup.loader.load_checked::<C>();
    for warning in &warnings {
        println!("warning: {warning}");
    }
    match result {
        Ok(loaded) => {
            let files: Vec<String> = loaded.files.iter().map(|p| p.display().to_string()).collect();
            let files = if files.is_empty() { "no config files".to_owned() } else { files.join(", ") };
            println!("config ok: profile {}, {files}", loaded.profile);
            0
        }
        Err(e) => {
            println!("config invalid (profile {}):", app.setup.loader.resolved_profile().unwrap_or_default());
            for line in e.to_string().lines() {
                println!("  {line}");
            }
            1
        }
    }
}

fn show<C: Config, S>(app: &App<C, S>) -> i32 {
    let settings = match app.setup.loader.explain::<C>() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("config cannot be read: {e}");
            return 1;
        }
    };
    print!("{}", render(&settings));
    // What `check` would say, so `show` never presents a config that would not start.
    match app.setup.loader.load::<C>() {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("warning: {warning}");
            }
            0
        }
        Err(e) => {
            eprintln!("config invalid:\n{e}");
            1
        }
    }
}

/// The settings as TOML, grouped by section, each value followed by its origin.
fn render(settings: &[Setting]) -> String {
    let mut out = String::new();
    let mut section = None;
    // Top-level keys first (TOML puts them before any table), then each section's keys together
    // (a table header appears once), sections in the order they first appear.
    let table_of = |s: &Setting| s.key.rsplit_once('.').map_or("", |(t, _)| t).to_owned();
    let mut tables: Vec<String> = Vec::new();
    for s in settings {
        let table = table_of(s);
        if !tables.contains(&table) {
            tables.push(table);
        }
    }
    let mut sorted: Vec<&Setting> = settings.iter().collect();
    sorted.sort_by_key(|s| {
        let table = table_of(s);
        (!table.is_empty(), tables.iter().position(|t| *t == table))
    });
    for setting in sorted {
        let (table, name) = setting.key.rsplit_once('.').map_or(("", setting.key.as_str()), |(t, n)| (t, n));
        let name = toml_key(name);
        if section != Some(table) {
            if !table.is_empty() {
                let dotted: Vec<String> = table.split('.').map(toml_key).collect();
                out.push_str(&format!("\n[{}]\n", dotted.join(".")));
            }
            section = Some(table);
        }
        let line = match &setting.value {
            Some(value) => format!("{name} = {value}"),
            None => format!("# {name} ="),
        };
        let origin = match (&setting.origin, setting.known) {
            (_, false) => format!("unknown key, from {}", origin(setting.origin.as_ref())),
            (Some(o), true) => origin(Some(o)),
            (None, true) => format!("unset; {}", setting.env_var),
        };
        out.push_str(&format!("{line:<40} # {origin}\n"));
    }
    out
}

/// An origin, short: `config/default.toml:3`, `env APP__SERVER__PORT`, `default`.
fn origin(origin: Option<&Origin>) -> String {
    match origin {
        Some(Origin::Default) | None => "default".to_owned(),
        Some(Origin::File { path, line }) => format!("{}:{line}", path.display()),
        Some(Origin::Env { var }) => format!("env {var}"),
        Some(Origin::DotEnv { path, var }) => format!("{var} in {}", path.display()),
        Some(Origin::EnvFile { var, path }) => format!("file {} ({var})", path.display()),
        Some(Origin::Code) => "set in code".to_owned(),
    }
}
