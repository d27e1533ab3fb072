//! `[auth.jwt]`: how tokens are signed, verified and carried.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use trestle_macros::Config;

use super::{duration, Secret};

/// `[auth]`.
#[derive(Clone, Debug, Default, Config, Deserialize)]
pub struct AuthConfig {
    /// JSON Web Tokens.
    #[config(nested)]
    pub jwt: JwtConfig,
}

/// `[auth.jwt]`, read by `App::auth()`.
#[derive(Clone, Debug, Config, Deserialize)]
pub struct JwtConfig {
    /// Signing algorithm: HS256, HS384, HS512, RS256, RS384, RS512, PS256, ES256, ES384 or EdDSA. Only this one is accepted.
    #[config(default = "HS256")]
    pub algorithm: String,
    /// HMAC secret for HS* (at least 32 bytes).
    pub secret: Option<Secret<String>>,
    /// PEM private key for RS*/PS*/ES*/EdDSA; needed only to issue tokens.
    pub private_key_file: Option<PathBuf>,
    /// PEM public key for RS*/PS*/ES*/EdDSA; enough to verify tokens.
    pub public_key_file: Option<PathBuf>,
    /// `iss` of issued tokens; when set, verified tokens must carry it.
    pub issuer: Option<String>,
    /// `aud` of issued tokens; when set, verified tokens must carry it.
    pub audience: Option<String>,
    /// Lifetime of issued tokens.
    #[config(default = "1h")]
    #[serde(with = "duration")]
    pub ttl: Duration,
    /// Clock skew tolerated when checking `exp` and `nbf`.
    #[config(default = "30s")]
    #[serde(with = "duration")]
    pub leeway: Duration,
    /// The `Authorization` scheme (`Authorization: Bearer <token>`; Conduit uses `Token`), matched case-insensitively.
    #[config(default = "Bearer")]
    pub scheme: String,
    /// A cookie that may carry the token when there is no `Authorization` header.
    pub cookie: Option<String>,
    /// A query parameter that may carry the token (off unless set: URLs end up in logs).
    pub query_parameter: Option<String>,
}

impl Default for JwtConfig {
    /// The defaults, as documented on each field (no secret, no keys).
    fn default() -> Self {
        super::schema::defaults()
    }
}
