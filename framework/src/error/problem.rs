//! The RFC 9457 problem document and the renderer that writes it.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

/// An RFC 9457 problem document, plus `request_id` and field-level `errors`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Problem {
    /// A URI naming the problem type; `about:blank` when the status says it all.
    #[serde(rename = "type", default = "about_blank")]
    pub problem_type: String,
    /// A short summary of the problem type (the status's reason phrase by default).
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request id, as in the `x-request-id` header and the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The OpenTelemetry trace id (32 hex digits) when spans are exported: the request's trace
    /// in Jaeger, Tempo or any OTLP backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Field-level failures (validation, JSON that does not match the type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Further members.
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

fn about_blank() -> String {
    "about:blank".to_owned()
}

/// One failing field of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FieldError {
    /// The field's path (`user.email`, `items[2].price`); a query or path parameter's name.
    pub field: String,
    /// The same place as an RFC 6901 JSON pointer into the request body (`/user/email`,
    /// `/items/2/price`); empty for the body as a whole. For a query or path parameter, the
    /// pointer names it at the top level (`/limit`), as if the parameters were one object.
    #[serde(default)]
    pub pointer: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A failure at `field`, a dotted path with `[index]` steps (`items[2].price`), its pointer
    /// derived from it.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let pointer = pointer_of(&field);
        Self { field, pointer, message: message.into() }
    }
}

/// `items[2].price` → `/items/2/price`, escaping `~` and `/` as RFC 6901 says.
pub(crate) fn pointer_of(path: &str) -> String {
    let mut pointer = String::with_capacity(path.len() + 1);
    for step in path.split(['.', '[']).filter(|s| !s.is_empty()) {
        pointer.push('/');
        push_escaped(&mut pointer, step.strip_suffix(']').unwrap_or(step));
    }
    pointer
}

/// Appends one pointer reference token, escaped.
pub(crate) fn push_escaped(pointer: &mut String, token: &str) {
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

impl Problem {
    /// A problem with this status, its reason phrase as title.
    pub fn from_status(status: StatusCode) -> Self {
        Self {
            problem_type: about_blank(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: None,
            instance: None,
            request_id: None,
            trace_id: None,
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
        }
    }

    /// The status as a `StatusCode` (500 if the number is not a valid status).
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// Writes problems as response bodies: one place to change an app's error format.
///
/// The middleware calls it for every problem, with the request id and path filled in; headers
/// of the original error (`WWW-Authenticate`, `Allow`, `Retry-After`) are kept. A closure
/// `Fn(&Problem) -> Response` is a renderer:
///
/// ```
/// use trestle::error::Problem;
/// use trestle::axum::{response::IntoResponse, Json};
///
/// // Conduit's format: {"errors": {"body": ["..."]}}
/// let conduit = |p: &Problem| {
///     let message = p.detail.clone().unwrap_or_else(|| p.title.clone());
///     (p.status(), Json(serde_json::json!({ "errors": { "body": [message] } }))).into_response()
/// };
/// let app = trestle::App::new().renderer(conduit);
/// # let _ = app;
/// ```
pub trait Renderer: Send + Sync + 'static {
    /// The response for this problem.
    fn render(&self, problem: &Problem) -> Response;
}

impl<F: Fn(&Problem) -> Response + Send + Sync + 'static> Renderer for F {
    fn render(&self, problem: &Problem) -> Response {
        self(problem)
    }
}

/// The default renderer: `application/problem+json`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProblemJson;

impl Renderer for ProblemJson {
    fn render(&self, problem: &Problem) -> Response {
        // Sized for a typical problem up front: growing from empty reallocates four times.
        let mut body = Vec::with_capacity(256);
        if serde_json::to_writer(&mut body, problem).is_err() {
            body = br#"{"title":"Internal Server Error","status":500}"#.to_vec();
        }
        (problem.status(), [(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"))], body)
            .into_response()
    }
}
