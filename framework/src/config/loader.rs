//! Reads the layers (defaults, files, `.env`, environment, code), merges them with the `config`
//! crate, and turns every failure into a [`ConfigError`] that names key, origin and fix.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::error::{env_var, ConfigError, Origin};
use super::schema::{join, leaves, Config, Field};
use super::sections::{FrameworkConfig, ServerConfig};
use super::suggest::closest;
use super::TelemetryConfig;

static APP_MANIFEST_DIR: OnceLock<&'static str> = OnceLock::new();

/// Set by `#[trestle::main]`: the app crate's folder, whose `config/` debug builds fall back to.
#[doc(hidden)]
pub fn set_app_manifest_dir(dir: &'static str) {
    let _ = APP_MANIFEST_DIR.set(dir);
}

/// The result of loading: the app's struct, the framework's sections, and what was read.
#[derive(Debug)]
#[non_exhaustive]
pub struct Loaded<C> {
    /// The app's own config struct.
    pub app: C,
    /// `[server]`.
    pub server: ServerConfig,
    /// `[telemetry]`.
    pub telemetry: TelemetryConfig,
    /// `[database]`.
    pub database: super::DatabaseConfig,
    /// `[auth]`.
    pub auth: super::AuthConfig,
    /// The profile (`APP_ENV`, `development` unless set).
    pub profile: String,
    /// The config files that were read, lowest precedence first.
    pub files: Vec<PathBuf>,
    /// Problems that did not stop loading (unknown keys outside production), to be logged.
    pub warnings: Vec<String>,
}

/// Loads configuration from the layered sources; see the [module docs](super).
///
/// `App` uses one internally; use one directly to load config outside an app or in tests, where
/// [`env_vars`](Loader::env_vars) keeps the process environment out of it.
#[derive(Clone)]
pub struct Loader {
    dir: Option<PathBuf>,
    profile: Option<String>,
    prefix: String,
    env: Option<Vec<(String, String)>>,
    dotenv: Option<PathBuf>,
    overrides: Vec<(String, String)>,
}

/// Shows where config comes from, never values: environment variables and `set` overrides may
/// hold secrets.
impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("dir", &self.dir)
            .field("profile", &self.profile)
            .field("prefix", &self.prefix)
            .field("env", &self.env.as_ref().map(|vars| vars.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()))
            .field("dotenv", &self.dotenv)
            .field("overrides", &self.overrides.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

impl Default for Loader {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything read from one layer, with the line or variable each key came from.
struct Layers {
    env: BTreeMap<String, (String, Origin)>,
    files: Vec<(PathBuf, String, BTreeMap<String, usize>)>,
}

impl Loader {
    /// A loader reading the process environment, `./.env` and the config folder.
    pub fn new() -> Self {
        Self {
            dir: None,
            profile: None,
            prefix: "APP".to_owned(),
            env: None,
            dotenv: Some(PathBuf::from(".env")),
            overrides: Vec::new(),
        }
    }

    /// Reads config files from this folder instead of `APP_CONFIG_DIR` / `./config`.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Uses this profile instead of `APP_ENV`.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// The environment variable prefix (`APP` by default: `APP__SERVER__PORT`).
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Reads these variables instead of the process environment (for tests).
    pub fn env_vars<K: Into<String>, V: Into<String>>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self {
        self.env = Some(vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
        self
    }

    /// Reads this `.env` file instead of `./.env`; `None` reads none.
    pub fn dotenv(mut self, path: Option<PathBuf>) -> Self {
        self.dotenv = path;
        self
    }

    /// Sets a key above every other source (`loader.set("server.port", "0")`).
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides.push((key.into(), value.into()));
        self
    }

    /// `test` profile, no process environment, no `.env` — unless already chosen.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn hermetic_for_tests(mut self) -> Self {
        self.profile.get_or_insert_with(|| "test".to_owned());
        if self.env.is_none() {
            self.env = Some(Vec::new());
            self.dotenv = None;
        }
        self
    }

    /// The profile this loader will use, from its settings and the environment.
    pub fn resolved_profile(&self) -> String {
        self.profile.clone().or_else(|| self.read_env().remove("APP_ENV")).unwrap_or_else(|| "development".to_owned())
    }

    fn read_env(&self) -> HashMap<String, String> {
        match &self.env {
            Some(vars) => vars.iter().cloned().collect(),
            None => {
                std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
            }
        }
    }

    /// Loads and validates the framework's sections and the app's struct `C`.
    pub fn load<C: Config>(&self) -> Result<Loaded<C>, ConfigError> {
        let mut vars = self.read_env();
        let dotenv = self.read_dotenv(&vars)?;
        for (k, (v, _)) in &dotenv {
            vars.entry(k.clone()).or_insert_with(|| v.clone());
        }

        let profile =
            self.profile.clone().or_else(|| vars.get("APP_ENV").cloned()).unwrap_or_else(|| "development".into());
        if profile.is_empty() || !profile.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(ConfigError::BadProfile { profile });
        }
        let dir = self.config_dir(&vars)?;
        let layers = self.read_layers(&vars, &dotenv, dir.as_deref(), &profile)?;

        let mut schema = C::fields();
        schema.extend(FrameworkConfig::fields());
        let mut known = Vec::new();
        leaves("", &schema, &mut known);

        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(&defaults_toml(&schema)?, config::FileFormat::Toml));
        for (_, text, _) in &layers.files {
            builder = builder.add_source(config::File::from_str(text, config::FileFormat::Toml));
        }
        let set_keys =
            layers.env.iter().map(|(k, (v, _))| (k.clone(), v.clone())).chain(self.overrides.iter().cloned());
        for (key, value) in set_keys {
            builder = builder.set_override(key.as_str(), value).map_err(|e| ConfigError::Invalid {
                key: key.clone(),
                origin: layers.origin(&key, &self.overrides),
                message: e.to_string(),
                env_var: env_var(&self.prefix, &key),
            })?;
        }
        let merged = builder.build().map_err(|e| ConfigError::Invalid {
            key: String::new(),
            origin: Origin::Default,
            message: e.to_string(),
            env_var: format!("{}__...", self.prefix),
        })?;

        let mut problems = Vec::new();
        for (key, field) in known.iter().filter(|(_, f)| f.required()) {
            if !layers.has(key) && !self.overrides.iter().any(|(k, _)| k == key) {
                problems.push(self.missing(key, field, dir.as_deref()));
            }
        }
        let mut warnings = Vec::new();
        for (key, origin) in layers.all_keys() {
            let is_known = known.iter().any(|(k, _)| key == *k || key.starts_with(&format!("{k}.")));
            if !is_known {
                let suggestion = closest(&key, known.iter().map(|(k, _)| k.as_str())).map(str::to_owned);
                let error = ConfigError::Unknown { key, origin, suggestion };
                if profile == "production" {
                    problems.push(error);
                } else {
                    warnings.push(error.to_string());
                }
            }
        }
        if let Some(error) = ConfigError::from_list(problems) {
            return Err(error);
        }

        let framework: FrameworkConfig = self.deserialize(&merged, &layers, &known)?;
        let app: C = self.deserialize(&merged, &layers, &known)?;

        let mut problems = Vec::new();
        for result in [framework.validate(), app.validate()] {
            if let Err(errors) = result {
                for (key, message) in errors.iter() {
                    problems.push(ConfigError::Invalid {
                        key: key.to_owned(),
                        origin: layers.origin(key, &self.overrides),
                        message: message.to_owned(),
                        env_var: env_var(&self.prefix, key),
                    });
                }
            }
        }
        if let Some(error) = ConfigError::from_list(problems) {
            return Err(error);
        }

        Ok(Loaded {
            app,
            server: framework.server,
            telemetry: framework.telemetry,
            database: framework.database,
            auth: framework.auth,
            profile,
            files: layers.files.into_iter().map(|(p, _, _)| p).collect(),
            warnings,
        })
    }

    fn config_dir(&self, vars: &HashMap<String, String>) -> Result<Option<PathBuf>, ConfigError> {
        if let Some(dir) = &self.dir {
            return Ok(Some(dir.clone()));
        }
        if let Some(dir) = vars.get("APP_CONFIG_DIR") {
            let path = PathBuf::from(dir);
            return if path.is_dir() { Ok(Some(path)) } else { Err(ConfigError::MissingDir { path }) };
        }
        let local = PathBuf::from("config");
        if local.is_dir() {
            return Ok(Some(local));
        }
        if cfg!(debug_assertions) {
            if let Some(manifest) = APP_MANIFEST_DIR.get() {
                let path = Path::new(manifest).join("config");
                if path.is_dir() {
                    return Ok(Some(path));
                }
            }
        }
        Ok(None)
    }

    fn read_dotenv(&self, real: &HashMap<String, String>) -> Result<BTreeMap<String, (String, Origin)>, ConfigError> {
        let mut out = BTreeMap::new();
        let Some(path) = &self.dotenv else { return Ok(out) };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(source) => return Err(ConfigError::Read { path: path.clone(), source }),
        };
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            match item {
                Ok((k, v)) => {
                    if !real.contains_key(&k) {
                        let origin = Origin::DotEnv { path: path.clone(), var: k.clone() };
                        out.insert(k, (v, origin));
                    }
                }
                Err(dotenvy::Error::LineParse(bad, _)) => {
                    // dotenvy's message quotes the whole line, which may hold a secret: report
                    // the line number only.
                    let line = text.lines().position(|l| l.contains(bad.trim())).map_or(0, |i| i + 1);
                    return Err(ConfigError::DotEnv { path: path.clone(), line });
                }
                Err(_) => return Err(ConfigError::DotEnv { path: path.clone(), line: 0 }),
            }
        }
        Ok(out)
    }

    fn read_layers(
        &self,
        vars: &HashMap<String, String>,
        dotenv: &BTreeMap<String, (String, Origin)>,
        dir: Option<&Path>,
        profile: &str,
    ) -> Result<Layers, ConfigError> {
        let mut files = Vec::new();
        if let Some(dir) = dir {
            for name in ["default".to_owned(), profile.to_owned()] {
                let path = dir.join(format!("{name}.toml"));
                let text = match std::fs::read_to_string(&path) {
                    Ok(text) => text,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(source) => return Err(ConfigError::Read { path, source }),
                };
                let keys = toml_keys(&path, &text)?;
                files.push((path, text, keys));
            }
        }
        let marker = format!("{}__", self.prefix);
        let mut env = BTreeMap::new();
        for (var, value) in vars {
            let Some(rest) = var.strip_prefix(&marker) else { continue };
            let key = rest.split("__").map(str::to_lowercase).collect::<Vec<_>>().join(".");
            let origin = match dotenv.get(var) {
                Some((_, origin)) => origin.clone(),
                None => Origin::Env { var: var.clone() },
            };
            env.insert(key, (value.clone(), origin));
        }
        Ok(Layers { env, files })
    }

    fn missing(&self, key: &str, field: &Field, dir: Option<&Path>) -> ConfigError {
        let (section, name) = match key.rsplit_once('.') {
            Some((section, name)) => (format!("[{section}]"), name),
            None => ("the top level".to_owned(), key),
        };
        ConfigError::Missing {
            key: key.to_owned(),
            ty: field.ty.to_owned(),
            name: name.to_owned(),
            section,
            file: dir
                .map_or_else(|| "config/default.toml".to_owned(), |d| d.join("default.toml").display().to_string()),
            env_var: env_var(&self.prefix, key),
        }
    }

    fn deserialize<T: Config>(
        &self,
        merged: &config::Config,
        layers: &Layers,
        known: &[(String, Field)],
    ) -> Result<T, ConfigError> {
        merged.clone().try_deserialize::<T>().map_err(|e| {
            let (key, error) = split_key(e);
            let origin = layers.origin(&key, &self.overrides);
            let env_var = env_var(&self.prefix, &key);
            let secret = known.iter().find(|(k, f)| *k == key && f.secret).map(|(_, f)| f.doc);
            match error {
                config::ConfigError::Type { unexpected, expected, .. } => ConfigError::WrongType {
                    found: kind_of(&unexpected),
                    expected: expected.to_owned(),
                    key,
                    origin,
                    env_var,
                },
                other => ConfigError::Invalid {
                    // A secret's parse error may quote the value: say only that it is invalid.
                    // The key's own doc says what a valid value looks like.
                    message: match secret {
                        Some(doc) => format!("the value is not valid for this secret ({})", doc.trim()),
                        None => other.to_string(),
                    },
                    key,
                    origin,
                    env_var,
                },
            }
        })
    }
}

impl Layers {
    /// Whether any layer sets `key` itself, or keys under it (a map-valued field).
    fn has(&self, key: &str) -> bool {
        let under = format!("{key}.");
        let matches = |k: &String| k == key || k.starts_with(&under);
        self.env.keys().any(matches) || self.files.iter().any(|(_, _, keys)| keys.keys().any(matches))
    }

    /// Where the value of `key` that won came from.
    fn origin(&self, key: &str, overrides: &[(String, String)]) -> Origin {
        if overrides.iter().any(|(k, _)| k == key) {
            return Origin::Code;
        }
        if let Some((_, origin)) = self.env.get(key) {
            return origin.clone();
        }
        for (path, _, keys) in self.files.iter().rev() {
            if let Some(line) = keys.get(key) {
                return Origin::File { path: path.clone(), line: *line };
            }
        }
        Origin::Default
    }

    fn all_keys(&self) -> Vec<(String, Origin)> {
        let mut out: Vec<(String, Origin)> = Vec::new();
        for (path, _, keys) in &self.files {
            out.extend(keys.iter().map(|(k, line)| (k.clone(), Origin::File { path: path.clone(), line: *line })));
        }
        out.extend(self.env.iter().map(|(k, (_, origin))| (k.clone(), origin.clone())));
        out
    }
}

/// The dotted key of a `config` error, and the error underneath its location wrapper.
fn split_key(e: config::ConfigError) -> (String, config::ConfigError) {
    match e {
        config::ConfigError::At { error, key, .. } => {
            let (inner_key, inner) = split_key(*error);
            (key.filter(|k| !k.is_empty()).unwrap_or(inner_key), inner)
        }
        config::ConfigError::Type { origin, unexpected, expected, key } => {
            (key.clone().unwrap_or_default(), config::ConfigError::Type { origin, unexpected, expected, key })
        }
        config::ConfigError::NotFound(key) => (key.clone(), config::ConfigError::NotFound(key)),
        other => (String::new(), other),
    }
}

/// What kind of value `config` found, without the value: it may be a secret.
fn kind_of(unexpected: &impl std::fmt::Display) -> String {
    let text = unexpected.to_string();
    let kind = text.split(" `").next().unwrap_or(&text);
    let kind = kind.split(" \"").next().unwrap_or(kind);
    if kind.starts_with("string") {
        "a string".to_owned()
    } else {
        format!("a {kind}")
    }
}

/// Every key a TOML file sets (tables flattened to dotted keys), with its 1-based line.
fn toml_keys(path: &Path, text: &str) -> Result<BTreeMap<String, usize>, ConfigError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let table = toml::de::DeTable::parse(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let line = line_of(offset);
        let line_start = text[..offset.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
        ConfigError::Parse {
            path: path.to_owned(),
            line,
            column: offset - line_start + 1,
            message: e.message().trim().to_owned(),
        }
    })?;
    let mut out = BTreeMap::new();
    collect_keys("", table.get_ref(), &line_of, &mut out);
    Ok(out)
}

fn collect_keys(
    prefix: &str,
    table: &toml::de::DeTable<'_>,
    line_of: &dyn Fn(usize) -> usize,
    out: &mut BTreeMap<String, usize>,
) {
    for (key, value) in table {
        let dotted = join(prefix, key.get_ref());
        match value.get_ref() {
            toml::de::DeValue::Table(inner) => collect_keys(&dotted, inner, line_of, out),
            _ => {
                out.insert(dotted, line_of(key.span().start));
            }
        }
    }
}

/// The schema's defaults as a TOML document: the lowest layer.
fn defaults_toml(schema: &[Field]) -> Result<String, ConfigError> {
    fn fill(prefix: &str, fields: &[Field], table: &mut toml::Table) -> Result<(), ConfigError> {
        for f in fields {
            let key = join(prefix, f.name);
            if let Some(nested) = f.nested {
                let mut inner = toml::Table::new();
                fill(&key, &nested(), &mut inner)?;
                table.insert(f.name.to_owned(), toml::Value::Table(inner));
            } else if let Some(default) = f.default {
                let value = default().map_err(|message| ConfigError::Invalid {
                    key: key.clone(),
                    origin: Origin::Default,
                    message: format!("the default cannot be written as a config value ({message})"),
                    env_var: String::new(),
                })?;
                table.insert(f.name.to_owned(), value);
            }
        }
        Ok(())
    }
    let mut table = toml::Table::new();
    fill("", schema, &mut table)?;
    Ok(toml::to_string(&table).expect("a TOML table always serializes"))
}

/// The struct built from its defaults alone (no files, no environment).
///
/// Panics when a required field has no default: only for structs whose fields all have one.
pub(crate) fn defaults<C: Config>() -> C {
    let text = defaults_toml(&C::fields()).expect("framework defaults are valid");
    config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Toml))
        .build()
        .and_then(config::Config::try_deserialize)
        .expect("framework defaults deserialize")
}
