//! The OpenAPI document: what each handler's signature, doc comment and route options put in
//! it, the responses every request can get, and serving it.

use serde_json::{json, Value};
use trestle::openapi::{Created, NoContent};
use trestle::prelude::*;
use trestle::testing::TestApp;

/// A note as clients write it.
#[derive(Deserialize, JsonSchema, garde::Validate)]
#[serde(rename_all = "camelCase")]
struct NewNote {
    /// What the note says.
    #[garde(length(chars, min = 1, max = 280))]
    body_text: String,
    #[garde(range(min = 1, max = 5))]
    priority: Option<u8>,
}

/// A note as the server shows it.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Note {
    id: u64,
    body_text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    priority: Option<u8>,
}

/// Filters for the list.
#[allow(dead_code)] // Read by the document, not by the handler.
#[derive(Deserialize, JsonSchema)]
struct Filter {
    /// Only notes containing this.
    q: Option<String>,
    /// Sort order.
    sort: Order,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Order {
    Newest,
    Oldest,
}

/// What the notes routes refuse.
#[allow(dead_code)] // Documented; the handlers here return only `NotFound`.
#[derive(Debug, thiserror::Error, trestle::ApiError)]
enum NoteError {
    /// No note has this id.
    #[error("no such note")]
    #[api(status = 404)]
    NotFound,
    /// Only the author may change a note.
    #[error("not yours")]
    #[api(status = 403)]
    NotYours,
    /// The note changed since it was read.
    #[error("conflict")]
    #[api(status = 409)]
    Conflict,
}

/// Lists notes.
///
/// Newest first unless `sort` says otherwise.
///
/// Several paragraphs are kept.
#[get("/notes", tags = ["Notes"])]
async fn list(Query(_filter): Query<Filter>, page: Page) -> Paginated<Note> {
    page.respond(Vec::new(), Some(0))
}

/// Creates a note. It belongs to the caller.
#[post("/notes")]
async fn create(_auth: Auth, Valid(Json(new)): Valid<Json<NewNote>>) -> Created<Json<Note>> {
    Created(Json(Note { id: 1, body_text: new.body_text, priority: new.priority }))
}

/// Reads a note.
#[get("/notes/{id}")]
async fn show(_auth: Option<Auth>, Path(id): Path<u64>) -> Result<Json<Note>, NoteError> {
    if id == 0 {
        return Err(NoteError::NotFound);
    }
    Ok(Json(Note { id, body_text: "hi".into(), priority: None }))
}

/// Deletes a note.
#[delete("/notes/{id}", scopes = ["notes:admin"], errors = [NoteError::NotFound, 409])]
async fn remove(Path(_id): Path<u64>) -> Result<StatusCode> {
    Ok(StatusCode::NO_CONTENT)
}

/// The old name of `list`.
#[deprecated = "use GET /notes"]
#[get("/all-notes", errors = [NoteError])]
async fn legacy() -> Result<String> {
    Ok(String::new())
}

/// Not in the document.
#[get("/internal", openapi = false)]
async fn internal() -> &'static str {
    "hidden"
}

/// Who to notify, and how.
#[allow(dead_code)] // Read by the document, not by the handler.
#[derive(Deserialize, JsonSchema, garde::Validate)]
struct Subscription {
    #[serde(flatten)]
    #[garde(dive)]
    contact: Contact,
    #[garde(skip)]
    channel: Channel,
}

#[derive(Deserialize, JsonSchema, garde::Validate)]
struct Contact {
    #[garde(email)]
    email: String,
}

#[allow(dead_code)] // Read by the document, not by the handler.
#[derive(Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Channel {
    Mail,
    Webhook { url: String },
}

/// Subscribes to changes
///
/// A summary without a period ends with its paragraph.
#[post("/subscriptions")]
async fn subscribe(Valid(Json(_s)): Valid<Json<Subscription>>) -> NoContent {
    NoContent
}

/// A label, as sent and as answered: its `note` is left out of answers when empty, so the two
/// schemas differ and the request's is `LabelInput`.
#[derive(Deserialize, Serialize, JsonSchema)]
struct Label {
    name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    note: String,
    /// Absent means "keep"; the schema says a string (never `null`).
    #[serde(default)]
    #[schemars(with = "String")]
    colour: Option<String>,
}

/// Renames a label.
#[put("/labels")]
async fn relabel(Json(label): Json<Label>) -> Json<Label> {
    Json(label)
}

/// A file, by its path.
#[get("/files/{*rest}")]
async fn file(Path(rest): Path<String>) -> String {
    rest
}

mod tagging {
    use trestle::prelude::*;

    /// Two path parameters, as a tuple.
    #[get("/notes/{id}/tags/{tag}")]
    pub async fn tag(Path((_id, _tag)): Path<(u64, String)>) -> () {}
}

use trestle::axum::http::StatusCode;

fn app() -> App<trestle::config::NoConfig, trestle::Context<trestle::config::NoConfig>> {
    #[allow(deprecated)]
    let routes = routes![list, create, show, remove, legacy, internal, tagging::tag, file, subscribe, relabel];
    App::new()
        .auth()
        .configure(|c| c.set("auth.jwt.secret", "an openapi test secret of 32+ bytes!!"))
        .state(|ctx| ctx.clone())
        .routes(routes)
}

fn doc() -> Value {
    app().openapi().expect("the document builds")
}

fn op<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
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

fn statuses(op: &Value) -> Vec<String> {
    op["responses"].as_object().unwrap().keys().cloned().collect()
}

#[test]
fn the_document_is_openapi_3_1_titled_by_the_package() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "trestle");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(doc["paths"].get("/internal").is_none(), "openapi = false leaves the route out");
    assert!(doc["paths"].get("/health/live").is_none(), "the probes are not the app's API");
}

#[test]
fn summary_description_tags_and_operation_id_come_from_the_handler() {
    let doc = doc();
    let list = op(&doc, "/notes", "get");
    assert_eq!(list["summary"], "Lists notes");
    assert_eq!(list["description"], "Newest first unless `sort` says otherwise.\n\nSeveral paragraphs are kept.");
    assert_eq!(list["tags"], json!(["Notes"]));
    assert_eq!(list["operationId"], "list");
    let create = op(&doc, "/notes", "post");
    assert_eq!(create["summary"], "Creates a note");
    assert_eq!(create["description"], "It belongs to the caller.");
    assert!(create.get("tags").is_none(), "a handler at the crate root has no module to name");
    assert_eq!(
        op(&doc, "/notes/{id}/tags/{tag}", "get")["tags"],
        json!(["tagging"]),
        "without tags, the handler's module"
    );
    assert_eq!(op(&doc, "/all-notes", "get")["deprecated"], true);
    assert!(list.get("deprecated").is_none());
}

#[test]
fn path_and_query_parameters_are_named_and_typed() {
    let doc = doc();
    let show = op(&doc, "/notes/{id}", "get");
    let id = &show["parameters"][0];
    assert_eq!(
        (id["name"].as_str(), id["in"].as_str(), id["required"].as_bool()),
        (Some("id"), Some("path"), Some(true))
    );
    assert_eq!(id["schema"]["type"], "integer");
    assert_eq!(id["schema"]["minimum"], 0);

    let tag = op(&doc, "/notes/{id}/tags/{tag}", "get");
    let names: Vec<&str> = tag["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["id", "tag"]);
    assert_eq!(tag["parameters"][1]["schema"]["type"], "string");

    let list = op(&doc, "/notes", "get");
    let params = list["parameters"].as_array().unwrap();
    let find =
        |name: &str| params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no {name}: {params:#?}"));
    assert_eq!(find("q")["required"], false);
    assert_eq!(find("q")["schema"]["type"], "string", "a query parameter cannot be null: absent is None");
    assert_eq!(find("q")["description"], "Only notes containing this.");
    assert_eq!(find("sort")["required"], true);
    assert_eq!(resolve(&doc, &find("sort")["schema"])["enum"], json!(["newest", "oldest"]));
    assert_eq!(find("limit")["schema"], json!({"type": "integer", "minimum": 1, "default": 20}));
    assert_eq!(find("offset")["schema"]["minimum"], 0);
    assert!(statuses(list).contains(&"422".to_owned()), "Page refuses bad numbers with 422");
    assert_eq!(
        find("cursor")["schema"]["type"],
        "string",
        "Paginated answers carry next_cursor: cursor continues them"
    );
    let tag_params = tag["parameters"].as_array().unwrap();
    assert!(tag_params.iter().all(|p| p["name"] != "cursor"), "no Paginated, no cursor");

    let file = op(&doc, "/files/{rest}", "get");
    assert_eq!(file["parameters"][0]["name"], "rest", "the wildcard is a parameter of the template");
    assert!(doc["paths"].get("/files/{*rest}").is_none(), "axum's wildcard syntax is not OpenAPI's");
}

#[test]
fn bodies_carry_serde_names_and_garde_rules() {
    let doc = doc();
    let create = op(&doc, "/notes", "post");
    let body = &create["requestBody"];
    assert_eq!(body["required"], true);
    let schema = resolve(&doc, &body["content"]["application/json"]["schema"]);
    assert_eq!(schema["properties"]["bodyText"]["minLength"], 1);
    assert_eq!(schema["properties"]["bodyText"]["maxLength"], 280);
    assert_eq!(schema["properties"]["bodyText"]["description"], "What the note says.");
    assert_eq!(schema["properties"]["priority"]["maximum"], 5);
    assert_eq!(schema["required"], json!(["bodyText"]));
    for status in ["400", "413", "415", "422"] {
        assert!(statuses(create).contains(&status.to_owned()), "a JSON body can get {status}");
    }
}

#[test]
fn a_type_that_differs_between_request_and_response_gets_two_schemas() {
    let doc = doc();
    let op = op(&doc, "/labels", "put");
    let sent = &op["requestBody"]["content"]["application/json"]["schema"]["$ref"];
    let answered = &op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(
        (sent.as_str(), answered.as_str()),
        (Some("#/components/schemas/LabelInput"), Some("#/components/schemas/Label"))
    );
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["Label"]["required"], json!(["name", "colour"]), "note may be left out of an answer");
    assert_eq!(schemas["LabelInput"]["required"], json!(["name"]), "serde(default): optional when sent");
    let colour = &schemas["LabelInput"]["properties"]["colour"];
    assert_eq!(colour["type"], "string");
    assert!(colour.get("default").is_none(), "a null default the schema refuses is dropped: {colour}");
}

#[test]
fn flatten_tagged_enums_and_formats_follow_serde_and_garde() {
    let doc = doc();
    let op = op(&doc, "/subscriptions", "post");
    assert_eq!(op["summary"], "Subscribes to changes");
    assert_eq!(op["description"], "A summary without a period ends with its paragraph.");
    assert_eq!(statuses(op)[0], "204", "NoContent");
    let body = resolve(&doc, &op["requestBody"]["content"]["application/json"]["schema"]);
    assert_eq!(body["properties"]["email"]["format"], "email", "flattened, and garde's email is a format");
    let required: Vec<&str> = body["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(required.contains(&"email") && required.contains(&"channel"), "{body:#}");
    let channel = resolve(&doc, &body["properties"]["channel"]);
    let kinds: Vec<&Value> = channel["oneOf"].as_array().unwrap().iter().map(|v| &v["properties"]["kind"]).collect();
    assert_eq!(kinds.len(), 2, "internally tagged: one schema per variant: {channel:#}");
    assert!(kinds.iter().any(|k| k["const"] == "webhook"), "{channel:#}");
}

#[test]
fn responses_come_from_the_return_type_and_the_errors() {
    let doc = doc();
    let create = op(&doc, "/notes", "post");
    let created = &create["responses"]["201"];
    assert_eq!(created["description"], "Created");
    let note = resolve(&doc, &created["content"]["application/json"]["schema"]);
    assert_eq!(note["required"], json!(["id", "bodyText"]), "skip_serializing_if: not always there");
    assert!(create["responses"].get("200").is_none());

    let show = op(&doc, "/notes/{id}", "get");
    assert_eq!(statuses(show), ["200", "400", "401", "403", "404", "409", "500", "503"]);
    assert_eq!(show["responses"]["404"]["description"], "No note has this id.");
    assert_eq!(
        show["responses"]["404"]["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );

    let remove = op(&doc, "/notes/{id}", "delete");
    assert_eq!(statuses(remove), ["2XX", "400", "401", "403", "404", "409", "500", "503"]);
    assert_eq!(remove["responses"]["409"]["description"], "Conflict");

    let list = op(&doc, "/notes", "get");
    let ok = &list["responses"]["200"];
    assert_eq!(ok["headers"]["x-total-count"]["schema"]["type"], "integer");
    let page = resolve(&doc, &ok["content"]["application/json"]["schema"]);
    assert_eq!(page["required"], json!(["items", "limit", "offset"]));

    let legacy = op(&doc, "/all-notes", "get");
    assert_eq!(legacy["responses"]["200"]["content"]["text/plain; charset=utf-8"]["schema"]["type"], "string");
    for status in ["403", "404", "409"] {
        assert!(statuses(legacy).contains(&status.to_owned()), "errors = [NoteError] lists every variant");
    }
    let problem = &doc["components"]["schemas"]["Problem"];
    assert_eq!(problem["required"], json!(["type", "title", "status"]));
}

#[test]
fn security_follows_auth_and_scopes() {
    let doc = doc();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    );
    assert_eq!(op(&doc, "/notes", "post")["security"], json!([{"bearer": []}]));
    assert_eq!(op(&doc, "/notes/{id}", "get")["security"], json!([{"bearer": []}, {}]), "Option<Auth>: anonymous too");
    assert_eq!(op(&doc, "/notes/{id}", "delete")["security"], json!([{"bearer": ["notes:admin"]}]));
    assert!(op(&doc, "/notes", "get").get("security").is_none());
    let remove = op(&doc, "/notes/{id}", "delete");
    assert!(remove["responses"]["403"]["description"].as_str().unwrap().contains("notes:admin"));
}

#[test]
fn config_shapes_the_document() {
    let app = app().configure(|c| {
        c.set("openapi.title", "Notes API")
            .set("openapi.version", "2.1.0")
            .set("openapi.description", "Keeps notes.")
            .set("pagination.over_max", "reject")
            .set("pagination.max_limit", "50")
            .set("rate_limit.enabled", "true")
            .set("auth.jwt.scheme", "Token")
    });
    let doc = app.openapi().unwrap();
    assert_eq!(doc["info"], json!({"title": "Notes API", "version": "2.1.0", "description": "Keeps notes."}));
    let list = op(&doc, "/notes", "get");
    let limit = list["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(limit["schema"]["maximum"], 50);
    assert!(statuses(list).contains(&"429".to_owned()), "a rate limit applies");
    assert_eq!(list["responses"]["429"]["headers"]["retry-after"]["schema"]["type"], "integer");
    assert_eq!(doc["components"]["securitySchemes"]["Token"]["in"], "header");
    assert_eq!(op(&doc, "/notes", "post")["security"], json!([{"Token": []}]));
}

#[trestle::test]
async fn the_app_serves_the_document_and_the_docs_page() {
    let app = TestApp::new(app()).await.unwrap();
    let served = app.get("/openapi.json").send().await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.header("content-type"), Some("application/json"));
    let served: Value = served.json();
    assert_eq!(served, doc(), "what is served is what App::openapi() returns");

    let page = app.get("/docs").send().await;
    assert_eq!(page.status(), 200);
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "the page reaches only this server: {csp}"
    );
    let html = page.text();
    assert!(!html.contains("<script>"), "no inline script: the CSP forbids it");
    assert!(html.contains("/docs/swagger-ui-bundle.js") && html.contains("/openapi.json"), "{html}");
    let init = app.get("/docs/init.js").send().await;
    assert_eq!(init.status(), 200);
    assert!(init.text().contains("SwaggerUIBundle") && init.text().contains("validatorUrl: null"), "never calls out");
    for (asset, starts) in
        [("/docs/swagger-ui-bundle.js", "/*! For license information"), ("/docs/swagger-ui.css", ".swagger-ui")]
    {
        // A client that accepts no gzip gets the file itself, decompressed.
        let plain = app.get(asset).send().await;
        assert_eq!(plain.status(), 200, "{asset}");
        assert_eq!(plain.header("content-encoding"), None, "{asset}");
        let text = plain.text();
        assert!(text.starts_with(starts) && text.len() > 100_000, "{asset} is served whole: {}", &text[..60]);
        // A browser gets the stored gzip bytes, which decompress to the same file.
        let gz = app.get(asset).header("accept-encoding", "gzip, deflate, br").send().await;
        assert_eq!(gz.header("content-encoding"), Some("gzip"), "{asset}");
        let mut unzipped = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz.bytes()[..]), &mut unzipped).unwrap();
        assert_eq!(unzipped, text, "{asset}");
        let refused = app.get(asset).header("accept-encoding", "gzip;q=0, identity").send().await;
        assert_eq!(refused.header("content-encoding"), None, "gzip;q=0 refuses gzip");
    }
}

#[trestle::test]
async fn the_paths_move_and_the_switch_turns_them_off() {
    let moved = app().configure(|c| c.set("openapi.path", "/api/spec.json").set("openapi.docs_path", ""));
    let moved = TestApp::new(moved).await.unwrap();
    assert_eq!(moved.get("/api/spec.json").send().await.status(), 200);
    assert_eq!(moved.get("/openapi.json").send().await.status(), 404);
    assert_eq!(moved.get("/docs").send().await.status(), 404, "docs_path = \"\": no page");

    let off = TestApp::new(app().configure(|c| c.set("openapi.enabled", "false"))).await.unwrap();
    assert_eq!(off.get("/openapi.json").send().await.status(), 404);
    assert_eq!(off.get("/docs").send().await.status(), 404);
}

#[test]
fn a_bad_path_is_a_config_error_naming_the_key() {
    let e = app().configure(|c| c.set("openapi.path", "openapi.json")).openapi().unwrap_err().to_string();
    assert!(e.contains("openapi.path") && e.contains("\"/openapi.json\""), "{e}");
}

/// Mine.
#[get("/openapi.json")]
async fn mine() -> &'static str {
    "mine"
}

#[trestle::test]
async fn a_route_on_the_documents_path_is_a_conflict_naming_the_key() {
    let e = app().routes(routes![mine]).into_router().await.expect_err("a conflict").to_string();
    assert!(e.contains("openapi.path") && e.contains("mine"), "{e}");
}
