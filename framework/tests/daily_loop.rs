//! The app developer's daily loop: rows mapped by `#[derive(FromRow)]`, input checked by
//! `Valid`, lists paged by `Page`, state built by `state_async` and split by `FromRef`.

use trestle::error::Problem;
use trestle::prelude::*;
use trestle::testing::TestApp;

// ---- Rows ----

#[derive(FromRow, Debug, PartialEq)]
#[sqlx(rename_all = "camelCase")]
struct Author {
    user_name: String,
    #[sqlx(rename = "bio_text")]
    bio: Option<String>,
}

#[derive(FromRow, Debug, PartialEq)]
struct Article {
    id: i64,
    #[sqlx(flatten)]
    author: Author,
    #[sqlx(default)]
    favorites: i64,
    #[sqlx(skip)]
    cached: Vec<u8>,
    #[sqlx(try_from = "i64")]
    views: u32,
}

#[derive(FromRow, Debug, PartialEq)]
struct Pair(i64, String);

#[trestle::test]
async fn rows_map_to_structs_with_sqlx_attributes() {
    let pool = trestle::sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
    let article: Article = trestle::sqlx::query_as("SELECT 7 AS id, 'ann' AS userName, NULL AS bio_text, 12 AS views")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        article,
        Article {
            id: 7,
            author: Author { user_name: "ann".into(), bio: None },
            favorites: 0,
            cached: Vec::new(),
            views: 12
        }
    );
    let pair: Pair = trestle::sqlx::query_as("SELECT 1, 'one'").fetch_one(&pool).await.unwrap();
    assert_eq!(pair, Pair(1, "one".into()));

    // A missing column (without `default`) and a value `try_from` refuses name the column.
    let missing = trestle::sqlx::query_as::<_, Article>("SELECT 7 AS id, NULL AS bio_text, 1 AS views")
        .fetch_one(&pool)
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("userName"), "{missing}");
    let negative =
        trestle::sqlx::query_as::<_, Article>("SELECT 7 AS id, 'ann' AS userName, NULL AS bio_text, -1 AS views")
            .fetch_one(&pool)
            .await
            .unwrap_err();
    assert!(negative.to_string().contains("views"), "{negative}");
}

// ---- Validation ----

#[derive(Deserialize, garde::Validate, JsonSchema)]
struct Signup {
    #[garde(dive)]
    user: NewUser,
}

#[derive(Deserialize, garde::Validate, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct NewUser {
    #[garde(length(chars, min = 1, max = 16))]
    user_name: String,
    #[garde(email)]
    email: String,
    #[garde(length(max = 3), inner(length(min = 1)))]
    tag_list: Vec<String>,
}

/// Registers a user.
#[post("/signup")]
async fn signup(Valid(Json(body)): Valid<Json<Signup>>) -> String {
    body.user.user_name
}

#[derive(Deserialize, garde::Validate, JsonSchema)]
struct Search {
    #[garde(length(min = 2))]
    q: String,
}

/// Searches.
#[get("/search")]
async fn search(Valid(Query(search)): Valid<Query<Search>>) -> String {
    search.q
}

#[derive(Deserialize, garde::Validate, JsonSchema)]
struct Code {
    #[garde(pattern(r"^[A-Z]{3}$"))]
    code: String,
}

/// One currency.
#[get("/currencies/{code}")]
async fn currency(Valid(Path(code)): Valid<Path<Code>>) -> String {
    code.code
}

fn pointers(problem: &Problem) -> Vec<(String, String)> {
    problem.errors.iter().map(|e| (e.field.clone(), e.pointer.clone())).collect()
}

#[trestle::test]
async fn invalid_input_is_one_422_naming_every_field_by_pointer() {
    let app = TestApp::new(App::new().routes(routes![signup, search, currency])).await.unwrap();
    let ok = app
        .post("/signup")
        .json(&serde_json::json!({"user": {"userName": "ann", "email": "a@b.example", "tagList": ["x"]}}))
        .send()
        .await;
    assert_eq!((ok.status().as_u16(), ok.text()), (200, "ann".to_owned()));

    let bad = app
        .post("/signup")
        .json(&serde_json::json!({"user": {"userName": "", "email": "nope", "tagList": ["a", "", "c", "d"]}}))
        .send()
        .await;
    assert_eq!(bad.status().as_u16(), 422);
    let problem = bad.problem();
    let mut got = pointers(&problem);
    got.sort();
    assert_eq!(
        got,
        [
            ("user.email", "/user/email"),
            ("user.tagList", "/user/tagList"),
            ("user.tagList[1]", "/user/tagList/1"),
            ("user.userName", "/user/userName"),
        ]
        .map(|(f, p)| (f.to_owned(), p.to_owned()))
    );
    assert!(problem.detail.as_deref().unwrap().starts_with("4 fields are invalid"), "{problem:?}");
    assert!(problem.errors.iter().all(|e| !e.message.is_empty()));

    // The shape is checked before the rules: a missing field is named, with its pointer.
    let missing = app.post("/signup").json(&serde_json::json!({"user": {"userName": "ann"}})).send().await;
    assert_eq!(missing.status().as_u16(), 422);
    assert_eq!(pointers(&missing.problem()), [("user.email".to_owned(), "/user/email".to_owned())]);

    let short = app.get("/search?q=a").send().await;
    assert_eq!(short.status().as_u16(), 422);
    assert_eq!(pointers(&short.problem()), [("q".to_owned(), "/q".to_owned())]);
    assert_eq!(app.get("/search?q=ab").send().await.text(), "ab");

    let lower = app.get("/currencies/eur").send().await;
    assert_eq!(lower.status().as_u16(), 422);
    assert_eq!(pointers(&lower.problem()), [("code".to_owned(), "/code".to_owned())]);
    assert_eq!(app.get("/currencies/EUR").send().await.text(), "EUR");
}

// ---- Pagination ----

#[derive(Serialize, Deserialize, JsonSchema)]
struct Item {
    id: i64,
}

/// Lists 1,000 numbered items, a page at a time.
#[get("/items")]
async fn items(page: Page) -> Result<Paginated<Item>> {
    let after: i64 = page.cursor()?.unwrap_or(page.offset());
    let ids = (after + 1..=1_000).take(page.limit() as usize);
    Ok(page.respond(ids.map(|id| Item { id }).collect(), Some(1_000)).with_next_cursor(|last| last.id))
}

#[derive(Deserialize)]
struct Listing {
    items: Vec<Item>,
    total: u64,
    limit: u32,
    offset: u64,
    next_cursor: Option<String>,
}

#[trestle::test]
async fn pages_have_defaults_bounds_cursors_and_a_total() {
    let app = TestApp::new(App::new().routes(routes![items])).await.unwrap();
    let first = app.get("/items").send().await;
    assert_eq!(first.header("x-total-count"), Some("1000"));
    let first: Listing = first.json();
    assert_eq!((first.items.len(), first.total, first.limit, first.offset), (20, 1_000, 20, 0));
    assert_eq!(first.items[0].id, 1);

    // The next page starts after the cursor; the last page has none.
    let next: Listing = app.get(&format!("/items?cursor={}", first.next_cursor.unwrap())).send().await.json();
    assert_eq!(next.items[0].id, 21);
    let last: Listing = app.get("/items?offset=990&limit=50").send().await.json();
    assert_eq!((last.items.len(), last.limit, last.next_cursor), (10, 50, None));

    // Over the maximum is clamped by default.
    let big: Listing = app.get("/items?limit=100000").send().await.json();
    assert_eq!((big.items.len(), big.limit), (100, 100));

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("offset=-5", "offset"),
        ("offset=99999999999999999999999", "offset"),
        ("cursor=forged", "cursor"),
    ] {
        let response = app.get(&format!("/items?{query}")).send().await;
        assert_eq!(response.status().as_u16(), 422, "{query}");
        assert_eq!(response.problem().errors[0].field, field, "{query}");
    }
}

#[trestle::test]
async fn page_bounds_come_from_config() {
    let app = App::new()
        .configure(|c| {
            c.set("pagination.default_limit", "5")
                .set("pagination.max_limit", "10")
                .set("pagination.over_max", "reject")
        })
        .routes(routes![items]);
    let app = TestApp::new(app).await.unwrap();
    let page: Listing = app.get("/items").send().await.json();
    assert_eq!(page.items.len(), 5);
    let over = app.get("/items?limit=11").send().await;
    assert_eq!(over.status().as_u16(), 422);
    assert!(over.problem().detail.unwrap().contains("from 1 to 10"));

    let inverted = App::new()
        .configure(|c| c.set("pagination.default_limit", "50").set("pagination.max_limit", "10"))
        .routes(routes![items]);
    let error = TestApp::new(inverted).await.map(|_| ()).unwrap_err().to_string();
    assert!(error.contains("default_limit (50) is larger than max_limit (10)"), "{error}");
}

// ---- State ----

#[derive(Clone, FromRef)]
struct AppState {
    ctx: Context<trestle::config::NoConfig>,
    greeting: Arc<String>,
    // A second field of one type must be skipped: two `FromRef` impls for it would conflict.
    #[from_ref(skip)]
    #[allow(dead_code)] // There to be skipped, not read.
    farewell: Arc<String>,
}

/// Greets with the greeting the state was built with.
#[get("/greet")]
async fn greet(State(greeting): State<Arc<String>>) -> String {
    greeting.to_string()
}

#[trestle::test]
async fn state_can_be_built_asynchronously_and_split_by_from_ref() {
    let app = App::new()
        .state_async(|ctx| async move {
            tokio_sleep().await;
            Ok(AppState { greeting: Arc::new(format!("hello from {}", ctx.profile())), farewell: Arc::default(), ctx })
        })
        .routes(routes![greet]);
    let app = TestApp::new(app).await.unwrap();
    assert_eq!(app.get("/greet").send().await.text(), "hello from test");

    let failing = App::new()
        .state_async(|_ctx| async move {
            let text = std::fs::read_to_string("/definitely/not/here.txt")?;
            Ok(AppState { greeting: Arc::new(text), farewell: Arc::default(), ctx: _ctx })
        })
        .routes(routes![greet]);
    let error = TestApp::new(failing).await.map(|_| ()).unwrap_err();
    assert!(matches!(error, StartupError::State { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("No such file"), "{message}");
    assert!(message.contains("App::state_async"), "{message}");
}

async fn tokio_sleep() {
    trestle::__private::tokio::time::sleep(std::time::Duration::from_millis(5)).await;
}
