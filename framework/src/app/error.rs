//! `StartupError`: why an app did not start. Not a request error: it never becomes a problem
//! document, and it keeps the subsystem's error as its `source()`.

use std::fmt;

use crate::auth::AuthError;
use crate::config::ConfigError;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
use crate::db::DbError;
use crate::rate_limit::RateLimitError;
use crate::routing::RouteConflict;
use crate::telemetry::TelemetryError;

/// Why the app did not start: one variant per startup phase or subsystem, each keeping the
/// subsystem's own error as [`source`](std::error::Error::source).
///
/// Match on the variant to tell failures apart:
///
/// ```
/// use trestle::{App, StartupError};
///
/// # async fn demo() {
/// let result = App::new().configure(|c| c.set("server.port", "not-a-port")).into_router().await;
/// assert!(matches!(result, Err(StartupError::Config(_))));
/// # }
/// ```
///
/// `Debug` prints the message and its causes (what `main` shows when it returns one), never a
/// secret: the subsystems' messages redact them.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The config could not be loaded or is invalid.
    #[error("{0}")]
    Config(
        #[from]
        #[source]
        ConfigError,
    ),
    /// Logging or trace export could not start.
    #[error("{source}{}", hint(source.config_key(), env_var))]
    Telemetry {
        /// What went wrong.
        source: TelemetryError,
        /// The environment variable of the config key to fix, if one is to blame.
        env_var: Option<String>,
    },
    /// The database could not be connected or migrated.
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))))]
    #[error("{source}{}", hint(source.config_key(), env_var))]
    Database {
        /// What went wrong.
        source: DbError,
        /// The environment variable of the config key to fix, if one is to blame.
        env_var: Option<String>,
    },
    /// The JWT keys of `[auth.jwt]` could not be loaded.
    #[error("{source}{}", hint(source.config_key(), env_var))]
    Auth {
        /// What went wrong.
        source: AuthError,
        /// The environment variable of the config key to fix, if one is to blame.
        env_var: Option<String>,
    },
    /// `[rate_limit]` cannot be set up as configured.
    #[error("{source}{}", hint(source.config_key(), env_var))]
    RateLimit {
        /// What went wrong.
        source: RateLimitError,
        /// The environment variable of the config key to fix, if one is to blame.
        env_var: Option<String>,
    },
    /// The app's state constructor ([`App::state_async`](crate::App::state_async)) failed.
    #[error("building the app's state failed: {cause:#}; the error came from the closure given to App::state_async")]
    State {
        /// The error the constructor returned, with its causes (shown in the message).
        cause: anyhow::Error,
    },
    /// Two routes claim the same method and path (macro routes, `Router`s, health, metrics).
    #[error("{0}")]
    Routes(
        #[from]
        #[source]
        RouteConflict,
    ),
    /// A setting of the default middleware stack cannot be used (a CORS origin that is not a
    /// header value, …).
    #[error("config key `{key}` holds {value:?}, which {problem}; fix it in the config file or {env_var}")]
    Middleware {
        /// The config key.
        key: String,
        /// Its value (never a secret: these keys hold none).
        value: String,
        /// What is wrong with it.
        problem: &'static str,
        /// The environment variable that sets the key.
        env_var: String,
    },
    /// One of the app's own commands ([`App::commands`](crate::App::commands)) failed.
    #[error("command `{name}` failed: {source}")]
    Command {
        /// The command's name.
        name: String,
        /// The error it returned.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}; set {keys} ({env_vars}) to a free address, or stop whatever holds it")]
    Bind {
        /// The address.
        addr: String,
        /// The config keys that choose it.
        keys: String,
        /// Their environment variables.
        env_vars: String,
        /// The system's reason.
        source: std::io::Error,
    },
}

/// `; the environment variable X sets key`, or nothing.
fn hint(key: Option<&str>, env_var: &Option<String>) -> String {
    match (key, env_var) {
        (Some(key), Some(var)) => format!("; the environment variable {var} sets {key}"),
        _ => String::new(),
    }
}

impl fmt::Debug for StartupError {
    /// The message, then each cause on its own line: what `main` prints when it returns this.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.to_string();
        f.write_str(&shown)?;
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            let text = e.to_string();
            // A cause whose message is already part of the one shown adds nothing.
            if !shown.contains(&text) {
                write!(f, "\n  caused by: {text}")?;
                shown = text;
            }
            cause = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_subsystem_error_as_source() {
        let e =
            StartupError::Auth { source: AuthError::ShortSecret(3), env_var: Some("SHOP__AUTH__JWT__SECRET".into()) };
        let source = std::error::Error::source(&e).expect("a source");
        assert!(source.downcast_ref::<AuthError>().is_some());
        let text = e.to_string();
        assert!(text.contains("3 bytes") && text.contains("SHOP__AUTH__JWT__SECRET"), "{text}");
    }

    #[test]
    fn debug_prints_the_message_and_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::AddrInUse, "address in use");
        let e = StartupError::Bind {
            addr: "127.0.0.1:80".into(),
            keys: "server.host / server.port".into(),
            env_vars: "APP__SERVER__HOST, APP__SERVER__PORT".into(),
            source: io,
        };
        let debug = format!("{e:?}");
        assert!(debug.starts_with("cannot listen on 127.0.0.1:80: address in use"), "{debug}");
        assert!(!debug.contains("caused by"), "the cause is already in the message: {debug}");
        assert!(std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()));
    }
}
