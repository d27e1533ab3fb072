//! Conduit's error format, `{"errors": {"<field>": ["<message>"]}}`, in one place: every
//! problem — the app's, and trestle's own (401, bad JSON, 404, 405, 413) — is rendered here.

use std::collections::BTreeMap;

use trestle::axum::response::{IntoResponse, Response};
use trestle::error::Problem;
use trestle::prelude::*;

#[derive(Serialize)]
struct Errors {
    errors: BTreeMap<String, Vec<String>>,
}

/// The renderer `App::renderer` installs.
pub fn render(problem: &Problem) -> Response {
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &problem.errors {
        let field = if e.field.is_empty() { "body" } else { e.field.as_str() };
        errors.entry(field.to_owned()).or_default().push(e.message.clone());
    }
    if errors.is_empty() {
        let (field, message) = match problem.problem_type.as_str() {
            trestle::auth::MISSING_CREDENTIALS => ("token", "is missing".to_owned()),
            trestle::auth::INVALID_TOKEN => ("token", "is invalid".to_owned()),
            _ => ("body", problem.detail.clone().unwrap_or_else(|| problem.title.clone())),
        };
        errors.insert(field.to_owned(), vec![message]);
    }
    (problem.status(), Json(Errors { errors })).into_response()
}

/// 404 `{"errors": {what: ["not found"]}}`.
pub fn not_found(what: &str) -> Error {
    Error::not_found(format!("{what} not found")).with_field(what, "not found")
}

/// 403 `{"errors": {what: ["forbidden"]}}`.
pub fn forbidden(what: &str) -> Error {
    Error::forbidden(format!("only the author may change this {what}")).with_field(what, "forbidden")
}

/// 409 `{"errors": {field: ["has already been taken"]}}`.
pub fn taken(field: &str) -> Error {
    Error::conflict(format!("{field} has already been taken")).with_field(field, "has already been taken")
}

/// 401 for a login that does not match.
pub fn bad_credentials() -> Error {
    Error::unauthorized("email or password is invalid").with_field("credentials", "invalid")
}
