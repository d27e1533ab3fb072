//! The whole document: each route's operation, the responses every request can get, security
//! schemes from `[auth.jwt]`, and the schemas the operations refer to.

use std::collections::{BTreeMap, HashMap};

use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Map, Value};

use super::{Operation, ProblemBody, Registry};
use crate::config::{JwtConfig, OpenApiConfig, PaginationConfig};

/// Where request schemas are collected until they are merged into `components.schemas`.
const INPUT_REFS: &str = "#/components/x-input-schemas/";
const OUTPUT_REFS: &str = "#/components/schemas/";

/// How the app's error responses look, for the document: set by `App::problem_schema`, else
/// RFC 9457's `application/problem+json`.
#[derive(Clone, Copy)]
pub(crate) struct ProblemSchema {
    pub(crate) content_type: &'static str,
    pub(crate) schema: fn(&mut SchemaGenerator) -> schemars::Schema,
}

impl Default for ProblemSchema {
    fn default() -> Self {
        Self { content_type: "application/problem+json", schema: |g| g.subschema_for::<crate::error::Problem>() }
    }
}

/// One route as the document shows it: the route macro's metadata (`routing::RouteInfo`, which
/// `app` hands over) and what the config says of it.
pub(crate) struct RouteDoc {
    pub(crate) methods: &'static [&'static str],
    pub(crate) path: &'static str,
    /// The handler's full path: its name is the operation id, its module the default tag.
    pub(crate) handler: &'static str,
    pub(crate) summary: &'static str,
    pub(crate) description: &'static str,
    pub(crate) tags: &'static [&'static str],
    pub(crate) deprecated: bool,
    pub(crate) access: Access,
    pub(crate) scopes: &'static [&'static str],
    pub(crate) package: &'static str,
    pub(crate) version: &'static str,
    /// What the route macro emitted from the handler's signature.
    pub(crate) describe: fn(&mut Operation<'_>),
    /// The methods a rate limit applies to.
    pub(crate) limited: Vec<&'static str>,
}

/// Whom a route serves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone.
    Public,
    /// Anyone; a token that is sent must be valid.
    Optional,
    /// Only with a valid token.
    Required,
}

/// What the document is built from: kept by the app until the document is first asked for.
pub(crate) struct DocumentSource {
    pub(crate) routes: Vec<RouteDoc>,
    pub(crate) openapi: OpenApiConfig,
    pub(crate) pagination: PaginationConfig,
    pub(crate) jwt: JwtConfig,
    pub(crate) problem: ProblemSchema,
}

fn generator(definitions: &str, input: bool) -> SchemaGenerator {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = definitions.trim_start_matches('#').to_owned().into();
        s.meta_schema = None;
    });
    if input { settings.for_deserialize() } else { settings.for_serialize() }.into_generator()
}

/// The OpenAPI 3.1 document of `inputs.routes`.
pub(crate) fn build(inputs: &DocumentSource) -> Value {
    let mut output = generator(OUTPUT_REFS, false);
    let problem = ProblemBody {
        content_type: inputs.problem.content_type.to_owned(),
        schema: (inputs.problem.schema)(&mut output).to_value(),
    };
    let mut registry = Registry { input: generator(INPUT_REFS, true), output, problem, pagination: inputs.pagination };
    let schemes = security_schemes(&inputs.jwt);
    let ids = operation_ids(&inputs.routes);

    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut uses_auth = false;
    for route in &inputs.routes {
        for method in route.methods {
            let mut op = Operation {
                path: route.path,
                parameters: Vec::new(),
                request_body: None,
                responses: BTreeMap::new(),
                registry: &mut registry,
            };
            (route.describe)(&mut op);
            declare_path_parameters(&mut op);
            every_request(&mut op, route, method);
            uses_auth |= route.access != Access::Public;
            let id = ids.get(&(route.handler, *method)).cloned().unwrap_or_default();
            let object = operation_object(op, route, id, &schemes);
            paths.entry(template(route.path)).or_default().insert(method.to_ascii_lowercase(), object);
        }
    }

    let mut info = json!({
        "title": inputs.openapi.title.clone().unwrap_or_else(|| first(&inputs.routes, |r| r.package, "API")),
        "version": inputs.openapi.version.clone().unwrap_or_else(|| first(&inputs.routes, |r| r.version, "0.0.0")),
    });
    if let Some(d) = &inputs.openapi.description {
        info["description"] = d.clone().into();
    }
    let (schemas, renames) = merge_schemas(&mut registry);
    let mut components = json!({ "schemas": schemas });
    if uses_auth {
        let schemes: Map<String, Value> = schemes.into_iter().collect();
        components["securitySchemes"] = schemes.into();
    }
    let mut doc = json!({ "openapi": "3.1.0", "info": info, "paths": paths, "components": components });
    rewrite_refs(&mut doc, &renames);
    drop_null_defaults(&mut doc);
    doc
}

/// Removes `"default": null` where the schema's type does not admit `null`: schemars writes it
/// for a `#[serde(default)]` field whose schema says `with = "String"`, where it means "absent",
/// and validators reject a default the schema itself refuses.
fn drop_null_defaults(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let admits_null = match map.get("type") {
                Some(Value::String(t)) => t == "null",
                Some(Value::Array(types)) => types.iter().any(|t| t == "null"),
                _ => true,
            };
            if !admits_null && map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            map.values_mut().for_each(drop_null_defaults);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_defaults),
        _ => {}
    }
}

/// The path as an OpenAPI template: axum's wildcard `{*rest}` is `{rest}` (OpenAPI has no
/// wildcard; the parameter's description says it spans segments).
fn template(path: &str) -> String {
    path.replace("{*", "{")
}

/// A string parameter for each of the path's parameters the extractors did not describe (a
/// `Path<HashMap<…>>`, a wildcard): OpenAPI requires every one to be declared.
fn declare_path_parameters(op: &mut Operation<'_>) {
    let wildcards: Vec<String> = op
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix("{*").and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect();
    let names: Vec<String> = op.path_parameter_names().into_iter().map(str::to_owned).collect();
    for name in &names {
        let declared = op.parameters.iter().any(|p| p["in"] == "path" && p["name"] == name.as_str());
        if !declared {
            let description =
                if wildcards.contains(name) { Some("The rest of the path, `/`s included.") } else { None };
            op.parameter("path", name, true, json!({ "type": "string" }), description);
        }
    }
    // A struct or map read from a path with a wildcard names parameters the template does not
    // have: only the template's stay.
    op.parameters.retain(|p| p["in"] != "path" || p["name"].as_str().is_some_and(|n| names.iter().any(|m| m == n)));
}

/// The first route's `field`, else `fallback`.
fn first(routes: &[RouteDoc], field: fn(&RouteDoc) -> &'static str, fallback: &str) -> String {
    routes.iter().map(field).find(|v| !v.is_empty()).unwrap_or(fallback).to_owned()
}

/// Each operation's id: the handler's name, qualified by its module where two share a name, and
/// by the method where a route has several.
fn operation_ids(routes: &[RouteDoc]) -> HashMap<(&'static str, &'static str), String> {
    let name = |handler: &str| handler.rsplit("::").next().unwrap_or(handler).to_owned();
    let mut count: HashMap<String, usize> = HashMap::new();
    for route in routes {
        *count.entry(name(route.handler)).or_default() += 1;
    }
    let mut ids = HashMap::new();
    for route in routes {
        let short = name(route.handler);
        let base = if count[&short] > 1 {
            // `my_app::articles::list` → `articles_list`.
            let mut parts: Vec<&str> = route.handler.split("::").skip(1).collect();
            if parts.is_empty() {
                parts.push(&short);
            }
            parts.join("_")
        } else {
            short
        };
        for method in route.methods {
            let id =
                if route.methods.len() > 1 { format!("{base}_{}", method.to_ascii_lowercase()) } else { base.clone() };
            ids.insert((route.handler, *method), id);
        }
    }
    ids
}

/// The responses any request can get, whatever the handler: 500, 503, and 429 where a rate
/// limit applies; 401 and 403 for declared scopes.
fn every_request(op: &mut Operation<'_>, route: &RouteDoc, method: &str) {
    if !route.scopes.is_empty() {
        op.problem(401, "The request has no token, or its token is malformed, expired or not signed by this server.");
        op.problem(403, &format!("The token lacks a scope the route needs ({}).", route.scopes.join(", ")));
    }
    if route.limited.contains(&method) {
        op.problem(429, "The client has used up its quota: retry after `Retry-After` seconds.");
        op.response_header(
            429,
            "retry-after",
            json!({ "type": "integer", "minimum": 0 }),
            "Seconds until a request will be served.",
        );
    }
    op.problem(500, "An unexpected error: the cause is logged with the request id, never sent.");
    op.problem(
        503,
        "The server is overloaded, draining, past `server.request_timeout`, or cannot reach its database: retry shortly.",
    );
}

/// The operation object of `op`.
fn operation_object(op: Operation<'_>, route: &RouteDoc, id: String, schemes: &[(String, Value)]) -> Value {
    let mut object = Map::new();
    let tags: Vec<String> = if route.tags.is_empty() {
        // The handler's module: `my_app::articles::list` → `articles`; none at the crate root.
        let parts: Vec<&str> = route.handler.split("::").collect();
        if parts.len() > 2 {
            vec![parts[parts.len() - 2].to_owned()]
        } else {
            Vec::new()
        }
    } else {
        route.tags.iter().map(|t| (*t).to_owned()).collect()
    };
    if !tags.is_empty() {
        object.insert("tags".into(), tags.into());
    }
    if !route.summary.is_empty() {
        object.insert("summary".into(), route.summary.into());
    }
    if !route.description.is_empty() {
        object.insert("description".into(), route.description.into());
    }
    object.insert("operationId".into(), id.into());
    if !op.parameters.is_empty() {
        object.insert("parameters".into(), op.parameters.into());
    }
    if let Some(body) = op.request_body {
        object.insert("requestBody".into(), body);
    }
    let responses: Map<String, Value> = op
        .responses
        .into_iter()
        .map(|(status, doc)| {
            let description =
                if doc.descriptions.is_empty() { status_reason(&status) } else { doc.descriptions.join(" ") };
            let mut response = json!({ "description": description });
            if let Some((content_type, schema)) = doc.content {
                response["content"] = json!({ content_type: { "schema": schema } });
            }
            if !doc.headers.is_empty() {
                response["headers"] = doc.headers.into();
            }
            (status, response)
        })
        .collect();
    object.insert("responses".into(), responses.into());
    let requirement: Vec<Value> = match route.access {
        Access::Public => Vec::new(),
        access => {
            let mut any_of: Vec<Value> = schemes.iter().map(|(name, _)| json!({ name: route.scopes })).collect();
            if access == Access::Optional {
                any_of.push(json!({}));
            }
            any_of
        }
    };
    if !requirement.is_empty() {
        object.insert("security".into(), requirement.into());
    }
    if route.deprecated {
        object.insert("deprecated".into(), true.into());
    }
    object.into()
}

/// The reason phrase of a status key (`404`), or the range's name (`2XX`).
fn status_reason(status: &str) -> String {
    status
        .parse::<u16>()
        .ok()
        .and_then(|s| http::StatusCode::from_u16(s).ok())
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Response")
        .to_owned()
}

/// Where `Auth` finds a token, as security schemes: the `Authorization` header under
/// `auth.jwt.scheme`, and the cookie and query parameter when configured.
fn security_schemes(jwt: &JwtConfig) -> Vec<(String, Value)> {
    let mut schemes = Vec::new();
    if jwt.scheme.eq_ignore_ascii_case("bearer") {
        schemes.push(("bearer".to_owned(), json!({ "type": "http", "scheme": "bearer", "bearerFormat": "JWT" })));
    } else {
        schemes.push((
            jwt.scheme.clone(),
            json!({
                "type": "apiKey", "in": "header", "name": "Authorization",
                "description": format!("A JWT in the `Authorization` header: `{} <token>`.", jwt.scheme),
            }),
        ));
    }
    if let Some(cookie) = &jwt.cookie {
        schemes.push(("cookie".to_owned(), json!({ "type": "apiKey", "in": "cookie", "name": cookie })));
    }
    if let Some(param) = &jwt.query_parameter {
        schemes.push(("query".to_owned(), json!({ "type": "apiKey", "in": "query", "name": param })));
    }
    schemes
}

/// `components.schemas`: the response schemas, and the request schemas under the same name
/// where they are the same, else as `<Name>Input`; and the request schemas renamed.
fn merge_schemas(registry: &mut Registry) -> (Map<String, Value>, HashMap<String, String>) {
    let mut schemas = registry.output.take_definitions(true);
    let inputs = registry.input.take_definitions(true);
    let mut renames = HashMap::new();
    for (name, schema) in &inputs {
        let mut same_refs = schema.clone();
        rewrite_refs(&mut same_refs, &HashMap::new());
        let target = match schemas.get(name) {
            None => name.clone(),
            Some(existing) if *existing == same_refs => continue,
            Some(_) => {
                let mut candidate = format!("{name}Input");
                let mut n = 2;
                while schemas.contains_key(&candidate) || inputs.contains_key(&candidate) {
                    candidate = format!("{name}Input{n}");
                    n += 1;
                }
                renames.insert(name.clone(), candidate.clone());
                candidate
            }
        };
        schemas.insert(target, schema.clone());
    }
    (schemas, renames)
}

/// Points every request schema `$ref` at `components.schemas`, renamed per `renames`.
fn rewrite_refs(value: &mut Value, renames: &HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref" {
                    if let Some(name) = v.as_str().and_then(|r| r.strip_prefix(INPUT_REFS)) {
                        let target = renames.get(name).map(String::as_str).unwrap_or(name);
                        *v = Value::String(format!("{OUTPUT_REFS}{target}"));
                    }
                } else {
                    rewrite_refs(v, renames);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, renames)),
        _ => {}
    }
}
