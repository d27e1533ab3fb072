//! conduit's OpenAPI document, checked in process: every route is in it, and it says what the
//! handlers and conduit's rules do. (`scripts/openapi-check` compares it with the official
//! RealWorld spec and runs Schemathesis against a live conduit.)

use serde_json::{json, Value};

fn doc() -> Value {
    conduit::app().openapi().expect("the document builds")
}

fn op<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is missing");
    op
}

/// The schema `value` names, following `$ref`s.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(r) => resolve(doc, &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")]),
        None => value,
    }
}

fn statuses(op: &Value) -> Vec<&str> {
    op["responses"].as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn every_route_is_documented_once() {
    let doc = doc();
    let app = conduit::app();
    let routes: Vec<_> = app.route_table().into_iter().filter(|r| r.path.starts_with("/api")).collect();
    assert_eq!(routes.len(), 19, "RealWorld's 19 operations");
    for route in routes {
        for method in route.methods {
            op(&doc, route.path, &method.to_ascii_lowercase());
        }
    }
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "operation ids are unique: {ids:?}");
}

#[test]
fn errors_are_documented_in_conduit_s_format() {
    let doc = doc();
    let errors = resolve(&doc, &doc["components"]["schemas"]["Errors"]);
    assert_eq!(errors["properties"]["errors"]["additionalProperties"]["items"]["type"], "string");
    let register = op(&doc, "/api/users", "post");
    assert_eq!(statuses(register), ["201", "400", "409", "413", "415", "422", "500", "503"]);
    let conflict = &register["responses"]["409"];
    assert_eq!(conflict["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Errors");
    assert_eq!(conflict["description"], "Another user has this username or email.");
}

#[test]
fn bodies_say_what_the_rules_accept() {
    let doc = doc();
    let register = op(&doc, "/api/users", "post");
    let body = resolve(&doc, &register["requestBody"]["content"]["application/json"]["schema"]);
    let user = resolve(&doc, &body["properties"]["user"]);
    assert_eq!(user["required"], json!(["username", "email", "password"]));
    let username = &user["properties"]["username"];
    assert_eq!((username["minLength"].as_u64(), username["maxLength"].as_u64()), (Some(1), Some(64)));
    // No NUL, and one character that `str::trim` keeps (its whitespace listed, U+3000 the last).
    let pattern = username["pattern"].as_str().unwrap();
    assert!(pattern.starts_with("^[^\\u0000]*[^\\u0000\\t") && pattern.contains("\\u3000]"), "{pattern}");
    assert_eq!(user["properties"]["password"]["minLength"], 8);

    let update = op(&doc, "/api/articles/{slug}", "put");
    let body = resolve(&doc, &update["requestBody"]["content"]["application/json"]["schema"]);
    let article = resolve(&doc, &body["properties"]["article"]);
    assert_eq!(article["properties"]["tagList"]["type"], "array", "null is refused for tagList");
    assert_eq!(article["properties"]["title"]["type"], json!(["string", "null"]), "null leaves the title");
}

#[test]
fn security_and_parameters_follow_the_handlers() {
    let doc = doc();
    assert_eq!(doc["components"]["securitySchemes"]["Token"]["in"], "header");
    assert_eq!(op(&doc, "/api/user", "get")["security"], json!([{ "Token": [] }]));
    assert_eq!(op(&doc, "/api/articles", "get")["security"], json!([{ "Token": [] }, {}]), "optional");
    assert!(op(&doc, "/api/tags", "get").get("security").is_none());

    let list = op(&doc, "/api/articles", "get");
    let names: Vec<&str> = list["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for name in ["tag", "author", "favorited", "limit", "offset"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let comment = op(&doc, "/api/articles/{slug}/comments/{id}", "delete");
    let params = comment["parameters"].as_array().unwrap();
    assert_eq!((params[0]["name"].as_str(), params[1]["name"].as_str()), (Some("slug"), Some("id")));
    assert_eq!(params[1]["schema"]["format"], "int64");
    assert_eq!(statuses(comment), ["204", "400", "401", "403", "404", "500", "503"]);
}
