//! `DbError`: why the database could not be set up at startup.

/// Why the database could not be set up at startup. Each message names the (redacted) URL or
/// the migration, and what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// No URL configured.
    #[error("database.url is not set: set database.url under [database] in config/default.toml or in the environment (e.g. {example})")]
    MissingUrl {
        /// An example URL for the backend.
        example: &'static str,
    },
    /// The URL is for another backend than the app was built for.
    #[error("database.url {url} is not a {backend} URL (expected {schemes}://…): fix database.url, or build the app with the feature for that database")]
    WrongBackend {
        /// The URL, password redacted.
        url: String,
        /// The backend the app was built for.
        backend: &'static str,
        /// Its schemes.
        schemes: String,
    },
    /// The URL does not parse, or an option in it is not valid.
    #[error("database.url {url} is not valid: {reason}; fix database.url")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Every connection attempt failed.
    #[error("cannot connect to {backend} at {url} after {attempts} attempts: {last_error}; check that the server is running and reachable, or change database.url; database.connect_retries sets the attempts")]
    Unreachable {
        /// The backend.
        backend: &'static str,
        /// The URL, password redacted.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's error.
        last_error: String,
    },
    /// The database refused the connection for a reason retrying cannot fix: credentials, an
    /// unknown database, an unopenable SQLite file, TLS. Startup stops at the first attempt.
    #[error("cannot connect to {backend} at {url}: {reason}; {fix}")]
    Rejected {
        /// The backend.
        backend: &'static str,
        /// The URL, password redacted.
        url: String,
        /// What the server (or driver) said, without source positions.
        reason: String,
        /// What to change.
        fix: &'static str,
    },
    /// A migration failed, or the applied migrations do not match the embedded ones.
    #[error("{0}")]
    Migration(String),
}

impl DbError {
    /// The config key to change, when one is to blame (for the message's environment variable).
    pub fn config_key(&self) -> Option<&'static str> {
        match self {
            DbError::Migration(_) => None,
            _ => Some("database.url"),
        }
    }
}
