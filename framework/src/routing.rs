//! Routes from the `#[get]`/`#[post]`/… attribute macros: metadata, the `routes![…]` set, the
//! route table.
//!
//! ```
//! use trestle::prelude::*;
//!
//! /// Says hello.
//! #[get("/hello/{name}")]
//! async fn hello(Path(name): Path<String>) -> String {
//!     format!("Hello, {name}!")
//! }
//!
//! /// Only for admins.
//! #[post("/admin/reindex", scopes = ["admin"])]
//! async fn reindex() -> &'static str {
//!     "started"
//! }
//!
//! fn main() {
//!     let routes: trestle::routing::Routes<trestle::Context<trestle::config::NoConfig>> = routes![hello, reindex];
//!     let table = routes.table();
//!     assert_eq!(table[0].path, "/hello/{name}");
//!     assert_eq!(table[0].summary, "Says hello");
//!     assert_eq!(table[1].scopes, ["admin"]);
//! }
//! ```
//!
//! Annotated handlers are module-level items (the macro adds a sibling module that refers to
//! the handler through `super::`, which cannot reach into a function body).
//!
//! A route macro leaves the function as written (tests can call it) and adds a hidden module of
//! the same name holding its [`RouteInfo`] and handler; `routes![…]` collects them. The handler
//! is registered exactly as `axum::routing::on(method, handler)` would register it, so a macro
//! route costs what a hand-written one does.

use axum::routing::MethodRouter;
use axum::Router;

/// One route as the macro saw it.
#[derive(Clone, Copy, Debug)]
pub struct RouteInfo {
    /// HTTP methods, upper case.
    pub methods: &'static [&'static str],
    /// The path, in axum 0.8 syntax (`/users/{id}`).
    pub path: &'static str,
    /// The handler's full path (`my_app::articles::get_article`).
    pub handler: &'static str,
    /// Path parameters and the types they are extracted as.
    pub params: &'static [Param],
    /// The type the body is read as (`CreateArticle` for `Json<CreateArticle>`).
    pub body: Option<&'static str>,
    /// Whether the route needs a token.
    pub auth: AuthRequirement,
    /// Scopes the token must carry (checked before the handler runs).
    pub scopes: &'static [&'static str],
    /// The first sentence of the handler's doc comment.
    pub summary: &'static str,
    /// The rest of the doc comment, when there is more than the first sentence.
    pub description: &'static str,
    /// The OpenAPI tags (`tags = [...]` on the route; empty: the handler's module names it).
    pub tags: &'static [&'static str],
    /// Whether the handler is `#[deprecated]`.
    pub deprecated: bool,
    /// The route's own rate limit quota (`rate_limit = "5/1m"`, or `"off"`); `None`: the
    /// default of `[rate_limit]`.
    pub rate_limit: Option<&'static str>,
    /// The package the route is declared in (its `CARGO_PKG_NAME`): the document's default title.
    pub package: &'static str,
    /// That package's version: the document's default version.
    pub version: &'static str,
    /// Describes the route's operation for the OpenAPI document; `None` with `openapi = false`.
    pub openapi: Option<fn(&mut crate::openapi::Operation<'_>)>,
}

/// A path parameter and its Rust type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// The name in the path (`id` in `/users/{id}`).
    pub name: &'static str,
    /// The type it is extracted as.
    pub ty: &'static str,
}

/// What a route asks of the caller's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthRequirement {
    /// No `Auth` extractor.
    None,
    /// `Option<Auth>`: anonymous callers are served.
    Optional,
    /// `Auth`, or declared scopes: 401 without a valid token.
    Required,
}

impl std::fmt::Display for AuthRequirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthRequirement::None => "public",
            AuthRequirement::Optional => "optional",
            AuthRequirement::Required => "required",
        })
    }
}

/// Macro glue, reached through `trestle::__private`.
pub(crate) mod glue {
    use axum::handler::Handler;
    use axum::routing::{MethodFilter, MethodRouter};

    /// The `MethodRouter` for `handler` on `methods` (what `routes![…]` calls; macro glue, reached
    /// through `__private`).
    ///
    /// # Panics
    ///
    /// On a method the route macros reject at compile time.
    pub fn method_router<H, T, S>(methods: &[&str], handler: H) -> MethodRouter<S>
    where
        H: Handler<T, S>,
        T: 'static,
        S: Clone + Send + Sync + 'static,
    {
        let filter = methods
            .iter()
            .map(|m| match *m {
                "GET" => MethodFilter::GET,
                "POST" => MethodFilter::POST,
                "PUT" => MethodFilter::PUT,
                "PATCH" => MethodFilter::PATCH,
                "DELETE" => MethodFilter::DELETE,
                "HEAD" => MethodFilter::HEAD,
                "OPTIONS" => MethodFilter::OPTIONS,
                "TRACE" => MethodFilter::TRACE,
                "CONNECT" => MethodFilter::CONNECT,
                other => panic!("unknown HTTP method {other}"),
            })
            .reduce(MethodFilter::or)
            .expect("a route has at least one method");
        axum::routing::on(filter, handler)
    }
}

/// A set of routes with their metadata; `routes![…]` builds one, `App::routes` takes it (or a
/// plain `axum::Router`).
pub struct Routes<S = ()> {
    routes: Vec<(RouteInfo, MethodRouter<S>)>,
    /// Plain axum routers, kept apart until the startup check has compared them.
    routers: Vec<Router<S>>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    /// No routes.
    pub fn new() -> Self {
        Self { routes: Vec::new(), routers: Vec::new() }
    }

    /// Adds a route (the builder form of `routes![…]`).
    pub fn add(mut self, info: RouteInfo, method_router: MethodRouter<S>) -> Self {
        self.routes.push((info, method_router));
        self
    }

    /// Adds the routes of `other`.
    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.routes.extend(other.routes);
        self.routers.extend(other.routers);
        self
    }

    /// Adds a hand-written axum router (its routes have no metadata).
    pub fn merge_router(mut self, router: Router<S>) -> Self {
        if router.has_routes() || !plain::has_default_fallback(&router) {
            self.routers.push(router);
        }
        self
    }

    /// The metadata of every macro route, in the order added.
    pub fn table(&self) -> Vec<RouteInfo> {
        self.routes.iter().map(|(info, _)| *info).collect()
    }

    /// Provides the state, giving routes for an app whose state is `S2` (for routes added before
    /// `App::state`).
    pub fn with_state<S2: Clone + Send + Sync + 'static>(self, state: S) -> Routes<S2> {
        Routes {
            routes: self.routes.into_iter().map(|(info, mr)| (info, mr.with_state(state.clone()))).collect(),
            routers: self.routers.into_iter().map(|router| router.with_state(state.clone())).collect(),
        }
    }

    /// The axum router; an error names both handlers when two macro routes claim the same
    /// method and path. Plain routers are merged by axum here (which panics on an overlap);
    /// `App` checks them too at startup, where it has the state to ask them.
    pub fn into_router(self) -> Result<Router<S>, RouteConflict> {
        let claims: Vec<Claim<'_>> = self.routes.iter().map(|(info, _)| Claim::of(info)).collect();
        check_claims(&claims)?;
        Ok(self.assemble())
    }

    /// Every route in one router, unchecked.
    fn assemble(self) -> Router<S> {
        let mut router = self.routers.into_iter().fold(Router::new(), Router::merge);
        for (info, method_router) in self.routes {
            router = router.route(info.path, method_router);
        }
        router
    }
}

/// A route someone claims: the macro routes, and the framework's own (health, metrics).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Claim<'a> {
    /// Methods, upper case.
    pub(crate) methods: &'a [&'a str],
    /// The path template.
    pub(crate) path: &'a str,
    /// Who routes it: a handler path, or the framework's feature and the key that moves it.
    pub(crate) handler: &'a str,
}

impl<'a> Claim<'a> {
    /// The claim of a macro (or framework) route.
    pub(crate) fn of(info: &'a RouteInfo) -> Self {
        Claim { methods: info.methods, path: info.path, handler: info.handler }
    }
}

/// The first pair of claims axum could not hold together: the same method on the same path, or
/// the same path shape with other parameter names.
fn check_claims(claims: &[Claim<'_>]) -> Result<(), RouteConflict> {
    for (i, a) in claims.iter().enumerate() {
        for b in &claims[i + 1..] {
            if let Some(method) = clash(a.path, a.methods, b.path, b.methods) {
                return Err(RouteConflict::new(method, b.path, a.handler, b.handler));
            }
        }
    }
    Ok(())
}

/// Why axum cannot hold routes `a` and `b` together, if it cannot: `any method` when their
/// paths have one shape but other parameter names, or the first method both take.
fn clash<'m>(a: &str, a_methods: &[&'m str], b: &str, b_methods: &[&str]) -> Option<&'m str> {
    if shape(a) != shape(b) {
        return None;
    }
    if a != b {
        return Some("any method");
    }
    a_methods.iter().find(|m| b_methods.contains(m)).copied()
}

/// The app's router from `routes`, and one router of the framework's `extra` routes (health,
/// metrics), after checking every route against every other: macro routes, the framework's, and
/// the routes of each plain `Router` passed to `App::routes`. A conflict is a
/// [`RouteConflict`], never an axum panic.
///
/// axum cannot list a `Router`'s routes, so the plain routers are asked instead (see
/// [`plain`]): what route a path reaches, and which methods that route takes, without running
/// any handler, middleware or fallback of the app.
pub(crate) fn check<S: Clone + Send + Sync + 'static>(
    routes: Routes<S>,
    state: S,
    extra: Vec<(Claim<'_>, Router)>,
) -> Result<(Router, Router), RouteConflict> {
    let mut claims: Vec<Claim<'_>> = routes.routes.iter().map(|(info, _)| Claim::of(info)).collect();
    claims.extend(extra.iter().map(|(claim, _)| *claim));
    check_claims(&claims)?;

    let plain: Vec<plain::Plain> =
        routes.routers.iter().map(|router| plain::Plain::new(router.clone().with_state(state.clone()))).collect();
    let fallbacks = plain.iter().filter(|p| p.has_fallback).count();
    if fallbacks > 1 {
        return Err(RouteConflict::new(
            "every method",
            "(the fallback)",
            "a Router passed to App::routes",
            "another Router passed to App::routes (only one may set a fallback)",
        ));
    }
    for (i, router) in plain.iter().enumerate() {
        for claim in &claims {
            if let Some(found) = router.ask(claim.path) {
                if let Some(method) = clash(claim.path, claim.methods, &found.template, &found.methods()) {
                    return Err(RouteConflict::new(method, claim.path, claim.handler, &router.name(i)));
                }
            }
        }
        for (j, other) in plain.iter().enumerate().skip(i + 1) {
            for path in &router.paths {
                let (Some(mine), Some(theirs)) = (router.ask(path), other.ask(path)) else { continue };
                if let Some(method) = clash(&mine.template, &mine.methods(), &theirs.template, &theirs.methods()) {
                    return Err(RouteConflict::new(method, &theirs.template, &router.name(i), &other.name(j)));
                }
            }
        }
    }
    let framework = extra.into_iter().fold(Router::new(), |all, (_, router)| all.merge(router));
    Ok((routes.assemble().with_state(state), framework))
}

/// Asking a plain axum `Router` about its routes without running any of the app's code.
mod plain {
    use axum::body::Body;
    use axum::extract::{MatchedPath, Request};
    use axum::middleware::Next;
    use axum::response::Response;
    use axum::Router;
    use futures_util::FutureExt;
    use http::{header, Method, StatusCode};
    use tower::ServiceExt;

    /// Every method a route can take, for a route that takes them all (`any`, a service).
    const ALL: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

    /// A plain router, ready to be asked.
    pub(super) struct Plain {
        /// The router behind a layer that answers every request itself (see [`answer`]).
        asked: Router,
        /// Its route paths, as its `Debug` output names them.
        pub(super) paths: Vec<String>,
        /// Whether it sets a fallback of its own.
        pub(super) has_fallback: bool,
    }

    /// The route a path reached.
    pub(super) struct Found {
        /// Its template.
        pub(super) template: String,
        /// The methods it takes (from the `Allow` header axum adds), or none for every method.
        allow: Option<Vec<String>>,
    }

    impl Found {
        /// The methods the route takes.
        pub(super) fn methods(&self) -> Vec<&str> {
            match &self.allow {
                Some(methods) => methods.iter().map(String::as_str).collect(),
                None => ALL.to_vec(),
            }
        }
    }

    impl Plain {
        pub(super) fn new(router: Router) -> Self {
            let listing = format!("{router:?}");
            Self {
                paths: paths(&listing),
                has_fallback: listing.contains("default_fallback: false"),
                asked: router.layer(axum::middleware::from_fn(answer)),
            }
        }

        /// How the `i`-th plain router is named in a conflict.
        pub(super) fn name(&self, i: usize) -> String {
            format!("the Router passed to App::routes (number {} of the plain routers)", i + 1)
        }

        /// The route `template` (made concrete) reaches, if any.
        ///
        /// The request's method is one no route takes, so axum's method router hands it to its
        /// fallback, and adds the `Allow` header listing the methods the route does take. The
        /// layer answers in place of every endpoint and fallback, so nothing of the app runs.
        pub(super) fn ask(&self, template: &str) -> Option<Found> {
            let path = concrete(template);
            let request = Request::builder()
                .method(Method::from_bytes(b"TRESTLE-ROUTE-CHECK").expect("a valid extension method"))
                .uri(path)
                .body(Body::empty())
                .ok()?;
            // The layer answers at once: the future is ready on its first poll.
            let response = self.asked.clone().oneshot(request).now_or_never()?.ok()?;
            let Matched(template) = response.extensions().get::<Matched>()?.clone();
            let allow = response
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(',').map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()).collect::<Vec<_>>());
            Some(Found { template: template?, allow: allow.filter(|methods| !methods.is_empty()) })
        }
    }

    /// The route template the request matched, if it matched one.
    #[derive(Clone)]
    struct Matched(Option<String>);

    /// Answers every request in place of the router's endpoints and fallbacks: 405 (so axum adds
    /// `Allow`), naming the matched template.
    async fn answer(request: Request, _next: Next) -> Response {
        let matched = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response.extensions_mut().insert(Matched(matched));
        response
    }

    /// `template` with every parameter replaced by a segment no static route uses.
    fn concrete(template: &str) -> String {
        template
            .split('/')
            .map(|segment| if segment.starts_with('{') { "trestle-route-check" } else { segment })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The route paths a router's `Debug` output lists (`paths: {RouteId(0): "/a", …}`).
    ///
    /// axum has no API that lists a router's routes; its `Debug` output names them. Every path
    /// read here is confirmed by [`Plain::ask`] before it counts, and
    /// `plain_router_paths_are_read` fails if an axum upgrade changes the format.
    pub(super) fn paths(listing: &str) -> Vec<String> {
        let Some(start) = listing.find("paths: {") else { return Vec::new() };
        let mut out = Vec::new();
        let mut rest = &listing[start + "paths: {".len()..];
        while let Some(quote) = rest.find('"') {
            if rest[..quote].contains('}') {
                break;
            }
            let text = &rest[quote + 1..];
            let Some(end) = text.find('"') else { break };
            out.push(text[..end].to_owned());
            rest = &text[end + 1..];
        }
        out
    }

    /// Whether `router` has no fallback of its own.
    pub(super) fn has_default_fallback<S>(router: &Router<S>) -> bool {
        !format!("{router:?}").contains("default_fallback: false")
    }
}

impl<S: Clone + Send + Sync + 'static> From<Router<S>> for Routes<S> {
    fn from(router: Router<S>) -> Self {
        Routes::new().merge_router(router)
    }
}

/// The path with parameter names erased: `/users/{id}` and `/users/{name}` collide in axum.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if s.starts_with("{*") {
                "{*}"
            } else if s.starts_with('{') {
                "{}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Two routes for the same method and path: a startup error naming both.
#[derive(Debug, thiserror::Error)]
#[error("{method} {path} is routed twice, by {first} and by {second}: remove one of them or change its path (routes of the same shape must also use the same parameter names; the health routes are turned off by server.health = false, the metrics route moved by telemetry.metrics.path)")]
pub struct RouteConflict {
    /// The method both routes take (`any method` when the paths differ only in parameter names).
    pub method: String,
    /// The path.
    pub path: String,
    /// The route added first.
    pub first: String,
    /// The route added second.
    pub second: String,
}

impl RouteConflict {
    fn new(method: &str, path: &str, first: &str, second: &str) -> Self {
        Self { method: method.to_owned(), path: path.to_owned(), first: first.to_owned(), second: second.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_router_paths_are_read() {
        async fn h() {}
        let router: Router = Router::new()
            .route("/a/{id}", axum::routing::get(h).post(h))
            .route("/b", axum::routing::any(h))
            .nest("/c", Router::new().route("/d", axum::routing::get(h)));
        let mut paths = plain::paths(&format!("{router:?}"));
        paths.sort();
        assert_eq!(paths, ["/a/{id}", "/b", "/c/d"], "axum's Debug output changed: update routing::plain::paths");
        let asked = plain::Plain::new(router);
        let found = asked.ask("/a/{name}").expect("the route is found");
        assert_eq!((found.template.as_str(), found.methods()), ("/a/{id}", vec!["GET", "HEAD", "POST"]));
        assert_eq!(asked.ask("/b").unwrap().methods().len(), 9, "any() takes every method");
        assert!(asked.ask("/nowhere").is_none());
        assert!(!asked.has_fallback);
        assert!(plain::Plain::new(Router::new().fallback(h)).has_fallback);
    }

    #[test]
    fn shapes_ignore_parameter_names() {
        assert_eq!(shape("/users/{id}"), shape("/users/{name}"));
        assert_ne!(shape("/users/{id}"), shape("/users/me"));
        assert_eq!(shape("/files/{*rest}"), "/files/{*}");
    }
}
