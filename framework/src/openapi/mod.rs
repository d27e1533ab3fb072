//! The OpenAPI 3.1 document, from the handlers as written.
//!
//! Every `#[get]`/`#[post]`/… route describes itself: the route macro reads the handler's
//! signature and doc comment and emits a function that asks each argument type
//! ([`DescribeInput`]) and the return type ([`DescribeOutput`]) what they add to the operation.
//! Nothing is written twice:
//!
//! | the handler has | the document says |
//! |---|---|
//! | `#[get("/articles/{slug}")]` | the path and method |
//! | `Path<T>` | each path parameter, named from the path, typed from `T` |
//! | `Query<T>`, `Page` | the query parameters of `T`'s fields; `limit` and `offset` (and `cursor` with `Paginated<T>` returned) |
//! | `Json<T>`, `Valid<Json<T>>` | the required JSON body, `T`'s schema with its rules |
//! | `Json<T>`, `Created<T>`, `NoContent`, `Paginated<T>`, … returned | the success response and its schema |
//! | `Result<_, E>` with `#[derive(ApiError)]` `E` | a problem response per status of `E` |
//! | `errors = [MyError::NotFound, 409]` on the route | those problems too |
//! | `Auth`, `Option<Auth>`, `scopes = [...]` | the security requirement, 401 and 403 |
//! | the doc comment | `summary` (first sentence) and `description` |
//! | `tags = [...]`, else the handler's module | `tags` |
//! | `#[deprecated]` | `deprecated: true` |
//!
//! The framework's own answers are documented where the extractors used can give them (400,
//! 413, 415 and 422 for a body; 401 and 403 for credentials; 422 for `Valid` and `Page`), and
//! on every operation those any request can get: 500, 503 (overloaded, timed out, draining) and,
//! when a rate limit applies to the route, 429.
//!
//! Schemas come from [schemars](https://docs.rs/schemars) (`#[derive(JsonSchema)]`, in the
//! prelude), in the JSON Schema 2020-12 dialect OpenAPI 3.1 uses. It reads serde's attributes
//! (`rename_all`, `skip_serializing_if`, `flatten`, enum tagging) and garde's rules (`length`,
//! `range`, `pattern`, `email`, …), so the document says what the server enforces. Request
//! bodies are described as they deserialize, responses as they serialize.
//!
//! ```
//! use trestle::prelude::*;
//!
//! /// A note.
//! #[derive(Deserialize, Serialize, JsonSchema)]
//! struct Note {
//!     text: String,
//! }
//!
//! /// Reads a note.
//! ///
//! /// Notes are numbered from 1.
//! #[get("/notes/{id}")]
//! async fn show(Path(id): Path<u32>) -> Result<Json<Note>> {
//!     Ok(Json(Note { text: format!("note {id}") }))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let app = App::new().routes(routes![show]);
//! let doc = app.openapi().unwrap();
//! let op = &doc["paths"]["/notes/{id}"]["get"];
//! assert_eq!(op["summary"], "Reads a note");
//! assert_eq!(op["parameters"][0]["name"], "id");
//! assert_eq!(op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Note");
//! # }
//! ```
//!
//! The app serves the document at `openapi.path` (`/openapi.json`) and an interactive page at
//! `openapi.docs_path` (`/docs`: Swagger UI, embedded in the binary, no internet needed);
//! `openapi.enabled = false` turns both off. [`App::openapi`](crate::App::openapi) returns the
//! document for tests and tooling; `cargo run -- openapi` prints it. It is built the first time
//! it is asked for and served as the same bytes after: other requests pay nothing for it.
//!
//! A `?` on a sqlx error can also answer 404 (no row), 409 (a unique or foreign key) or 422 (not
//! null, check): the document cannot see which queries a handler runs, so name those statuses
//! with `errors = [409]` where they can happen.
//!
//! A type the document cannot describe is a compile error at the route naming it. Implement
//! [`DescribeInput`] for an extractor of your own (an empty `impl` says it adds nothing to the
//! document), derive `JsonSchema` for a body, or leave the route out with `openapi = false`.

mod describe;
mod docs_page;
mod document;

use std::collections::BTreeMap;

use schemars::generate::SchemaGenerator;
pub use schemars::JsonSchema;
use serde_json::{json, Map, Value};

pub use describe::{Created, NoContent};
pub(crate) use docs_page::{paths, router};
pub(crate) use document::{build, Access, DocumentSource, ProblemSchema, RouteDoc};

/// What an extractor adds to an operation's description: parameters, a request body, the
/// responses its rejections give.
///
/// trestle implements it for its own extractors and axum's. For an extractor of your own, an
/// empty `impl` documents nothing (`impl DescribeInput for MyExtractor {}`); override
/// [`describe`](Self::describe) to document what it reads.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be described in the OpenAPI document",
    label = "this argument's type does not implement `trestle::openapi::DescribeInput`",
    note = "for an extractor of your own, `impl trestle::openapi::DescribeInput for {Self} {{}}` (an empty impl documents nothing; override `describe` to document what it reads), or leave the route out of the document with `openapi = false` on the route attribute"
)]
pub trait DescribeInput {
    /// Adds what the extractor reads and how it can refuse to `op`.
    fn describe(op: &mut Operation<'_>) {
        let _ = op;
    }
}

/// What a handler's return type adds to an operation: its success response, and through
/// `Result<T, E>` the errors `E` describes.
#[diagnostic::on_unimplemented(
    message = "the response type `{Self}` cannot be described in the OpenAPI document",
    label = "this return type does not implement `trestle::openapi::DescribeOutput`",
    note = "return a described type (`Json<T>` with `T: JsonSchema`, `Created<Json<T>>`, `Paginated<T>`, `String`, `StatusCode`, …; `impl IntoResponse` and `Response` say nothing of their body), implement `trestle::openapi::DescribeOutput` for it, or leave the route out of the document with `openapi = false` on the route attribute"
)]
pub trait DescribeOutput {
    /// Adds the responses this type can be to `op`.
    fn describe(op: &mut Operation<'_>);
}

/// The errors an error type can be: `#[derive(ApiError)]` implements it from the variants'
/// statuses and doc comments, so `Result<T, E>` documents each.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` cannot be described in the OpenAPI document",
    label = "this error type does not implement `trestle::openapi::DescribeErrors`",
    note = "derive `trestle::ApiError` for it (each variant's status is then documented), or return `trestle::Result<T>` and name the statuses with `errors = [404, …]` on the route attribute"
)]
pub trait DescribeErrors {
    /// Every error this type can be.
    fn errors() -> Vec<ErrorDoc>;
}

/// One error an [`ApiError`](crate::ApiError) type can be, as the document shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorDoc {
    /// The variant's name (`NotFound`), to pick it out with `errors = [MyError::NotFound]`.
    pub variant: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What it means: the variant's doc comment (empty: the document shows the status's reason
    /// phrase).
    pub description: &'static str,
}

/// The operation being described, handed to each [`DescribeInput`] and [`DescribeOutput`].
pub struct Operation<'a> {
    path: &'a str,
    parameters: Vec<Value>,
    request_body: Option<Value>,
    responses: BTreeMap<String, ResponseDoc>,
    registry: &'a mut Registry,
}

/// A response as it is being collected: several sources may describe one status.
#[derive(Default)]
struct ResponseDoc {
    descriptions: Vec<String>,
    content: Option<(String, Value)>,
    headers: Map<String, Value>,
}

/// What every operation of a document shares: the schema generators and the app's settings.
pub(crate) struct Registry {
    /// Schemas of what the client sends (serde's deserialize contract).
    input: SchemaGenerator,
    /// Schemas of what the server answers (the serialize contract).
    output: SchemaGenerator,
    problem: ProblemBody,
    pagination: crate::config::PaginationConfig,
}

impl<'a> Operation<'a> {
    /// The path template the operation is served at (`/articles/{slug}`).
    pub fn path(&self) -> &str {
        self.path
    }

    /// The names of the path's parameters, in order.
    pub fn path_parameter_names(&self) -> Vec<&str> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|s| s.trim_start_matches('*'))
            .collect()
    }

    /// The schema of `T` as a client sends it: a `$ref` to `components.schemas` for a named
    /// type, else the schema itself.
    pub fn input_schema<T: JsonSchema + ?Sized>(&mut self) -> Value {
        self.registry.input.subschema_for::<T>().to_value()
    }

    /// The schema of `T` as the server answers it.
    pub fn output_schema<T: JsonSchema + ?Sized>(&mut self) -> Value {
        self.registry.output.subschema_for::<T>().to_value()
    }

    /// `[pagination]`, for the bounds of `limit`.
    pub fn pagination(&self) -> &crate::config::PaginationConfig {
        &self.registry.pagination
    }

    /// Adds a parameter (`location`: `path`, `query`, `header` or `cookie`); a second one of
    /// the same name and location replaces the first.
    pub fn parameter(&mut self, location: &str, name: &str, required: bool, schema: Value, description: Option<&str>) {
        self.parameters.retain(|p| !(p["name"] == name && p["in"] == location));
        let mut param =
            json!({ "name": name, "in": location, "required": required || location == "path", "schema": schema });
        if let Some(d) = description.filter(|d| !d.is_empty()) {
            param["description"] = d.into();
        }
        self.parameters.push(param);
    }

    /// The path parameters, from `T`: one parameter per field of a struct, per element of a
    /// tuple (named by the path, in order), or the path's only parameter for a scalar.
    pub fn path_parameters<T: JsonSchema>(&mut self) {
        let schema = self.input_schema::<T>();
        let schema = self.resolve_input(&schema);
        let names: Vec<String> = self.path_parameter_names().into_iter().map(str::to_owned).collect();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, prop) in props.clone() {
                let description = prop.get("description").and_then(Value::as_str).map(str::to_owned);
                self.parameter("path", &name, true, without_description(prop), description.as_deref());
            }
        } else if let Some(items) = schema.get("prefixItems").and_then(Value::as_array) {
            for (name, item) in names.iter().zip(items.clone()) {
                self.parameter("path", name, true, item, None);
            }
        } else if let Some(name) = names.first() {
            self.parameter("path", name, true, schema, None);
        }
        self.problem(400, "A path parameter could not be read as its type.");
    }

    /// The query parameters, one per field of `T` (required unless the field may be absent).
    pub fn query_parameters<T: JsonSchema>(&mut self) {
        let schema = self.input_schema::<T>();
        let schema = self.resolve_input(&schema);
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let required: Vec<String> = required.into_iter().map(str::to_owned).collect();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, prop) in props.clone() {
                let description = prop.get("description").and_then(Value::as_str).map(str::to_owned);
                let is_required = required.contains(&name);
                // An absent parameter is how a query string says `None`: it cannot send `null`.
                let schema = without_null(without_description(prop));
                self.parameter("query", &name, is_required, schema, description.as_deref());
            }
        }
        self.problem(400, "The query string could not be read: a parameter is missing or not of its type.");
    }

    /// A required JSON body of `T`, and the problems reading one can give (400, 413, 415, 422).
    pub fn json_request_body<T: JsonSchema>(&mut self) {
        let schema = self.input_schema::<T>();
        self.structured_body("application/json", schema, "JSON");
    }

    /// A required body of `content_type` that deserializes into a type (`kind`: `JSON`, `form`),
    /// and what reading one can give: 400 when it does not parse, 413, 415, 422 when it does not
    /// match the schema.
    pub(crate) fn structured_body(&mut self, content_type: &str, schema: Value, kind: &str) {
        self.request_body(content_type, schema);
        self.problem(400, &format!("The body is not well-formed {kind}."));
        self.problem(413, BODY_TOO_LARGE);
        self.problem(415, &format!("The request has no `content-type: {content_type}`."));
        self.problem(422, &format!("The {kind} does not match the schema: a field is missing or of another type."));
    }

    /// A 200 response with a JSON body of `T`.
    pub fn json_response<T: JsonSchema>(&mut self) {
        let schema = self.output_schema::<T>();
        self.response(200, "OK", Some(("application/json", schema)));
    }

    /// The request body: required, of `content_type`, with `schema`.
    pub fn request_body(&mut self, content_type: &str, schema: Value) {
        self.request_body = Some(json!({ "required": true, "content": { content_type: { "schema": schema } } }));
    }

    /// A response with `status`; descriptions from several sources are joined, the first
    /// content given is kept.
    pub fn response(&mut self, status: u16, description: &str, content: Option<(&str, Value)>) {
        self.response_key(status.to_string(), description, content);
    }

    /// A response for a status known only when the handler runs (`(StatusCode, T)`): the range
    /// `2XX`.
    pub fn success_range(&mut self, description: &str, content: Option<(&str, Value)>) {
        self.response_key("2XX".to_owned(), description, content);
    }

    fn response_key(&mut self, key: String, description: &str, content: Option<(&str, Value)>) {
        let doc = self.responses.entry(key).or_default();
        if !description.is_empty() && !doc.descriptions.iter().any(|d| d == description) {
            doc.descriptions.push(description.to_owned());
        }
        if doc.content.is_none() {
            doc.content = content.map(|(ct, schema)| (ct.to_owned(), schema));
        }
    }

    /// A header of the response with `status` (added with [`response`](Self::response)).
    pub fn response_header(&mut self, status: u16, name: &str, schema: Value, description: &str) {
        self.header_on(&status.to_string(), name, schema, description);
    }

    /// A header on the response under `key` (a status or a range).
    fn header_on(&mut self, key: &str, name: &str, schema: Value, description: &str) {
        let doc = self.responses.entry(key.to_owned()).or_default();
        doc.headers.insert(name.to_owned(), json!({ "description": description, "schema": schema }));
    }

    /// A problem response with `status` (an empty `description`: the status's reason phrase,
    /// unless another source describes it), in the app's problem format (RFC 9457
    /// `application/problem+json` unless `App::renderer` changed it).
    pub fn problem(&mut self, status: u16, description: &str) {
        let content = (self.registry.problem.content_type.clone(), self.registry.problem.schema.clone());
        self.response(status, description, Some((&content.0, content.1)));
    }

    /// The problems `E` can be.
    pub fn errors<E: DescribeErrors + ?Sized>(&mut self) {
        for e in E::errors() {
            self.problem(e.status, e.description);
        }
    }

    /// The problem of `E`'s variant named `variant`.
    ///
    /// # Panics
    ///
    /// When `E` has no such variant (the route macro checks the name at compile time).
    pub fn error_variant<E: DescribeErrors + ?Sized>(&mut self, variant: &str) {
        let errors = E::errors();
        let e = errors
            .iter()
            .find(|e| e.variant == variant)
            .unwrap_or_else(|| panic!("{} has no variant {variant}", std::any::type_name::<E>()));
        self.problem(e.status, e.description);
    }

    /// `schema`, or the definition a `$ref` in it points to.
    fn resolve_input(&self, schema: &Value) -> Value {
        let name = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next());
        match name.and_then(|n| self.registry.input.definitions().get(n)) {
            Some(found) => found.clone(),
            None => schema.clone(),
        }
    }
}

/// The 413 every operation reading a body can get.
pub(crate) const BODY_TOO_LARGE: &str = "The body is larger than the server accepts (`server.body_limit`).";

/// How the app's problems look: the content type and schema of every error response.
pub(crate) struct ProblemBody {
    content_type: String,
    schema: Value,
}

/// A parameter's schema without `null` among its types.
fn without_null(mut schema: Value) -> Value {
    if let Some(types) = schema.get_mut("type").and_then(Value::as_array_mut) {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            schema["type"] = types[0].clone();
        }
    }
    schema
}

/// A parameter's schema without its description (which moves to the parameter).
fn without_description(mut schema: Value) -> Value {
    if let Some(map) = schema.as_object_mut() {
        map.remove("description");
    }
    schema
}
