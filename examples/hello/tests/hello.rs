//! hello, driven in process, each test on a fresh SQLite database.

use hello::{Message, Note};
use trestle::config::Loader;
use trestle::testing::{TestApp, TestDatabase};

/// hello on a private in-memory database, with `configure`'s settings.
async fn with(configure: impl FnOnce(Loader) -> Loader) -> TestApp {
    let url = TestDatabase::sqlite().url().to_owned();
    TestApp::new(hello::app().configure(|c| configure(c.set("database.url", url)))).await.expect("hello builds")
}

async fn app() -> TestApp {
    with(|c| c).await
}

#[trestle::test]
async fn greets_by_name() {
    let res = app().await.get("/hello/world").send().await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Message>(), Message { message: "Hello, world!".into() });
}

#[trestle::test]
async fn greeting_comes_from_config() {
    let app = with(|c| c.set("greeting", "Howdy")).await;
    let res = app.get("/hello/partner").send().await;
    assert_eq!(res.json::<Message>().message, "Howdy, partner!");
}

#[trestle::test]
async fn blank_greeting_is_a_startup_error() {
    let err = TestApp::new(hello::app().configure(|c| c.set("greeting", "  ").set("database.url", "sqlite::memory:")))
        .await
        .unwrap_err();
    let text = format!("{err:?}");
    assert!(text.contains("config key `greeting`"), "{text}");
    assert!(text.contains("must not be blank"), "{text}");
    assert!(text.contains("from Loader::set in code"), "{text}");
}

#[trestle::test]
async fn echoes_json() {
    let res = app().await.post("/echo").json(&Message { message: "hi".into() }).send().await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Message>().message, "hi");
}

#[trestle::test]
async fn echo_rejects_bad_bodies_with_problems() {
    let app = app().await;
    let res = app.post("/echo").header("content-type", "application/json").body("{\"message\": ").send().await;
    assert_eq!(res.status(), 400);
    assert!(res.problem().request_id.is_some());

    let res = app.post("/echo").header("content-type", "application/json").body(r#"{"message": 5}"#).send().await;
    assert_eq!(res.status(), 422);
    assert_eq!(res.problem().errors[0].field, "message");
}

#[trestle::test]
async fn notes_are_written_checked_and_listed_a_page_at_a_time() {
    let app = app().await;
    for i in 0..3 {
        let res = app.post("/notes").json(&serde_json::json!({ "text": format!("note {i}") })).send().await;
        assert_eq!(res.status(), 201, "{}", res.text());
        assert_eq!(res.json::<Note>().text, format!("note {i}"));
    }
    let page = app.get("/notes?limit=2&offset=1").send().await;
    assert_eq!(page.header("x-total-count"), Some("3"));
    let page: serde_json::Value = page.json();
    assert_eq!(page["items"][0]["text"], "note 1");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);

    let empty = app.post("/notes").json(&serde_json::json!({ "text": "" })).send().await;
    assert_eq!(empty.status(), 422);
    assert_eq!(empty.problem().errors[0].pointer, "/text");
    assert_eq!(app.get("/notes?offset=99999999999999999999").send().await.status(), 422);
}

#[test]
fn the_route_table_lists_every_route() {
    let table = hello::app().route_table();
    assert_eq!(table[0].path, "/hello/{name}");
    assert_eq!(table[0].summary, "Greets `name` with the configured greeting");
    assert_eq!((table[1].methods, table[1].path), (&["POST"][..], "/echo"));
    assert!(table.iter().any(|r| r.path == "/notes" && r.methods == ["GET"]));
    assert!(table.iter().any(|r| r.path == "/notes" && r.methods == ["POST"]));
}

/// The README's small app is this crate's `src/lib.rs`, so the README's code compiles and is
/// tested.
#[test]
fn the_readme_shows_this_app() {
    let readme = include_str!("../../../README.md");
    let source = include_str!("../src/lib.rs");
    let code: String =
        source.lines().skip_while(|l| l.starts_with("//!") || l.is_empty()).map(|l| format!("{l}\n")).collect();
    assert!(
        readme.contains(&code),
        "README.md's \"A small app\" must hold examples/hello/src/lib.rs after its module docs"
    );
}
