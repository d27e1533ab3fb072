//! `conduit seed`, the app's own command, through the command line every trestle app gets.

use trestle::testing::{TestApp, TestDatabase};

/// conduit on `url`, hermetic: the test profile, no process environment, no `.env`.
fn conduit_on(url: &str) -> trestle::App<trestle::config::NoConfig, conduit::AppState> {
    let url = url.to_owned();
    conduit::app().configure(move |c| {
        c.profile("test").env_vars(Vec::<(String, String)>::new()).dotenv(None).set("database.url", url)
    })
}

#[trestle::test]
async fn seed_fills_the_database_once_and_the_api_serves_it() {
    let (_db, _dir, url) = if <conduit::Database as trestle::sqlx::Database>::NAME == "SQLite" {
        // A file, not memory: the command and the app below each open their own pool.
        let dir = std::env::temp_dir().join(format!("conduit-seed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("seed.db").display());
        (None, Some(dir), url)
    } else {
        let Some(db) = TestDatabase::from_env::<conduit::Database>("TEST_POSTGRES_URL").await else { return };
        let url = db.url().to_owned();
        (Some(db), None, url)
    };
    let args = ["conduit", "seed", "--users", "3", "--articles", "7", "--comments", "10"];
    for _ in 0..2 {
        let code = conduit_on(&url).run_with_args(args).await.expect("seed runs");
        assert_eq!(code, 0);
    }
    let app = TestApp::new(conduit_on(&url)).await.unwrap();
    let articles = app.get("/api/articles?limit=100").send().await.json::<serde_json::Value>();
    assert_eq!(articles["articlesCount"], 7, "seeding twice adds nothing: {articles}");
    let first = &articles["articles"][0];
    assert_eq!(first["tagList"].as_array().map(Vec::len), Some(3), "{first}");
    let comments = app.get("/api/articles/seed-article-1/comments").send().await.json::<serde_json::Value>();
    assert_eq!(comments["comments"].as_array().map(Vec::len), Some(2), "10 comments over 7 articles: {comments}");
    let login = app
        .post("/api/users/login")
        .json(&serde_json::json!({"user": {"email": "seed-user-2@example.com", "password": "password"}}))
        .send()
        .await;
    assert_eq!(login.status(), 200, "seeded users log in: {}", login.text());

    let usage = conduit_on(&url).run_with_args(["conduit", "seed", "--users", "many"]).await.unwrap();
    assert_eq!(usage, 2, "a bad argument is a usage error");
    if let Some(dir) = _dir {
        let _ = std::fs::remove_dir_all(dir);
    }
}
