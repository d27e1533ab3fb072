//! The commented TOML template of every key an app reads.

use std::fmt::Write as _;

use super::env::EnvNames;
use super::schema::{join, Config, Field};
use super::sections::FrameworkConfig;

/// A commented TOML template of every key the app reads: the framework's sections and the app's
/// own struct `C`, each key with its doc comment, default and environment variable (named with
/// `env_prefix`; see [`template_with`] to pass the names of a loader).
///
/// ```
/// let text = trestle::config::template::<trestle::config::NoConfig>("APP");
/// assert!(text.contains("[server]"));
/// assert!(text.contains("# env: APP__SERVER__PORT"));
/// assert!(text.contains("port = 3000"));
/// ```
pub fn template<C: Config>(env_prefix: &str) -> String {
    template_with::<C>(&EnvNames::new(env_prefix))
}

/// [`template`] with the environment variable names of a loader ([`Loaded::env`](super::Loaded::env)).
///
/// ```
/// use trestle::config::{template_with, EnvNames, NoConfig};
///
/// let text = template_with::<NoConfig>(&EnvNames::new("SHOP"));
/// assert!(text.contains("# env: SHOP__SERVER__PORT"));
/// assert!(text.contains("config/{SHOP_ENV}.toml"));
/// ```
pub fn template_with<C: Config>(env: &EnvNames) -> String {
    let mut out = format!(
        "# Every config key, its default and the environment variable that overrides it.\n\
         # Files: config/default.toml, then config/{{{}}}.toml; then .env; then the environment.\n",
        env.profile_var()
    );
    let mut fields = C::fields();
    fields.extend(FrameworkConfig::fields());
    render_section(&mut out, env, "", &fields);
    out
}

fn render_section(out: &mut String, env: &EnvNames, prefix: &str, fields: &[Field]) {
    for f in fields.iter().filter(|f| f.nested.is_none()) {
        let key = join(prefix, f.name);
        out.push('\n');
        if !f.doc.is_empty() {
            let _ = writeln!(out, "# {}", f.doc);
        }
        let _ = writeln!(out, "# env: {}", env.var(&key));
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
            render_section(out, env, &key, &nested());
        }
    }
}
