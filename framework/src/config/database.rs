//! `[database]`: the pool, its limits and retries, migrations, SQLite's settings.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use trestle_macros::Config;

use super::duration;

/// `[database]`, read by `App::database()`.
#[derive(Clone, Debug, Config, Deserialize)]
pub struct DatabaseConfig {
    /// Connection URL: `sqlite://app.db`, `postgres://user:pass@host/db` or `mysql://…`. The
    /// password is redacted wherever the URL is shown.
    #[config(secret)]
    pub url: Option<DatabaseUrl>,
    /// Most connections the pool opens.
    #[config(default = 10, validate = super::schema::at_least_one)]
    pub max_connections: u32,
    /// Connections the pool keeps open even when idle.
    #[config(default = 0)]
    pub min_connections: u32,
    /// Longest a request waits for a free connection; then 503 with Retry-After.
    #[config(default = "5s")]
    #[serde(with = "duration")]
    pub acquire_timeout: Duration,
    /// Idle connections are closed after this long.
    #[config(default = "10m")]
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    /// Longest one connection attempt may take at startup.
    #[config(default = "5s")]
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// How often startup retries an unreachable database (backoff from 250 ms, doubling, at most 5 s).
    #[config(default = 5)]
    pub connect_retries: u32,
    /// Longest one statement may run before the server cancels it (the request gets 503), so a
    /// query whose request timed out stops holding locks: `auto` (a little under
    /// `server.request_timeout`: 1 s under it, or a tenth under it when that is shorter than
    /// 10 s; none when that is `0s`), a duration, or `0s` for none. PostgreSQL
    /// `statement_timeout`, MySQL `max_execution_time` (SELECTs only), MariaDB
    /// `max_statement_time`. SQLite has no server to cancel: a statement runs to its end, and
    /// only waiting for a lock is bounded (`busy_timeout`).
    #[config(default = "auto")]
    pub statement_timeout: StatementTimeout,
    /// Apply the app's embedded migrations at startup.
    #[config(default = true)]
    pub migrate: bool,
    /// Name the violated constraint in 409 problems (off: the client learns only that a value is taken).
    #[config(default = false)]
    pub expose_constraint_names: bool,
    /// SQLite: create the database file when it does not exist.
    #[config(default = true)]
    pub create_if_missing: bool,
    /// SQLite: journal mode (wal, delete, truncate, persist, memory, off).
    #[config(default = "wal")]
    pub journal_mode: String,
    /// SQLite: how long a write waits for a lock held by another connection.
    #[config(default = "5s")]
    #[serde(with = "duration")]
    pub busy_timeout: Duration,
}

/// `database.statement_timeout`: derived from the request timeout, a duration, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementTimeout {
    /// A little under `server.request_timeout` (resolved at startup).
    Auto,
    /// No server-side timeout (`0s`).
    Off,
    /// This long.
    After(Duration),
}

impl StatementTimeout {
    /// `Auto` made concrete for a request timeout: 1 s under it, or a tenth under it below
    /// 10 s; `Off` when requests have no limit.
    pub fn resolve(self, request_timeout: Duration) -> StatementTimeout {
        match self {
            StatementTimeout::Auto if request_timeout.is_zero() => StatementTimeout::Off,
            StatementTimeout::Auto => {
                StatementTimeout::After(request_timeout - (request_timeout / 10).min(Duration::from_secs(1)))
            }
            other => other,
        }
    }

    /// The timeout to set on each connection, if any (`Auto` not yet resolved sets none).
    pub fn duration(self) -> Option<Duration> {
        match self {
            StatementTimeout::After(d) => Some(d),
            StatementTimeout::Auto | StatementTimeout::Off => None,
        }
    }
}

impl<'de> Deserialize<'de> for StatementTimeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Seconds(u64),
        }
        let duration = match Raw::deserialize(d)? {
            Raw::Text(text) if text.trim().eq_ignore_ascii_case("auto") => return Ok(StatementTimeout::Auto),
            Raw::Text(text) => duration::parse(&text).map_err(|e| {
                serde::de::Error::custom(format!("{e}, or \"auto\" (a little under server.request_timeout)"))
            })?,
            Raw::Seconds(n) => Duration::from_secs(n),
        };
        Ok(if duration.is_zero() { StatementTimeout::Off } else { StatementTimeout::After(duration) })
    }
}

/// A database URL whose password never shows: `Display` and `Debug` print
/// `postgres://app:***@db/app`.
///
/// ```
/// use trestle::config::DatabaseUrl;
///
/// let url = DatabaseUrl::new("postgres://app:hunter2@db:5432/app");
/// assert_eq!(url.to_string(), "postgres://app:***@db:5432/app");
/// assert!(!format!("{url:?}").contains("hunter2"));
/// assert_eq!(url.expose(), "postgres://app:hunter2@db:5432/app");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The scheme (`postgres`, `sqlite`, …), lowercased.
    pub fn scheme(&self) -> String {
        self.0.split_once(':').map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default()
    }

    /// The database's name: the URL's path without its leading `/` and query (`shop` in
    /// `postgres://u:p@db/shop?sslmode=require`, the file of a SQLite URL). Never credentials.
    pub fn database_name(&self) -> String {
        let url = &self.0;
        if self.scheme() == "sqlite" {
            // The rest is the file (`sqlite://data/app.db`, `sqlite:app.db`, `sqlite::memory:`).
            let rest = url.split_once(':').map_or("", |(_, rest)| rest);
            let file = rest.strip_prefix("//").unwrap_or(rest);
            return file.split(['?', '#']).next().unwrap_or_default().to_owned();
        }
        let rest = match url.find("://") {
            Some(i) => {
                let rest = &url[i + 3..];
                // Past the user-info (up to its last `@`) and the host.
                let rest = rest.rfind('@').map_or(rest, |at| &rest[at + 1..]);
                match rest.find('/') {
                    Some(slash) => &rest[slash + 1..],
                    None => "",
                }
            }
            None => url.split_once(':').map_or("", |(_, rest)| rest),
        };
        rest.split(['?', '#']).next().unwrap_or_default().to_owned()
    }

    /// The URL with the password replaced by `***` (and any `password=` or `pass=` query
    /// parameter too).
    ///
    /// The user-info ends at the *last* `@`, so a password holding an unescaped `/`, `?` or `#`
    /// (common in generated passwords) is still hidden.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://") else {
            // Not a URL with an authority (`sqlite:app.db` shows as is); with an `@` it may be a
            // mistyped one holding credentials: show only its scheme.
            return match url.split_once(':') {
                Some((scheme, _)) if url.contains('@') => format!("{scheme}:***"),
                _ if url.contains('@') => "***".to_owned(),
                _ => url.clone(),
            };
        };
        let rest = &url[scheme_end + 3..];
        let (authority_prefix, rest) = match rest.rfind('@') {
            Some(at) => {
                let userinfo = &rest[..at];
                let shown = match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:***@"),
                    None => format!("{userinfo}@"),
                };
                (shown, &rest[at + 1..])
            }
            None => (String::new(), rest),
        };
        let tail = match rest.split_once('?') {
            Some((path, query)) => {
                let query: Vec<String> = query
                    .split('&')
                    .map(|kv| match kv.split_once('=') {
                        // `pass`: how Redis URLs of Unix sockets carry it.
                        Some((k, _)) if k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("pass") => {
                            format!("{k}=***")
                        }
                        _ => kv.to_owned(),
                    })
                    .collect();
                format!("{path}?{}", query.join("&"))
            }
            None => rest.to_owned(),
        };
        format!("{}://{authority_prefix}{tail}", &url[..scheme_end])
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.redacted())
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(DatabaseUrl)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_name_is_the_path_never_the_credentials() {
        let name = |url: &str| DatabaseUrl::new(url).database_name();
        assert_eq!(name("postgres://app:s3cret@db.internal:5432/shop?sslmode=require"), "shop");
        assert_eq!(name("mysql://root:p@ss/word@127.0.0.1/test"), "test");
        assert_eq!(name("postgres://localhost"), "");
        assert_eq!(name("sqlite://data/app.db?mode=rwc"), "data/app.db");
        assert_eq!(name("sqlite::memory:"), ":memory:");
    }

    use super::*;

    #[test]
    fn statement_timeout_is_a_little_under_the_request_timeout() {
        let auto = StatementTimeout::Auto;
        assert_eq!(auto.resolve(Duration::from_secs(30)).duration(), Some(Duration::from_secs(29)));
        assert_eq!(auto.resolve(Duration::from_secs(2)).duration(), Some(Duration::from_millis(1800)));
        assert_eq!(auto.resolve(Duration::ZERO), StatementTimeout::Off);
        let set = StatementTimeout::After(Duration::from_secs(3));
        assert_eq!(set.resolve(Duration::from_secs(30)), set);
        let parse = |v: serde_json::Value| StatementTimeout::deserialize(v).map_err(|e| e.to_string());
        assert_eq!(parse("auto".into()), Ok(StatementTimeout::Auto));
        assert_eq!(parse("0s".into()), Ok(StatementTimeout::Off));
        assert_eq!(parse("1500ms".into()), Ok(StatementTimeout::After(Duration::from_millis(1500))));
        assert_eq!(parse(2.into()), Ok(StatementTimeout::After(Duration::from_secs(2))));
        assert!(parse("soon".into()).unwrap_err().contains("auto"));
    }

    #[test]
    fn passwords_are_redacted() {
        for (url, shown) in [
            ("postgres://u:p%40ss@h:5432/db?sslmode=require", "postgres://u:***@h:5432/db?sslmode=require"),
            ("mysql://root@127.0.0.1/test", "mysql://root@127.0.0.1/test"),
            ("postgres://h/db?user=u&password=secret", "postgres://h/db?user=u&password=***"),
            ("postgres:/app:secret@db/x", "postgres:***"),
            ("sqlite:data/app.db", "sqlite:data/app.db"),
            ("sqlite://data.db?mode=rwc", "sqlite://data.db?mode=rwc"),
            ("sqlite::memory:", "sqlite::memory:"),
            ("postgres://u:a@b@h/db", "postgres://u:***@h/db"),
            ("postgres://app:ab/cd?e#f@db:5432/app", "postgres://app:***@db:5432/app"),
            ("redis://:secret@h:6379/0", "redis://:***@h:6379/0"),
            ("redis+unix:///run/redis.sock?db=1&pass=secret", "redis+unix:///run/redis.sock?db=1&pass=***"),
        ] {
            let u = DatabaseUrl::new(url);
            assert_eq!(u.to_string(), shown);
            assert!(!format!("{u:?}").contains("secret"));
        }
    }
}
