//! Drive an app in process, without a socket.
//!
//! ```
//! use trestle::prelude::*;
//! use trestle::testing::TestApp;
//!
//! #[get("/hello")]
//! async fn hello() -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "message": "hi" }))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let app = TestApp::new(App::new().routes(routes![hello])).await.unwrap();
//! let res = app.get("/hello").send().await;
//! assert_eq!(res.status(), 200);
//! assert_eq!(res.json::<serde_json::Value>()["message"], "hi");
//!
//! let res = app.get("/nope").send().await;
//! assert_eq!(res.problem().status, 404);
//! # }
//! ```
//!
//! `TestApp` loads config with the `test` profile and ignores the process environment and
//! `.env`, so tests running in parallel do not see each other's settings; set keys with
//! `App::configure(|loader| loader.set("key", "value"))`.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower::ServiceExt;

use crate::config::Config;
use crate::error::Problem;
use crate::{App, StartupError};

/// An app built for tests: requests go straight into its router.
#[derive(Clone, Debug)]
pub struct TestApp {
    router: Router,
}

impl TestApp {
    /// Builds `app` (config with the `test` profile, state, routes, default stack).
    pub async fn new<C: Config, S: Clone + Send + Sync + 'static>(app: App<C, S>) -> Result<Self, StartupError> {
        Ok(Self { router: app.for_tests().into_router().await? })
    }

    /// Wraps an already built router.
    pub fn from_router(router: Router) -> Self {
        Self { router }
    }

    /// A request with any method.
    pub fn request(&self, method: Method, path: &str) -> TestRequest {
        TestRequest {
            router: self.router.clone(),
            builder: Request::builder().method(method).uri(path),
            body: Body::empty(),
        }
    }

    /// A `GET` request.
    pub fn get(&self, path: &str) -> TestRequest {
        self.request(Method::GET, path)
    }

    /// A `POST` request.
    pub fn post(&self, path: &str) -> TestRequest {
        self.request(Method::POST, path)
    }

    /// A `PUT` request.
    pub fn put(&self, path: &str) -> TestRequest {
        self.request(Method::PUT, path)
    }

    /// A `PATCH` request.
    pub fn patch(&self, path: &str) -> TestRequest {
        self.request(Method::PATCH, path)
    }

    /// A `DELETE` request.
    pub fn delete(&self, path: &str) -> TestRequest {
        self.request(Method::DELETE, path)
    }
}

/// A request being built; `.send().await` (or just `.await`) runs it.
#[must_use = "a request does nothing until it is sent"]
pub struct TestRequest {
    router: Router,
    builder: http::request::Builder,
    body: Body,
}

impl TestRequest {
    /// Adds a header.
    pub fn header(mut self, name: impl TryInto<HeaderName>, value: impl TryInto<HeaderValue>) -> Self {
        let (Ok(name), Ok(value)) = (name.try_into(), value.try_into()) else {
            panic!("TestRequest::header: invalid header name or value");
        };
        self.builder = self.builder.header(name, value);
        self
    }

    /// A JSON body (and `content-type: application/json`).
    pub fn json<T: Serialize>(mut self, body: &T) -> Self {
        self.builder = self.builder.header(header::CONTENT_TYPE, "application/json");
        self.body = Body::from(serde_json::to_vec(body).expect("the test body serializes to JSON"));
        self
    }

    /// A raw body; set the content type with [`header`](Self::header).
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header(header::AUTHORIZATION, format!("Bearer {token}"))
    }

    /// Sends the request as if from a connection with `peer` (as a served app sees its
    /// clients): what [`ClientIp`](crate::middleware::ClientIp), `server.trusted_proxies` and
    /// the rate limiter read. Without it a request has no peer.
    pub fn peer(mut self, peer: std::net::SocketAddr) -> Self {
        self.builder = self.builder.extension(axum::extract::ConnectInfo(peer));
        self
    }

    /// Runs the request through the app.
    pub async fn send(self) -> TestResponse {
        let request = self.builder.body(self.body).expect("a valid test request");
        let response = self.router.oneshot(request).await.expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.expect("the response body can be read");
        TestResponse { status: parts.status, headers: parts.headers, body }
    }
}

impl IntoFuture for TestRequest {
    type Output = TestResponse;
    type IntoFuture = Pin<Box<dyn Future<Output = TestResponse> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A finished response, body read.
#[derive(Clone, Debug)]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// All headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it does not parse as `T`.
    #[track_caller]
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response body is not the expected JSON ({e}): {}", self.text()))
    }

    /// The body as a problem document; panics unless the response is `application/problem+json`.
    #[track_caller]
    pub fn problem(&self) -> Problem {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "expected a problem document, got status {} with body {}",
            self.status,
            self.text()
        );
        self.json()
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))))]
pub use database::TestDatabase;

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod database {
    use crate::db::Backend;

    /// A database for one test: SQLite in memory, or a fresh PostgreSQL/MySQL database that is
    /// dropped when this value is dropped, so tests can run in parallel without seeing each
    /// other's rows. Point the app at it with [`url`](TestDatabase::url):
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn demo() {
    /// use trestle::db::Postgres;
    /// use trestle::testing::{TestApp, TestDatabase};
    ///
    /// let Some(db) = TestDatabase::from_env::<Postgres>("TEST_POSTGRES_URL").await else { return };
    /// let app = trestle::App::new().database_with::<Postgres>().configure(|c| c.set("database.url", db.url()));
    /// let app = TestApp::new(app).await.unwrap();
    /// # let _ = app; }
    /// ```
    ///
    /// The app's migrations run when it starts, as in production.
    pub struct TestDatabase {
        url: String,
        drop: Option<DropFn>,
    }

    impl std::fmt::Debug for TestDatabase {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "TestDatabase({})", crate::config::DatabaseUrl::new(self.url.clone()))
        }
    }

    /// `Backend::drop_database` of the test database's backend.
    type DropFn = fn(&str) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + '_>>;

    fn unique_name() -> String {
        format!("trestle_test_{:016x}", fastrand::u64(..))
    }

    impl TestDatabase {
        /// A private in-memory SQLite database.
        #[cfg(feature = "sqlite")]
        #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
        pub fn sqlite() -> Self {
            // sqlx gives every `sqlite::memory:` options value its own shared-cache database.
            Self { url: "sqlite::memory:".to_owned(), drop: None }
        }

        /// A new, empty database on the server of `server_url` (its database name is replaced).
        pub async fn create<DB: Backend>(server_url: &str) -> Result<Self, crate::db::DbError> {
            let url = with_database_name(server_url, &unique_name());
            DB::create_database(&url).await.map_err(|e| crate::db::DbError::Unreachable {
                backend: <DB as sqlx::Database>::NAME,
                url: crate::config::DatabaseUrl::new(server_url).redacted(),
                attempts: 1,
                last_error: e.to_string(),
            })?;
            Ok(Self { url, drop: Some(DB::drop_database) })
        }

        /// A new database on the server named by the environment variable `var`, or `None`
        /// (after printing that the test is skipped) when the variable is unset.
        ///
        /// # Panics
        ///
        /// When the variable is set but the database cannot be created: a test server that is
        /// configured but down is a failure, not a skip.
        pub async fn from_env<DB: Backend>(var: &str) -> Option<Self> {
            let Ok(server_url) = std::env::var(var) else {
                eprintln!(
                    "SKIPPED: {var} is not set, so this {} test does not run (scripts/test sets it)",
                    <DB as sqlx::Database>::NAME
                );
                return None;
            };
            match Self::create::<DB>(&server_url).await {
                Ok(db) => Some(db),
                Err(e) => panic!("{var} is set but no test database could be created: {e}"),
            }
        }

        /// The database's URL, for `database.url`.
        pub fn url(&self) -> &str {
            &self.url
        }
    }

    impl Drop for TestDatabase {
        fn drop(&mut self) {
            let Some(drop) = self.drop else { return };
            let url = self.url.clone();
            // Drop needs async I/O and may run inside a runtime: use a thread with its own.
            let result = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread().enable_all().build().map(|rt| rt.block_on(drop(&url)))
            })
            .join();
            if !matches!(result, Ok(Ok(Ok(())))) {
                eprintln!("could not drop test database {}", crate::config::DatabaseUrl::new(self.url.clone()));
            }
        }
    }

    /// `server_url` with its database name (the path) replaced by `name`.
    pub(crate) fn with_database_name(server_url: &str, name: &str) -> String {
        let (scheme, rest) = server_url.split_once("://").unwrap_or(("", server_url));
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let query = tail.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
        format!("{scheme}://{authority}/{name}{query}")
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn database_name_is_replaced() {
            assert_eq!(super::with_database_name("postgres://u:p@h:5432/postgres", "t1"), "postgres://u:p@h:5432/t1");
            assert_eq!(super::with_database_name("mysql://root@h:3306", "t1"), "mysql://root@h:3306/t1");
            assert_eq!(
                super::with_database_name("postgres://h/db?sslmode=disable", "t1"),
                "postgres://h/t1?sslmode=disable"
            );
        }
    }
}
