//! `Secret<T>`: a config value that never shows itself.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value that is redacted in `Debug`, `Display` and serialization; call
/// [`expose`](Secret::expose) to read it.
///
/// ```
/// use trestle::config::Secret;
///
/// let key = Secret::new(String::from("hunter2"));
/// assert_eq!(format!("{key:?}"), "Secret([REDACTED])");
/// assert_eq!(key.to_string(), "[REDACTED]");
/// assert_eq!(key.expose(), "hunter2");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself. Take care where it goes: logs and error messages must not see it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Serializes as `"[REDACTED]"`, so config dumps never carry the value.
impl<T> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[REDACTED]")
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("p4ssw0rd".to_owned());
        for shown in [format!("{s:?}"), format!("{s}"), format!("{s:#?}"), serde_json::to_string(&s).unwrap()] {
            assert!(!shown.contains("p4ssw0rd"), "{shown}");
        }
        #[derive(Debug, Serialize)]
        struct Holder {
            key: Secret<String>,
        }
        let h = Holder { key: s };
        assert!(!format!("{h:?}").contains("p4ssw0rd"));
        assert!(!serde_json::to_string(&h).unwrap().contains("p4ssw0rd"));
    }
}
