//! `Claims<C>`: the registered claims plus the app's own.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

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
#[derive(Clone, Debug, PartialEq, Serialize)]
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
struct StringOrList(Vec<String>);

impl<'de> Deserialize<'de> for StringOrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        Ok(StringOrList(match Raw::deserialize(d)? {
            Raw::One(s) => s.split_whitespace().map(str::to_owned).collect(),
            Raw::Many(v) => v,
        }))
    }
}

/// Hand-written rather than `#[serde(flatten)]`: flattening buffers every claim before
/// parsing it, which cost 7% of an HS256 verification. Here the registered claims are read
/// directly and only the others are kept for `C`.
impl<'de, C: Deserialize<'de>> Deserialize<'de> for Claims<C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor<C>(std::marker::PhantomData<C>);

        impl<'de, C: Deserialize<'de>> de::Visitor<'de> for Visitor<C> {
            type Value = Claims<C>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JWT claims object")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Claims<C>, A::Error> {
                let (mut sub, mut exp, mut iat, mut nbf, mut iss, mut jti) = (None, None, None, None, None, None);
                let (mut aud, mut scopes) = (Vec::new(), Vec::new());
                let mut rest = serde_json::Map::new();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "sub" => sub = Some(map.next_value::<String>()?),
                        "exp" => exp = Some(map.next_value::<u64>()?),
                        "iat" => iat = Some(map.next_value::<u64>()?),
                        "nbf" => nbf = Some(map.next_value::<u64>()?),
                        "iss" => iss = Some(map.next_value::<String>()?),
                        "jti" => jti = Some(map.next_value::<String>()?),
                        "aud" => aud = map.next_value::<StringOrList>()?.0,
                        // `scope` (RFC 8693/9068, space-separated) and `scp` are what identity
                        // providers issue; `scopes` is what trestle issues.
                        "scopes" | "scope" | "scp" => scopes.extend(map.next_value::<StringOrList>()?.0),
                        other => {
                            rest.insert(other.to_owned(), map.next_value::<serde_json::Value>()?);
                        }
                    }
                }
                let extra = C::deserialize(Rest(rest)).map_err(de::Error::custom)?;
                Ok(Claims {
                    sub: sub.ok_or_else(|| de::Error::missing_field("sub"))?,
                    exp: exp.ok_or_else(|| de::Error::missing_field("exp"))?,
                    iat: iat.unwrap_or_default(),
                    nbf,
                    iss,
                    aud,
                    jti,
                    scopes,
                    extra,
                })
            }
        }

        d.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// The claims that are not registered ones, as the app's `C` sees them: an object, or nothing
/// at all for `C = ()`.
struct Rest(serde_json::Map<String, serde_json::Value>);

impl<'de> Deserializer<'de> for Rest {
    type Error = serde_json::Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        serde_json::Value::Object(self.0).deserialize_any(visitor)
    }

    fn deserialize_unit<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: de::Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    fn deserialize_struct<V: de::Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        serde_json::Value::Object(self.0).deserialize_struct(name, fields, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Extra {
        name: String,
        #[serde(default)]
        admin: bool,
    }

    #[test]
    fn registered_claims_and_the_apps_own() {
        let c: Claims<Extra> = serde_json::from_str(
            r#"{"sub":"1","exp":10,"aud":"a","scope":"x","scopes":"read write","name":"ada","nbf":5,"jti":"j"}"#,
        )
        .unwrap();
        assert_eq!((c.sub.as_str(), c.exp, c.nbf, c.jti.as_deref()), ("1", 10, Some(5), Some("j")));
        assert_eq!(c.aud, ["a"]);
        assert_eq!(c.scopes, ["x", "read", "write"]);
        assert_eq!(c.extra, Extra { name: "ada".into(), admin: false });

        let c: Claims = serde_json::from_str(r#"{"sub":"1","exp":10,"aud":["a","b"],"anything":{"x":1}}"#).unwrap();
        assert_eq!(c.aud, ["a", "b"]);
    }

    #[test]
    fn missing_or_mistyped_claims_are_errors() {
        assert!(serde_json::from_str::<Claims>(r#"{"exp":10}"#).unwrap_err().to_string().contains("sub"));
        assert!(serde_json::from_str::<Claims>(r#"{"sub":"1"}"#).unwrap_err().to_string().contains("exp"));
        assert!(serde_json::from_str::<Claims>(r#"{"sub":"1","exp":"soon"}"#).is_err());
        assert!(serde_json::from_str::<Claims<Extra>>(r#"{"sub":"1","exp":1}"#)
            .unwrap_err()
            .to_string()
            .contains("name"));
    }
}
