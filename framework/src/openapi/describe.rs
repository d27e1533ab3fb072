//! What trestle's and axum's extractors and responses add to an operation.

use std::borrow::Cow;
use std::convert::Infallible;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use schemars::JsonSchema;
use serde_json::{json, Value};

use super::{DescribeErrors, DescribeInput, DescribeOutput, ErrorDoc, Operation};
use crate::auth::Auth;
use crate::extract::{Json, Page, Paginated, Path, Query, Valid};

const JSON: &str = "application/json";

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

/// The problems a JSON body can get before the handler sees it.
fn json_body_problems(op: &mut Operation<'_>) {
    op.problem(400, "The body is not well-formed JSON.");
    op.problem(413, "The body is larger than the server accepts (`server.body_limit`).");
    op.problem(415, "The request has no `content-type: application/json`.");
    op.problem(422, "The JSON does not match the schema: a field is missing or of another type.");
}

impl<T: JsonSchema> DescribeInput for Json<T> {
    fn describe(op: &mut Operation<'_>) {
        let schema = op.input_schema::<T>();
        op.request_body(JSON, schema);
        json_body_problems(op);
    }
}

impl<T: JsonSchema> DescribeInput for axum::Json<T> {
    fn describe(op: &mut Operation<'_>) {
        <Json<T> as DescribeInput>::describe(op);
    }
}

impl<T: JsonSchema> DescribeInput for axum::Form<T> {
    fn describe(op: &mut Operation<'_>) {
        let schema = op.input_schema::<T>();
        op.request_body("application/x-www-form-urlencoded", schema);
        op.problem(400, "The form could not be read.");
        op.problem(413, "The body is larger than the server accepts (`server.body_limit`).");
        op.problem(415, "The request has no `content-type: application/x-www-form-urlencoded`.");
        op.problem(422, "The form does not match the schema.");
    }
}

impl DescribeInput for String {
    fn describe(op: &mut Operation<'_>) {
        op.request_body("text/plain", json!({ "type": "string" }));
        op.problem(400, "The body is not UTF-8.");
        op.problem(413, "The body is larger than the server accepts (`server.body_limit`).");
    }
}

impl DescribeInput for bytes::Bytes {
    fn describe(op: &mut Operation<'_>) {
        op.request_body("application/octet-stream", json!({}));
        op.problem(413, "The body is larger than the server accepts (`server.body_limit`).");
    }
}

impl<T: JsonSchema> DescribeInput for Path<T> {
    fn describe(op: &mut Operation<'_>) {
        op.path_parameters::<T>();
    }
}

impl<T: JsonSchema> DescribeInput for axum::extract::Path<T> {
    fn describe(op: &mut Operation<'_>) {
        op.path_parameters::<T>();
    }
}

impl<T: JsonSchema> DescribeInput for Query<T> {
    fn describe(op: &mut Operation<'_>) {
        op.query_parameters::<T>();
    }
}

impl<T: JsonSchema> DescribeInput for axum::extract::Query<T> {
    fn describe(op: &mut Operation<'_>) {
        op.query_parameters::<T>();
    }
}

impl<E: DescribeInput> DescribeInput for Valid<E> {
    fn describe(op: &mut Operation<'_>) {
        E::describe(op);
        op.problem(422, "A value breaks the rules its field states: every failing field is named in `errors`.");
    }
}

impl DescribeInput for Page {
    fn describe(op: &mut Operation<'_>) {
        let config = *op.pagination();
        let mut limit = json!({ "type": "integer", "minimum": 1, "default": config.default_limit });
        let limit_doc = match config.over_max {
            crate::config::OverMax::Reject => {
                limit["maximum"] = config.max_limit.into();
                format!("Items per page, at most {}.", config.max_limit)
            }
            crate::config::OverMax::Clamp => {
                format!("Items per page; more than {} gets {}.", config.max_limit, config.max_limit)
            }
        };
        op.parameter("query", "limit", false, limit, Some(&limit_doc));
        op.parameter(
            "query",
            "offset",
            false,
            json!({ "type": "integer", "minimum": 0, "maximum": i64::MAX, "default": 0 }),
            Some("Items to skip."),
        );
        op.problem(422, "`limit` or `offset` is not a whole number in its range.");
    }
}

impl<C> DescribeInput for Auth<C> {
    fn describe(op: &mut Operation<'_>) {
        op.problem(401, "The request has no token, or its token is malformed, expired or not signed by this server.");
    }
}

impl<C> DescribeInput for Option<Auth<C>> {
    fn describe(op: &mut Operation<'_>) {
        op.problem(401, "The request sent a token that is malformed, expired or not signed by this server.");
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
    crate::middleware::RequestId;
    crate::middleware::ClientIp;
    crate::auth::Jwt;
}

impl DescribeInput for axum::body::Body {
    fn describe(op: &mut Operation<'_>) {
        op.request_body("application/octet-stream", json!({}));
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
impl<DB: crate::db::Backend> DescribeInput for crate::db::Db<DB> {}

impl<T: JsonSchema> DescribeOutput for Json<T> {
    fn describe(op: &mut Operation<'_>) {
        let schema = op.output_schema::<T>();
        op.response(200, "OK", Some((JSON, schema)));
    }
}

impl<T: JsonSchema> DescribeOutput for axum::Json<T> {
    fn describe(op: &mut Operation<'_>) {
        <Json<T> as DescribeOutput>::describe(op);
    }
}

impl<T: JsonSchema> DescribeOutput for Paginated<T> {
    /// The page, and the `cursor` parameter that continues it: a handler that answers with
    /// `Paginated` is one that can set `next_cursor` (`Page` alone cannot tell whether the
    /// handler reads `cursor`, so it documents `limit` and `offset` only).
    fn describe(op: &mut Operation<'_>) {
        op.parameter(
            "query",
            "cursor",
            false,
            json!({ "type": "string" }),
            Some("Where the page starts: the `next_cursor` of the page before (instead of `offset`)."),
        );
        let schema = op.output_schema::<Paginated<T>>();
        op.response(200, "OK", Some((JSON, schema)));
        op.response_header(
            200,
            "x-total-count",
            json!({ "type": "integer", "minimum": 0 }),
            "Items across all pages, when counted.",
        );
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
        op.responses.entry("3XX".to_owned()).or_default().descriptions.push("Redirect".to_owned());
        op.response_header_on("3XX", "location", json!({ "type": "string" }), "Where to go.");
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

impl Operation<'_> {
    /// A header on the response under `key` (a status or a range).
    fn response_header_on(&mut self, key: &str, name: &str, schema: Value, description: &str) {
        let doc = self.responses.entry(key.to_owned()).or_default();
        doc.headers.insert(name.to_owned(), json!({ "description": description, "schema": schema }));
    }
}
