//! Drive an app in process, without a socket.
//!
//! ```
//! use trestle::prelude::*;
//! use trestle::testing::TestApp;
//!
//! async fn hello() -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "message": "hi" }))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let app = TestApp::new(App::new().routes(Router::new().route("/hello", get(hello)))).await.unwrap();
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
//! `App::config_set`.

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
use crate::App;

/// An app built for tests: requests go straight into its router.
#[derive(Clone, Debug)]
pub struct TestApp {
    router: Router,
}

impl TestApp {
    /// Builds `app` (config with the `test` profile, state, routes, default stack).
    pub async fn new<C: Config, S: Clone + Send + Sync + 'static>(app: App<C, S>) -> crate::Result<Self> {
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
