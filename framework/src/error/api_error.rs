//! `ApiError`: how an app's own error type maps to a problem.

use std::fmt::{Debug, Display};

use http::StatusCode;

/// An app error type with a status, problem type and title per variant; derive it.
///
/// ```
/// use trestle::error::ApiError;
///
/// #[derive(Debug, thiserror::Error, trestle::ApiError)]
/// enum ArticleError {
///     #[error("no article with slug {0:?}")]
///     #[api(status = 404, title = "Article not found", type = "https://example.com/problems/no-article")]
///     NotFound(String),
///     #[error("only the author may edit an article")]
///     #[api(status = 403)]
///     NotAuthor,
///     // `field` and `message` name the failing field in the problem's `errors`; both are
///     // format strings over the variant's fields.
///     #[error("{0} has already been taken")]
///     #[api(status = 409, field = "{0}", message = "has already been taken")]
///     Taken(&'static str),
/// }
///
/// async fn handler() -> trestle::Result<String> {
///     Err(ArticleError::NotFound("hello".into()))? // a 404 problem, not a 500
/// }
/// assert_eq!(ArticleError::NotAuthor.status().as_u16(), 403);
/// let taken: trestle::Error = ArticleError::Taken("slug").into();
/// assert_eq!(taken.problem().errors[0].field, "slug");
/// ```
///
/// For 4xx statuses the error's `Display` is the problem's `detail`; for 5xx the detail is
/// generic and the message is logged. A type that derives `ApiError` is also `IntoResponse`,
/// and `?` converts it into [`Error`](crate::Error) keeping its status when it implements
/// `std::error::Error` (derive that with `thiserror`).
pub trait ApiError: Display + Debug + Send + Sync + 'static {
    /// The HTTP status.
    fn status(&self) -> StatusCode;
    /// The problem's `title`; `None` uses the status's reason phrase.
    fn title(&self) -> Option<&'static str> {
        None
    }
    /// The problem's `type` URI.
    fn problem_type(&self) -> &'static str {
        "about:blank"
    }
    /// The failing fields the problem names in `errors` (`#[api(field = "{0}", message =
    /// "has already been taken")]`); none by default.
    fn fields(&self) -> Vec<crate::error::FieldError> {
        Vec::new()
    }
}

/// Registered by `#[derive(ApiError)]`, so `From<E> for Error` can find the status of any
/// derived type: given as itself, or behind an `anyhow::Error`.
pub struct ApiErrorDowncast {
    /// The value, when its concrete type is the derived type.
    pub concrete: fn(&dyn std::any::Any) -> Option<&dyn ApiError>,
    /// The derived type inside an `anyhow::Error` (under any context).
    pub wrapped: fn(&anyhow::Error) -> Option<&dyn ApiError>,
}

inventory::collect!(ApiErrorDowncast);
