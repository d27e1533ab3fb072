//! garde rules in RealWorld's words (`#[garde(custom(required::<64>))]`), and the
//! deserializer that tells an absent field from a `null` one.

use garde::{Error, Result};

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
