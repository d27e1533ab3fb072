//! Loading in one pipeline of named stages:
//!
//! 1. [`resolve_sources`](Loader::resolve_sources): the variables (environment, then `.env`),
//!    the profile and the config folder, each decided once;
//! 2. [`read_layers`]: every source as a layer of leaf keys, each with its value and origin
//!    (a file is parsed once, for its values and its lines together);
//! 3. [`Tree::merge`]: the layers merged into one tree, remembering the origin of every leaf;
//! 4. [`check_keys`]: required keys that are missing, unknown keys with a suggestion;
//! 5. [`deserialize`]: the framework's sections and the app's struct from the tree, a failure
//!    located by its key path, never by reading an error's text;
//! 6. [`validate`]: the structs' validation hooks.
//!
//! Every failure becomes a [`ConfigError`] that names the key, its origin and the fix.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::de;
use super::env::EnvNames;
use super::error::{ConfigError, Origin};
use super::schema::{defaults_tree, join, leaves, Config, Field};
use super::sections::{FrameworkConfig, ServerConfig};
use super::suggest::closest;
use super::{AuthConfig, DatabaseConfig, OpenApiConfig, PaginationConfig, RateLimitConfig, TelemetryConfig};

static APP_MANIFEST_DIR: OnceLock<&'static str> = OnceLock::new();

/// Set by `#[trestle::main]` (through `__private`): the app crate's folder, whose `config/` debug
/// builds fall back to.
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
    pub database: DatabaseConfig,
    /// `[auth]`.
    pub auth: AuthConfig,
    /// `[rate_limit]`.
    pub rate_limit: RateLimitConfig,
    /// `[pagination]`.
    pub pagination: PaginationConfig,
    /// `[openapi]`.
    pub openapi: OpenApiConfig,
    /// The profile (`APP_ENV`, `development` unless set).
    pub profile: String,
    /// The config files that were read, lowest precedence first.
    pub files: Vec<PathBuf>,
    /// Problems that did not stop loading (unknown keys outside production), to be logged.
    pub warnings: Vec<String>,
    /// The environment variable names in use, for messages that name the variable to set.
    pub env: EnvNames,
}

/// Loads configuration from the layered sources; see the [module docs](super).
///
/// `App` uses one internally; use one directly to load config outside an app or in tests, where
/// [`env_vars`](Loader::env_vars) keeps the process environment out of it.
#[derive(Clone)]
pub struct Loader {
    dir: Option<PathBuf>,
    profile: Option<String>,
    env_names: EnvNames,
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
            .field("prefix", &self.env_names.prefix())
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

/// Stage 1's result: where config comes from, decided once.
struct Sources {
    profile: String,
    dir: Option<PathBuf>,
    /// Every variable, the real environment's winning over `.env`'s, with its origin.
    vars: HashMap<String, (String, Origin)>,
}

/// One source's leaf keys (dotted), each with its value and where it came from.
struct Layer {
    leaves: Vec<(String, toml::Value, Origin)>,
    /// Whether its keys are checked against the schema (not for defaults, which are the schema).
    checked: bool,
}

impl Loader {
    /// A loader reading the process environment, `./.env` and the config folder.
    pub fn new() -> Self {
        Self {
            dir: None,
            profile: None,
            env_names: EnvNames::default(),
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

    /// The environment variable prefix, `APP` by default. It names all three kinds of
    /// variable ([`EnvNames`]): `SHOP` reads `SHOP__SERVER__PORT`, `SHOP_ENV` and
    /// `SHOP_CONFIG_DIR`, and messages name those.
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.env_names = EnvNames::new(prefix);
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

    /// The environment variable names this loader reads.
    pub fn env_names(&self) -> &EnvNames {
        &self.env_names
    }

    /// The profile this loader will use: its own setting, else `APP_ENV` from the environment
    /// or the `.env` file, else `development` — exactly as [`load`](Loader::load) decides it.
    pub fn resolved_profile(&self) -> Result<String, ConfigError> {
        self.profile_from(&self.read_vars()?)
    }

    /// Loads and validates the framework's sections and the app's struct `C`.
    pub fn load<C: Config>(&self) -> Result<Loaded<C>, ConfigError> {
        self.load_checked().0
    }

    /// [`load`](Loader::load), with the warnings (unknown keys outside production) also when
    /// loading fails: `config check` reports both.
    pub(crate) fn load_checked<C: Config>(&self) -> (Result<Loaded<C>, ConfigError>, Vec<String>) {
        let mut warnings = Vec::new();
        let result = self.load_collecting(&mut warnings);
        (result, warnings)
    }

    fn load_collecting<C: Config>(&self, warnings_out: &mut Vec<String>) -> Result<Loaded<C>, ConfigError> {
        let sources = self.resolve_sources()?;
        let schema = schema::<C>();
        // Every problem is reported at once: each stage's failures are collected, and a value
        // that does not deserialize is set aside so the rest can be checked.
        let mut problems = Vec::new();
        let (layers, files) = self.read_layers(&sources, &schema, &mut problems)?;
        let mut tree = Tree::merge(&layers);
        let warnings = self.check_keys(&schema, &layers, &tree, &sources, &mut problems);
        warnings_out.clone_from(&warnings);
        let mut stand_ins = Vec::new();
        let framework: Option<FrameworkConfig> =
            self.deserialize_all(&mut tree, &schema, &layers[0], &mut problems, &mut stand_ins);
        let app: Option<C> = self.deserialize_all(&mut tree, &schema, &layers[0], &mut problems, &mut stand_ins);
        let (Some(framework), Some(app)) = (framework, app) else {
            return Err(ConfigError::from_list(problems).expect("a section that did not load has a problem"));
        };
        if let Err(invalid) = self.validate(&tree, [framework.validate(), app.validate()]) {
            // A hook judging a value put in place of a bad one would report a problem the user
            // does not have: only the others count.
            let judged_stand_in = |key: &str| {
                stand_ins
                    .iter()
                    .any(|s| key == s || key.starts_with(&format!("{s}.")) || s.starts_with(&format!("{key}.")))
            };
            problems.extend(invalid.into_list().into_iter().filter(|p| !p.key().is_some_and(judged_stand_in)));
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
            rate_limit: framework.rate_limit,
            pagination: framework.pagination,
            openapi: framework.openapi,
            profile: sources.profile,
            files,
            warnings,
            env: self.env_names.clone(),
        })
    }

    /// Every key of the config `C` would load, with its value and where the value came from —
    /// secrets redacted — for `config show`. Only stages 1 to 3 run: what would fail
    /// [`load`](Loader::load) (a missing or malformed key) still shows here, so run both.
    ///
    /// ```
    /// use trestle::config::{Loader, NoConfig, Origin};
    ///
    /// let settings = Loader::new()
    ///     .env_vars([("APP__SERVER__PORT", "8080"), ("APP__AUTH__JWT__SECRET", "0123456789abcdef0123456789abcdef")])
    ///     .explain::<NoConfig>()
    ///     .unwrap();
    /// let port = settings.iter().find(|s| s.key == "server.port").unwrap();
    /// assert_eq!(port.value.as_deref(), Some("\"8080\""));
    /// assert_eq!(port.origin, Some(Origin::Env { var: "APP__SERVER__PORT".into() }));
    /// let secret = settings.iter().find(|s| s.key == "auth.jwt.secret").unwrap();
    /// assert_eq!(secret.value.as_deref(), Some("\"[REDACTED]\""));
    /// ```
    pub fn explain<C: Config>(&self) -> Result<Vec<Setting>, ConfigError> {
        let sources = self.resolve_sources()?;
        let schema = schema::<C>();
        // What cannot be read (a secret file) is left out here; `load` reports it.
        let (layers, _) = self.read_layers(&sources, &schema, &mut Vec::new())?;
        let tree = Tree::merge(&layers);
        let mut known = Vec::new();
        leaves("", &schema, &mut known);
        let mut out: Vec<Setting> = known
            .iter()
            .map(|(key, field)| {
                let value = tree.get(key).map(|v| shown(key, v, field.secret || field.ty.contains("Secret")));
                Setting {
                    origin: value.as_ref().map(|_| tree.origin_of_value(key)),
                    env_var: self.env_names.var(key),
                    key: key.clone(),
                    value,
                    known: true,
                }
            })
            .collect();
        // Keys no struct knows (typos, leftovers): shown, redacted, so `show` explains a warning.
        for (key, origin) in &tree.origins {
            if !known.iter().any(|(k, _)| key == k || key.starts_with(&format!("{k}."))) {
                out.push(Setting {
                    key: key.clone(),
                    value: Some("\"[REDACTED]\"".to_owned()),
                    origin: Some(origin.clone()),
                    env_var: self.env_names.var(key),
                    known: false,
                });
            }
        }
        Ok(out)
    }

    /// Stage 1: the variables, the profile and the config folder.
    fn resolve_sources(&self) -> Result<Sources, ConfigError> {
        let vars = self.read_vars()?;
        let profile = self.profile_from(&vars)?;
        let dir = self.config_dir(&vars)?;
        Ok(Sources { profile, dir, vars })
    }

    /// The environment (or the variables given), completed by `.env` where the environment does
    /// not set a variable.
    fn read_vars(&self) -> Result<HashMap<String, (String, Origin)>, ConfigError> {
        let real: Vec<(String, String)> = match &self.env {
            Some(vars) => vars.clone(),
            None => {
                std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
            }
        };
        let mut vars: HashMap<String, (String, Origin)> =
            real.into_iter().map(|(k, v)| (k.clone(), (v, Origin::Env { var: k }))).collect();
        for (k, v) in self.read_dotenv()? {
            if let std::collections::hash_map::Entry::Vacant(slot) = vars.entry(k) {
                let origin = Origin::DotEnv { path: self.dotenv.clone().unwrap_or_default(), var: slot.key().clone() };
                slot.insert((v, origin));
            }
        }
        Ok(vars)
    }

    fn read_dotenv(&self) -> Result<Vec<(String, String)>, ConfigError> {
        let Some(path) = &self.dotenv else { return Ok(Vec::new()) };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(ConfigError::Read { path: path.clone(), source }),
        };
        let mut out = Vec::new();
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            match item {
                Ok(pair) => out.push(pair),
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

    fn profile_from(&self, vars: &HashMap<String, (String, Origin)>) -> Result<String, ConfigError> {
        let var = self.env_names.profile_var();
        let profile = self
            .profile
            .clone()
            .or_else(|| vars.get(&var).map(|(v, _)| v.clone()))
            .unwrap_or_else(|| "development".into());
        if profile.is_empty() || !profile.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(ConfigError::BadProfile { profile, var });
        }
        Ok(profile)
    }

    fn config_dir(&self, vars: &HashMap<String, (String, Origin)>) -> Result<Option<PathBuf>, ConfigError> {
        if let Some(dir) = &self.dir {
            return Ok(Some(dir.clone()));
        }
        let var = self.env_names.dir_var();
        if let Some((dir, _)) = vars.get(&var) {
            let path = PathBuf::from(dir);
            return if path.is_dir() { Ok(Some(path)) } else { Err(ConfigError::MissingDir { path, var }) };
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

    /// Stage 2: defaults, `default.toml`, `{profile}.toml`, the variables, code — lowest first —
    /// and the files that were read.
    fn read_layers(
        &self,
        sources: &Sources,
        schema: &[Field],
        problems: &mut Vec<ConfigError>,
    ) -> Result<(Vec<Layer>, Vec<PathBuf>), ConfigError> {
        let defaults = defaults_tree(schema).map_err(|(key, message)| ConfigError::Invalid {
            env_var: self.env_names.var(&key),
            key,
            origin: Origin::Default,
            message: format!("the default cannot be written as a config value ({message})"),
        })?;
        let mut leaves = Vec::new();
        flatten("", defaults, &mut |key, value| leaves.push((key, value, Origin::Default)));
        let mut layers = vec![Layer { leaves, checked: false }];

        let mut files = Vec::new();
        if let Some(dir) = &sources.dir {
            for name in ["default", sources.profile.as_str()] {
                let path = dir.join(format!("{name}.toml"));
                let text = match std::fs::read_to_string(&path) {
                    Ok(text) => text,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(source) => return Err(ConfigError::Read { path, source }),
                };
                layers.push(Layer { leaves: read_file(&path, &text)?, checked: true });
                files.push(path);
            }
        }

        let mut leaves = self.variable_leaves(sources, schema, problems);
        // Variables come in no particular order; sorting keeps warnings stable.
        leaves.sort_by(|a, b| a.0.cmp(&b.0));
        layers.push(Layer { leaves, checked: true });

        let leaves = self.overrides.iter().map(|(k, v)| (k.clone(), toml::Value::String(v.clone()), Origin::Code));
        layers.push(Layer { leaves: leaves.collect(), checked: true });
        Ok((layers, files))
    }

    /// The variables' leaves. `APP__AUTH__JWT__SECRET_FILE=/run/secrets/jwt` sets
    /// `auth.jwt.secret` to the file's contents (without its final newline): the Docker and
    /// Kubernetes secrets convention, for any key (or entry of a map-valued key, such as one OTLP
    /// header) whose name plus `_file` is not a key itself. A file that cannot be read is a
    /// problem added to `problems`; the value and its `_FILE` both set by one source is another
    /// (the real environment still wins over `.env`).
    fn variable_leaves(
        &self,
        sources: &Sources,
        schema: &[Field],
        problems: &mut Vec<ConfigError>,
    ) -> Vec<(String, toml::Value, Origin)> {
        let mut known = Vec::new();
        leaves("", schema, &mut known);
        let is_known = |key: &str| known.iter().any(|(k, _)| k == key);
        let in_known_map = |key: &str| known.iter().any(|(k, _)| key.starts_with(&format!("{k}.")));
        // (key, value, origin, from the real environment)
        let mut found: Vec<(String, toml::Value, Origin, bool)> = Vec::new();
        for (var, (value, origin)) in &sources.vars {
            let Some(key) = self.env_names.key(var) else { continue };
            let real = matches!(origin, Origin::Env { .. });
            let base =
                key.strip_suffix("_file").filter(|base| (is_known(base) || in_known_map(base)) && !is_known(&key));
            let Some(base) = base else {
                found.push((key, toml::Value::String(value.clone()), origin.clone(), real));
                continue;
            };
            let path = PathBuf::from(value);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let text = text.strip_suffix('\n').map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
                    let origin = Origin::EnvFile { var: var.clone(), path };
                    found.push((base.to_owned(), toml::Value::String(text.to_owned()), origin, real));
                }
                Err(source) => {
                    // A value that is no path may be the secret itself, put in the wrong variable.
                    let path = if value.contains('/') { path } else { PathBuf::from("(a value that is not a path)") };
                    problems.push(ConfigError::SecretFile { var: var.clone(), path, source });
                }
            }
        }
        let mut out: Vec<(String, toml::Value, Origin)> = Vec::new();
        for (key, value, origin, real) in &found {
            let rivals: Vec<&(String, toml::Value, Origin, bool)> = found.iter().filter(|(k, ..)| k == key).collect();
            if rivals.len() > 1 {
                // The real environment wins over `.env`; two of one source are a conflict.
                if rivals.iter().any(|(.., r)| *r) && !*real {
                    continue;
                }
                if rivals.iter().filter(|(.., r)| r == real).count() > 1 {
                    if !problems.iter().any(|p| p.key() == Some(key.as_str())) {
                        let names: Vec<String> = rivals.iter().map(|(_, _, o, _)| o.to_string()).collect();
                        problems.push(ConfigError::Invalid {
                            env_var: self.env_names.var(key),
                            origin: origin.clone(),
                            message: format!("it is set twice ({}): unset one of them", names.join(" and ")),
                            key: key.clone(),
                        });
                    }
                    continue;
                }
            }
            out.push((key.clone(), value.clone(), origin.clone()));
        }
        out
    }

    /// Stage 4: every required key set somewhere, no unknown keys (in production, or set in
    /// code; elsewhere they are returned as warnings). Problems are added to `problems`.
    fn check_keys(
        &self,
        schema: &[Field],
        layers: &[Layer],
        tree: &Tree,
        sources: &Sources,
        problems: &mut Vec<ConfigError>,
    ) -> Vec<String> {
        let mut known = Vec::new();
        leaves("", schema, &mut known);
        for (key, field) in known.iter().filter(|(_, f)| f.required()) {
            if !tree.has(key) {
                problems.push(self.missing(key, field, sources.dir.as_deref()));
            }
        }
        let mut warnings = Vec::new();
        for (key, _, origin) in layers.iter().filter(|l| l.checked).flat_map(|l| &l.leaves) {
            let is_known = known.iter().any(|(k, _)| key == k || key.starts_with(&format!("{k}.")));
            if !is_known {
                let suggestion = closest(key, known.iter().map(|(k, _)| k.as_str())).map(str::to_owned);
                let error = ConfigError::Unknown { key: key.clone(), origin: origin.clone(), suggestion };
                // A key set in code is never a leftover in a file: a typo there is a bug.
                if sources.profile == "production" || matches!(origin, Origin::Code) {
                    problems.push(error);
                } else {
                    warnings.push(error.to_string());
                }
            }
        }
        warnings
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
            env_var: self.env_names.var(key),
        }
    }

    /// Stage 5 for every bad value: `T` from the merged tree; each value that fails is set
    /// aside (its default put back, else removed, else a value of some kind in its place) and `T`
    /// tried again, so one bad value does not hide the next. Failures are added to `problems`, except
    /// for a key already there (a missing key is reported once); the keys set aside are added to
    /// `stand_ins`, whose values the validation hooks must not be judged on.
    fn deserialize_all<T: Config>(
        &self,
        tree: &mut Tree,
        schema: &[Field],
        defaults: &Layer,
        problems: &mut Vec<ConfigError>,
        stand_ins: &mut Vec<String>,
    ) -> Option<T> {
        let mut attempts: Vec<(String, u8)> = Vec::new();
        loop {
            let error = match self.deserialize::<T>(tree, schema) {
                Ok(value) => return Some(value),
                Err(error) => error,
            };
            let key = error.key().unwrap_or_default().to_owned();
            let attempt = match attempts.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    attempts.push((key.clone(), 1));
                    1
                }
            };
            if attempt == 1 && !problems.iter().any(|p| p.key() == Some(key.as_str())) {
                problems.push(error);
            }
            if attempts.len() > 64 {
                return None;
            }
            let under = format!("{key}.");
            let default_leaves: Vec<_> =
                defaults.leaves.iter().filter(|(k, _, _)| *k == key || k.starts_with(&under)).collect();
            match attempt {
                // Its default (a leaf, or a section's leaves).
                1 if !default_leaves.is_empty() => {
                    tree.remove(&key);
                    for (k, value, _) in default_leaves {
                        tree.insert(k, value.clone(), Origin::Default);
                    }
                }
                // No default: absent (an `Option` reads as `None`), then a value of each kind
                // in turn (text, number, boolean, list) until one fits.
                1 => tree.remove(&key),
                n if default_leaves.is_empty() && n <= 5 => {
                    let stand_in = match n {
                        2 => toml::Value::String(String::new()),
                        3 => toml::Value::Integer(0),
                        4 => toml::Value::Boolean(false),
                        _ => toml::Value::Array(Vec::new()),
                    };
                    tree.insert(&key, stand_in, Origin::Default);
                }
                // Setting it aside did not help: the rest of `T` stays unchecked.
                _ => return None,
            }
            if !stand_ins.contains(&key) {
                stand_ins.push(key);
            }
        }
    }

    /// Stage 5: `T` from the merged tree.
    fn deserialize<T: Config>(&self, tree: &Tree, schema: &[Field]) -> Result<T, ConfigError> {
        de::from_tree(tree.root.clone()).map_err(|de::Located { key, error }| {
            let origin = tree.origin(&key);
            let env_var = self.env_names.var(&key);
            match error {
                de::Error::WrongType { found, expected } => {
                    ConfigError::WrongType { key, origin, expected, found, env_var }
                }
                de::Error::Missing(field) => {
                    // Reported at the key itself, where the check of required keys reports it,
                    // from where the table it belongs in came.
                    let key = join(&key, field);
                    ConfigError::Invalid {
                        origin,
                        env_var: self.env_names.var(&key),
                        message: "the key is missing".to_owned(),
                        key,
                    }
                }
                de::Error::Invalid(message) => {
                    let mut known = Vec::new();
                    leaves("", schema, &mut known);
                    let secret = known.iter().find(|(k, f)| *k == key && f.secret).map(|(_, f)| f.doc);
                    ConfigError::Invalid {
                        // A secret's parse error may quote the value: say only that it is
                        // invalid. The key's own doc says what a valid value looks like.
                        message: match secret {
                            Some(doc) => format!("the value is not valid for this secret ({})", doc.trim()),
                            None => message,
                        },
                        key,
                        origin,
                        env_var,
                    }
                }
            }
        })
    }

    /// Stage 6: every failure of the validation hooks, at once.
    fn validate<const N: usize>(
        &self,
        tree: &Tree,
        results: [Result<(), super::ValidationErrors>; N],
    ) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        for errors in results.into_iter().filter_map(Result::err) {
            for (key, message) in errors.iter() {
                problems.push(ConfigError::Invalid {
                    key: key.to_owned(),
                    origin: tree.origin(key),
                    message: message.to_owned(),
                    env_var: self.env_names.var(key),
                });
            }
        }
        ConfigError::from_list(problems).map_or(Ok(()), Err)
    }
}

/// Every field `load` and `explain` read: the app's struct, then the framework's sections.
fn schema<C: Config>() -> Vec<Field> {
    let mut schema = C::fields();
    schema.extend(FrameworkConfig::fields());
    schema
}

/// One key of the effective config, as [`Loader::explain`] reports it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Setting {
    /// The dotted key (`server.port`).
    pub key: String,
    /// The value as TOML (`8080`, `"0.0.0.0"`, `["a", "b"]`), `"[REDACTED]"` for a secret (a
    /// database URL shows without its password); `None` when no source sets an optional key.
    pub value: Option<String>,
    /// Where the value came from (`None` when unset).
    pub origin: Option<Origin>,
    /// The environment variable that sets it.
    pub env_var: String,
    /// Whether a config struct knows the key (an unknown key is a typo or a leftover).
    pub known: bool,
}

/// Key names (whole, or after a `_`) whose text values are treated as secrets even when their
/// field is not marked one.
const SECRET_NAMES: [&str; 11] = [
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "secret_key",
    "access_key",
    "credentials",
    "dsn",
];

/// `value` as TOML for `config show`: secrets redacted; a database URL, and any URL in a value
/// that is not secret, without its password.
fn shown(key: &str, value: &toml::Value, secret: bool) -> String {
    let name = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    let named = SECRET_NAMES.iter().any(|s| name == *s || name.ends_with(&format!("_{s}")));
    let secret = secret || (named && matches!(value, toml::Value::String(_) | toml::Value::Table(_)));
    match value {
        toml::Value::String(url) if secret && key == "database.url" => {
            toml::Value::String(super::DatabaseUrl::new(url).redacted()).to_string()
        }
        toml::Value::String(url) if !secret && url.contains("://") => {
            toml::Value::String(super::DatabaseUrl::new(url).redacted()).to_string()
        }
        toml::Value::Table(table) if secret && table.is_empty() => "{}".to_owned(),
        toml::Value::Table(table) if secret => {
            // A map of secrets (headers): the names help, the values stay hidden.
            let names: Vec<String> = table.keys().map(|k| format!("{} = \"[REDACTED]\"", toml_key(k))).collect();
            format!("{{ {} }}", names.join(", "))
        }
        _ if secret => "\"[REDACTED]\"".to_owned(),
        other => other.to_string(),
    }
}

/// A table key as TOML writes it: bare when it can be.
pub(crate) fn toml_key(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        key.to_owned()
    } else {
        toml::Value::String(key.to_owned()).to_string()
    }
}

/// A file's leaf keys with their values and lines, from one parse.
fn read_file(path: &Path, text: &str) -> Result<Vec<(String, toml::Value, Origin)>, ConfigError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    // The parser's message, never the line's text, which may hold a secret.
    let parse_error = |e: toml::de::Error| {
        let offset = e.span().map_or(0, |s| s.start);
        let line_start = text[..offset.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
        ConfigError::Parse {
            path: path.to_owned(),
            line: line_of(offset),
            column: offset - line_start + 1,
            message: e.message().trim().to_owned(),
        }
    };
    let table = toml::de::DeTable::parse(text).map_err(parse_error)?;
    let mut out = Vec::new();
    let mut pending = vec![(String::new(), table.into_inner())];
    while let Some((prefix, table)) = pending.pop() {
        for (key, value) in table {
            let dotted = join(&prefix, key.get_ref());
            match value.get_ref() {
                toml::de::DeValue::Table(inner) if !inner.is_empty() => pending.push((dotted, inner.clone())),
                _ => {
                    let origin = Origin::File { path: path.to_owned(), line: line_of(key.span().start) };
                    let value = serde::Deserialize::deserialize(toml::de::ValueDeserializer::from(value))
                        .map_err(parse_error)?;
                    out.push((dotted, value, origin));
                }
            }
        }
    }
    Ok(out)
}

/// Every leaf of `table` with its dotted key; an empty table is a leaf.
fn flatten(prefix: &str, table: toml::Table, out: &mut impl FnMut(String, toml::Value)) {
    for (name, value) in table {
        let key = join(prefix, &name);
        match value {
            // An empty table is a value of its own (an empty map).
            toml::Value::Table(inner) if !inner.is_empty() => flatten(&key, inner, out),
            leaf => out(key, leaf),
        }
    }
}

/// Stage 3's result: one tree of every layer, the higher overriding the lower, and the origin
/// of every leaf.
struct Tree {
    root: toml::Table,
    origins: BTreeMap<String, Origin>,
}

impl Tree {
    fn merge(layers: &[Layer]) -> Tree {
        let mut tree = Tree { root: toml::Table::new(), origins: BTreeMap::new() };
        for (key, value, origin) in layers.iter().flat_map(|l| &l.leaves) {
            tree.insert(key, value.clone(), origin.clone());
        }
        tree
    }

    fn insert(&mut self, key: &str, value: toml::Value, origin: Origin) {
        let mut table = &mut self.root;
        let mut segments = key.split('.').peekable();
        let mut walked = String::new();
        while let Some(segment) = segments.next() {
            walked = join(&walked, segment);
            if segments.peek().is_none() {
                table.insert(segment.to_owned(), value);
                // What was under the key before (a table's leaves) is gone.
                let under = format!("{walked}.");
                self.origins.retain(|k, _| !k.starts_with(&under));
                self.origins.insert(walked, origin);
                return;
            }
            let slot = table.entry(segment).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !slot.is_table() {
                // A leaf replaced by a table (a variable setting a key under it).
                *slot = toml::Value::Table(toml::Table::new());
                self.origins.remove(&walked);
            }
            let toml::Value::Table(inner) = slot else { unreachable!("made a table just above") };
            table = inner;
        }
    }

    /// Removes the value at `key` (and the origins under it).
    fn remove(&mut self, key: &str) {
        let (parent, name) = key.rsplit_once('.').unwrap_or(("", key));
        let mut table = &mut self.root;
        for segment in parent.split('.').filter(|s| !s.is_empty()) {
            match table.get_mut(segment) {
                Some(toml::Value::Table(inner)) => table = inner,
                _ => return,
            }
        }
        table.remove(name);
        let under = format!("{key}.");
        self.origins.retain(|k, _| k != key && !k.starts_with(&under));
    }

    /// Where the value at `key` came from; for a table (a map-valued key), where its first
    /// entry did.
    fn origin_of_value(&self, key: &str) -> Origin {
        let under = format!("{key}.");
        match self.origins.iter().find(|(k, o)| k.starts_with(&under) && **o != Origin::Default) {
            Some((_, origin)) if !self.origins.contains_key(key) => origin.clone(),
            _ => self.origin(key),
        }
    }

    /// The value at `key`, if any source sets it.
    fn get(&self, key: &str) -> Option<&toml::Value> {
        let mut segments = key.split('.');
        let mut value = self.root.get(segments.next()?)?;
        for segment in segments {
            value = value.as_table()?.get(segment)?;
        }
        Some(value)
    }

    /// Whether a source other than the defaults sets `key`, or keys under it (a map-valued
    /// field).
    fn has(&self, key: &str) -> bool {
        let under = format!("{key}.");
        self.origins.iter().any(|(k, o)| (k == key || k.starts_with(&under)) && *o != Origin::Default)
    }

    /// Where the value of `key` that won came from: its own origin, else the origin of the
    /// value it lies in, else the defaults (a section).
    fn origin(&self, key: &str) -> Origin {
        let mut key = key;
        loop {
            if let Some(origin) = self.origins.get(key) {
                return origin.clone();
            }
            match key.rsplit_once('.') {
                Some((parent, _)) => key = parent,
                None => return Origin::Default,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(leaves: &[(&str, toml::Value, Origin)]) -> Layer {
        Layer {
            leaves: leaves.iter().map(|(k, v, o)| ((*k).to_owned(), v.clone(), o.clone())).collect(),
            checked: true,
        }
    }

    #[test]
    fn higher_layers_win_and_keep_their_origin() {
        let env = Origin::Env { var: "APP__SERVER__PORT".into() };
        let tree = Tree::merge(&[
            layer(&[("server.port", 3000.into(), Origin::Default), ("server.host", "a".into(), Origin::Default)]),
            layer(&[("server.port", "80".into(), env.clone())]),
        ]);
        assert_eq!(tree.root["server"]["port"].as_str(), Some("80"));
        assert_eq!(tree.root["server"]["host"].as_str(), Some("a"));
        assert_eq!(tree.origin("server.port"), env);
        assert_eq!(tree.origin("server.host"), Origin::Default);
        assert!(tree.has("server.port") && !tree.has("server.host"));
    }

    #[test]
    fn a_leaf_replacing_a_table_drops_the_table_origins() {
        let code = Origin::Code;
        let tree = Tree::merge(&[
            layer(&[("flags.beta", true.into(), Origin::Env { var: "X".into() })]),
            layer(&[("flags", "beta".into(), code.clone())]),
        ]);
        assert_eq!(tree.origin("flags.beta"), code, "the value under a leaf comes from the leaf");
        assert_eq!(tree.origins.len(), 1);
    }

    #[test]
    fn file_leaves_carry_their_lines() {
        let leaves = read_file(Path::new("c.toml"), "a = 1\n\n[s]\nb = \"x\"\nc = [1, 2]\n").unwrap();
        let lines: BTreeMap<_, _> = leaves
            .iter()
            .map(|(k, _, o)| match o {
                Origin::File { line, .. } => (k.as_str(), *line),
                _ => panic!("{o:?}"),
            })
            .collect();
        assert_eq!(lines, BTreeMap::from([("a", 1), ("s.b", 4), ("s.c", 5)]));
    }
}
