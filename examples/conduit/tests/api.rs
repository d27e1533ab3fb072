//! conduit driven in process: the main flows, and hostile input that must never be a 500.
//! Runs on SQLite in memory, or on a throwaway PostgreSQL database when built with the
//! `postgres` feature (`TEST_POSTGRES_URL`).

use serde_json::{json, Value};
use trestle::testing::{TestApp, TestDatabase, TestResponse};

struct Conduit {
    app: TestApp,
    _db: TestDatabase,
}

async fn conduit() -> Option<Conduit> {
    let db = if <conduit::Database as trestle::sqlx::Database>::NAME == "SQLite" {
        TestDatabase::sqlite()
    } else {
        TestDatabase::from_env::<conduit::Database>("TEST_POSTGRES_URL").await?
    };
    let app =
        TestApp::new(conduit::app().configure(|c| c.set("database.url", db.url()))).await.expect("conduit starts");
    Some(Conduit { app, _db: db })
}

impl Conduit {
    async fn register(&self, name: &str) -> String {
        let res = self
            .app
            .post("/api/users")
            .json(&json!({ "user": { "username": name, "email": format!("{name}@example.com"), "password": "password123" } }))
            .send()
            .await;
        assert_eq!(res.status(), 201, "{}", res.text());
        res.json::<Value>()["user"]["token"].as_str().unwrap().to_owned()
    }

    async fn create_article(&self, token: &str, title: &str, tags: &[&str]) -> Value {
        let res = self
            .app
            .post("/api/articles")
            .header("authorization", format!("Token {token}"))
            .json(&json!({ "article": { "title": title, "description": "d", "body": "b", "tagList": tags } }))
            .send()
            .await;
        assert_eq!(res.status(), 201, "{}", res.text());
        res.json::<Value>()["article"].clone()
    }
}

fn auth(token: &str) -> String {
    format!("Token {token}")
}

/// Conduit's error shape, never a 500.
#[track_caller]
fn error(res: &TestResponse, status: u16, field: &str) -> String {
    let text: String = res.text().chars().take(300).collect();
    assert_eq!(res.status().as_u16(), status, "{text}");
    let body: Value = res.json();
    body["errors"][field][0].as_str().unwrap_or_else(|| panic!("no errors.{field} in {text}")).to_owned()
}

#[trestle::test]
async fn register_login_write_favorite_feed_delete() {
    let Some(c) = conduit().await else { return };
    let ada = c.register("ada").await;
    let bob = c.register("bob").await;

    let res = c
        .app
        .post("/api/users/login")
        .json(&json!({ "user": { "email": "ada@example.com", "password": "password123" } }))
        .send()
        .await;
    assert_eq!(res.status(), 200);
    let user: Value = res.json();
    assert_eq!((user["user"]["username"].as_str(), user["user"]["bio"].is_null()), (Some("ada"), true));

    let article = c.create_article(&ada, "Hello, World", &["zeta", "alpha", "alpha"]).await;
    let slug = article["slug"].as_str().unwrap().to_owned();
    assert_eq!(article["tagList"], json!(["alpha", "zeta"]));
    assert_eq!(article["favoritesCount"], 0);
    let twin = c.create_article(&ada, "Hello, World", &[]).await;
    assert_ne!(twin["slug"], article["slug"], "duplicate titles get distinct slugs");

    let res = c.app.post("/api/profiles/ada/follow").header("authorization", auth(&bob)).send().await;
    assert_eq!(res.json::<Value>()["profile"]["following"], true);
    let res = c.app.post(&format!("/api/articles/{slug}/favorite")).header("authorization", auth(&bob)).send().await;
    let favorited: Value = res.json();
    assert_eq!(
        (favorited["article"]["favorited"].clone(), favorited["article"]["favoritesCount"].clone()),
        (json!(true), json!(1))
    );

    let feed: Value = c.app.get("/api/articles/feed").header("authorization", auth(&bob)).send().await.json();
    assert_eq!(feed["articlesCount"], 2);
    assert_eq!(feed["articles"][1]["slug"], slug.as_str(), "newest first");
    assert!(feed["articles"][0].get("body").is_none(), "lists leave out the body");
    assert_eq!(feed["articles"][1]["author"]["following"], true);

    let list: Value = c.app.get("/api/articles?favorited=bob").send().await.json();
    assert_eq!((list["articlesCount"].clone(), list["articles"][0]["favorited"].clone()), (json!(1), json!(false)));
    let list: Value = c.app.get("/api/articles?tag=zeta&limit=1&offset=0").send().await.json();
    assert_eq!(list["articlesCount"], 1);

    let res = c
        .app
        .post(&format!("/api/articles/{slug}/comments"))
        .header("authorization", auth(&bob))
        .json(&json!({ "comment": { "body": "Nice!" } }))
        .send()
        .await;
    assert_eq!(res.status(), 201);
    let comment_id = res.json::<Value>()["comment"]["id"].as_i64().unwrap();
    let res = c
        .app
        .delete(&format!("/api/articles/{slug}/comments/{comment_id}"))
        .header("authorization", auth(&ada))
        .send()
        .await;
    assert_eq!(error(&res, 403, "comment"), "forbidden");

    let res = c
        .app
        .put(&format!("/api/articles/{slug}"))
        .header("authorization", auth(&ada))
        .json(&json!({ "article": { "body": "new body", "tagList": [] } }))
        .send()
        .await;
    let updated: Value = res.json();
    assert_eq!(
        (updated["article"]["body"].clone(), updated["article"]["tagList"].clone()),
        (json!("new body"), json!([]))
    );
    assert_ne!(updated["article"]["updatedAt"], article["updatedAt"]);
    assert_eq!(updated["article"]["createdAt"], article["createdAt"]);

    let res = c.app.delete(&format!("/api/articles/{slug}")).header("authorization", auth(&bob)).send().await;
    assert_eq!(error(&res, 403, "article"), "forbidden");
    let res = c.app.delete(&format!("/api/articles/{slug}")).header("authorization", auth(&ada)).send().await;
    assert_eq!(res.status(), 204);
    assert_eq!(error(&c.app.get(&format!("/api/articles/{slug}")).send().await, 404, "article"), "not found");
}

#[trestle::test]
async fn auth_errors_use_conduits_format() {
    let Some(c) = conduit().await else { return };
    assert_eq!(error(&c.app.get("/api/user").send().await, 401, "token"), "is missing");
    let res = c.app.get("/api/user").header("authorization", "Token not.a.token").send().await;
    assert_eq!(error(&res, 401, "token"), "is invalid");
    let res = c
        .app
        .post("/api/users/login")
        .json(&json!({ "user": { "email": "no@one.com", "password": "password123" } }))
        .send()
        .await;
    assert_eq!(error(&res, 401, "credentials"), "invalid");
}

#[trestle::test]
async fn user_updates_follow_the_spec() {
    let Some(c) = conduit().await else { return };
    let ada = c.register("ada").await;
    c.register("bob").await;
    let put =
        |body: Value| c.app.put("/api/user").header("authorization", auth(&ada)).json(&json!({ "user": body })).send();
    let res = put(json!({ "bio": "hi", "image": "" })).await;
    let user: Value = res.json();
    assert_eq!((user["user"]["bio"].clone(), user["user"]["image"].clone()), (json!("hi"), Value::Null));
    let res = put(json!({ "bio": null })).await;
    assert!(res.json::<Value>()["user"]["bio"].is_null());
    assert_eq!(error(&put(json!({ "email": "bob@example.com" })).await, 409, "email"), "has already been taken");
    assert_eq!(error(&put(json!({ "username": "bob" })).await, 409, "username"), "has already been taken");
    assert_eq!(put(json!({ "email": "ada@example.com" })).await.status(), 200, "one's own email is not taken");
    assert_eq!(
        error(&put(json!({ "password": "short7c" })).await, 422, "password"),
        "is too short (minimum is 8 characters)"
    );
    assert_eq!(error(&put(json!({ "username": null })).await, 422, "username"), "can't be blank");
    let token =
        put(json!({ "password": "bonjour1" })).await.json::<Value>()["user"]["token"].as_str().unwrap().to_owned();
    assert_eq!(c.app.get("/api/user").header("authorization", auth(&token)).send().await.status(), 200);
}

#[trestle::test]
async fn malformed_or_mistyped_bodies_are_client_errors() {
    let Some(c) = conduit().await else { return };
    let token = c.register("ada").await;
    let raw = |path: &str, body: &'static str| {
        c.app
            .post(path)
            .header("authorization", auth(&token))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    error(&raw("/api/users", "{\"user\": ").await, 400, "body");
    let res = raw("/api/users", "[1, 2, 3]").await;
    assert_eq!(res.status(), 422);
    assert!(res.json::<Value>()["errors"].is_object());
    // Fields are named as inside the wrapper (`user`, `article`), as RealWorld's validation errors are.
    error(
        &raw("/api/users", r#"{"user": {"username": 5, "email": "a@b.c", "password": "password123"}}"#).await,
        422,
        "username",
    );
    error(&raw("/api/articles", r#"{"article": {"title": ["x"]}}"#).await, 422, "title");
    error(
        &raw("/api/articles", r#"{"article": {"title": "t", "description": "d", "body": "b", "tagList": "x"}}"#).await,
        422,
        "tagList",
    );
    error(&raw("/api/users", r#"{"person": {}}"#).await, 422, "user");
    let res = c.app.post("/api/articles").header("authorization", auth(&token)).body("{}").send().await;
    assert_eq!(res.status(), 415);

    let huge = format!(r#"{{"article": {{"title": "t", "description": "d", "body": "{}"}}}}"#, "x".repeat(3 << 20));
    let res = c
        .app
        .post("/api/articles")
        .header("authorization", auth(&token))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await;
    assert_eq!(res.status(), 413);
}

#[trestle::test]
async fn unknown_slugs_and_users_are_404() {
    let Some(c) = conduit().await else { return };
    let token = c.register("ada").await;
    for path in ["/api/articles/nope", "/api/articles/nope/comments"] {
        assert_eq!(error(&c.app.get(path).send().await, 404, "article"), "not found");
    }
    let res = c.app.post("/api/articles/nope/favorite").header("authorization", auth(&token)).send().await;
    assert_eq!(error(&res, 404, "article"), "not found");
    assert_eq!(error(&c.app.get("/api/profiles/nobody").send().await, 404, "profile"), "not found");
    let res =
        c.app.delete("/api/articles/nope/comments/not-a-number").header("authorization", auth(&token)).send().await;
    assert_eq!(res.status(), 400);
}

#[trestle::test]
async fn pagination_values_are_checked() {
    let Some(c) = conduit().await else { return };
    let token = c.register("ada").await;
    c.create_article(&token, "One", &[]).await;
    // `trestle::Page`: anything but a whole number in range is a 422 naming the parameter;
    // `[pagination] over_max = "reject"` (config/default.toml) refuses a limit over 100.
    for (query, name) in [
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=0", "limit"),
        ("limit=1000000", "limit"),
        ("limit=99999999999999999999999", "limit"),
        ("offset=1.5", "offset"),
        ("offset=-5", "offset"),
        ("offset=99999999999999999999", "offset"),
        ("offset=9223372036854775808", "offset"),
    ] {
        let message = error(&c.app.get(&format!("/api/articles?{query}")).send().await, 422, name);
        assert!(message.starts_with("must be a whole number from "), "{query}: {message}");
    }
    let page: Value = c.app.get("/api/articles?limit=100&offset=0").send().await.json();
    assert_eq!(page["articlesCount"], 1);
    let res = c.app.get("/api/articles?offset=9223372036854775807").send().await;
    let page: Value = res.json();
    assert_eq!((page["articles"].clone(), page["articlesCount"].clone()), (json!([]), json!(1)));
    let res = c.app.get("/api/articles/feed?limit=-3").header("authorization", auth(&token)).send().await;
    error(&res, 422, "limit");
    let res =
        c.app.get("/api/articles/feed?offset=99999999999999999999").header("authorization", auth(&token)).send().await;
    error(&res, 422, "offset");
}

#[trestle::test]
async fn one_invalid_body_is_one_422_naming_every_failing_field() {
    let Some(c) = conduit().await else { return };
    let res = c
        .app
        .post("/api/users")
        .json(&json!({ "user": { "username": "  ", "email": "not-an-address", "password": "short" } }))
        .send()
        .await;
    assert_eq!(res.status(), 422, "{}", res.text());
    let body: Value = res.json();
    assert_eq!(
        body,
        json!({ "errors": {
            "username": ["can't be blank"],
            "email": ["is invalid"],
            "password": ["is too short (minimum is 8 characters)"],
        } })
    );
    let res = c.app.post("/api/users").json(&json!({ "user": {} })).send().await;
    let body: Value = res.json();
    for field in ["username", "email", "password"] {
        assert_eq!(body["errors"][field], json!(["can't be blank"]), "{body}");
    }
    let token = c.register("ada").await;
    let res = c
        .app
        .post("/api/articles")
        .header("authorization", auth(&token))
        .json(&json!({ "article": { "title": "", "body": "x".repeat(200_001), "tagList": ["ok", "a\u{0}"] } }))
        .send()
        .await;
    let body: Value = res.json();
    assert_eq!(
        body,
        json!({ "errors": {
            "title": ["can't be blank"],
            "description": ["can't be blank"],
            "body": ["is too long (maximum is 200000 characters)"],
            "tagList": ["contains a control character"],
        } })
    );
}

#[trestle::test]
async fn slugs_and_timestamps_have_one_shape() {
    let Some(c) = conduit().await else { return };
    let ada = c.register("ada").await;
    for (title, slug) in [
        ("How to train your dragon?", "how-to-train-your-dragon"),
        ("  Ünïcødé — Tïtle  ", "ünïcødé-tïtle"),
        ("'; DROP TABLE articles; --", "drop-table-articles"),
        ("!!!", "article"),
    ] {
        let article = c.create_article(&ada, title, &[]).await;
        assert_eq!(article["slug"], slug);
        // RFC 3339 in UTC with microseconds: one width, so the stored text sorts by time.
        let created = article["createdAt"].as_str().unwrap();
        assert_eq!((created.len(), &created[10..11], &created[19..20], &created[26..]), (27, "T", ".", "Z"));
    }
    // A twin's suffixed slug stays while its title does, and follows a new title.
    let twin = c.create_article(&ada, "!!!", &[]).await["slug"].as_str().unwrap().to_owned();
    assert!(twin.starts_with("article-"), "{twin}");
    let put = |slug: String, title: &'static str| {
        c.app
            .put(&format!("/api/articles/{slug}"))
            .header("authorization", auth(&ada))
            .json(&json!({ "article": { "title": title } }))
            .send()
    };
    assert_eq!(put(twin.clone(), "!!!").await.json::<Value>()["article"]["slug"], twin.as_str());
    assert_eq!(put(twin, "Renamed").await.json::<Value>()["article"]["slug"], "renamed");
}

#[trestle::test]
async fn unicode_long_strings_and_sql_metacharacters_are_just_text() {
    let Some(c) = conduit().await else { return };
    let sql = "'; DROP TABLE users; -- \" OR 1=1 /* % _ \\";
    let unicode = "Ünïcødé 漢字 🦀 עִבְרִית";
    let token = c.register("ada_ünï_🦀").await;

    let article = c.create_article(&token, &format!("{unicode} {sql}"), &[sql, unicode]).await;
    assert_eq!(article["title"], format!("{unicode} {sql}"));
    let slug = article["slug"].as_str().unwrap().to_owned();
    assert_eq!(c.app.get(&format!("/api/articles/{}", encode(&slug))).send().await.status(), 200);
    for param in ["tag", "author", "favorited"] {
        let res = c.app.get(&format!("/api/articles?{param}={}", encode(sql))).send().await;
        assert_eq!(res.status(), 200, "{param}: {}", res.text());
    }
    let tagged: Value = c.app.get(&format!("/api/articles?tag={}", encode(sql))).send().await.json();
    assert_eq!(tagged["articlesCount"], 1);
    let res = c
        .app
        .post(&format!("/api/articles/{}/comments", encode(&slug)))
        .header("authorization", auth(&token))
        .json(&json!({ "comment": { "body": format!("{sql}{unicode}") } }))
        .send()
        .await;
    assert_eq!(res.status(), 201);
    let res = c
        .app
        .put("/api/user")
        .header("authorization", auth(&token))
        .json(&json!({ "user": { "bio": sql, "image": unicode } }))
        .send()
        .await;
    assert_eq!(res.json::<Value>()["user"]["bio"], sql);
    assert_eq!(c.app.get(&format!("/api/profiles/{}", encode(sql))).send().await.status(), 404);
    assert_eq!(c.app.get("/api/profiles/ada_%C3%BCn%C3%AF_%F0%9F%A6%80").send().await.status(), 200);
    assert!(c.register("still_works").await.len() > 10, "the users table survived");

    // Too long, or a NUL (which PostgreSQL refuses): a 422 naming the field, never a 500.
    let long = "長".repeat(200_001);
    let cases = [
        (
            "/api/articles",
            json!({ "article": { "title": "長".repeat(501), "description": "d", "body": "b" } }),
            "title",
        ),
        ("/api/articles", json!({ "article": { "title": "t", "description": "d", "body": long } }), "body"),
        ("/api/articles", json!({ "article": { "title": "t\u{0}", "description": "d", "body": "b" } }), "title"),
        (
            "/api/articles",
            json!({ "article": { "title": "t", "description": "d", "body": "b", "tagList": ["x".repeat(101)] } }),
            "tagList",
        ),
        (
            "/api/users",
            json!({ "user": { "username": "u".repeat(65), "email": "a@b.c", "password": "password123" } }),
            "username",
        ),
        (
            "/api/users",
            json!({ "user": { "username": "nul\u{0}", "email": "a@b.c", "password": "password123" } }),
            "username",
        ),
    ];
    for (path, body, field) in cases {
        let res = c.app.post(path).header("authorization", auth(&token)).json(&body).send().await;
        error(&res, 422, field);
    }
    let res = c.app.get(&format!("/api/articles?tag={}", encode("a\u{0}b"))).send().await;
    error(&res, 422, "tag");
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// How many requests each race test sends at once.
const RACERS: usize = 8;

/// Sends `RACERS` requests made by `request` at once; fails the test if they take over 30 s.
async fn race<F, Fut>(request: F) -> Vec<TestResponse>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = TestResponse>,
{
    let all = futures_util::future::join_all((0..RACERS).map(request));
    tokio::time::timeout(std::time::Duration::from_secs(30), all).await.expect("the racing requests finish")
}

#[trestle::test]
async fn concurrent_articles_with_one_title_all_get_distinct_slugs() {
    let Some(c) = conduit().await else { return };
    let ada = c.register("ada").await;
    let responses = race(|_| {
        c.app
            .post("/api/articles")
            .header("authorization", auth(&ada))
            .json(&json!({ "article": { "title": "Same Title", "description": "d", "body": "b", "tagList": ["t"] } }))
            .send()
    })
    .await;
    let mut slugs = std::collections::BTreeSet::new();
    for res in &responses {
        assert_eq!(res.status(), 201, "{}", res.text());
        let article = &res.json::<Value>()["article"];
        assert_eq!(article["tagList"], json!(["t"]));
        slugs.insert(article["slug"].as_str().unwrap().to_owned());
    }
    assert_eq!(slugs.len(), RACERS, "{slugs:?}");
    assert!(slugs.contains("same-title"), "{slugs:?}");
}

#[trestle::test]
async fn concurrent_title_changes_to_one_title_all_get_distinct_slugs() {
    let Some(c) = conduit().await else { return };
    let ada = c.register("ada").await;
    let mut old = Vec::new();
    for i in 0..RACERS {
        old.push(c.create_article(&ada, &format!("Draft {i}"), &[]).await["slug"].as_str().unwrap().to_owned());
    }
    let responses = race(|i| {
        c.app
            .put(&format!("/api/articles/{}", old[i]))
            .header("authorization", auth(&ada))
            .json(&json!({ "article": { "title": "Final", "tagList": ["a", "b"] } }))
            .send()
    })
    .await;
    let mut slugs = std::collections::BTreeSet::new();
    for res in &responses {
        assert_eq!(res.status(), 200, "{}", res.text());
        slugs.insert(res.json::<Value>()["article"]["slug"].as_str().unwrap().to_owned());
    }
    assert_eq!(slugs.len(), RACERS, "{slugs:?}");
}

#[trestle::test]
async fn concurrent_favorites_of_one_article_count_once() {
    let Some(c) = conduit().await else { return };
    let ada = c.register("ada").await;
    let bob = c.register("bob").await;
    let slug = c.create_article(&ada, "Popular", &[]).await["slug"].as_str().unwrap().to_owned();
    let path = format!("/api/articles/{slug}/favorite");
    let responses = race(|_| c.app.post(&path).header("authorization", auth(&bob)).send()).await;
    for res in &responses {
        assert_eq!(res.status(), 200, "{}", res.text());
        let article = &res.json::<Value>()["article"];
        assert_eq!((article["favorited"].clone(), article["favoritesCount"].clone()), (json!(true), json!(1)));
    }
    let responses = race(|_| c.app.delete(&path).header("authorization", auth(&bob)).send()).await;
    for res in &responses {
        assert_eq!(res.status(), 200, "{}", res.text());
        let article = &res.json::<Value>()["article"];
        assert_eq!((article["favorited"].clone(), article["favoritesCount"].clone()), (json!(false), json!(0)));
    }
}

#[trestle::test]
async fn concurrent_follows_of_one_user_are_one_follow() {
    let Some(c) = conduit().await else { return };
    c.register("ada").await;
    let bob = c.register("bob").await;
    let responses = race(|_| c.app.post("/api/profiles/ada/follow").header("authorization", auth(&bob)).send()).await;
    for res in &responses {
        assert_eq!(res.status(), 200, "{}", res.text());
        assert_eq!(res.json::<Value>()["profile"]["following"], json!(true));
    }
    let responses = race(|_| c.app.delete("/api/profiles/ada/follow").header("authorization", auth(&bob)).send()).await;
    for res in &responses {
        assert_eq!(res.status(), 200, "{}", res.text());
        assert_eq!(res.json::<Value>()["profile"]["following"], json!(false));
    }
}

#[trestle::test]
async fn concurrent_registrations_of_one_user_make_one_user() {
    let Some(c) = conduit().await else { return };
    let responses = race(|_| {
        c.app
            .post("/api/users")
            .json(&json!({ "user": { "username": "ada", "email": "ada@example.com", "password": "password123" } }))
            .send()
    })
    .await;
    assert_eq!(responses.iter().filter(|res| res.status() == 201).count(), 1);
    // Every other request gets what a lone duplicate gets: the username is named first.
    for res in responses.iter().filter(|res| res.status() != 201) {
        assert_eq!(error(res, 409, "username"), "has already been taken");
    }
    // Distinct usernames, one email: the email's constraint decides, and is named.
    let responses = race(|n| {
        c.app
            .post("/api/users")
            .json(&json!({ "user": { "username": format!("bob{n}"), "email": "bob@example.com", "password": "password123" } }))
            .send()
    })
    .await;
    assert_eq!(responses.iter().filter(|res| res.status() == 201).count(), 1);
    for res in responses.iter().filter(|res| res.status() != 201) {
        assert_eq!(error(res, 409, "email"), "has already been taken");
    }
}

async fn tags(c: &Conduit) -> Value {
    c.app.get("/api/tags").send().await.json::<Value>()["tags"].clone()
}

#[trestle::test]
async fn the_tag_list_follows_every_write_deletes_included() {
    let Some(c) = conduit().await else { return };
    let ada = c.register("ada").await;
    assert_eq!(tags(&c).await, json!([]));
    let first = c.create_article(&ada, "First", &["rust", "web"]).await;
    let second = c.create_article(&ada, "Second", &["rust"]).await;
    assert_eq!(tags(&c).await, json!(["rust", "web"]));
    // Retagging drops `web` (no other article has it) and adds `db`.
    let slug = first["slug"].as_str().unwrap();
    let res = c
        .app
        .put(&format!("/api/articles/{slug}"))
        .header("authorization", auth(&ada))
        .json(&json!({ "article": { "tagList": ["db", "rust"] } }))
        .send()
        .await;
    assert_eq!(res.status(), 200, "{}", res.text());
    assert_eq!(tags(&c).await, json!(["db", "rust"]));
    // Deleting an article (its tags go by cascade) keeps a tag another article still has.
    let res = c.app.delete(&format!("/api/articles/{slug}")).header("authorization", auth(&ada)).send().await;
    assert_eq!(res.status(), 204);
    assert_eq!(tags(&c).await, json!(["rust"]));
    let slug = second["slug"].as_str().unwrap();
    c.app.delete(&format!("/api/articles/{slug}")).header("authorization", auth(&ada)).send().await;
    assert_eq!(tags(&c).await, json!([]));
}

#[trestle::test]
async fn concurrent_articles_sharing_a_tag_keep_it_listed_while_any_has_it() {
    let Some(c) = conduit().await else { return };
    let ada = c.register("ada").await;
    // Half the racers create an article with the tag while the other half delete theirs.
    let mut doomed = Vec::new();
    for n in 0..RACERS / 2 {
        doomed.push(
            c.create_article(&ada, &format!("Doomed {n}"), &["shared"]).await["slug"].as_str().unwrap().to_owned(),
        );
    }
    let responses = race(|n| {
        let request = if n % 2 == 0 {
            c.app
                .post("/api/articles")
                .json(&json!({ "article": { "title": format!("Kept {n}"), "description": "d", "body": "b", "tagList": ["shared"] } }))
        } else {
            c.app.delete(&format!("/api/articles/{}", doomed[n / 2]))
        };
        request.header("authorization", auth(&ada)).send()
    })
    .await;
    for res in &responses {
        assert!(res.status() == 201 || res.status() == 204, "{}", res.text());
    }
    assert_eq!(tags(&c).await, json!(["shared"]), "articles still have the tag");
}

#[trestle::test]
async fn the_current_user_gets_back_the_token_it_sent_and_tags_cannot_hold_control_characters() {
    let Some(c) = conduit().await else { return };
    let ada = c.register("ada").await;
    let res = c.app.get("/api/user").header("authorization", auth(&ada)).send().await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>()["user"]["token"], ada.as_str());
    let res = c
        .app
        .post("/api/articles")
        .header("authorization", auth(&ada))
        .json(&json!({ "article": { "title": "t", "description": "d", "body": "b", "tagList": ["a\u{1f}b"] } }))
        .send()
        .await;
    assert!(error(&res, 422, "tagList").contains("control character"));
}
