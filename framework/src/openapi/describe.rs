//! What axum's and the standard library's extractors and responses add to an operation, and the
//! response helpers with a fixed status. trestle's own extractors describe themselves beside
//! their definitions (`extract`, `auth`, `db`, `middleware`).

use std::borrow::Cow;
use std::convert::Infallible;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use schemars::JsonSchema;
use serde_json::json;

use super::{DescribeErrors, DescribeInput, DescribeOutput, ErrorDoc, Operation, BODY_TOO_LARGE};

/// A response with status 201 Created: `Created(Json(article))`.
///
/// ```
/// use trestle::openapi::Created;
/// use trestle::prelude::*;
///
/// #[derive(Serialize, JsonSchema)]
/// struct Note { id: u64 }
///
/// #[post("/notes")]
/// async fn create() -> Created<Json<Note>> {
///     Created(Json(Note { id: 1 }))
/// }
///
/// fn main() {
///     let doc = App::new().routes(routes![create]).openapi().unwrap();
///     assert!(doc["paths"]["/notes"]["post"]["responses"]["201"].is_object());
/// }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Created<T>(pub T);

impl<T: IntoResponse> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        (StatusCode::CREATED, self.0).into_response()
    }
}

impl<T: DescribeOutput> DescribeOutput for Created<T> {
    fn describe(op: &mut Operation<'_>) {
        T::describe(op);
        if let Some(mut ok) = op.responses.remove("200") {
            ok.descriptions.retain(|d| d != "OK");
            ok.descriptions.insert(0, "Created".to_owned());
            op.responses.insert("201".to_owned(), ok);
        }
    }
}

/// A response with status 204 No Content and no body: what a delete answers.
///
/// ```
/// use trestle::openapi::NoContent;
/// use trestle::prelude::*;
///
/// #[delete("/notes/{id}")]
/// async fn remove(Path(_id): Path<u64>) -> Result<NoContent> {
///     Ok(NoContent)
/// }
///
/// fn main() {
///     let doc = App::new().routes(routes![remove]).openapi().unwrap();
///     assert!(doc["paths"]["/notes/{id}"]["delete"]["responses"]["204"].is_object());
/// }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NoContent;

impl IntoResponse for NoContent {
    fn into_response(self) -> Response {
        StatusCode::NO_CONTENT.into_response()
    }
}

impl DescribeOutput for NoContent {
    fn describe(op: &mut Operation<'_>) {
        op.response(204, "No Content", None);
    }
}

impl<T: JsonSchema> DescribeInput for axum::Json<T> {
    fn describe(op: &mut Operation<'_>) {
        op.json_request_body::<T>();
    }
}

impl<T: JsonSchema> DescribeInput for axum::Form<T> {
    fn describe(op: &mut Operation<'_>) {
        let schema = op.input_schema::<T>();
        op.structured_body("application/x-www-form-urlencoded", schema, "form");
    }
}

impl DescribeInput for String {
    fn describe(op: &mut Operation<'_>) {
        op.request_body("text/plain", json!({ "type": "string" }));
        op.problem(400, "The body is not UTF-8.");
        op.problem(413, BODY_TOO_LARGE);
    }
}

impl DescribeInput for bytes::Bytes {
    fn describe(op: &mut Operation<'_>) {
        op.request_body("application/octet-stream", json!({}));
        op.problem(413, BODY_TOO_LARGE);
    }
}

impl<T: JsonSchema> DescribeInput for axum::extract::Path<T> {
    fn describe(op: &mut Operation<'_>) {
        op.path_parameters::<T>();
    }
}

impl<T: JsonSchema> DescribeInput for axum::extract::Query<T> {
    fn describe(op: &mut Operation<'_>) {
        op.query_parameters::<T>();
    }
}

/// Extractors that read nothing the document shows: the state, connection details, headers
/// the app reads for itself.
macro_rules! describes_nothing {
    ($($ty:ty $(where $($generic:ident),*)?;)*) => {
        $(impl $(<$($generic),*>)? DescribeInput for $ty {})*
    };
}

describes_nothing! {
    axum::extract::State<T> where T;
    axum::extract::Extension<T> where T;
    axum::extract::ConnectInfo<T> where T;
    axum::extract::MatchedPath;
    axum::extract::OriginalUri;
    axum::extract::Request;
    http::HeaderMap;
    http::Uri;
    http::Method;
    http::Version;
    http::request::Parts;
    axum::extract::RawQuery;
    axum::extract::RawPathParams;
    axum::extract::NestedPath;
}

impl DescribeInput for axum::body::Body {
    fn describe(op: &mut Operation<'_>) {
        op.request_body("application/octet-stream", json!({}));
    }
}

impl<T: JsonSchema> DescribeOutput for axum::Json<T> {
    fn describe(op: &mut Operation<'_>) {
        op.json_response::<T>();
    }
}

impl<T: DescribeOutput> DescribeOutput for (StatusCode, T) {
    fn describe(op: &mut Operation<'_>) {
        T::describe(op);
        // The status is a value: only the handler knows it.
        if let Some(ok) = op.responses.remove("200") {
            let content = ok.content.clone();
            op.success_range("Success", content.as_ref().map(|(ct, s)| (ct.as_str(), s.clone())));
        }
    }
}

impl DescribeOutput for StatusCode {
    fn describe(op: &mut Operation<'_>) {
        op.success_range("Success, with no body", None);
    }
}

impl DescribeOutput for () {
    fn describe(op: &mut Operation<'_>) {
        op.response(200, "OK, with no body", None);
    }
}

macro_rules! text_response {
    ($($ty:ty),*) => {
        $(impl DescribeOutput for $ty {
            fn describe(op: &mut Operation<'_>) {
                op.response(200, "OK", Some(("text/plain; charset=utf-8", json!({ "type": "string" }))));
            }
        })*
    };
}

text_response!(String, &'static str, Cow<'static, str>);

impl<T> DescribeOutput for axum::response::Html<T> {
    fn describe(op: &mut Operation<'_>) {
        op.response(200, "OK", Some(("text/html; charset=utf-8", json!({ "type": "string" }))));
    }
}

impl DescribeOutput for axum::response::Redirect {
    fn describe(op: &mut Operation<'_>) {
        op.response_key("3XX".to_owned(), "Redirect", None);
        op.header_on("3XX", "location", json!({ "type": "string" }), "Where to go.");
    }
}

impl<T: DescribeOutput, E: DescribeErrors> DescribeOutput for Result<T, E> {
    fn describe(op: &mut Operation<'_>) {
        T::describe(op);
        op.errors::<E>();
    }
}

impl DescribeErrors for crate::Error {
    /// Any status: a handler names those it returns with `errors = [...]` on the route. 500 and
    /// 503 are documented on every operation.
    fn errors() -> Vec<ErrorDoc> {
        Vec::new()
    }
}

impl DescribeErrors for Infallible {
    fn errors() -> Vec<ErrorDoc> {
        Vec::new()
    }
}
