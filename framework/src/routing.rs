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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    router: Router<S>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    /// No routes.
    pub fn new() -> Self {
        Self { routes: Vec::new(), router: Router::new() }
    }

    /// Adds a route (the builder form of `routes![…]`).
    pub fn add(mut self, info: RouteInfo, method_router: MethodRouter<S>) -> Self {
        self.routes.push((info, method_router));
        self
    }

    /// Adds the routes of `other`.
    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.routes.extend(other.routes);
        self.router = self.router.merge(other.router);
        self
    }

    /// Adds a hand-written axum router (its routes have no metadata).
    pub fn merge_router(mut self, router: Router<S>) -> Self {
        self.router = self.router.merge(router);
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
            router: self.router.with_state(state),
        }
    }

    /// The axum router; an error names both handlers when two macro routes claim the same
    /// method and path. `App` checks more at startup: these routes together with its health and
    /// metrics routes and every plain `Router`.
    pub fn into_router(self) -> Result<Router<S>, RouteConflict> {
        let claims: Vec<Claim<'_>> = self.routes.iter().map(|(info, _)| Claim::of(info)).collect();
        check_claims(&claims)?;
        Ok(self.assemble())
    }

    /// Every route in one router, unchecked.
    fn assemble(self) -> Router<S> {
        let mut router = self.router;
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
    /// Who routes it: a handler path, or `trestle::health`.
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
            if shape(a.path) != shape(b.path) {
                continue;
            }
            if a.path != b.path {
                // axum cannot hold `/a/{id}` and `/a/{slug}` at once, whatever the methods.
                return Err(RouteConflict::new("any method", b.path, a.handler, b.handler));
            }
            if let Some(method) = a.methods.iter().find(|m| b.methods.contains(m)) {
                return Err(RouteConflict::new(method, b.path, a.handler, b.handler));
            }
        }
    }
    Ok(())
}

/// The app's router from `routes`, and one router of the framework's `extra` routes (health,
/// metrics), after checking every route against every other: macro routes, the framework's, and the paths
/// of the plain `Router`s passed to `App::routes`. A conflict is a [`RouteConflict`], never an
/// axum panic.
///
/// axum cannot list a `Router`'s routes, so a plain router is asked instead: for each claimed
/// path it is sent a request through a route layer that answers before any handler runs and
/// reports the route template that matched. A plain router may not route a path that a macro
/// route or the framework also routes (whatever the methods: trestle cannot see which methods
/// a plain router's route takes). Plain routers among themselves are merged by axum's
/// `Router::merge` when they are added, as in any axum app.
pub(crate) async fn check<S: Clone + Send + Sync + 'static>(
    routes: Routes<S>,
    state: S,
    extra: Vec<(Claim<'_>, Router)>,
) -> Result<(Router, Router), RouteConflict> {
    let mut claims: Vec<Claim<'_>> = routes.routes.iter().map(|(info, _)| Claim::of(info)).collect();
    claims.extend(extra.iter().map(|(claim, _)| *claim));
    check_claims(&claims)?;
    if routes.router.has_routes() {
        let plain = routes.router.clone().with_state(state.clone());
        for claim in &claims {
            if let Some(template) = probe(&plain, claim.path).await {
                if shape(&template) == shape(claim.path) {
                    return Err(RouteConflict::new(
                        &claim.methods.join("/"),
                        claim.path,
                        claim.handler,
                        "a Router passed to App::routes",
                    ));
                }
            }
        }
    }
    let framework = extra.into_iter().fold(Router::new(), |all, (_, router)| all.merge(router));
    Ok((routes.assemble().with_state(state), framework))
}

/// The route template of `router` that `path` (a template, made concrete) reaches, if any. No
/// handler runs: a route layer answers first.
async fn probe(router: &Router, path: &str) -> Option<String> {
    use tower::ServiceExt;

    #[derive(Clone)]
    struct Matched(String);

    let concrete = path
        .split('/')
        .map(|segment| if segment.starts_with('{') { "x" } else { segment })
        .collect::<Vec<_>>()
        .join("/");
    let request = http::Request::get(&concrete).body(axum::body::Body::empty()).ok()?;
    let answer = axum::middleware::from_fn(|req: axum::extract::Request, _next: axum::middleware::Next| async move {
        let matched = req.extensions().get::<axum::extract::MatchedPath>().map(|m| m.as_str().to_owned());
        let mut response = axum::response::Response::new(axum::body::Body::empty());
        response.extensions_mut().insert(Matched(matched.unwrap_or_default()));
        response
    });
    let response = router.clone().route_layer(answer).oneshot(request).await.ok()?;
    response.extensions().get::<Matched>().map(|m| m.0.clone())
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
#[error("{method} {path} is routed twice, by {first} and by {second}: remove one of them or change its path (routes of the same shape must also use the same parameter names; health and metrics paths are set by server.health and telemetry.metrics.path)")]
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
    fn shapes_ignore_parameter_names() {
        assert_eq!(shape("/users/{id}"), shape("/users/{name}"));
        assert_ne!(shape("/users/{id}"), shape("/users/me"));
        assert_eq!(shape("/files/{*rest}"), "/files/{*}");
    }
}
