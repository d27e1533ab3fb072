//! Error responses as problems: a trestle [`Error`](crate::Error)'s problem is rendered with the
//! app's [`Renderer`] and this request's id, trace id and path; a bare error response from
//! elsewhere (axum's rejections, a 405, a tower layer) gets the same shape.

use std::sync::Arc;

use axum::response::Response;
use http::header;

use super::RequestId;
use crate::error::{LoggedCause, Problem, ProblemExtension, Renderer};

/// How error responses are rendered.
pub(crate) struct Problems {
    pub(crate) renderer: Arc<dyn Renderer>,
    /// Add a violated database constraint's name to 409 problems.
    pub(crate) expose_constraint_names: bool,
}

/// What a problem says about the request it answers.
pub(crate) struct Request<'a> {
    pub(crate) id: Option<&'a RequestId>,
    pub(crate) trace_id: Option<&'a str>,
    /// The `instance`.
    pub(crate) path: &'a str,
}

impl Problems {
    /// `response` (status 400 or more) rendered as a problem about `request`; a bare response
    /// that is neither empty nor text is left as it is.
    pub(crate) async fn render(&self, response: Response, request: Request<'_>) -> Response {
        let (mut parts, body) = response.into_parts();
        let mut cause = None;
        let mut problem = match parts.extensions.remove::<ProblemExtension>() {
            Some(ProblemExtension { problem, constraint, cause: why }) => {
                // The body (the problem, unrendered) goes; this is the one rendering.
                drop(body);
                cause = why;
                let mut problem = Arc::try_unwrap(problem).unwrap_or_else(|shared| Problem::clone(&shared));
                if let (true, Some(name)) = (self.expose_constraint_names, constraint) {
                    problem.extensions.insert("constraint".into(), name.into());
                }
                problem
            }
            None => {
                // Short text is kept as the detail.
                let is_text =
                    parts.headers.get(header::CONTENT_TYPE).is_some_and(|ct| ct.as_bytes().starts_with(b"text/plain"));
                let is_empty = http_body::Body::size_hint(&body).exact() == Some(0);
                if !is_text && !is_empty {
                    return Response::from_parts(parts, body);
                }
                let mut problem = Problem::from_status(parts.status);
                if is_text {
                    if let Ok(bytes) = axum::body::to_bytes(body, 4096).await {
                        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
                        problem.detail = (!text.is_empty()).then_some(text);
                    }
                }
                problem
            }
        };
        problem.request_id = request.id.map(|id| id.as_str().to_owned());
        problem.trace_id = request.trace_id.map(str::to_owned);
        problem.instance = Some(request.path.to_owned());
        let mut rendered = self.renderer.render(&problem);
        for (name, value) in parts.headers.iter() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                rendered.headers_mut().append(name.clone(), value.clone());
            }
        }
        if let Some(cause) = cause {
            rendered.extensions_mut().insert(LoggedCause(cause));
        }
        rendered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ProblemJson};
    use axum::response::IntoResponse;
    use http::{HeaderValue, StatusCode};

    fn problems(expose_constraint_names: bool) -> Problems {
        Problems { renderer: Arc::new(ProblemJson), expose_constraint_names }
    }

    async fn problem_of(response: Response) -> Problem {
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn problems_name_the_request_trace_and_path() {
        let id = RequestId::new(HeaderValue::from_static("req-1"));
        let about = Request { id: Some(&id), trace_id: Some("0af7"), path: "/items/2" };
        let res = problems(false).render(Error::not_found("no such item").into_response(), about).await;
        assert_eq!(res.status(), 404);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/problem+json");
        let p = problem_of(res).await;
        assert_eq!(p.request_id.as_deref(), Some("req-1"));
        assert_eq!(p.trace_id.as_deref(), Some("0af7"));
        assert_eq!(p.instance.as_deref(), Some("/items/2"));
        assert_eq!(p.detail.as_deref(), Some("no such item"));
    }

    #[tokio::test]
    async fn bare_text_errors_become_problems_keeping_text_as_detail_and_headers() {
        let bare = (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET")], "Method not allowed").into_response();
        let res = problems(false).render(bare, Request { id: None, trace_id: None, path: "/" }).await;
        assert_eq!(res.headers()[header::ALLOW], "GET");
        let p = problem_of(res).await;
        assert_eq!(p.status, 405);
        assert_eq!(p.detail.as_deref(), Some("Method not allowed"));
        assert_eq!(p.request_id, None);
    }

    #[tokio::test]
    async fn other_bodies_are_left_alone() {
        let html = (StatusCode::BAD_GATEWAY, [(header::CONTENT_TYPE, "text/html")], "<h1>oops</h1>").into_response();
        let res = problems(false).render(html, Request { id: None, trace_id: None, path: "/" }).await;
        assert_eq!(res.headers()[header::CONTENT_TYPE], "text/html");
    }

    #[tokio::test]
    async fn constraint_names_only_when_exposed() {
        let conflict = || {
            let mut res = Error::new(StatusCode::CONFLICT, "taken").into_response();
            let ext = res.extensions_mut().get_mut::<ProblemExtension>().unwrap();
            ext.constraint = Some("users_email_key".into());
            res
        };
        let about = || Request { id: None, trace_id: None, path: "/" };
        let hidden = problem_of(problems(false).render(conflict(), about()).await).await;
        assert!(!hidden.extensions.contains_key("constraint"));
        let shown = problem_of(problems(true).render(conflict(), about()).await).await;
        assert_eq!(shown.extensions["constraint"], "users_email_key");
    }
}
