//! garde rules in RealWorld's words (`#[garde(custom(required::<64>))]`), the patterns that
//! say the same in the OpenAPI document, and the deserializer that tells an absent field from a
//! `null` one.

use std::borrow::Cow;

use garde::{Error, Result};
use trestle::schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

/// What [`text`] accepts, as a JSON Schema pattern: no NUL.
pub const TEXT: &str = r"^[^\u0000]*$";
/// What [`filled`] accepts: no NUL, and something besides white space. The class lists what
/// `str::trim` strips (Unicode's `White_Space`) rather than `\s`, whose members differ between
/// regex engines.
pub const FILLED: &str = concat!(
    r"^[^\u0000]*",
    r"[^\u0000\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    r"[^\u0000]*$"
);
/// What [`email_address`] accepts: an `@`, no NUL.
pub const EMAIL: &str = r"^[^\u0000]*@[^\u0000]*$";
/// What [`tag`] accepts: no control characters.
pub const TAG: &str = r"^[^\u0000-\u001f\u007f-\u009f]*$";

/// Text that must be there: not absent, `null` or blank; then as [`text`].
pub fn required<const MAX: usize>(value: &Option<String>, _: &()) -> Result {
    filled::<MAX>(value.as_deref().unwrap_or_default(), &())
}

/// Text that is not blank; then as [`text`].
pub fn filled<const MAX: usize>(value: &str, _: &()) -> Result {
    if value.trim().is_empty() {
        return Err(Error::new("can't be blank"));
    }
    text::<MAX>(value, &())
}

/// Free text: at most `MAX` characters, and no NUL (which PostgreSQL refuses).
pub fn text<const MAX: usize>(value: &str, _: &()) -> Result {
    if value.chars().count() > MAX {
        Err(Error::new(format!("is too long (maximum is {MAX} characters)")))
    } else if value.contains('\0') {
        Err(Error::new("contains a NUL character"))
    } else {
        Ok(())
    }
}

/// An email address has an `@` (a blank one is [`required`]'s to report).
pub fn email_address(value: &Option<String>, _: &()) -> Result {
    match value.as_deref() {
        Some(v) if !v.trim().is_empty() && !v.contains('@') => Err(Error::new("is invalid")),
        _ => Ok(()),
    }
}

/// NIST 800-63B: at least 8 characters, at most 128, nothing else required.
pub fn new_password(value: &Option<String>, _: &()) -> Result {
    match value.as_deref() {
        None | Some("") => Err(Error::new("can't be blank")),
        Some(p) if p.chars().count() < 8 => Err(Error::new("is too short (minimum is 8 characters)")),
        Some(p) => text::<128>(p, &()),
    }
}

/// A tag: at most 100 characters, no control characters (the lists join tags with one).
pub fn tag(value: &str, _: &()) -> Result {
    if value.chars().any(char::is_control) {
        return Err(Error::new("contains a control character"));
    }
    text::<100>(value, &())
}

/// A tag list may be left out (the tags stay) but not sent as `null`.
pub fn tags_not_null(value: &Option<Option<Vec<String>>>, _: &()) -> Result {
    match value {
        Some(None) => Err(Error::new("can't be null (send [] to remove every tag)")),
        _ => Ok(()),
    }
}

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`) or a value; with
/// `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// A slug or username from the path: any text without NUL (PostgreSQL cannot store one, so no
/// article or user has it); one with NUL is a 400 naming the parameter.
#[derive(serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Name(pub String);

impl TryFrom<String> for Name {
    type Error = &'static str;

    fn try_from(text: String) -> std::result::Result<Self, Self::Error> {
        if text.contains('\0') {
            return Err("contains a NUL character");
        }
        Ok(Name(text))
    }
}

impl JsonSchema for Name {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Name".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": TEXT })
    }
}
