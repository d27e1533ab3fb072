//! `Claims<C>`: the registered claims plus the app's own.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// A verified token's claims: the registered ones (RFC 7519) and `scopes`, plus the app's own
/// `C` (flattened into the same JSON object).
///
/// ```
/// use trestle::auth::Claims;
///
/// #[derive(serde::Deserialize, serde::Serialize)]
/// struct Extra { username: String }
///
/// let claims: Claims<Extra> = serde_json::from_str(
///     r#"{"sub":"42","exp":2000000000,"iat":1700000000,"scopes":["admin"],"username":"ada"}"#,
/// ).unwrap();
/// assert_eq!(claims.extra.username, "ada");
/// assert!(claims.require_scope("admin").is_ok());
/// assert_eq!(claims.require_scope("billing").unwrap_err().status().as_u16(), 403);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims<C = ()> {
    /// Subject: who the token is about (a user id).
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued at, seconds since the Unix epoch.
    #[serde(default)]
    pub iat: u64,
    /// Not before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience (one or several).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "one_or_many",
        deserialize_with = "string_or_list"
    )]
    pub aud: Vec<String>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// What the bearer may do.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "string_or_list")]
    pub scopes: Vec<String>,
    /// The app's own claims.
    #[serde(flatten)]
    pub extra: C,
}

impl<C> Claims<C> {
    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// `Ok` when the token carries `scope`, else a 403 problem naming it (with
    /// `WWW-Authenticate: Bearer error="insufficient_scope"`).
    pub fn require_scope(&self, scope: &str) -> Result<(), Error> {
        if self.has_scope(scope) {
            return Ok(());
        }
        let challenge = format!("Bearer error=\"insufficient_scope\", scope=\"{}\"", scope.replace(['"', '\\'], ""));
        let mut e = Error::forbidden(format!("this requires the scope `{scope}`, which the token does not carry"))
            .with_type(super::INSUFFICIENT_SCOPE);
        if let Ok(value) = http::HeaderValue::from_str(&challenge) {
            e = e.with_header(http::header::WWW_AUTHENTICATE, value);
        }
        Err(e)
    }

    /// Adds scopes (for issuing).
    pub fn with_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }
}

fn one_or_many<S: Serializer>(list: &[String], s: S) -> Result<S::Ok, S::Error> {
    match list {
        [one] => s.serialize_str(one),
        many => many.serialize(s),
    }
}

/// RFC 7519 allows `aud` as a string or an array; space-separated scopes (RFC 8693) also read.
fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::One(s) => s.split_whitespace().map(str::to_owned).collect(),
        Raw::Many(v) => v,
    })
}
