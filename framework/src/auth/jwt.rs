//! `Jwt`: keys from `[auth.jwt]`, issuing and verifying tokens.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::request::Parts;
use http::{header, HeaderValue};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Claims;
use crate::config::JwtConfig;
use crate::error::Error;

/// Longest token accepted: anything longer is refused before it is decoded.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Why auth could not be set up, or a token not issued. Messages name the config key and say
/// what to change; they never contain secrets or keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// `auth.jwt.algorithm` is not one trestle supports.
    #[error("auth.jwt.algorithm {0:?} is not supported: use HS256, HS384, HS512, RS256, RS384, RS512, PS256, ES256, ES384 or EdDSA")]
    UnknownAlgorithm(String),
    /// HS* without a secret.
    #[error("auth.jwt.secret is not set, and {0} needs it: set auth.jwt.secret to at least 32 random bytes")]
    MissingSecret(&'static str),
    /// HS* with a secret under 32 bytes.
    #[error("auth.jwt.secret is {0} bytes long; HMAC secrets must be at least 32 bytes: generate one with `openssl rand -base64 48` and set auth.jwt.secret to it")]
    ShortSecret(usize),
    /// RS*/PS*/ES*/EdDSA without a public key file.
    #[error("auth.jwt.public_key_file is not set, and {0} needs it to verify tokens: point it at a PEM public key")]
    MissingPublicKey(&'static str),
    /// A key file is missing, unreadable, not PEM, or not a key for the algorithm.
    #[error("{key} {path}: {problem}; fix the file or {key}")]
    KeyFile {
        /// `auth.jwt.public_key_file` or `auth.jwt.private_key_file`.
        key: &'static str,
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Signing and verifying a token at startup failed: the key pair does not match, or the
    /// crypto backend is missing.
    #[error("auth.jwt start-up check failed: {0}")]
    SelfCheck(String),
    /// This service has only a public key.
    #[error("this service cannot issue tokens: it has no auth.jwt.private_key_file, only a public key to verify them")]
    CannotIssue,
    /// Signing failed.
    #[error("signing the token failed: {0}")]
    Signing(String),
    /// A route reads the caller's token, but the app loads no keys to verify it with.
    #[error("route {route} takes Auth, but the app loads no JWT keys: call App::auth() on the builder and configure [auth.jwt] (auth.jwt.secret for HS256)")]
    NotSetUp {
        /// The route: methods, path and handler.
        route: String,
    },
}

impl AuthError {
    /// The config key to change, when one is to blame (for the message's environment variable).
    pub fn config_key(&self) -> Option<&'static str> {
        match self {
            AuthError::UnknownAlgorithm(_) => Some("auth.jwt.algorithm"),
            AuthError::MissingSecret(_) | AuthError::ShortSecret(_) => Some("auth.jwt.secret"),
            AuthError::MissingPublicKey(_) => Some("auth.jwt.public_key_file"),
            AuthError::KeyFile { key, .. } => Some(key),
            AuthError::CannotIssue => Some("auth.jwt.private_key_file"),
            AuthError::SelfCheck(_) | AuthError::Signing(_) | AuthError::NotSetUp { .. } => None,
        }
    }
}

/// Issues and verifies tokens as `[auth.jwt]` configures; cheap to clone. Reach it from state
/// (`Jwt: FromRef<S>`, or the `Context`), e.g. to issue a token at login:
///
/// ```
/// use trestle::auth::Jwt;
/// use trestle::config::{JwtConfig, Secret};
///
/// let config = JwtConfig {
///     secret: Some(Secret::new("a-long-random-secret-of-at-least-32-bytes".into())),
///     ..JwtConfig::default()
/// };
/// let jwt = Jwt::from_config(&config).unwrap();
/// let token = jwt.issue("user-42", ()).unwrap();
/// let claims = jwt.verify::<()>(&token).unwrap();
/// assert_eq!(claims.sub, "user-42");
/// ```
#[derive(Clone)]
pub struct Jwt {
    inner: Arc<Inner>,
}

struct Inner {
    header: Header,
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    validation: Validation,
    issuer: Option<String>,
    audience: Option<String>,
    ttl: Duration,
    scheme: String,
    cookie: Option<String>,
    query_parameter: Option<String>,
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt")
            .field("algorithm", &self.inner.header.alg)
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("can_issue", &self.inner.encoding.is_some())
            .finish_non_exhaustive()
    }
}

fn algorithm(name: &str) -> Result<Algorithm, AuthError> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EDDSA" => Algorithm::EdDSA,
        _ => return Err(AuthError::UnknownAlgorithm(name.to_owned())),
    })
}

fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        _ => "an unsupported algorithm",
    }
}

/// Reads a PEM key file and parses it for `alg`; every failure names the file and the key.
fn read_key<K>(
    path: &Path,
    key: &'static str,
    alg: Algorithm,
    parse: impl FnOnce(&[u8]) -> jsonwebtoken::errors::Result<K>,
) -> Result<K, AuthError> {
    let fail = |problem: String| AuthError::KeyFile { key, path: path.display().to_string(), problem };
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => fail("no such file".into()),
        _ => fail(format!("cannot read it ({e})")),
    })?;
    if !bytes.starts_with(b"-----BEGIN ") {
        return Err(fail("it is not a PEM file (it should start with -----BEGIN …)".into()));
    }
    parse(&bytes).map_err(|_| {
        let kind = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => "an RSA key",
            Algorithm::ES256 => "an EC P-256 key",
            Algorithm::ES384 => "an EC P-384 key",
            _ => "an Ed25519 key",
        };
        fail(format!("it is not {kind}, which {} needs", algorithm_name(alg)))
    })
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Jwt {
    /// Loads the keys and checks them: a short secret, a missing or wrong key file is an error
    /// here, at startup, not on the first request. When the service can issue tokens, one token
    /// is signed and verified as a last check.
    pub fn from_config(config: &JwtConfig) -> Result<Jwt, AuthError> {
        let alg = algorithm(&config.algorithm)?;
        let name = algorithm_name(alg);
        let (encoding, decoding) = match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let secret = config.secret.as_ref().ok_or(AuthError::MissingSecret(name))?.expose().as_bytes();
                if secret.len() < 32 {
                    return Err(AuthError::ShortSecret(secret.len()));
                }
                (Some(EncodingKey::from_secret(secret)), DecodingKey::from_secret(secret))
            }
            _ => {
                let public = config.public_key_file.as_deref().ok_or(AuthError::MissingPublicKey(name))?;
                let (pub_key, priv_key) = ("auth.jwt.public_key_file", "auth.jwt.private_key_file");
                let (decoding, encoding) = match alg {
                    Algorithm::ES256 | Algorithm::ES384 => (
                        read_key(public, pub_key, alg, DecodingKey::from_ec_pem)?,
                        config
                            .private_key_file
                            .as_deref()
                            .map(|p| read_key(p, priv_key, alg, EncodingKey::from_ec_pem)),
                    ),
                    Algorithm::EdDSA => (
                        read_key(public, pub_key, alg, DecodingKey::from_ed_pem)?,
                        config
                            .private_key_file
                            .as_deref()
                            .map(|p| read_key(p, priv_key, alg, EncodingKey::from_ed_pem)),
                    ),
                    _ => (
                        read_key(public, pub_key, alg, DecodingKey::from_rsa_pem)?,
                        config
                            .private_key_file
                            .as_deref()
                            .map(|p| read_key(p, priv_key, alg, EncodingKey::from_rsa_pem)),
                    ),
                };
                (encoding.transpose()?, decoding)
            }
        };

        let mut validation = Validation::new(alg);
        validation.leeway = config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &config.issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &config.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);

        let jwt = Jwt {
            inner: Arc::new(Inner {
                header: Header::new(alg),
                encoding,
                decoding,
                validation,
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                ttl: config.ttl,
                scheme: config.scheme.clone(),
                cookie: config.cookie.clone(),
                query_parameter: config.query_parameter.clone(),
            }),
        };
        jwt.self_check()?;
        Ok(jwt)
    }

    /// Signs and verifies one token: a private key that does not match the public key, or a
    /// crypto backend that is missing or doubled, shows here instead of on the first login.
    fn self_check(&self) -> Result<(), AuthError> {
        if self.inner.encoding.is_none() {
            return Ok(());
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let token = self.issue("trestle-self-check", ()).map_err(|e| e.to_string())?;
            self.verify::<()>(&token).map(|_| ()).map_err(|e| format!("{e:?}"))
        }));
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(AuthError::SelfCheck(format!(
                "a token signed with the private key does not verify with the public key ({reason}); check that the two files are a pair"
            ))),
            Err(_) => Err(AuthError::SelfCheck(
                "the JWT crypto backend panicked: exactly one of jsonwebtoken's `rust_crypto` and `aws_lc_rs` features must be enabled".into(),
            )),
        }
    }

    /// The `Authorization` scheme tokens are expected under (`Bearer` unless configured).
    pub fn scheme(&self) -> &str {
        &self.inner.scheme
    }

    /// Claims for `sub` with `extra`, and `exp`, `iat`, `iss`, `aud` as configured; add scopes
    /// with [`Claims::with_scopes`], then [`sign`](Jwt::sign).
    pub fn claims<C>(&self, sub: impl Into<String>, extra: C) -> Claims<C> {
        let now = now();
        Claims {
            sub: sub.into(),
            exp: now + self.inner.ttl.as_secs(),
            iat: now,
            nbf: None,
            iss: self.inner.issuer.clone(),
            aud: self.inner.audience.iter().cloned().collect(),
            jti: Some(format!("{:032x}", fastrand::u128(..))),
            scopes: Vec::new(),
            extra,
        }
    }

    /// Signs `claims` as they are.
    pub fn sign<C: Serialize>(&self, claims: &Claims<C>) -> Result<String, AuthError> {
        let key = self.inner.encoding.as_ref().ok_or(AuthError::CannotIssue)?;
        jsonwebtoken::encode(&self.inner.header, claims, key).map_err(|e| AuthError::Signing(e.to_string()))
    }

    /// A token for `sub` carrying `extra` (use `()` for none), valid for `auth.jwt.ttl`.
    pub fn issue<C: Serialize>(&self, sub: impl Into<String>, extra: C) -> Result<String, AuthError> {
        self.sign(&self.claims(sub, extra))
    }

    /// Verifies `token`: signature with exactly the configured algorithm, `exp` (required),
    /// `nbf`, and `iss`/`aud` when configured, each with `auth.jwt.leeway`.
    pub fn verify<C: DeserializeOwned>(&self, token: &str) -> Result<Claims<C>, Error> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(self.invalid("the token is empty or too long"));
        }
        let data =
            jsonwebtoken::decode::<Claims<C>>(token, &self.inner.decoding, &self.inner.validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                self.invalid(match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
                    ErrorKind::InvalidIssuer => "the token has the wrong issuer",
                    ErrorKind::InvalidAudience => "the token has the wrong audience",
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::MissingAlgorithm => {
                        "the token is signed with an algorithm this service does not accept"
                    }
                    ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                    ErrorKind::InvalidSignature => "the token's signature does not verify",
                    _ => "the token is malformed",
                })
            })?;
        if data.header.crit.as_ref().is_some_and(|c| !c.is_empty()) {
            // RFC 7515 §4.1.11: extensions we do not understand must be refused.
            return Err(self.invalid("the token has critical header extensions this service does not understand"));
        }
        Ok(data.claims)
    }

    /// The token a request carries: `Authorization: <scheme> <token>`, else the configured
    /// cookie, else the configured query parameter. `None` when it carries no credentials;
    /// `Some(Err)` when it carries credentials of the wrong form.
    pub(crate) fn token<'a>(&self, parts: &'a Parts) -> Option<Result<&'a str, Error>> {
        self.token_in(&parts.headers, &parts.uri)
    }

    /// The token a request carries, where `Auth` finds it (`Authorization: <scheme> <token>`,
    /// else the configured cookie or query parameter); `None` when there is none or it is
    /// malformed. Not verified: in a handler that also takes `Auth`, it is the token `Auth`
    /// verified — e.g. to send it back instead of signing a new one.
    pub fn token_of<'a>(&self, headers: &'a http::HeaderMap, uri: &'a http::Uri) -> Option<&'a str> {
        self.token_in(headers, uri).and_then(Result::ok).filter(|t| !t.is_empty())
    }

    /// [`token`](Self::token), from a request's headers and URI.
    pub(crate) fn token_in<'a>(
        &self,
        headers: &'a http::HeaderMap,
        uri: &'a http::Uri,
    ) -> Option<Result<&'a str, Error>> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let Ok(value) = value.to_str() else {
                return Some(Err(self.invalid("the Authorization header is not valid text")));
            };
            let value = value.trim();
            let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
            return Some(if scheme.eq_ignore_ascii_case(&self.inner.scheme) {
                Ok(token.trim())
            } else {
                Err(self.missing_with_wrong_scheme())
            });
        }
        if let Some(name) = &self.inner.cookie {
            let found = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
                v.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| k == name).map(|(_, v)| v)
            });
            if let Some(token) = found {
                return Some(Ok(token));
            }
        }
        if let Some(name) = &self.inner.query_parameter {
            let found = uri.query().and_then(|q| {
                q.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| k == name).map(|(_, v)| v)
            });
            if let Some(token) = found {
                return Some(Ok(token));
            }
        }
        None
    }

    fn challenge(&self, error: Option<&str>) -> HeaderValue {
        let text = match error {
            Some(description) => {
                format!("{} error=\"invalid_token\", error_description=\"{description}\"", self.inner.scheme)
            }
            None => self.inner.scheme.clone(),
        };
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }

    /// 401 for a request without credentials.
    pub(crate) fn missing(&self) -> Error {
        Error::unauthorized(format!(
            "this requires authentication: send `Authorization: {} <token>`",
            self.inner.scheme
        ))
        .with_type(super::MISSING_CREDENTIALS)
        .with_header(header::WWW_AUTHENTICATE, self.challenge(None))
    }

    fn missing_with_wrong_scheme(&self) -> Error {
        Error::unauthorized(format!(
            "the Authorization header does not use the {} scheme: send `Authorization: {} <token>`",
            self.inner.scheme, self.inner.scheme
        ))
        .with_type(super::MISSING_CREDENTIALS)
        .with_header(header::WWW_AUTHENTICATE, self.challenge(None))
    }

    /// 401 for a token that is present but not acceptable.
    fn invalid(&self, why: &'static str) -> Error {
        Error::unauthorized(why)
            .with_type(super::INVALID_TOKEN)
            .with_header(header::WWW_AUTHENTICATE, self.challenge(Some(why)))
    }
}
