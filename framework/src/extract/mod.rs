//! `Json`, `Path` and `Query` whose rejections are problem documents.
//!
//! They wrap axum's extractors of the same names and answer bad input with a clear problem:
//!
//! | input | status | detail |
//! |---|---|---|
//! | body is not JSON (syntax) | 400 | serde's message, line, column and byte offset |
//! | JSON that does not match the type | 422 | the field path in `errors` |
//! | missing or wrong `content-type` | 415 | the content type expected |
//! | body over `server.body_limit` | 413 | the limit |
//! | unparsable path parameter | 400 | which parameter and why |
//! | unparsable query string | 400 | which parameter and why |
//!
//! [`Valid`] adds the type's own rules (derived with `garde`) to any of them: 422 naming every
//! failing field. [`Page`] reads `limit`, `offset` and `cursor` within configured bounds, and
//! [`Paginated`] answers a page with its total.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, FieldError};

mod describe;
mod page;
mod valid;

pub use page::{Page, Paginated};
pub use valid::{Valid, Validated};

/// A JSON request body (`Json<T>` as an argument) or response (`Json<T>` returned).
///
/// Rejections: 415 without `content-type: application/json` (or `+json`), 413 over the body
/// limit, 400 for malformed JSON, 422 for JSON that does not match `T`.
///
/// ```
/// use trestle::Json;
/// #[derive(serde::Deserialize, serde::Serialize)]
/// struct Message { message: String }
///
/// async fn echo(Json(m): Json<Message>) -> Json<Message> {
///     Json(m)
/// }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse_json(&json_body(req, state).await?).map(Json)
    }
}

/// The body of a JSON request: 415 without a JSON content type, 413 over the limit.
pub(crate) async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Error> {
    if !is_json(req.headers()) {
        return Err(Error::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected a JSON body: send the header `content-type: application/json`",
        ));
    }
    Bytes::from_request(req, state).await.map_err(body_error)
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).map(http::HeaderValue::as_bytes) else {
        return false;
    };
    // The usual value, decided without splitting.
    if ct.eq_ignore_ascii_case(b"application/json") {
        return true;
    }
    let essence = ct.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
    let Some(slash) = essence.iter().position(|&b| b == b'/') else { return false };
    let (kind, sub) = (&essence[..slash], &essence[slash + 1..]);
    kind.eq_ignore_ascii_case(b"application")
        && (sub.eq_ignore_ascii_case(b"json") || sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

/// A body read failure: 413 over the limit, 400 otherwise.
pub(crate) fn body_error(rejection: axum::extract::rejection::BytesRejection) -> Error {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        Error::new(status, "the request body is larger than the server accepts (server.body_limit)")
    } else {
        Error::new(StatusCode::BAD_REQUEST, format!("the request body could not be read: {}", rejection.body_text()))
    }
}

/// Deserializes JSON; 400 for bad syntax (with position), 422 naming the field that does not
/// match (for a missing field, the missing field itself).
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => value,
        Err(e) if e.inner().classify() == serde_json::error::Category::Data => {
            return Err(data_error(Some(e.path()), e.inner()))
        }
        Err(e) => return Err(syntax_error(bytes, &e.into_inner())),
    };
    match de.end() {
        Ok(()) => Ok(value),
        Err(e) => Err(syntax_error(bytes, &e)),
    }
}

/// Malformed JSON: 400 with the line, column and byte offset.
fn syntax_error(bytes: &[u8], inner: &serde_json::Error) -> Error {
    let offset = byte_offset(bytes, inner.line(), inner.column());
    Error::bad_request(format!("malformed JSON at byte {offset}: {inner}"))
        .with_extension("line", inner.line())
        .with_extension("column", inner.column())
        .with_extension("offset", offset)
}

/// JSON that does not match the type: 422 with the field's path and JSON pointer. serde reports
/// a missing field at the object that lacks it; the field named is the missing one.
fn data_error(path: Option<&serde_path_to_error::Path>, inner: &serde_json::Error) -> Error {
    use serde_path_to_error::Segment;
    let message = strip_position(&inner.to_string());
    let (mut field, mut pointer) = (String::new(), String::new());
    let mut step = |name: &str, index: bool| {
        if index {
            field.push('[');
            field.push_str(name);
            field.push(']');
        } else {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(name);
        }
        pointer.push('/');
        crate::error::push_escaped(&mut pointer, name);
    };
    for segment in path.into_iter().flat_map(serde_path_to_error::Path::iter) {
        match segment {
            Segment::Seq { index } => step(&index.to_string(), true),
            Segment::Map { key } => step(key, false),
            Segment::Enum { variant } => step(variant, false),
            // Inside an untagged enum or a flattened map serde does not say where: the pointer
            // stops at the last place it knows.
            Segment::Unknown => break,
        }
    }
    if let Some(missing) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
        step(missing, false);
    }
    let detail = if field.is_empty() {
        format!("the JSON body does not match the expected shape: {message}")
    } else {
        format!("field `{field}`: {message}")
    };
    Error::unprocessable(detail).with_field_error(FieldError { field, pointer, message })
}

/// serde_json's messages end in " at line L column C"; field errors do not need it.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The byte offset of a 1-based line and column as serde_json counts them.
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = bytes.split(|b| *b == b'\n').take(line.saturating_sub(1)).map(|l| l.len() + 1).sum();
    (line_start + column.saturating_sub(1)).min(bytes.len())
}

/// Path parameters (`/users/{id}` → `Path(id): Path<u64>`); 400 problem when they do not parse.
#[derive(Clone, Copy, Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                Err(Error::bad_request(format!("invalid path parameter: {}", e.body_text())))
            }
            Err(e) => Err(Error::internal(anyhow::anyhow!("path extraction failed: {}", e.body_text()))),
        }
    }
}

/// The query string (`?page=2` → `Query(p): Query<Page>`); 400 problem when it does not parse.
#[derive(Clone, Copy, Debug, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(Error::bad_request(format!("invalid query string: {}", e.body_text())))
            }
            Err(e) => Err(Error::bad_request(e.body_text())),
        }
    }
}

macro_rules! deref {
    ($($t:ident),*) => {$(
        impl<T> std::ops::Deref for $t<T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.0
            }
        }
        impl<T> std::ops::DerefMut for $t<T> {
            fn deref_mut(&mut self) -> &mut T {
                &mut self.0
            }
        }
    )*};
}
deref!(Json, Path, Query);

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct User {
        name: String,
        age: u8,
    }

    #[test]
    fn syntax_errors_are_400_with_position() {
        let e = parse_json::<User>(b"{\"name\": \"a\",\n \"age\": }").unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let p = e.problem();
        assert_eq!(p.extensions["line"], 2);
        assert_eq!(p.extensions["offset"], byte_offset(b"{\"name\": \"a\",\n \"age\": }", 2, 9));
        assert!(p.detail.as_deref().unwrap().contains("malformed JSON"));
    }

    #[test]
    fn type_errors_are_422_naming_the_field() {
        let e = parse_json::<User>(br#"{"name": "a", "age": 300}"#).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.problem().errors[0].field, "age");
        assert_eq!(e.problem().errors[0].pointer, "/age");
        let e = parse_json::<User>(br#"{"age": 3}"#).unwrap_err();
        assert!(e.problem().errors[0].message.contains("missing field `name`"));
        assert_eq!(e.problem().errors[0].field, "name");
        assert_eq!(e.problem().errors[0].pointer, "/name");
    }

    #[test]
    fn nested_fields_are_named_with_their_pointer() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Order {
            items: Vec<std::collections::HashMap<String, User>>,
        }
        let e =
            parse_json::<Order>(br#"{"items": [{"a/b": {"name": "x", "age": 1}}, {"c": {"age": 2}}]}"#).unwrap_err();
        assert_eq!(e.problem().errors[0].field, "items[1].c.name");
        assert_eq!(e.problem().errors[0].pointer, "/items/1/c/name");
        let e = parse_json::<Order>(br#"{"items": [{"a/b": {"name": 1, "age": 1}}]}"#).unwrap_err();
        assert_eq!(e.problem().errors[0].pointer, "/items/0/a~1b/name");
    }

    #[test]
    fn trailing_garbage_is_400() {
        let e = parse_json::<User>(br#"{"name": "a", "age": 3} x"#).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        for ok in
            ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/problem+json"]
        {
            h.insert(header::CONTENT_TYPE, ok.parse().unwrap());
            assert!(is_json(&h), "{ok}");
        }
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&h));
    }
}
