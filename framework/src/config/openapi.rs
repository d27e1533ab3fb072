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
    #[config(default = "/openapi.json", validate = route_path)]
    pub path: String,
    /// Where the interactive docs page (Swagger UI, embedded) is served; `""` for no page.
    #[config(default = "/docs", validate = page_path)]
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
        if self.enabled && self.path == self.docs_path {
            return Err(format!(
                "openapi.path and openapi.docs_path are both {:?}: give the docs page another path",
                self.path
            ));
        }
        Ok(())
    }
}

/// A path of one fixed route: starts with `/`, no parameters or wildcards.
fn route_path(path: &str) -> Result<(), String> {
    if path.starts_with('/') && !path.contains(['{', '}', '*', ' ', '"', '<', '>']) {
        return Ok(());
    }
    Err(format!("{path:?} is not a plain route path: write it like \"/openapi.json\""))
}

/// `route_path`, or `""` for no page.
fn page_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Ok(());
    }
    route_path(path).map_err(|e| format!("{e}, or \"\" for no docs page"))
}
