//! todos' OpenAPI document says what the server does: every route, its parameters, the body
//! rules the server enforces, its statuses and who may call it. Where a schema states a rule,
//! the server is asked too.

use serde_json::{json, Value};
use trestle::testing::{TestApp, TestDatabase};

fn doc() -> Value {
    todos::app().openapi().expect("the document builds")
}

fn op<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not in the document: {:#}", doc["paths"]);
    op
}

/// The schema `value` names, following a `$ref` into `components.schemas`.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => value,
    }
}

fn statuses(op: &Value) -> Vec<&str> {
    op["responses"].as_object().unwrap().keys().map(String::as_str).collect()
}

fn body_schema<'a>(doc: &'a Value, op: &'a Value) -> &'a Value {
    assert_eq!(op["requestBody"]["required"], true);
    resolve(doc, &op["requestBody"]["content"]["application/json"]["schema"])
}

/// `(method, path)` of every operation in the document.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.push((method.to_uppercase(), path.clone()));
        }
    }
    ops.sort();
    ops
}

#[test]
fn every_route_of_the_app_is_in_the_document_and_nothing_else() {
    let mut routes: Vec<(String, String)> = todos::app()
        .route_table()
        .iter()
        .filter(|r| r.handler.starts_with("todos::"))
        .flat_map(|r| r.methods.iter().map(|m| ((*m).to_owned(), r.path.to_owned())))
        .collect();
    routes.sort();
    assert_eq!(routes.len(), 8, "{routes:?}");
    assert_eq!(operations(&doc()), routes);
}

#[test]
fn the_id_of_a_todo_is_an_integer_path_parameter() {
    let doc = doc();
    for method in ["get", "patch", "delete"] {
        let op = op(&doc, method, "/api/todos/{id}");
        assert_eq!(
            op["parameters"],
            json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}}]),
            "{method}"
        );
        assert!(statuses(op).contains(&"400"), "{method}: an id that is not a number is a 400");
        assert_eq!(
            op["responses"]["404"]["description"],
            "No such to-do (or it belongs to someone else: the same answer, so ids do not leak)."
        );
    }
}

#[test]
fn the_list_takes_its_page_and_filter_from_the_query() {
    let doc = doc();
    let list = op(&doc, "get", "/api/todos");
    let params = list["parameters"].as_array().unwrap();
    let find =
        |name: &str| params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no {name}: {params:#?}"));
    for name in ["limit", "offset", "done"] {
        assert_eq!(
            (find(name)["in"].as_str(), find(name)["required"].as_bool()),
            (Some("query"), Some(false)),
            "{name}"
        );
    }
    // `[pagination]` of config/default.toml.
    assert_eq!(find("limit")["schema"], json!({"type": "integer", "minimum": 1, "default": 20}));
    assert_eq!(find("limit")["description"], "Items per page; more than 100 gets 100.");
    // A query string cannot send `null`: absent is how it says "either".
    assert_eq!(find("done")["schema"], json!({"type": "boolean"}));
    assert_eq!(find("done")["description"], "Only the to-dos done (`true`) or not (`false`).");
    let page = resolve(&doc, &list["responses"]["200"]["content"]["application/json"]["schema"]);
    assert_eq!(page["properties"]["items"]["items"]["$ref"], "#/components/schemas/Todo");
    assert!(list["responses"]["200"]["headers"]["x-total-count"].is_object());
}

#[test]
fn the_create_body_carries_the_rules_the_server_checks() {
    let doc = doc();
    let create = op(&doc, "post", "/api/todos");
    let new_todo = body_schema(&doc, create);
    assert_eq!(new_todo["required"], json!(["title"]));
    let title = &new_todo["properties"]["title"];
    assert_eq!(
        (title["type"].as_str(), title["minLength"].as_u64(), title["maxLength"].as_u64()),
        (Some("string"), Some(1), Some(200))
    );
    assert!(title["pattern"].is_string(), "not_blank is stated (and checked below): {title}");
    for status in ["400", "413", "415", "422"] {
        assert!(statuses(create).contains(&status), "a JSON body can get {status}");
    }

    let change = body_schema(&doc, op(&doc, "patch", "/api/todos/{id}"));
    assert!(change.get("required").is_none(), "every field of a change may be left out");
    let title = &change["properties"]["title"];
    assert_eq!((title["minLength"].as_u64(), title["maxLength"].as_u64()), (Some(1), Some(200)), "{title}");
    assert_eq!(&title["pattern"], not_blank_pattern(&doc));

    let credentials = body_schema(&doc, op(&doc, "post", "/api/users"));
    assert_eq!(credentials["required"], json!(["email", "password"]));
    assert_eq!(credentials["properties"]["email"]["format"], "email");
    assert_eq!(credentials["properties"]["email"]["maxLength"], 254);
    let password = &credentials["properties"]["password"];
    assert_eq!((password["minLength"].as_u64(), password["maxLength"].as_u64()), (Some(8), Some(128)));
    assert_eq!(op(&doc, "post", "/api/login")["requestBody"], op(&doc, "post", "/api/users")["requestBody"]);
}

fn not_blank_pattern(doc: &Value) -> &Value {
    &doc["components"]["schemas"]["NewTodo"]["properties"]["title"]["pattern"]
}

/// The characters `[^…]` leaves out, read from a class of literal characters, `\t`, `\n`,
/// `\f`, `\r`, `\uXXXX` and ranges `a-b` (what the `not_blank` pattern is written in).
fn excluded_by(class: &str) -> Vec<(char, char)> {
    let body = class.strip_prefix("[^").and_then(|c| c.strip_suffix(']')).expect("a negated class");
    let mut chars = body.chars().peekable();
    let mut next = || -> Option<char> {
        let c = chars.next()?;
        if c != '\\' {
            return Some(c);
        }
        Some(match chars.next().expect("an escape") {
            't' => '\t',
            'n' => '\n',
            'f' => '\u{c}',
            'r' => '\r',
            'u' => {
                let hex: String = (0..4).map(|_| chars.next().expect("four hex digits")).collect();
                char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap()
            }
            other => panic!("escape \\{other} not read here"),
        })
    };
    let mut ranges = Vec::new();
    let mut pending: Option<char> = None;
    while let Some(c) = next() {
        match (c, pending) {
            ('-', Some(start)) => {
                ranges.push((start, next().expect("a range's end")));
                pending = None;
            }
            (c, previous) => {
                ranges.extend(previous.map(|p| (p, p)));
                pending = Some(c);
            }
        }
    }
    ranges.extend(pending.map(|p| (p, p)));
    ranges
}

#[test]
fn the_not_blank_pattern_is_the_whitespace_trim_removes() {
    let doc = doc();
    let excluded = excluded_by(not_blank_pattern(&doc).as_str().unwrap());
    // A string matches the (unanchored) pattern when one of its characters is outside the class:
    // exactly when `trim()` leaves something, if the class is `char::is_whitespace`.
    for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
        let in_class = excluded.iter().any(|(a, b)| (*a..=*b).contains(&c));
        assert_eq!(in_class, c.is_whitespace(), "U+{:04X}", c as u32);
    }
}

#[test]
fn created_is_201_and_deleted_is_204() {
    let doc = doc();
    for path in ["/api/todos", "/api/users"] {
        let post = op(&doc, "post", path);
        assert_eq!(post["responses"]["201"]["description"], "Created", "{path}");
        assert!(post["responses"].get("200").is_none(), "{path}");
    }
    let created = &op(&doc, "post", "/api/todos")["responses"]["201"]["content"]["application/json"]["schema"];
    let todo = resolve(&doc, created);
    assert_eq!(todo["required"], json!(["id", "title", "done", "created_at"]));
    assert_eq!(
        todo["properties"]["created_at"],
        json!({"type": "string", "format": "date-time", "description": "When it was written down."})
    );
    assert_eq!(op(&doc, "post", "/api/users")["responses"]["409"]["description"], "The email is registered already.");

    let remove = op(&doc, "delete", "/api/todos/{id}");
    assert_eq!(remove["responses"]["204"], json!({"description": "No Content"}));
    assert!(statuses(remove).iter().all(|s| !s.starts_with('2') || *s == "204"), "{:?}", statuses(remove));
}

#[test]
fn the_todo_routes_need_a_token_and_say_so() {
    let doc = doc();
    assert_eq!(
        doc["components"]["securitySchemes"],
        json!({"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}})
    );
    for (method, path) in operations(&doc) {
        let op = op(&doc, &method.to_lowercase(), &path);
        if path.starts_with("/api/todos") {
            assert_eq!(op["security"], json!([{"bearer": []}]), "{method} {path}");
            let unauthorized = op["responses"]["401"]["description"].as_str().unwrap_or_default();
            assert!(unauthorized.contains("no token"), "{method} {path}: {unauthorized}");
            assert!(unauthorized.contains("not one of our user ids"), "{method} {path}: TodoError::UnknownUser");
        } else {
            assert!(op.get("security").is_none(), "{method} {path} is open to anyone");
        }
    }
    let login = op(&doc, "post", "/api/login");
    assert_eq!(login["responses"]["401"]["description"], "Login with an unknown email or a wrong password.");
    assert!(login["responses"]["429"]["headers"]["retry-after"].is_object(), "rate_limit = \"10/1m\"");
    assert!(op(&doc, "post", "/api/users")["responses"].get("429").is_none());
}

// ---- The server agrees ----

async fn served() -> (TestApp, TestDatabase) {
    let db = TestDatabase::sqlite();
    let app = TestApp::new(todos::app().configure(|c| c.set("database.url", db.url()))).await.expect("todos starts");
    (app, db)
}

#[trestle::test]
async fn the_server_serves_the_document_and_holds_to_its_limits() {
    let (app, _db) = served().await;
    let doc: Value = app.get("/openapi.json").send().await.json();
    assert_eq!(doc, self::doc(), "what is served is what App::openapi() builds");

    // Lengths count characters (garde's `chars`), as JSON Schema's do: two-byte ones here.
    let password = &body_schema(&doc, op(&doc, "post", "/api/users"))["properties"]["password"];
    let min = password["minLength"].as_u64().unwrap() as usize;
    let sign_up = |password: String| {
        app.post("/api/users").json(&json!({"email": "len@example.com", "password": password})).send()
    };
    assert_eq!(sign_up("é".repeat(min - 1)).await.status(), 422);
    let res = sign_up("é".repeat(min)).await;
    assert_eq!(res.status(), 201, "{}", res.text());
    let token = res.json::<todos::Token>().token;

    let title = &body_schema(&doc, op(&doc, "post", "/api/todos"))["properties"]["title"];
    let max = title["maxLength"].as_u64().unwrap() as usize;
    let create = |title: String| app.post("/api/todos").bearer(&token).json(&json!({ "title": title })).send();
    assert_eq!(create("é".repeat(max + 1)).await.status(), 422);
    assert_eq!(create("é".repeat(max)).await.status(), 201);
    // Whitespace `trim` keeps (U+FEFF) is a title; whitespace it removes (U+0085) is blank.
    assert_eq!(create("\u{feff}".into()).await.status(), 201);
    assert_eq!(create("\u{85}\u{3000}".into()).await.status(), 422);
}
