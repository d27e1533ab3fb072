//! `Valid<E>`: an extractor whose value must pass its type's `garde` rules.

use axum::extract::{FromRequest, FromRequestParts, Request};
use garde::Validate as _;
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{Error, FieldError};

/// An extracted value that must also pass its type's validation rules, derived with
/// [garde](https://docs.rs/garde): `Valid(Json(user)): Valid<Json<NewUser>>`. Works with
/// [`Json`](super::Json), [`Query`](super::Query) and [`Path`](super::Path).
///
/// The extractor's own rejections come first (415, 400 for malformed JSON, 422 for a wrong
/// shape); then every rule that fails is listed in one 422 problem, each with its field, JSON
/// pointer and message:
///
/// ```json
/// {"status": 422, "detail": "2 fields are invalid: user.email: not a valid email address; …",
///  "errors": [{"field": "user.email", "pointer": "/user/email", "message": "not a valid email address: …"}, …]}
/// ```
///
/// garde derives the rules from attributes, and every field must name its rules or `skip`
/// (a field nobody thought about is a compile error, not a hole). Failures are named as the
/// client named the fields (serde's `rename_all` spellings of them), so each pointer points
/// into the document the client sent. The app adds `garde = { version = "0.23", features = ["derive",
/// "email"] }` (its derive names the `garde` crate directly); rules with a context take it from
/// `Default`.
///
/// ```
/// use trestle::prelude::*;
///
/// #[derive(Deserialize, garde::Validate)]
/// struct NewUser {
///     #[garde(length(chars, min = 1, max = 64))]
///     username: String,
///     #[garde(length(chars, min = 8, max = 128))]
///     password: String,
/// }
///
/// async fn register(Valid(Json(user)): Valid<Json<NewUser>>) -> String {
///     user.username
/// }
/// # let _ = register;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Valid<E>(pub E);

/// An extractor whose value [`Valid`] can check: the value it holds.
pub trait Validated {
    /// The type that carries the rules.
    type Value: garde::Validate;
    /// The extracted value.
    fn value(&self) -> &Self::Value;
}

macro_rules! validated {
    ($($extractor:ident),*) => {$(
        impl<T: garde::Validate> Validated for super::$extractor<T> {
            type Value = T;
            fn value(&self) -> &T {
                &self.0
            }
        }
    )*};
}
validated!(Json, Query, Path);

impl<T, S> FromRequest<S> for Valid<super::Json<T>>
where
    T: DeserializeOwned + garde::Validate,
    T::Context: Default,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let bytes = super::json_body(req, state).await?;
        let value: T = super::parse_json(&bytes)?;
        match value.validate() {
            Ok(()) => Ok(Valid(super::Json(value))),
            // Only a failure pays for reading the body again: for the names the client used.
            Err(report) => Err(report_error(&report, serde_json::from_slice(&bytes).ok().as_ref())),
        }
    }
}

impl<E, S> FromRequestParts<S> for Valid<E>
where
    E: Validated + FromRequestParts<S, Rejection = Error>,
    <E::Value as garde::Validate>::Context: Default,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let extracted = E::from_request_parts(parts, state).await?;
        match extracted.value().validate() {
            Ok(()) => Ok(Valid(extracted)),
            Err(report) => {
                // The parameters' names as sent: the query string's keys and the path's.
                let mut names = serde_json::Map::new();
                for (key, _) in super::page::pairs(parts.uri.query().unwrap_or_default()) {
                    names.insert(key.into_owned(), serde_json::Value::Null);
                }
                let route =
                    parts.extensions.get::<axum::extract::MatchedPath>().map(axum::extract::MatchedPath::as_str);
                for segment in route.unwrap_or_default().split('/') {
                    if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        names.insert(name.trim_start_matches('*').to_owned(), serde_json::Value::Null);
                    }
                }
                Err(report_error(&report, Some(&serde_json::Value::Object(names))))
            }
        }
    }
}

/// A garde report as a 422 problem: one `errors` entry per failure, in the order garde found
/// them, and a detail that lists them all.
///
/// garde names fields as Rust does (`tag_list`); given the `input` the client sent, each step is
/// named as the client named it (`tagList`, whatever serde's `rename_all`), so the pointer
/// points into the client's own document.
pub fn report_error(report: &garde::Report, input: Option<&serde_json::Value>) -> Error {
    let failures: Vec<FieldError> = report.iter().map(|(path, error)| field_error(path, error, input)).collect();
    let listed = failures
        .iter()
        .map(|f| if f.field.is_empty() { f.message.clone() } else { format!("{}: {}", f.field, f.message) })
        .collect::<Vec<_>>()
        .join("; ");
    let detail = match failures.len() {
        1 => format!("1 field is invalid: {listed}"),
        n => format!("{n} fields are invalid: {listed}"),
    };
    failures.into_iter().fold(Error::unprocessable(detail), Error::with_field_error)
}

/// One failure: its path as a dotted field and as a JSON pointer, in the client's names.
fn field_error(path: &garde::Path, error: &garde::Error, input: Option<&serde_json::Value>) -> FieldError {
    let (mut field, mut pointer) = (String::new(), String::new());
    let mut at = input;
    for (kind, component) in path.__iter().rev() {
        let name = match kind {
            garde::error::Kind::None => continue,
            garde::error::Kind::Index => {
                at = at.and_then(|v| v.get(component.parse::<usize>().unwrap_or(usize::MAX)));
                field.push_str(&format!("[{component}]"));
                component.to_string()
            }
            garde::error::Kind::Key => {
                let object = at.and_then(serde_json::Value::as_object);
                // The exact name first: a key serde ignored may also spell it in another case.
                let sent = object.and_then(|o| {
                    o.keys()
                        .find(|k| *k == component.as_str())
                        .or_else(|| o.keys().find(|k| snake_case(k) == *component))
                });
                let name = sent.cloned().unwrap_or_else(|| component.to_string());
                at = object.and_then(|o| o.get(&name));
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(&name);
                name
            }
        };
        pointer.push('/');
        crate::error::push_escaped(&mut pointer, &name);
    }
    FieldError { field, pointer, message: error.message().to_owned() }
}

/// `tagList`, `TagList`, `tag-list`, `TAG_LIST` → `tag_list`: serde's `rename_all` spellings
/// of a Rust field, undone.
fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut previous_lower = false;
    for c in key.chars() {
        if c == '-' {
            out.push('_');
            previous_lower = false;
        } else if c.is_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            previous_lower = false;
        } else {
            out.push(c);
            previous_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_list_every_failure_with_its_pointer() {
        let mut report = garde::Report::new();
        report.append(garde::Path::new("user").join("email"), garde::Error::new("not a valid email address"));
        report.append(garde::Path::new("tags").join(2usize), garde::Error::new("length is lower than 1"));
        report.append(garde::Path::new("a/b~c"), garde::Error::new("bad"));
        let problem = report_error(&report, None).problem().clone();
        assert_eq!(problem.status, 422);
        let got: Vec<(&str, &str)> = problem.errors.iter().map(|e| (e.field.as_str(), e.pointer.as_str())).collect();
        assert_eq!(got, [("user.email", "/user/email"), ("tags[2]", "/tags/2"), ("a/b~c", "/a~1b~0c")]);
        assert!(problem.detail.unwrap().starts_with("3 fields are invalid: user.email: not a valid email address;"));
    }

    #[test]
    fn fields_are_named_as_the_client_sent_them() {
        let mut report = garde::Report::new();
        report.append(garde::Path::new("user").join("tag_list").join(1usize), garde::Error::new("empty"));
        report.append(garde::Path::new("user").join("user_name"), garde::Error::new("blank"));
        let input = serde_json::json!({"user": {"tagList": ["a", ""], "UserName": ""}});
        let problem = report_error(&report, Some(&input)).problem().clone();
        let got: Vec<(&str, &str)> = problem.errors.iter().map(|e| (e.field.as_str(), e.pointer.as_str())).collect();
        assert_eq!(got, [("user.tagList[1]", "/user/tagList/1"), ("user.UserName", "/user/UserName")]);
        let spellings = [("tagList", "tag_list"), ("TagList", "tag_list"), ("tag-list", "tag_list")];
        for (key, snake) in spellings.into_iter().chain([("TAG_LIST", "tag_list"), ("v2Key", "v2_key")]) {
            assert_eq!(snake_case(key), snake, "{key}");
        }
    }
}
