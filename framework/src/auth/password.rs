//! Password hashing: argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane),
//! PHC strings, computed on the blocking pool so request workers never stall.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use argon2::PasswordHash;

/// What an unoptimised argon2 takes per hash: over a second, where an optimised one takes tens
/// of milliseconds.
const SLOW: Duration = Duration::from_millis(250);

/// The lines that make a debug build's hashing fast, as the warning and the README show them.
pub const DEV_PROFILE_LINES: &str =
    "[profile.dev.package.argon2]\nopt-level = 3\n[profile.dev.package.blake2]\nopt-level = 3";

static WARNED: AtomicBool = AtomicBool::new(false);

/// In a debug build, whether this hash was slow enough to say why — once per process.
fn first_slow_hash(elapsed: Duration, debug_build: bool) -> bool {
    debug_build && elapsed >= SLOW && !WARNED.swap(true, Ordering::Relaxed)
}

/// Times one hash or check; warns once when a debug build hashes slowly.
fn timed<T>(work: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = work();
    let elapsed = started.elapsed();
    if first_slow_hash(elapsed, cfg!(debug_assertions)) {
        tracing::warn!(
            elapsed_ms = elapsed.as_millis() as u64,
            "password hashing took {} ms because argon2 is compiled without optimisation in this debug build; every login and sign-up waits for it. Add to the workspace's Cargo.toml:\n{DEV_PROFILE_LINES}",
            elapsed.as_millis()
        );
    }
    result
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The stored hash is not a PHC string trestle can read (corrupt or another format).
    #[error("the stored password hash is malformed ({0}); it must be a PHC string such as $argon2id$v=19$…")]
    MalformedHash(String),
    /// Hashing failed (it does not for valid input; this is a bug or resource exhaustion).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Hashes `password` into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) with a fresh salt.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let hash = trestle::auth::password::hash("correct horse").await.unwrap();
/// assert!(hash.starts_with("$argon2id$"));
/// assert!(trestle::auth::password::verify("correct horse", &hash).await.unwrap());
/// assert!(!trestle::auth::password::verify("wrong horse", &hash).await.unwrap());
/// # }
/// ```
pub async fn hash(password: &str) -> Result<String, PasswordError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        timed(|| Argon2::default().hash_password(password.as_bytes()))
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| PasswordError::Hashing(e.to_string()))?
}

/// Whether `password` matches the PHC string `hash`; `Err` only when `hash` is malformed.
pub async fn verify(password: &str, hash: &str) -> Result<bool, PasswordError> {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| PasswordError::MalformedHash(e.to_string()))?;
        if parsed.salt.is_none() || parsed.hash.is_none() {
            return Err(PasswordError::MalformedHash("it has no salt or no hash".into()));
        }
        match timed(|| Argon2::default().verify_password(password.as_bytes(), &parsed)) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(e) => Err(PasswordError::MalformedHash(e.to_string())),
        }
    })
    .await
    .map_err(|e| PasswordError::Hashing(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_debug_hash_is_reported_once() {
        assert!(!first_slow_hash(Duration::from_millis(40), true), "fast hashing says nothing");
        assert!(!first_slow_hash(Duration::from_secs(2), false), "a release build says nothing");
        assert!(first_slow_hash(Duration::from_millis(1200), true));
        assert!(!first_slow_hash(Duration::from_millis(1200), true), "only once");
        assert!(DEV_PROFILE_LINES.contains("[profile.dev.package.argon2]"));
    }
}
