//! Route macros at run time: the generated router serves each route, refuses other methods,
//! checks declared scopes first; duplicate routes stop startup; the route table.

use std::collections::HashMap;

use serde::Deserialize;
use trestle::axum::routing::{get, post};
use trestle::config::NoConfig;
use trestle::prelude::*;
use trestle::routing::{AuthRequirement, Param};
use trestle::testing::TestApp;
use trestle::Context;

const SECRET: &str = "0123456789abcdef0123456789abcdef-route-secret";

/// Lists things. More words here.
#[get("/things")]
async fn list_things() -> &'static str {
    "all things"
}

#[derive(Deserialize, Serialize, JsonSchema)]
struct NewThing {
    name: String,
}

/// Creates a thing.
#[post("/things")]
async fn create_thing(Json(thing): Json<NewThing>) -> Json<NewThing> {
    Json(thing)
}

#[get("/things/{id}/parts/{part}")]
async fn part(Path((id, part)): Path<(u32, String)>) -> String {
    format!("{id}/{part}")
}

#[derive(Deserialize, JsonSchema)]
struct Slug {
    slug: String,
}

#[put("/articles/{slug}")]
async fn update_article(Path(Slug { slug }): Path<Slug>, Json(thing): Json<NewThing>) -> String {
    format!("{slug}={}", thing.name)
}

// Out of the document: OpenAPI has no catch-all (a path parameter never spans `/`), and a map
// of the parameters has no schema per parameter (it would call `rest` an object).
#[delete("/files/{*rest}", openapi = false)]
async fn delete_file(Path(params): Path<HashMap<String, String>>) -> String {
    params["rest"].clone()
}

#[patch("/me")]
async fn patch_me(auth: Auth, body: String) -> String {
    format!("{} {body}", auth.sub)
}

#[get("/greeting")]
async fn greeting(auth: Option<Auth>) -> String {
    auth.map_or("hello stranger".into(), |a| format!("hello {}", a.sub))
}

#[route(method = ["GET", "HEAD"], path = "/ping")]
async fn ping(State(ctx): State<Context<NoConfig>>) -> String {
    format!("pong from {}", ctx.profile())
}

/// Admins only.
#[post("/admin/reindex", scopes = ["admin"])]
async fn reindex(Json(thing): Json<NewThing>) -> String {
    format!("reindexing {}", thing.name)
}

fn app() -> trestle::App<NoConfig, Context<NoConfig>> {
    trestle::App::new()
        .auth()
        .configure(|c| c.set("auth.jwt.secret", SECRET))
        .state(|ctx| ctx.clone())
        .routes(routes![
            list_things,
            create_thing,
            part,
            update_article,
            delete_file,
            patch_me,
            greeting,
            ping,
            reindex
        ])
        .routes(Router::new().route("/hand-written", get(|| async { "by hand" })))
}

async fn token(scopes: &[&str]) -> String {
    let config = trestle::config::JwtConfig { secret: Some(trestle::Secret::new(SECRET.into())), ..Default::default() };
    let jwt = trestle::auth::Jwt::from_config(&config).unwrap();
    jwt.sign(&jwt.claims("u7", ()).with_scopes(scopes.iter().copied())).unwrap()
}

#[trestle::test]
async fn the_generated_router_serves_every_route() {
    let app = TestApp::new(app()).await.unwrap();
    let user = token(&[]).await;
    assert_eq!(app.get("/things").send().await.text(), "all things");
    let res = app.post("/things").json(&NewThing { name: "n".into() }).send().await;
    assert_eq!(res.json::<serde_json::Value>()["name"], "n");
    assert_eq!(app.get("/things/4/parts/wheel").send().await.text(), "4/wheel");
    assert_eq!(app.put("/articles/hello").json(&NewThing { name: "x".into() }).send().await.text(), "hello=x");
    assert_eq!(app.delete("/files/a/b/c.txt").send().await.text(), "a/b/c.txt");
    assert_eq!(app.patch("/me").bearer(&user).body("hi").send().await.text(), "u7 hi");
    assert_eq!(app.get("/greeting").send().await.text(), "hello stranger");
    assert_eq!(app.get("/greeting").bearer(&user).send().await.text(), "hello u7");
    assert_eq!(app.get("/ping").send().await.text(), "pong from test");
    assert_eq!(app.request(http::Method::HEAD, "/ping").send().await.status(), 200);
    assert_eq!(app.get("/hand-written").send().await.text(), "by hand");
}

#[trestle::test]
async fn other_methods_get_405() {
    let app = TestApp::new(app()).await.unwrap();
    let res = app.delete("/things").send().await;
    assert_eq!(res.status(), 405);
    let allow = res.header("allow").unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert_eq!(app.post("/ping").send().await.status(), 405);
    assert_eq!(app.get("/things/x/parts/y").send().await.status(), 400, "u32 path parameter");
}

#[trestle::test]
async fn declared_scopes_are_checked_before_the_handler() {
    let app = TestApp::new(app()).await.unwrap();
    // Without a token: 401 even though the body is not even JSON (the scope check runs first).
    let res = app.post("/admin/reindex").body("not json").send().await;
    assert_eq!(res.status(), 401);
    assert!(res.header("www-authenticate").unwrap().starts_with("Bearer"));
    let res = app.post("/admin/reindex").bearer(&token(&["read"]).await).body("not json").send().await;
    assert_eq!(res.status(), 403);
    let res =
        app.post("/admin/reindex").bearer(&token(&["admin"]).await).json(&NewThing { name: "all".into() }).send().await;
    assert_eq!(res.text(), "reindexing all");
}

#[trestle::test]
async fn handlers_stay_callable_as_written() {
    assert_eq!(list_things().await, "all things");
    assert_eq!(part(Path((1, "x".into()))).await, "1/x");
}

#[get("/things")]
async fn list_things_again() -> &'static str {
    "again"
}

#[trestle::test]
async fn a_duplicate_route_stops_startup_naming_both_handlers() {
    let err = TestApp::new(trestle::App::new().routes(routes![list_things, list_things_again])).await.unwrap_err();
    let text = format!("{err:?}");
    assert!(text.contains("GET /things is routed twice"), "{text}");
    assert!(text.contains("routes::list_things ") || text.contains("routes::list_things,"), "{text}");
    assert!(text.contains("routes::list_things_again"), "{text}");
}

#[test]
fn the_route_table_describes_each_route() {
    let table = app().route_table();
    let find = |path: &str| *table.iter().find(|r| r.path == path).unwrap_or_else(|| panic!("{path} missing"));
    let list = find("/things");
    assert_eq!(list.methods, ["GET"]);
    assert_eq!(list.summary, "Lists things");
    assert_eq!(list.auth, AuthRequirement::None);
    assert!(list.handler.ends_with("routes::list_things"));

    let create = table.iter().find(|r| r.path == "/things" && r.methods == ["POST"]).unwrap();
    assert_eq!(create.body, Some("NewThing"));

    let part = find("/things/{id}/parts/{part}");
    assert_eq!(part.params, [Param { name: "id", ty: "u32" }, Param { name: "part", ty: "String" }]);
    assert_eq!(find("/me").auth, AuthRequirement::Required);
    assert_eq!(find("/me").body, Some("String"));
    assert_eq!(find("/greeting").auth, AuthRequirement::Optional);
    assert_eq!(find("/ping").methods, ["GET", "HEAD"]);
    let admin = find("/admin/reindex");
    assert_eq!((admin.auth, admin.scopes, admin.summary), (AuthRequirement::Required, &["admin"][..], "Admins only"));
    assert!(table.iter().any(|r| r.path == "/health/ready"));
}

#[delete("/things/{thing_id}/parts/{name}")]
async fn delete_part(Path((id, name)): Path<(u32, String)>) -> String {
    format!("{id}/{name}")
}

#[trestle::test]
async fn same_shape_with_other_parameter_names_is_a_startup_error_not_a_panic() {
    let err = TestApp::new(trestle::App::new().routes(routes![part, delete_part])).await.unwrap_err();
    let text = format!("{err:?}");
    assert!(text.contains("/things/{thing_id}/parts/{name}") && text.contains("same parameter names"), "{text}");
}

fn conflict(err: trestle::StartupError) -> trestle::routing::RouteConflict {
    match err {
        trestle::StartupError::Routes(conflict) => conflict,
        other => panic!("expected a route conflict, got {other:?}"),
    }
}

#[trestle::test]
async fn a_plain_router_on_a_macro_route_path_is_a_startup_error_not_a_panic() {
    let plain = Router::new().route("/things", get(|| async { "plain" }));
    let err = TestApp::new(trestle::App::new().routes(routes![list_things]).routes(plain)).await.unwrap_err();
    let conflict = conflict(err);
    assert_eq!(conflict.path, "/things");
    assert!(conflict.first.ends_with("routes::list_things"), "{conflict:?}");
    assert!(conflict.second.contains("Router passed to App::routes"), "{conflict:?}");
}

#[trestle::test]
async fn a_plain_router_with_other_parameter_names_is_a_startup_error() {
    let plain = Router::new().route("/things/{thing}/parts/{name}", get(|| async { "plain" }));
    let err = TestApp::new(trestle::App::new().routes(plain).routes(routes![part])).await.unwrap_err();
    assert_eq!(conflict(err).path, "/things/{id}/parts/{part}");
}

#[trestle::test]
async fn a_plain_router_on_a_health_path_is_a_startup_error_naming_the_key() {
    let plain = Router::new().route("/health/live", get(|| async { "mine" }));
    let err = TestApp::new(trestle::App::new().routes(plain)).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/health/live") && text.contains("server.health") && text.contains("APP__SERVER__HEALTH"),
        "{text}"
    );

    // With the health routes off, the path is the app's.
    let plain = Router::new().route("/health/live", get(|| async { "mine" }));
    let app =
        TestApp::new(trestle::App::new().routes(plain).configure(|c| c.set("server.health", "false"))).await.unwrap();
    assert_eq!(app.get("/health/live").send().await.text(), "mine");
}

#[get("/health/ready")]
async fn my_ready() -> &'static str {
    "ready"
}

#[trestle::test]
async fn a_macro_route_on_a_health_path_is_a_startup_error() {
    let err = TestApp::new(trestle::App::new().routes(routes![my_ready])).await.unwrap_err();
    let conflict = conflict(err);
    assert_eq!((conflict.method.as_str(), conflict.path.as_str()), ("GET", "/health/ready"));
}

#[trestle::test]
async fn plain_routers_beside_macro_routes_on_other_paths_are_served_without_running_handlers_at_startup() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let plain = Router::new()
        // Same prefix, a static segment beside the macro route's parameter: axum holds both.
        .route("/things/{id}/parts/all", get(|| async { "all parts" }))
        .route(
            "/counted",
            get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { "counted" }
            }),
        );
    let app = TestApp::new(trestle::App::new().routes(routes![list_things, part]).routes(plain)).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the startup check ran a handler");
    assert_eq!(app.get("/things").send().await.text(), "all things");
    assert_eq!(app.get("/things/7/parts/all").send().await.text(), "all parts");
    assert_eq!(app.get("/counted").send().await.text(), "counted");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[trestle::test]
async fn two_plain_routers_on_one_route_are_a_startup_error_not_a_panic() {
    let a = Router::new().route("/items", get(|| async { "a" }));
    let b = Router::new().route("/items", get(|| async { "b" }));
    let err = TestApp::new(trestle::App::new().routes(a).routes(b)).await.unwrap_err();
    let conflict = conflict(err);
    assert_eq!((conflict.method.as_str(), conflict.path.as_str()), ("GET", "/items"));
}

#[trestle::test]
async fn two_plain_routers_with_other_parameter_names_are_a_startup_error() {
    let a = Router::new().route("/items/{id}", get(|| async { "a" }));
    let b = Router::new().route("/items/{slug}", post(|| async { "b" }));
    let err = TestApp::new(trestle::App::new().routes(a).routes(b)).await.unwrap_err();
    assert_eq!(conflict(err).method, "any method");
}

#[trestle::test]
async fn two_plain_fallbacks_are_a_startup_error() {
    let a = Router::new().route("/a", get(|| async { "a" })).fallback(|| async { "a" });
    let b = Router::new().route("/b", get(|| async { "b" })).fallback(|| async { "b" });
    let err = TestApp::new(trestle::App::new().routes(a).routes(b)).await.unwrap_err();
    assert!(conflict(err).second.contains("only one may set a fallback"));
}

#[trestle::test]
async fn one_path_with_other_methods_from_several_places_is_served() {
    let get_router = Router::new().route("/items", get(|| async { "listed" }));
    let post_router = Router::new().route("/items", post(|| async { "created" }));
    // The macro route takes GET and POST on /things; the plain router only DELETE.
    let delete_router = Router::new().route("/things", trestle::axum::routing::delete(|| async { "deleted" }));
    let app = trestle::App::new()
        .routes(get_router)
        .routes(post_router)
        .routes(routes![list_things, create_thing])
        .routes(delete_router);
    let app = TestApp::new(app).await.unwrap();
    assert_eq!(app.get("/items").send().await.text(), "listed");
    assert_eq!(app.post("/items").send().await.text(), "created");
    assert_eq!(app.get("/things").send().await.text(), "all things");
    assert_eq!(app.delete("/things").send().await.text(), "deleted");
}

#[trestle::test]
async fn the_startup_check_runs_no_fallback_middleware_or_catch_all_of_the_app() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let calls = Arc::new(AtomicUsize::new(0));
    let (fallback, any, layer) = (calls.clone(), calls.clone(), calls.clone());
    let plain = Router::new()
        .route(
            "/proxy/{*rest}",
            trestle::axum::routing::any(move || {
                any.fetch_add(1, Ordering::SeqCst);
                async { "proxied" }
            }),
        )
        .fallback(move || {
            fallback.fetch_add(1, Ordering::SeqCst);
            async { "fallback" }
        })
        .layer(trestle::axum::middleware::from_fn(
            move |req: trestle::axum::extract::Request, next: trestle::axum::middleware::Next| {
                layer.fetch_add(1, Ordering::SeqCst);
                next.run(req)
            },
        ));
    let other = Router::new().route("/proxy/{*rest}", get(|| async { "mine" }));
    // The check asks both routers about each other's paths and the framework's: nothing runs.
    let err = TestApp::new(trestle::App::new().routes(plain.clone()).routes(other)).await.unwrap_err();
    assert_eq!(conflict(err).path, "/proxy/{*rest}");
    let app = TestApp::new(trestle::App::new().routes(routes![list_things]).routes(plain)).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the startup check ran the app's code");
    assert_eq!(app.get("/somewhere").send().await.text(), "fallback");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the fallback and the layer run for a real request");
}
