//! Conduit's errors and their format, `{"errors": {"<field>": ["<message>"]}}`, in one place:
//! every problem — the app's, and trestle's own (401, bad JSON, 422 from `Valid` and `Page`,
//! 404, 405, 413) — is rendered here.

use std::collections::BTreeMap;

use trestle::axum::response::{IntoResponse, Response};
use trestle::error::Problem;
use trestle::prelude::*;

/// What conduit itself refuses; `field` and `message` are the entry RealWorld's body shows.
#[derive(Debug, thiserror::Error, trestle::ApiError)]
pub enum ConduitError {
    /// No such article, comment or profile.
    #[error("{0} not found")]
    #[api(status = 404, field = "{0}", message = "not found")]
    NotFound(&'static str),
    /// Someone else's article or comment.
    #[error("only the author may change this {0}")]
    #[api(status = 403, field = "{0}", message = "forbidden")]
    Forbidden(&'static str),
    /// Another user has this username or email.
    #[error("{0} has already been taken")]
    #[api(status = 409, field = "{0}", message = "has already been taken")]
    Taken(&'static str),
    /// A login that does not match.
    #[error("email or password is invalid")]
    #[api(status = 401, field = "credentials", message = "invalid")]
    BadCredentials,
    /// A valid token whose user is gone (or that names no user).
    #[error("the token's user no longer exists")]
    #[api(status = 401, type = trestle::auth::INVALID_TOKEN, field = "token", message = "is invalid")]
    UnknownUser,
}

/// Every error's body: `{"errors": {"email": ["has already been taken"]}}`, for the OpenAPI
/// document (`App::problem_schema`); [`render`] writes it.
#[derive(Serialize, JsonSchema)]
pub struct Errors {
    /// What is wrong, by field (`body` when no field is to blame).
    pub errors: BTreeMap<String, Vec<String>>,
}

/// The renderer `App::renderer` installs. A field is named as inside the request's wrapper
/// (`/user/email` is `email`, `/article/tagList/2` is `tagList`); query parameters by name.
pub fn render(problem: &Problem) -> Response {
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &problem.errors {
        let name = e.pointer.rsplit('/').find(|step| step.parse::<usize>().is_err());
        errors.entry(name.filter(|n| !n.is_empty()).unwrap_or("body").to_owned()).or_default().push(e.message.clone());
    }
    if errors.is_empty() {
        let (field, message) = match problem.problem_type.as_str() {
            trestle::auth::MISSING_CREDENTIALS => ("token", "is missing"),
            trestle::auth::INVALID_TOKEN => ("token", "is invalid"),
            _ => ("body", problem.detail.as_deref().unwrap_or(&problem.title)),
        };
        errors.insert(field.to_owned(), vec![message.to_owned()]);
    }
    (problem.status(), Json(Errors { errors })).into_response()
}
