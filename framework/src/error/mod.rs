//! Errors that render as RFC 9457 problem documents.
//!
//! Handlers return [`Result<T>`](Result); every error becomes an
//! `application/problem+json` response:
//!
//! ```json
//! { "type": "about:blank", "title": "Not Found", "status": 404,
//!   "detail": "no article with slug \"x\"", "instance": "/articles/x", "request_id": "…" }
//! ```
//!
//! - [`Error`]'s constructors pick the status ([`Error::not_found`], [`Error::conflict`], …).
//! - `?` on any `std::error::Error` or `anyhow::Error` gives a 500 whose detail is generic; the
//!   full chain is logged with the request id, never sent.
//! - `?` on an error type that derives [`ApiError`] uses the status, type and title of the
//!   variant.
//! - The body format is pluggable: [`Renderer`] (set with `App::renderer`) writes every problem,
//!   including the framework's own (404, 405, 413, timeouts, panics, bad JSON).

pub(crate) mod api_error;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub(crate) mod database;
mod problem;

use std::fmt;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

pub use api_error::ApiError;
use api_error::ApiErrorDowncast;
pub(crate) use problem::push_escaped;
pub use problem::{FieldError, Problem, ProblemJson, Renderer};
/// Derives [`ApiError`](trait@ApiError).
pub use trestle_macros::ApiError;

/// `Result<T, trestle::Error>`: the return type of handlers.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error that renders as a problem document. See the [module docs](self).
///
/// `Error` deliberately does not implement `std::error::Error`, so that `?` converts any error
/// into it (as `anyhow::Error` does).
pub struct Error {
    // One pointer wide: handlers return `Result<T, Error>` everywhere.
    inner: Box<Inner>,
}

struct Inner {
    problem: Problem,
    headers: HeaderMap,
    /// The cause: logged with the request id, never sent to the client.
    source: Option<Cause>,
    /// A violated database constraint, added to the problem only when the app allows it.
    constraint: Option<String>,
}

/// An error's cause, as the log shows it.
pub(crate) enum Cause {
    /// Any error, with the context and backtrace anyhow keeps.
    Anyhow(anyhow::Error),
    /// An error converted on a fast path (a database error): boxed as it is, because building an
    /// `anyhow::Error` captures a backtrace when `RUST_BACKTRACE` is set, a stack walk of tens of
    /// thousands of instructions on every `?`.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")), allow(dead_code))]
    Plain(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for Cause {
    /// The whole chain, outermost first: `a: b: c`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Anyhow(e) => write!(f, "{e:#}"),
            Cause::Plain(e) => {
                write!(f, "{e}")?;
                let mut next = e.source();
                while let Some(cause) = next {
                    write!(f, ": {cause}")?;
                    next = cause.source();
                }
                Ok(())
            }
        }
    }
}

/// Carries the problem from [`Error::into_response`] to the middleware, which adds the request
/// id and renders it with the app's [`Renderer`] — the only time it is rendered. Without the
/// middleware, the response's own body renders it (see [`ProblemBody`]).
#[derive(Clone)]
pub(crate) struct ProblemExtension {
    pub(crate) problem: Arc<Problem>,
    pub(crate) constraint: Option<String>,
    /// The cause: logged once, on the request's completion line, never sent.
    pub(crate) cause: Option<Arc<CauseOnce>>,
}

/// An error's cause, shared by the paths that may log it (the completion line, or the body
/// rendering itself) so that exactly one does.
pub(crate) struct CauseOnce {
    cause: Cause,
    logged: std::sync::atomic::AtomicBool,
}

impl CauseOnce {
    fn new(cause: Cause) -> Self {
        Self { cause, logged: std::sync::atomic::AtomicBool::new(false) }
    }

    /// The cause, the first time it is asked for; `None` once it has been logged.
    pub(crate) fn take_for_log(&self) -> Option<&Cause> {
        (!self.logged.swap(true, std::sync::atomic::Ordering::Relaxed)).then_some(&self.cause)
    }
}

impl fmt::Debug for ProblemExtension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProblemExtension")
            .field("problem", &self.problem)
            .field("constraint", &self.constraint)
            .field("cause", &self.cause.as_ref().map(|c| c.cause.to_string()))
            .finish()
    }
}

/// An error response's cause, carried past rendering to the log line that reports the request.
#[derive(Clone)]
pub(crate) struct LoggedCause(pub(crate) Arc<CauseOnce>);

/// The body of an error response that no middleware rendered: `application/problem+json`,
/// serialized when the server first asks for its size or its bytes (once), the cause logged
/// then, in the span the error was answered in. With the default stack it is dropped unread:
/// the stack renders the problem itself, with the request's id.
struct ProblemBody {
    /// `None` once sent.
    problem: Option<Arc<Problem>>,
    cause: Option<Arc<CauseOnce>>,
    /// Where the handler answered with the error: the cause's log line belongs there.
    span: tracing::Span,
    rendered: std::cell::OnceCell<bytes::Bytes>,
}

impl ProblemBody {
    fn bytes(&self, problem: &Problem) -> &bytes::Bytes {
        self.rendered.get_or_init(|| {
            if let Some(cause) = self.cause.as_ref().and_then(|c| c.take_for_log()) {
                self.span.in_scope(|| log_cause(problem.status, cause));
            }
            let body = serde_json::to_vec(problem)
                .unwrap_or_else(|_| br#"{"title":"Internal Server Error","status":500}"#.to_vec());
            bytes::Bytes::from(body)
        })
    }
}

impl http_body::Body for ProblemBody {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let Some(problem) = this.problem.take() else { return std::task::Poll::Ready(None) };
        let bytes = this.bytes(&problem).clone();
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.problem.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let len = self.problem.as_ref().map_or(0, |problem| self.bytes(problem).len());
        http_body::SizeHint::with_exact(len as u64)
    }
}

/// Logs an error response's cause: ERROR for 5xx, WARN otherwise (inside the request span when
/// there is one, so the line carries the request id).
pub(crate) fn log_cause(status: u16, cause: &Cause) {
    if status >= 500 {
        tracing::error!(status, error = %cause, "request failed");
    } else {
        tracing::warn!(status, error = %cause, "request failed");
    }
}

impl Error {
    /// An error with this status; `detail` is shown to the client.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let mut problem = Problem::from_status(status);
        problem.detail = Some(detail.into());
        Self::from_problem(problem)
    }

    /// An error for this problem document.
    pub fn from_problem(problem: Problem) -> Self {
        Self { inner: Box::new(Inner { problem, headers: HeaderMap::new(), source: None, constraint: None }) }
    }

    /// 400 Bad Request.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401 Unauthorized.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403 Forbidden.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404 Not Found.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 409 Conflict.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    /// 422 Unprocessable Content: add the failing fields with [`with_field`](Self::with_field).
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    /// 503 Service Unavailable.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail)
    }

    /// 500 Internal Server Error for `source`: the client sees a generic detail, the log the
    /// whole chain.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::from_problem(Problem::from_status(StatusCode::INTERNAL_SERVER_ERROR));
        e.inner.problem.detail =
            Some("the server failed to handle this request; the request id identifies it in the logs".into());
        e.inner.source = Some(Cause::Anyhow(source.into()));
        e
    }

    /// The error for a value of a type that derives [`ApiError`].
    pub fn from_api_error(error: &dyn ApiError) -> Self {
        let status = error.status();
        let mut problem = Problem::from_status(status);
        problem.problem_type = error.problem_type().to_owned();
        if let Some(title) = error.title() {
            title.clone_into(&mut problem.title);
        }
        let mut e = Self::from_problem(problem);
        if status.is_server_error() {
            e.inner.problem.detail =
                Some("the server failed to handle this request; the request id identifies it in the logs".into());
            e.inner.source = Some(Cause::Anyhow(anyhow::anyhow!("{error}")));
        } else {
            e.inner.problem.detail = Some(error.to_string());
        }
        if !status.is_server_error() {
            // A 5xx tells the client nothing of its cause, field messages included.
            e.inner.problem.errors.extend(error.fields());
        }
        e
    }

    /// Sets the problem's `title` (a short, fixed summary of the problem type).
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.inner.problem.title = title.into();
        self
    }

    /// Sets the problem's `type` URI.
    pub fn with_type(mut self, uri: impl Into<String>) -> Self {
        self.inner.problem.problem_type = uri.into();
        self
    }

    /// Adds a field-level failure to the problem's `errors`: `field` is a dotted path with
    /// `[index]` steps (`items[2].price`), and its JSON pointer (`/items/2/price`) is derived
    /// from it. [`with_field_error`](Self::with_field_error) takes a pointer of its own.
    pub fn with_field(self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.with_field_error(FieldError::new(field, message))
    }

    /// Adds a field-level failure built by the caller.
    pub fn with_field_error(mut self, error: FieldError) -> Self {
        self.inner.problem.errors.push(error);
        self
    }

    /// Adds a member to the problem document.
    pub fn with_extension(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.inner.problem.extensions.insert(key.into(), value.into());
        self
    }

    /// Adds a response header (`WWW-Authenticate`, `Retry-After`, `Allow`, …).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.inner.headers.append(name, value);
        self
    }

    /// Adds `Retry-After: seconds`: when the client may try again (a 503 for load shedding, a
    /// timeout or a database outage; a 429).
    pub fn with_retry_after(self, seconds: u32) -> Self {
        self.with_header(http::header::RETRY_AFTER, HeaderValue::from(seconds))
    }

    /// Keeps `source` as the cause (logged, never sent).
    pub fn with_source(mut self, source: impl Into<anyhow::Error>) -> Self {
        self.inner.source = Some(Cause::Anyhow(source.into()));
        self
    }

    /// Records the violated constraint (shown only with `database.expose_constraint_names`).
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")), allow(dead_code))]
    pub(crate) fn with_constraint(mut self, constraint: Option<&str>) -> Self {
        self.inner.constraint = constraint.map(str::to_owned);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.inner.problem.status()
    }

    /// The problem document the client will get (before the request id is added).
    pub fn problem(&self) -> &Problem {
        &self.inner.problem
    }

    /// The response headers this error adds.
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.headers
    }
}

/// `?` on anything that converts into `anyhow::Error` (every `std::error::Error + Send + Sync`).
/// Types that derive [`ApiError`] keep their status, sqlx errors get theirs (see
/// [`db`](crate::db)); everything else is a 500.
///
/// An app's own `ApiError` type and a bare `sqlx::Error` are recognised by their concrete type
/// first, without building an `anyhow::Error` (which captures a backtrace when `RUST_BACKTRACE`
/// is set); wrapped in `anyhow` context they are found by downcasting.
impl<E: Into<anyhow::Error> + Send + Sync + 'static> From<E> for Error {
    fn from(error: E) -> Self {
        let concrete: &dyn std::any::Any = &error;
        for entry in inventory::iter::<ApiErrorDowncast> {
            if let Some(api) = (entry.concrete)(concrete) {
                let mut e = Self::from_api_error(api);
                if e.status().is_server_error() {
                    // The log gets the whole chain, not just the variant's message.
                    e.inner.source = Some(Cause::Anyhow(error.into()));
                }
                return e;
            }
        }
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
        if concrete.is::<sqlx::Error>() {
            let boxed: Box<dyn std::any::Any + Send + Sync> = Box::new(error);
            let db = boxed.downcast::<sqlx::Error>().expect("checked to be a sqlx::Error");
            return Self::from_sqlx(db);
        }
        let error: anyhow::Error = error.into();
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
        if let Some(db) = error.downcast_ref::<sqlx::Error>() {
            // Under context: the whole anyhow chain is the cause.
            let constraint = database::constraint(db);
            return database::classify(db).with_source(error).with_constraint(constraint.as_deref());
        }
        for entry in inventory::iter::<ApiErrorDowncast> {
            if let Some(api) = (entry.wrapped)(&error) {
                let mut e = Self::from_api_error(api);
                if e.status().is_server_error() {
                    e.inner.source = Some(Cause::Anyhow(error));
                }
                return e;
            }
        }
        Self::internal(error)
    }
}

impl Error {
    /// The problem for a database error, keeping it as the logged cause.
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    fn from_sqlx(db: Box<sqlx::Error>) -> Self {
        let constraint = database::constraint(&db);
        let mut e = database::classify(&db).with_constraint(constraint.as_deref());
        e.inner.source = Some(Cause::Plain(db));
        e
    }
}

impl fmt::Debug for Error {
    /// The cause chain, or the title and detail: what the log shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.inner.source, &self.inner.problem.detail) {
            (Some(source), _) => write!(f, "{source:#}"),
            (None, Some(detail)) => write!(f, "{} ({}): {detail}", self.inner.problem.title, self.inner.problem.status),
            (None, None) => write!(f, "{} ({})", self.inner.problem.title, self.inner.problem.status),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl IntoResponse for Error {
    /// The problem travels in an extension and is rendered once, by the middleware (which adds
    /// the request id) or, without it, by the body when it is sent. The cause is logged once,
    /// on the request's completion line.
    fn into_response(self) -> Response {
        let Inner { problem, headers, constraint, source } = *self.inner;
        let status = problem.status();
        let problem = Arc::new(problem);
        let cause = source.map(|source| Arc::new(CauseOnce::new(source)));
        let body = ProblemBody {
            problem: Some(problem.clone()),
            cause: cause.clone(),
            span: tracing::Span::current(),
            rendered: Default::default(),
        };
        let mut response = Response::new(axum::body::Body::new(body));
        *response.status_mut() = status;
        response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        response.headers_mut().extend(headers);
        response.extensions_mut().insert(ProblemExtension { problem, constraint, cause });
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_the_middleware_the_response_renders_itself_once_with_its_length() {
        use http_body::Body as _;
        let response = Error::not_found("no such cart").into_response();
        assert_eq!(response.headers()[http::header::CONTENT_TYPE], "application/problem+json");
        let body = response.into_body();
        let length = body.size_hint().exact().expect("an exact length");
        let bytes = axum::body::to_bytes(body, 4096).await.unwrap();
        assert_eq!(bytes.len() as u64, length);
        let problem: Problem = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(problem.status, 404);
        assert_eq!(problem.detail.as_deref(), Some("no such cart"));
    }

    #[tokio::test]
    async fn a_cause_is_logged_by_whichever_path_comes_first_and_only_once() {
        let cause =
            |response: &Response| response.extensions().get::<ProblemExtension>().unwrap().cause.clone().unwrap();
        // A layer read the body (rendering it, logging the cause): the completion line must not
        // log it again.
        let response = Error::internal(std::io::Error::other("disk on fire")).into_response();
        let shared = cause(&response);
        axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        assert!(shared.take_for_log().is_none());
        // The completion line logged it first: the body, if it is rendered after all, does not.
        let response = Error::internal(std::io::Error::other("disk on fire")).into_response();
        let shared = cause(&response);
        assert!(shared.take_for_log().is_some_and(|c| c.to_string().contains("disk on fire")));
        assert!(shared.take_for_log().is_none());
    }

    #[test]
    fn std_errors_are_500_without_internals() {
        let io = std::io::Error::other("disk on fire at /var/secret");
        let e = Error::from(io);
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.problem().detail.as_deref().unwrap_or("").contains("disk"));
        assert!(format!("{e:?}").contains("disk on fire"), "the cause stays for the log");
    }

    #[derive(Debug, thiserror::Error, crate::ApiError)]
    enum StoreError {
        #[error("the store is unreachable")]
        #[api(status = 503)]
        Down(#[source] std::io::Error),
    }

    #[test]
    fn server_error_api_errors_keep_their_cause_chain_for_the_log() {
        let cause = std::io::Error::other("connection refused by 10.0.0.7");
        let e = Error::from(anyhow::Error::new(StoreError::Down(cause)).context("loading the cart"));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        let logged = format!("{e:?}");
        assert!(logged.contains("loading the cart") && logged.contains("connection refused by 10.0.0.7"), "{logged}");
        assert!(!e.problem().detail.as_deref().unwrap_or("").contains("10.0.0.7"), "the cause reached the client");
    }

    #[test]
    fn a_server_error_api_error_given_as_itself_keeps_its_cause() {
        let e = Error::from(StoreError::Down(std::io::Error::other("connection refused by 10.0.0.7")));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        let logged = format!("{e:?}");
        assert!(logged.contains("the store is unreachable") && logged.contains("10.0.0.7"), "{logged}");
    }

    #[derive(Debug, thiserror::Error, crate::ApiError)]
    #[error("no such cart")]
    #[api(status = 404)]
    struct NoCart;

    #[test]
    fn a_client_error_api_error_keeps_its_status_given_as_itself_or_under_context() {
        assert_eq!(Error::from(NoCart).status(), StatusCode::NOT_FOUND);
        assert_eq!(Error::from(NoCart).problem().detail.as_deref(), Some("no such cart"));
        let wrapped = Error::from(anyhow::Error::new(NoCart).context("loading"));
        assert_eq!(wrapped.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn anyhow_errors_are_500() {
        let e = Error::from(anyhow::anyhow!("boom").context("while saving"));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(format!("{e:?}").contains("while saving: boom"));
    }
}
