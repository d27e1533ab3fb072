//! The `Config` trait, its field descriptors, validation errors and the commented template.

use std::fmt::{self, Display, Write as _};

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

/// A commented TOML template of every key the app reads: the framework's sections and the app's
/// own struct `C`, each key with its doc comment, default and environment variable.
///
/// ```
/// let text = trestle::config::template::<trestle::config::NoConfig>("APP");
/// assert!(text.contains("[server]"));
/// assert!(text.contains("# env: APP__SERVER__PORT"));
/// assert!(text.contains("port = 3000"));
/// ```
pub fn template<C: Config>(env_prefix: &str) -> String {
    let mut out = String::from(
        "# Every config key, its default and the environment variable that overrides it.\n\
         # Files: config/default.toml, then config/{APP_ENV}.toml; then .env; then the environment.\n",
    );
    let mut fields = C::fields();
    fields.extend(super::FrameworkConfig::fields());
    render_section(&mut out, env_prefix, "", &fields);
    out
}

fn render_section(out: &mut String, env_prefix: &str, prefix: &str, fields: &[Field]) {
    for f in fields.iter().filter(|f| f.nested.is_none()) {
        let key = join(prefix, f.name);
        out.push('\n');
        if !f.doc.is_empty() {
            let _ = writeln!(out, "# {}", f.doc);
        }
        let _ = writeln!(out, "# env: {}", super::error::env_var(env_prefix, &key));
        match (f.default, f.secret) {
            (_, true) => {
                let _ = writeln!(out, "# {} = \"...\"  (secret, {}; set it in the environment)", f.name, f.ty);
            }
            (Some(default), false) => match default() {
                Ok(v) => {
                    let _ = writeln!(out, "{} = {}", f.name, v);
                }
                Err(e) => {
                    let _ = writeln!(out, "# {} = ?  (default cannot be shown: {e})", f.name);
                }
            },
            (None, false) => {
                let need = if f.optional { "optional" } else { "required" };
                let _ = writeln!(out, "# {} =   ({}, {need})", f.name, f.ty);
            }
        }
    }
    for f in fields {
        if let Some(nested) = f.nested {
            let key = join(prefix, f.name);
            let _ = writeln!(out, "\n[{key}]");
            render_section(out, env_prefix, &key, &nested());
        }
    }
}
