//! hello, driven in process.

use hello::Message;
use trestle::testing::TestApp;

async fn app() -> TestApp {
    TestApp::new(hello::app()).await.expect("hello builds")
}

#[trestle::test]
async fn greets_by_name() {
    let res = app().await.get("/hello/world").send().await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Message>(), Message { message: "Hello, world!".into() });
}

#[trestle::test]
async fn greeting_comes_from_config() {
    let app = TestApp::new(hello::app().configure(|c| c.set("greeting", "Howdy"))).await.unwrap();
    let res = app.get("/hello/partner").send().await;
    assert_eq!(res.json::<Message>().message, "Howdy, partner!");
}

#[trestle::test]
async fn blank_greeting_is_a_startup_error() {
    let err = TestApp::new(hello::app().configure(|c| c.set("greeting", "  "))).await.unwrap_err();
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

#[test]
fn the_route_table_lists_both_routes() {
    let table = hello::app().route_table();
    assert_eq!(table[0].path, "/hello/{name}");
    assert_eq!(table[0].summary, "Greets `name` with the configured greeting");
    assert_eq!((table[1].methods, table[1].path), (&["POST"][..], "/echo"));
}
