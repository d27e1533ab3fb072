//! The `Config` trait, its field descriptors, validation errors, and the defaults the schema
//! describes.

use std::fmt::{self, Display};

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// A typed configuration struct: derive it with `#[derive(Config, Deserialize)]`.
///
/// The derive describes every field ([`Field`]) so the loader can apply defaults, report
/// missing keys and typos, and print a template; [`validate`](Config::validate) runs the
/// struct's validation hooks after loading.
pub trait Config: DeserializeOwned + Send + Sync + 'static {
    /// Every field of the struct, in declaration order.
    fn fields() -> Vec<Field>;

    /// Runs the `#[config(validate = ...)]` hooks; the loader reports every failure.
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

/// One config key, as described by `#[derive(Config)]`.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The key's name within its section.
    pub name: &'static str,
    /// The Rust type, as written (for messages and the template).
    pub ty: &'static str,
    /// The field's doc comment.
    pub doc: &'static str,
    /// The default, as the TOML value it would be in a file.
    pub default: Option<fn() -> Result<toml::Value, String>>,
    /// Redacted in the template and in error messages.
    pub secret: bool,
    /// An `Option<T>`: may be absent.
    pub optional: bool,
    /// A section: the nested struct's own fields.
    pub nested: Option<fn() -> Vec<Field>>,
}

impl Field {
    /// Whether the loader must find this key in a file or the environment.
    pub fn required(&self) -> bool {
        self.default.is_none() && !self.optional && self.nested.is_none()
    }
}

/// The app config of an app that has none: accepts any tree and knows no keys.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct NoConfig {}

impl Config for NoConfig {
    fn fields() -> Vec<Field> {
        Vec::new()
    }
}

/// A validation hook for counts that must not be zero.
pub(crate) fn at_least_one<T: PartialEq + From<u8>>(n: &T) -> Result<(), &'static str> {
    if *n == T::from(0) {
        Err("must be at least 1")
    } else {
        Ok(())
    }
}

/// Every key, with its section path, of a schema (sections flattened).
pub(crate) fn leaves(prefix: &str, fields: &[Field], out: &mut Vec<(String, Field)>) {
    for f in fields {
        let key = join(prefix, f.name);
        match f.nested {
            Some(nested) => leaves(&key, &nested(), out),
            None => out.push((key, *f)),
        }
    }
}

pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Failures of the validation hooks, by key.
#[derive(Debug, Default)]
pub struct ValidationErrors(Vec<(String, String)>);

impl ValidationErrors {
    /// Records the result of a field's (or, with key `""`, the struct's) validation hook.
    pub fn field<E: Display>(&mut self, key: &str, result: Result<(), E>) {
        if let Err(e) = result {
            self.0.push((key.to_owned(), e.to_string()));
        }
    }

    /// Records a nested section's failures under its key.
    pub fn nested(&mut self, key: &str, result: Result<(), ValidationErrors>) {
        if let Err(inner) = result {
            for (k, message) in inner.0 {
                // A section's own (struct-level) check is reported against the section.
                let full = if k.is_empty() { key.to_owned() } else { join(key, &k) };
                self.0.push((full, message));
            }
        }
    }

    /// `Ok` when nothing failed.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// `(key, message)` pairs; the key is empty for a struct-level failure.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, m)| (k.as_str(), m.as_str()))
    }
}

impl Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, m)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{k}: {m}")?;
        }
        Ok(())
    }
}

/// The schema's defaults as a tree (sections as tables): the lowest layer of every load.
///
/// Fails with the key and the reason when a default cannot be written as a config value.
pub(crate) fn defaults_tree(fields: &[Field]) -> Result<toml::Table, (String, String)> {
    fn fill(prefix: &str, fields: &[Field], table: &mut toml::Table) -> Result<(), (String, String)> {
        for f in fields {
            let key = join(prefix, f.name);
            if let Some(nested) = f.nested {
                let mut inner = toml::Table::new();
                fill(&key, &nested(), &mut inner)?;
                table.insert(f.name.to_owned(), toml::Value::Table(inner));
            } else if let Some(default) = f.default {
                table.insert(f.name.to_owned(), default().map_err(|message| (key, message))?);
            }
        }
        Ok(())
    }
    let mut table = toml::Table::new();
    fill("", fields, &mut table)?;
    Ok(table)
}

/// The struct built from its defaults alone: no files, no environment, no loader.
///
/// Panics when a required field has no default: only for structs whose fields all have one
/// (the framework's sections).
pub(crate) fn defaults<C: Config>() -> C {
    let tree =
        defaults_tree(&C::fields()).unwrap_or_else(|(key, e)| panic!("the default of {key} is not a value: {e}"));
    super::de::from_tree(tree).unwrap_or_else(|e| panic!("the defaults do not deserialize at `{}`: {}", e.key, e.error))
}
