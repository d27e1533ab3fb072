//! The names of the environment variables config reads, all derived from one prefix.

/// The environment variables of one app: `{PREFIX}__SECTION__KEY` for keys, `{PREFIX}_ENV` for
/// the profile and `{PREFIX}_CONFIG_DIR` for the config folder.
///
/// The prefix is `APP` unless [`Loader::env_prefix`](super::Loader::env_prefix) changes it; the
/// loaded config carries the names ([`Loaded::env`](super::Loaded::env)) so every message can
/// name the variable that fixes it.
///
/// ```
/// use trestle::config::EnvNames;
///
/// let env = EnvNames::new("SHOP");
/// assert_eq!(env.var("server.port"), "SHOP__SERVER__PORT");
/// assert_eq!(env.profile_var(), "SHOP_ENV");
/// assert_eq!(env.dir_var(), "SHOP_CONFIG_DIR");
/// assert_eq!(env.key("SHOP__SERVER__PORT").as_deref(), Some("server.port"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvNames {
    prefix: String,
}

impl EnvNames {
    /// The names derived from `prefix` (`APP` gives `APP__…`, `APP_ENV`, `APP_CONFIG_DIR`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    /// The prefix itself (`APP`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The variable that sets a dotted key: `server.port` → `APP__SERVER__PORT`.
    pub fn var(&self, key: &str) -> String {
        format!("{}__{}", self.prefix, key.replace('.', "__").to_uppercase())
    }

    /// The variable that chooses the profile (`APP_ENV`).
    pub fn profile_var(&self) -> String {
        format!("{}_ENV", self.prefix)
    }

    /// The variable that names the config folder (`APP_CONFIG_DIR`).
    pub fn dir_var(&self) -> String {
        format!("{}_CONFIG_DIR", self.prefix)
    }

    /// The dotted key a variable sets (`APP__SERVER__PORT` → `server.port`), or `None` when the
    /// variable is not a config key.
    pub fn key(&self, var: &str) -> Option<String> {
        let rest = var.strip_prefix(&self.prefix)?.strip_prefix("__")?;
        Some(rest.split("__").map(str::to_lowercase).collect::<Vec<_>>().join("."))
    }
}

impl Default for EnvNames {
    /// The `APP` names.
    fn default() -> Self {
        Self::new("APP")
    }
}
