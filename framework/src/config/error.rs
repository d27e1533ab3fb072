//! What can go wrong while loading config, each message naming the key, where it came from and
//! the fix. Values are never echoed: they may be secrets.

use std::fmt;
use std::path::PathBuf;

/// Where a config value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The struct's `#[config(default = ...)]`.
    Default,
    /// A TOML file, with the line of the key.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line of the key.
        line: usize,
    },
    /// An environment variable.
    Env {
        /// The variable's name.
        var: String,
    },
    /// A line of the `.env` file.
    DotEnv {
        /// The `.env` file.
        path: PathBuf,
        /// The variable's name.
        var: String,
    },
    /// A file named by an environment variable ending in `_FILE` (a mounted secret).
    EnvFile {
        /// The variable (`APP__AUTH__JWT__SECRET_FILE`).
        var: String,
        /// The file it names.
        path: PathBuf,
    },
    /// `Loader::set` (code, usually a test).
    Code,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the built-in default"),
            Origin::File { path, line } => write!(f, "{} line {line}", path.display()),
            Origin::Env { var } => write!(f, "environment variable {var}"),
            Origin::DotEnv { path, var } => write!(f, "{var} in {}", path.display()),
            Origin::EnvFile { var, path } => write!(f, "file {} (named by {var})", path.display()),
            Origin::Code => f.write_str("Loader::set in code"),
        }
    }
}

/// What to do about a bad value, given where it came from.
fn fix(origin: &Origin, env_var: &str) -> String {
    match origin {
        Origin::Env { .. } | Origin::DotEnv { .. } => "fix that variable".to_owned(),
        Origin::EnvFile { .. } => "fix the file's contents".to_owned(),
        Origin::Code => "fix the value passed in code".to_owned(),
        Origin::Default => format!("set it in config/default.toml or {env_var}"),
        Origin::File { .. } => format!("fix it there or override it with {env_var}"),
    }
}

/// A config loading failure. The message names the key, the source and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A config file exists but cannot be read.
    #[error("cannot read config file {}: {source}; check the file's permissions", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A config file is not valid TOML.
    #[error("malformed TOML in {} line {line}, column {column}: {message}; fix the syntax there", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message (without the line's text, which may hold a secret).
        message: String,
    },
    /// A `…_FILE` variable names a file that cannot be read.
    #[error("{var} names {}, which cannot be read ({source}): mount the secret there, or unset {var}", path.display())]
    SecretFile {
        /// The variable.
        var: String,
        /// The file it names.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The `.env` file has a line that is not `KEY=value`.
    #[error("cannot parse {} line {line}: write each line as KEY=value (quote values that contain spaces or #)", path.display())]
    DotEnv {
        /// The `.env` file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// `APP_CONFIG_DIR` (named after the loader's prefix) names a folder that does not exist.
    #[error("{var} is {}, which is not a folder: create it or unset {var}", path.display())]
    MissingDir {
        /// The folder.
        path: PathBuf,
        /// The variable that named it (`APP_CONFIG_DIR`).
        var: String,
    },
    /// The profile (`APP_ENV`, named after the loader's prefix) is not a usable name.
    #[error(
        "{var}={profile:?} is not a profile name: use letters, digits, '-' or '_' (development, test, production)"
    )]
    BadProfile {
        /// The profile asked for.
        profile: String,
        /// The variable that chooses it (`APP_ENV`).
        var: String,
    },
    /// A required key is set nowhere.
    #[error("missing required config key `{key}` ({ty}): set `{name} = ...` under {section} in {file}, or the environment variable {env_var}")]
    Missing {
        /// Dotted key.
        key: String,
        /// Expected Rust type.
        ty: String,
        /// The key's last segment.
        name: String,
        /// `[section]` or "the top level".
        section: String,
        /// The file it belongs in.
        file: String,
        /// The variable that sets it.
        env_var: String,
    },
    /// A value has the wrong type.
    #[error("config key `{key}` from {origin}: expected {expected}, found {found}; {}", fix(origin, env_var))]
    WrongType {
        /// Dotted key.
        key: String,
        /// Where the bad value came from.
        origin: Origin,
        /// What the field needs.
        expected: String,
        /// What kind of value was found (never the value itself).
        found: String,
        /// The variable that sets it.
        env_var: String,
    },
    /// A value has the right type but is not acceptable (parse or validation failure).
    #[error("config key `{key}` from {origin}: {message}; {}", fix(origin, env_var))]
    Invalid {
        /// Dotted key (empty for a struct-level check).
        key: String,
        /// Where the value came from.
        origin: Origin,
        /// What is wrong.
        message: String,
        /// The variable that sets it.
        env_var: String,
    },
    /// A key no config struct knows (an error in the `production` profile).
    #[error("unknown config key `{key}` in {origin}{}; remove it or fix its name", suggestion.as_ref().map(|s| format!(": did you mean `{s}`?")).unwrap_or_default())]
    Unknown {
        /// Dotted key.
        key: String,
        /// Where it was found.
        origin: Origin,
        /// The nearest known key, when close enough to be a typo.
        suggestion: Option<String>,
    },
    /// Several problems, all reported at once.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<ConfigError>),
}

impl ConfigError {
    /// The key a problem is about, if it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Missing { key, .. }
            | ConfigError::WrongType { key, .. }
            | ConfigError::Invalid { key, .. }
            | ConfigError::Unknown { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The problems one by one (`Several` taken apart).
    pub(crate) fn into_list(self) -> Vec<ConfigError> {
        match self {
            ConfigError::Several(list) => list,
            one => vec![one],
        }
    }

    /// One error for one problem, `Several` for more.
    pub(crate) fn from_list(mut errors: Vec<ConfigError>) -> Option<ConfigError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(ConfigError::Several(errors)),
        }
    }
}
