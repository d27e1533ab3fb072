//! Password hashing: argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane),
//! PHC strings, computed on the blocking pool so request workers never stall.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use argon2::PasswordHash;

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
        Argon2::default()
            .hash_password(password.as_bytes())
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
        match Argon2::default().verify_password(password.as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(e) => Err(PasswordError::MalformedHash(e.to_string())),
        }
    })
    .await
    .map_err(|e| PasswordError::Hashing(e.to_string()))?
}
