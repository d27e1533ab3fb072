//! `[openapi]`: where the OpenAPI document and its docs page are served, and what the document
//! says about the API as a whole.

use serde::Deserialize;
use trestle_macros::Config;

/// `[openapi]`: the document `trestle::openapi` builds from the route macros.
#[derive(Clone, Debug, PartialEq, Eq, Config, Deserialize)]
#[config(validate = OpenApiConfig::check)]
pub struct OpenApiConfig {
    /// Serve the document and the docs page (`App::openapi()` builds it either way).
    #[config(default = true)]
    pub enabled: bool,
    /// Where the document is served, as JSON.
    #[config(default = "/openapi.json")]
    pub path: String,
    /// Where the interactive docs page (Swagger UI, embedded) is served; `""` for no page.
    #[config(default = "/docs")]
    pub docs_path: String,
    /// `info.title`; unset: the name of the package the routes are declared in.
    pub title: Option<String>,
    /// `info.version`; unset: the version of the package the routes are declared in.
    pub version: Option<String>,
    /// `info.description`.
    pub description: Option<String>,
}

impl Default for OpenApiConfig {
    /// The defaults, as documented on each field.
    fn default() -> Self {
        super::schema::defaults()
    }
}

impl OpenApiConfig {
    fn check(&self) -> Result<(), String> {
        for (key, path) in [("path", &self.path), ("docs_path", &self.docs_path)] {
            let empty_allowed = key == "docs_path" && path.is_empty();
            if !empty_allowed && (!path.starts_with('/') || path.contains(['{', '}', '*', ' '])) {
                return Err(format!(
                    "openapi.{key} {path:?} is not a plain route path: write it like \"/openapi.json\"{}",
                    if key == "docs_path" { ", or \"\" for no docs page" } else { "" }
                ));
            }
        }
        if self.enabled && self.path == self.docs_path {
            return Err(format!(
                "openapi.path and openapi.docs_path are both {:?}: give the docs page another path",
                self.path
            ));
        }
        Ok(())
    }
}
