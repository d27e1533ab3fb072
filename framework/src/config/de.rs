//! Deserializes a struct from the merged tree, reading text as numbers, booleans and lists where
//! the field needs them: environment variables and `Loader::set` only ever give text.
//!
//! Errors keep the kind of value found, never the value: it may be a secret.

use std::fmt::{self, Display};

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

/// What went wrong, at which dotted key.
#[derive(Debug)]
pub(crate) struct Located {
    /// The dotted key of the value that failed (empty for the root).
    pub(crate) key: String,
    pub(crate) error: Error,
}

/// A deserialization failure, without the offending value.
#[derive(Debug)]
pub(crate) enum Error {
    /// The value is of the wrong kind (`found` is "a string", "an integer", …).
    WrongType { found: String, expected: String },
    /// The value has the right kind but is not acceptable.
    Invalid(String),
    /// A key the type needs is absent (the located key is the table it belongs in).
    Missing(&'static str),
}

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WrongType { found, expected } => write!(f, "expected {expected}, found {found}"),
            Error::Invalid(message) => f.write_str(message),
            Error::Missing(field) => write!(f, "missing key `{field}`"),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error::Invalid(msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error::WrongType { found: kind(&unexp).to_owned(), expected: exp.to_string() }
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error::Invalid(format!("{} that is not {exp}", kind(&unexp)))
    }

    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        let names = expected.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ");
        Error::Invalid(format!("unknown value: expected one of {names}"))
    }

    fn missing_field(field: &'static str) -> Self {
        Error::Missing(field)
    }
}

/// The kind of a value, with its article, never the value itself.
fn kind(unexp: &de::Unexpected<'_>) -> &'static str {
    use de::Unexpected as U;
    match unexp {
        U::Bool(_) => "a boolean",
        U::Unsigned(_) | U::Signed(_) => "an integer",
        U::Float(_) => "a float",
        U::Char(_) | U::Str(_) => "a string",
        U::Bytes(_) => "bytes",
        U::Unit | U::Option => "nothing",
        U::NewtypeStruct => "a value",
        U::Enum | U::NewtypeVariant | U::TupleVariant | U::StructVariant | U::UnitVariant => "an enum",
        U::Seq => "an array",
        U::Map => "a table",
        U::Other(_) => "another kind of value",
    }
}

/// `T` from `tree`, or the error with the dotted key it happened at.
pub(crate) fn from_tree<T: DeserializeOwned>(tree: toml::Table) -> Result<T, Located> {
    serde_path_to_error::deserialize(Value(toml::Value::Table(tree))).map_err(|e| {
        let key = e
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => Some(key.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(".");
        Located { key, error: e.into_inner() }
    })
}

/// A deserializer over one value of the tree.
struct Value(toml::Value);

impl Value {
    fn text(&self) -> Option<&str> {
        match &self.0 {
            toml::Value::String(s) => Some(s.trim()),
            _ => None,
        }
    }
}

/// Booleans as configuration files and shells write them.
fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Integers from text: through `visit_i64`/`visit_u64`, so the target type checks the range.
fn deserialize_int<'de, V: Visitor<'de>>(value: Value, visitor: V) -> Result<V::Value, Error> {
    if let Some(text) = value.text() {
        if let Ok(n) = text.parse::<i64>() {
            return visitor.visit_i64(n);
        }
        if let Ok(n) = text.parse::<u64>() {
            return visitor.visit_u64(n);
        }
    }
    de::Deserializer::deserialize_any(value, visitor)
}

macro_rules! ints {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            deserialize_int(self, visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Value {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            toml::Value::String(s) => visitor.visit_string(s),
            toml::Value::Integer(n) => visitor.visit_i64(n),
            toml::Value::Float(n) => visitor.visit_f64(n),
            toml::Value::Boolean(b) => visitor.visit_bool(b),
            toml::Value::Datetime(d) => visitor.visit_string(d.to_string()),
            toml::Value::Array(items) => visitor.visit_seq(Seq(items.into_iter())),
            toml::Value::Table(table) => visitor.visit_map(Map { entries: table.into_iter(), value: None }),
        }
    }

    ints!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
          deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128);

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.text().and_then(parse_bool) {
            Some(b) => visitor.visit_bool(b),
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match (&self.0, self.text().map(str::parse::<f64>)) {
            (_, Some(Ok(n))) => visitor.visit_f64(n),
            // `1` in a file for a float field means 1.0.
            #[allow(clippy::cast_precision_loss)]
            (toml::Value::Integer(n), _) => visitor.visit_f64(*n as f64),
            _ => self.deserialize_any(visitor),
        }
    }

    /// A number or boolean where text is wanted is read as its text, as files often do
    /// (`version = 2` for a string field).
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            toml::Value::Integer(n) => visitor.visit_string(n.to_string()),
            toml::Value::Float(n) => visitor.visit_string(n.to_string()),
            toml::Value::Boolean(b) => visitor.visit_string(b.to_string()),
            other => Value(other).deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    /// A list may be written as comma-separated text, as environment variables must.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.text() {
            Some(text) => {
                let items: Vec<toml::Value> = text
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_owned()))
                    .collect();
                visitor.visit_seq(Seq(items.into_iter()))
            }
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            toml::Value::String(s) => visitor.visit_enum(s.into_deserializer()),
            // Variants with data are rare in config: toml's own reading serves them.
            other => {
                other.deserialize_enum(name, variants, visitor).map_err(|e| Error::Invalid(e.message().to_owned()))
            }
        }
    }

    serde::forward_to_deserialize_any! {
        bytes byte_buf unit unit_struct tuple tuple_struct map struct identifier ignored_any
    }
}

struct Seq(std::vec::IntoIter<toml::Value>);

impl<'de> de::SeqAccess<'de> for Seq {
    type Error = Error;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|v| seed.deserialize(Value(v))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Map {
    entries: <toml::Table as IntoIterator>::IntoIter,
    value: Option<toml::Value>,
}

impl<'de> de::MapAccess<'de> for Map {
    type Error = Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self.value.take().ok_or_else(|| Error::Invalid("a value was read before its key".to_owned()))?;
        seed.deserialize(Value(value))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn text_is_read_as_numbers_booleans_and_lists() {
        #[derive(Deserialize)]
        struct T {
            port: u16,
            on: bool,
            ratio: f64,
            list: Vec<u8>,
            maybe: Option<i32>,
            name: String,
            map: BTreeMap<String, bool>,
        }
        let t: T = from_tree(table(
            "port = \"8080\"\non = \"true\"\nratio = \"0.5\"\nlist = \"1, 2,3\"\nmaybe = \"-4\"\nname = 7\n[map]\nx = \"false\"",
        ))
        .unwrap();
        assert_eq!(
            (t.port, t.on, t.ratio, t.list, t.maybe, t.name),
            (8080, true, 0.5, vec![1, 2, 3], Some(-4), "7".into())
        );
        assert!(!t.map["x"]);
    }

    #[test]
    fn errors_name_the_key_and_the_kind_never_the_value() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            port: u16,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct T {
            server: Inner,
        }
        let e = from_tree::<T>(table("[server]\nport = \"hunter2\"")).unwrap_err();
        assert_eq!(e.key, "server.port");
        let text = e.error.to_string();
        assert_eq!(text, "expected u16, found a string");

        let e = from_tree::<T>(table("[server]\nport = 70000")).unwrap_err();
        assert_eq!(e.key, "server.port");
        assert!(!e.error.to_string().contains("70000"), "{}", e.error);
    }
}
