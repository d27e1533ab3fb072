//! todos driven in process on a fresh SQLite database per test: the flows, and bad input that
//! must get a clear answer.

use serde_json::{json, Value};
use todos::{Todo, Token};
use trestle::testing::{TestApp, TestDatabase};

struct Todos {
    app: TestApp,
    _db: TestDatabase,
}

async fn todos() -> Todos {
    let db = TestDatabase::sqlite();
    let app = TestApp::new(todos::app().configure(|c| c.set("database.url", db.url()))).await.expect("todos starts");
    Todos { app, _db: db }
}

impl Todos {
    async fn sign_up(&self, email: &str) -> String {
        let res = self.app.post("/api/users").json(&json!({"email": email, "password": "correct horse"})).send().await;
        assert_eq!(res.status(), 201, "{}", res.text());
        res.json::<Token>().token
    }

    async fn create(&self, token: &str, title: &str) -> Todo {
        let res = self.app.post("/api/todos").bearer(token).json(&json!({ "title": title })).send().await;
        assert_eq!(res.status(), 201, "{}", res.text());
        res.json()
    }
}

#[trestle::test]
async fn a_user_writes_lists_changes_and_deletes_todos() {
    let t = todos().await;
    assert_eq!(t.app.get("/api").send().await.json::<Value>()["motd"], "Nothing is too small to write down.");
    let token = t.sign_up("ada@example.com").await;
    let first = t.create(&token, "write the docs").await;
    assert!(!first.done);
    assert!(first.created_at.year() >= 2025);
    let second = t.create(&token, "ship it").await;

    let shown: Todo = t.app.get(&format!("/api/todos/{}", first.id)).bearer(&token).send().await.json();
    assert_eq!(shown.title, "write the docs");

    let done =
        t.app.patch(&format!("/api/todos/{}", second.id)).bearer(&token).json(&json!({"done": true})).send().await;
    assert_eq!(done.status(), 200, "{}", done.text());
    let done: Todo = done.json();
    assert!(done.done && done.title == "ship it");

    let open: Value = t.app.get("/api/todos?done=false").bearer(&token).send().await.json();
    assert_eq!((open["total"].as_u64(), open["items"].as_array().unwrap().len()), (Some(1), 1));

    let login =
        t.app.post("/api/login").json(&json!({"email": "ada@example.com", "password": "correct horse"})).send().await;
    assert_eq!(login.status(), 200);
    let again = login.json::<Token>().token;
    assert_eq!(t.app.delete(&format!("/api/todos/{}", first.id)).bearer(&again).send().await.status(), 204);
    assert_eq!(t.app.get(&format!("/api/todos/{}", first.id)).bearer(&again).send().await.status(), 404);
}

#[trestle::test]
async fn lists_are_pages_with_a_total_and_a_cursor() {
    let t = todos().await;
    let token = t.sign_up("pages@example.com").await;
    for i in 0..7 {
        t.create(&token, &format!("task {i}")).await;
    }
    let first = t.app.get("/api/todos?limit=3").bearer(&token).send().await;
    assert_eq!(first.header("x-total-count"), Some("7"));
    let first: Value = first.json();
    let titles = |page: &Value| {
        page["items"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(titles(&first), ["task 0", "task 1", "task 2"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = t.app.get(&format!("/api/todos?limit=3&cursor={cursor}")).bearer(&token).send().await.json();
    assert_eq!(titles(&second), ["task 3", "task 4", "task 5"]);
    let by_offset: Value = t.app.get("/api/todos?limit=3&offset=6").bearer(&token).send().await.json();
    assert_eq!((titles(&by_offset), by_offset.get("next_cursor")), (vec!["task 6".to_owned()], None));

    for query in ["limit=0", "offset=-1", "offset=18446744073709551616", "cursor=x", "done=maybe"] {
        let res = t.app.get(&format!("/api/todos?{query}")).bearer(&token).send().await;
        assert!(matches!(res.status().as_u16(), 400 | 422), "{query}: {}", res.status());
        assert!(!res.problem().detail.unwrap_or_default().is_empty(), "{query}");
    }
    // Over the maximum is clamped (pagination.over_max = "clamp" by default).
    assert_eq!(t.app.get("/api/todos?limit=101").bearer(&token).send().await.status(), 200);
}

#[trestle::test]
async fn invalid_bodies_name_every_field() {
    let t = todos().await;
    let res = t.app.post("/api/users").json(&json!({"email": "not-an-email", "password": "short"})).send().await;
    assert_eq!(res.status(), 422);
    let problem = res.problem();
    let pointers: Vec<&str> = problem.errors.iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(pointers, ["/email", "/password"], "{problem:?}");

    let missing = t.app.post("/api/users").json(&json!({"email": "a@b.example"})).send().await;
    assert_eq!(missing.status(), 422);
    assert_eq!(missing.problem().errors[0].field, "password");

    let token = t.sign_up("blank@example.com").await;
    let blank = t.app.post("/api/todos").bearer(&token).json(&json!({"title": "   "})).send().await;
    assert_eq!(blank.status(), 422);
    assert_eq!(blank.problem().errors[0].message, "must not be blank");
    let long = t.app.patch("/api/todos/1").bearer(&token).json(&json!({"title": "x".repeat(201)})).send().await;
    assert_eq!(long.status(), 422);
}

#[trestle::test]
async fn each_user_sees_only_their_own_todos() {
    let t = todos().await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let todo = t.create(&ada, "private").await;
    for res in [
        t.app.get(&format!("/api/todos/{}", todo.id)).bearer(&bob).send().await,
        t.app.patch(&format!("/api/todos/{}", todo.id)).bearer(&bob).json(&json!({"done": true})).send().await,
        t.app.delete(&format!("/api/todos/{}", todo.id)).bearer(&bob).send().await,
    ] {
        assert_eq!(res.status(), 404);
        assert_eq!(res.problem().title, "To-do not found");
    }
    let list: Value = t.app.get("/api/todos").bearer(&bob).send().await.json();
    assert_eq!(list["total"], 0);
    assert_eq!(t.app.get("/api/todos").send().await.status(), 401);
    assert_eq!(t.app.get("/api/todos").bearer("not.a.token").send().await.status(), 401);
}

#[trestle::test]
async fn racing_sign_ups_for_one_email_create_one_user() {
    let t = todos().await;
    let attempts = (0..8).map(|_| {
        t.app.post("/api/users").json(&json!({"email": "race@example.com", "password": "correct horse"})).send()
    });
    let statuses: Vec<u16> =
        futures_util::future::join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    let wrong =
        t.app.post("/api/login").json(&json!({"email": "race@example.com", "password": "wrong horse"})).send().await;
    assert_eq!(wrong.status(), 401);
}
