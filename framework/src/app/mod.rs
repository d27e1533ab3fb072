//! The `App` builder and the [`Context`] its state is built from.
//!
//! Startup runs in phases, each a function with one job (see `startup.rs`): load config →
//! telemetry → resources (pool, keys, metrics registry) → state → routes → stack → serve.
//! [`App::run`] runs them all; [`App::load_config`] and [`App::prepare`] stop early, for
//! commands that check config or migrate without serving.

pub mod cli;
mod error;
mod serve;
mod startup;

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use axum::Router;

pub use error::StartupError;
pub use startup::Prepared;

use crate::config::{Config, Loaded, Loader, NoConfig, ServerConfig};
use crate::error::{ProblemJson, Renderer};
use crate::health::Health;

/// What the state constructor gets: the loaded config and the framework's resources (the
/// database pool, the JWT keys, the metrics registry). It is also usable as the app's state
/// itself: `.state(|ctx| ctx.clone())` makes `Db`, `Auth` and `State<Context<C>>` extractable.
/// Cloning it (axum clones the state for every request) is one reference-count increment.
#[derive(Debug)]
pub struct Context<C> {
    inner: Arc<Shared<C>>,
}

#[derive(Debug)]
struct Shared<C> {
    config: Arc<C>,
    server: ServerConfig,
    profile: String,
    resources: startup::Resources,
}

impl<C> Clone for Context<C> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))))]
impl<C> Context<C> {
    /// The database pool of `App::database()`.
    ///
    /// # Panics
    ///
    /// When the app did not call `App::database()`: that is a mistake in the app's set-up, seen
    /// on its first start.
    pub fn db(&self) -> crate::db::Db {
        self.try_db()
            .unwrap_or_else(|| panic!("Context::db() needs a database: call App::database() before building the state"))
    }

    /// The pool of backend `DB` (`App::database_with::<DB>()`), for an app pinned to one
    /// backend whatever features the workspace turns on: `ctx.db_of::<Sqlite>()`.
    ///
    /// # Panics
    ///
    /// When the app connected no `DB` pool: a mistake in the app's set-up, seen on its first
    /// start.
    pub fn db_of<DB: crate::db::Backend>(&self) -> crate::db::Db<DB> {
        self.try_db::<DB>().unwrap_or_else(|| {
            panic!(
                "Context::db_of::<{0}>() needs a {0} database: call App::database_with::<{0}>() before building the state",
                <DB as sqlx::Database>::NAME
            )
        })
    }

    /// The pool of backend `DB`, if the app connected one.
    pub fn try_db<DB: crate::db::Backend>(&self) -> Option<crate::db::Db<DB>> {
        self.inner.resources.db.as_ref().and_then(|handle| handle.db::<DB>())
    }
}

impl<C> Context<C> {
    /// The token issuer and verifier of `App::auth()`.
    ///
    /// # Panics
    ///
    /// When the app did not call `App::auth()`.
    pub fn jwt(&self) -> crate::auth::Jwt {
        self.try_jwt().cloned().unwrap_or_else(|| panic!("Context::jwt() needs App::auth() before building the state"))
    }

    /// The token issuer and verifier, if the app called `App::auth()`.
    pub fn try_jwt(&self) -> Option<&crate::auth::Jwt> {
        self.inner.resources.jwt.as_ref()
    }

    /// The app's config struct, shared (put the `Arc` in your state).
    pub fn config(&self) -> &Arc<C> {
        &self.inner.config
    }

    /// `[server]`.
    pub fn server(&self) -> &ServerConfig {
        &self.inner.server
    }

    /// The profile (`development`, `test`, `production`, …).
    pub fn profile(&self) -> &str {
        &self.inner.profile
    }

    /// The app's metric registry (feature `metrics`): register the app's own metrics here, and
    /// they are served beside the framework's. See [`crate::metrics`].
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.resources.metrics
    }
}

// The framework's resources are extractable from a `Context` state. They live here, not in
// `auth` and `db`, so those modules do not import `app`.
impl<C> axum::extract::FromRef<Context<C>> for crate::auth::Jwt {
    fn from_ref(ctx: &Context<C>) -> Self {
        ctx.try_jwt()
            .cloned()
            .unwrap_or_else(|| panic!("a handler takes Auth, but the app has no JWT keys: call App::auth()"))
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
impl<C, DB: crate::db::Backend> axum::extract::FromRef<Context<C>> for crate::db::Db<DB> {
    fn from_ref(ctx: &Context<C>) -> Self {
        ctx.try_db::<DB>().unwrap_or_else(|| {
            panic!(
                "a handler takes Db<{}>, but the app has no such database: call App::database() (or database_with)",
                <DB as sqlx::Database>::NAME
            )
        })
    }
}

/// The state a route macro checks a handler's extractors against when the handler names none
/// (no `State<T>` argument, no `state = T`): every extractor trestle ships accepts it. Never
/// built; macro glue, reached through `__private`.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum UnnamedState {}

impl axum::extract::FromRef<UnnamedState> for crate::auth::Jwt {
    fn from_ref(state: &UnnamedState) -> Self {
        match *state {}
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
impl<DB: crate::db::Backend> axum::extract::FromRef<UnnamedState> for crate::db::Db<DB> {
    fn from_ref(state: &UnnamedState) -> Self {
        match *state {}
    }
}

/// Builds the app's state from the context (phase 4).
type StateFn<C, S> =
    Box<dyn FnOnce(Context<C>) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<S>> + Send>> + Send>;

/// The state of an app that has none.
fn no_state<C>() -> StateFn<C, ()> {
    Box::new(|_| Box::pin(async { Ok(()) }))
}
/// Wraps the app's routes in one of its own layers (phase 5).
type LayerFn = Box<dyn FnOnce(Router) -> Router + Send>;

/// Builds and runs an app. See the [crate docs](crate) for the whole picture.
///
/// Call the steps in this order: [`config`](App::config), then [`state`](App::state), then
/// [`routes`](App::routes) and [`layer`](App::layer) (and, anywhere, [`configure`](App::configure)
/// to point the config loader elsewhere), then [`run`](App::run) (or
/// [`into_router`](App::into_router) to serve it yourself). [`load_config`](App::load_config) and
/// [`prepare`](App::prepare) run only the first phases of startup, for commands that check config
/// or migrate without serving.
///
/// ```
/// use trestle::prelude::*;
///
/// /// Says hello.
/// #[get("/")]
/// async fn hello() -> &'static str { "hello" }
///
/// # async fn demo() -> Result<(), StartupError> {
/// let router = App::new()
///     .routes(routes![hello])
///     .into_router()
///     .await?;
/// # let _ = router; Ok(()) }
/// # fn main() {}
/// ```
#[must_use = "an App does nothing until `.run().await` or `.into_router().await`"]
pub struct App<C = NoConfig, S = ()> {
    setup: Setup,
    state: StateFn<C, S>,
    routes: crate::routing::Routes<S>,
    commands: Option<cli::AppCommands<C>>,
    _config: PhantomData<fn() -> C>,
}

/// Everything in an `App` that does not depend on its config or state type.
struct Setup {
    loader: Loader,
    layers: Vec<LayerFn>,
    renderer: Arc<dyn Renderer>,
    default_renderer: bool,
    /// How problems look in the OpenAPI document (`App::problem_schema`).
    problem_schema: Option<crate::openapi::ProblemSchema>,
    request_id: Option<Arc<dyn crate::middleware::MakeRequestId>>,
    rate_limit_key: Option<crate::rate_limit::KeyFn>,
    health: Health,
    resources: WantedResources,
}

impl Setup {
    /// How problems look in the OpenAPI document: as `App::problem_schema` said; RFC 9457's
    /// format under the default renderer; any JSON under a renderer of the app's own.
    fn problem_schema(&self) -> crate::openapi::ProblemSchema {
        match self.problem_schema {
            Some(schema) => schema,
            None if self.default_renderer => crate::openapi::ProblemSchema::default(),
            None => crate::openapi::ProblemSchema {
                content_type: "application/json",
                schema: |_| schemars::Schema::default(),
            },
        }
    }
}

/// The resources the app asked for, opened in phase 3.
#[derive(Default)]
struct WantedResources {
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    database: Option<(crate::db::Connector, Option<crate::db::Migrations>)>,
    auth: bool,
}

impl App {
    /// A new app: no app config of its own, no state, no routes.
    pub fn new() -> Self {
        App {
            setup: Setup {
                loader: Loader::new(),
                layers: Vec::new(),
                renderer: Arc::new(ProblemJson),
                default_renderer: true,
                problem_schema: None,
                request_id: None,
                rate_limit_key: None,
                health: Health::default(),
                resources: WantedResources::default(),
            },
            state: no_state(),
            routes: crate::routing::Routes::new(),
            commands: None,
            _config: PhantomData,
        }
    }

    /// Reads the app's own config struct `C` (top-level keys, beside `[server]` and
    /// `[telemetry]`) from the same sources as the framework's sections.
    ///
    /// # Panics
    ///
    /// After [`commands`](App::commands): the app's commands get the config type's context, so
    /// call `config` first.
    pub fn config<C: Config>(self) -> App<C, ()> {
        assert!(
            self.commands.is_none(),
            "App::commands was called before App::config: call config::<YourConfig>() first, so the commands get its context"
        );
        App { setup: self.setup, state: no_state(), routes: self.routes, commands: None, _config: PhantomData }
    }
}

impl Default for App {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Config> App<C, ()> {
    /// Builds the app's state once config is loaded; handlers take it with `State<S>` (or parts
    /// of it through `FromRef`). Routes added before this keep working.
    pub fn state<S, F>(self, build: F) -> App<C, S>
    where
        S: Clone + Send + Sync + 'static,
        F: FnOnce(&Context<C>) -> S + Send + 'static,
    {
        self.state_async(move |ctx| {
            let state = build(&ctx);
            async move { Ok(state) }
        })
    }

    /// Builds the app's state with async work first — a client connected, a cache warmed, a
    /// file read — that may fail. An error stops startup as [`StartupError::State`], its
    /// message and cause chain shown.
    ///
    /// ```
    /// use trestle::prelude::*;
    ///
    /// #[derive(Clone, FromRef)]
    /// struct AppState {
    ///     ctx: Context<trestle::config::NoConfig>,
    ///     banner: Arc<String>,
    /// }
    ///
    /// # async fn demo() -> Result<(), StartupError> {
    /// let app = App::new().state_async(|ctx| async move {
    ///     let banner = String::from("welcome"); // e.g. read from a service at startup
    ///     Ok(AppState { ctx, banner: Arc::new(banner) })
    /// });
    /// # let _ = app.into_router().await?; Ok(()) }
    /// # fn main() {}
    /// ```
    pub fn state_async<S, F, Fut>(self, build: F) -> App<C, S>
    where
        S: Clone + Send + Sync + 'static,
        F: FnOnce(Context<C>) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<S>> + Send + 'static,
    {
        App {
            setup: self.setup,
            state: Box::new(move |ctx| Box::pin(build(ctx))),
            routes: self.routes.with_state(()),
            commands: self.commands,
            _config: PhantomData,
        }
    }
}

impl<C: Config, S: Clone + Send + Sync + 'static> App<C, S> {
    /// Adds routes: `routes![…]` of macro-annotated handlers, or any `axum::Router<S>`; merged
    /// with those added before. One path may get its methods from several places. Two routes
    /// for the same method and path, or for paths of one shape with other parameter names —
    /// between macro routes, plain routers, and the health and metrics routes — stop the app at
    /// startup with a [`StartupError::Routes`] naming both, never an axum panic.
    pub fn routes(mut self, routes: impl Into<crate::routing::Routes<S>>) -> Self {
        self.routes = self.routes.merge(routes.into());
        self
    }

    /// Every route the macros described (method, path, auth, summary, …), plus the two health
    /// routes (served unless `server.health = false`): for listings, the CLI and OpenAPI.
    pub fn route_table(&self) -> Vec<crate::routing::RouteInfo> {
        let mut table = self.routes.table();
        table.extend(crate::health::ROUTES);
        table
    }

    /// Adds a tower layer around every route, inside the default stack (so it sees the request
    /// id and runs within the request span).
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: tower::Service<axum::extract::Request> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Response: axum::response::IntoResponse + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Error: Into<std::convert::Infallible> + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
    {
        self.setup.layers.push(Box::new(move |router: Router| router.layer(layer)));
        self
    }

    /// Replaces the problem renderer: one place to change how every error looks. Say how its
    /// bodies look with [`problem_schema`](App::problem_schema), so the OpenAPI document
    /// describes them.
    pub fn renderer(mut self, renderer: impl Renderer) -> Self {
        self.setup.renderer = Arc::new(renderer);
        self.setup.default_renderer = false;
        self
    }

    /// The body every error response has under [`renderer`](App::renderer), for the OpenAPI
    /// document: `T`'s schema, sent as `content_type`. Without it, an app with its own renderer
    /// documents its errors as `application/json` of any shape.
    ///
    /// ```
    /// use trestle::prelude::*;
    ///
    /// /// `{"errors": {"body": ["can't be empty"]}}`
    /// #[derive(Serialize, JsonSchema)]
    /// struct Errors { errors: std::collections::BTreeMap<String, Vec<String>> }
    ///
    /// fn render(problem: &trestle::error::Problem) -> trestle::axum::response::Response {
    ///     let errors = [("body".to_owned(), vec![problem.title.clone()])].into();
    ///     (problem.status(), Json(Errors { errors })).into_response()
    /// }
    ///
    /// let app = App::new().renderer(render).problem_schema::<Errors>("application/json");
    /// # let _ = app;
    /// ```
    pub fn problem_schema<T: crate::openapi::JsonSchema>(mut self, content_type: &'static str) -> Self {
        self.setup.problem_schema =
            Some(crate::openapi::ProblemSchema { content_type, schema: |g| g.subschema_for::<T>() });
        self
    }

    /// The OpenAPI 3.1 document of the app's routes, as `openapi.path` serves it (see
    /// [`openapi`](crate::openapi)): for tests, and for tools that generate clients. Loads the
    /// config (for `[openapi]`, `[pagination]`, `[rate_limit]` and `[auth.jwt]`); opens nothing.
    pub fn openapi(&self) -> Result<serde_json::Value, StartupError> {
        let config = self.load_config()?;
        Ok(crate::openapi::build(&startup::document_source(&self.routes.table(), &config, self.setup.problem_schema())))
    }

    /// Replaces how new request ids are made (by default
    /// [`RandomRequestId`](crate::middleware::RandomRequestId), 128 random bits as hex); a
    /// well-formed id the client sends in `server.request_id_header` is still kept. See
    /// [`MakeRequestId`](crate::middleware::MakeRequestId) for an example.
    pub fn request_id(mut self, make: impl crate::middleware::MakeRequestId) -> Self {
        self.setup.request_id = Some(Arc::new(make));
        self
    }

    /// Tells the rate limiter who a request comes from, with `rate_limit.key = "app"`: an API
    /// key, a tenant, an account. `None` counts the request by its client address. See
    /// [`rate_limit`](crate::rate_limit).
    ///
    /// Return only keys you have checked: whatever a client may write freely (an unverified
    /// header) gives it a fresh quota with every new value. Map known credentials to their
    /// owner, and anything else to `None`:
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::sync::Arc;
    ///
    /// use trestle::App;
    ///
    /// // API key → the account it belongs to (loaded at startup in a real app).
    /// let accounts: Arc<HashMap<String, String>> = Arc::new(HashMap::from([("k-123".into(), "acme".into())]));
    /// let app = App::new().rate_limit_key(move |request| {
    ///     let key = request.headers().get("x-api-key")?.to_str().ok()?;
    ///     accounts.get(key).cloned()
    /// });
    /// # drop(app);
    /// ```
    ///
    /// The function runs for every limited request, before the handler: keep it to lookups in
    /// memory. A panic in it counts the request by its address (and is logged).
    pub fn rate_limit_key<F>(mut self, key: F) -> Self
    where
        F: Fn(&axum::extract::Request) -> Option<String> + Send + Sync + 'static,
    {
        self.setup.rate_limit_key = Some(Arc::new(key));
        self
    }

    /// Registers a readiness check for `/health/ready`.
    ///
    /// `GET /health/live` answers 200 while the process serves. `GET /health/ready` runs every
    /// check (concurrently, each bounded by `server.readiness_timeout`) and answers 200 when all
    /// pass, or 503 with a problem naming the failing ones (their reasons go to the log); during
    /// shutdown it answers 503 at once, so load balancers stop sending traffic before the server
    /// stops accepting it. `App::database()` adds a `database` check. `server.health = false`
    /// turns both routes off.
    ///
    /// ```
    /// # async fn demo() {
    /// let app = trestle::App::new().readiness_check("cache", || async {
    ///     // Ping the cache here.
    ///     Ok::<(), std::io::Error>(())
    /// });
    /// # let _ = app; }
    /// ```
    pub fn readiness_check<F, Fut, E>(mut self, name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        self.setup.health.add_check(name, check);
        self
    }

    /// Connects the database of `[database]` at startup (the default backend: see
    /// [`db`](crate::db)), applies the migrations given to [`migrations`](App::migrations), and
    /// adds a `database` readiness check. The pool reaches handlers as [`Db`](crate::Db).
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))))]
    pub fn database(self) -> Self {
        self.database_with::<crate::db::DefaultBackend>()
    }

    /// Like [`database`](App::database), for the backend `DB` (`trestle::db::Sqlite`, …).
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))))]
    pub fn database_with<DB: crate::db::Backend>(mut self) -> Self {
        let migrations = self.setup.resources.database.take().and_then(|(_, m)| m);
        self.setup.resources.database = Some((crate::db::connector::<DB>(), migrations));
        self
    }

    /// The migrations to apply at startup when `database.migrate` is on: `trestle::migrate!()`.
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))))]
    pub fn migrations(mut self, migrations: crate::db::Migrations) -> Self {
        let connector = self
            .setup
            .resources
            .database
            .take()
            .map_or(crate::db::connector::<crate::db::DefaultBackend>(), |(c, _)| c);
        self.setup.resources.database = Some((connector, Some(migrations)));
        self
    }

    /// Loads the JWT keys of `[auth.jwt]` at startup (a short secret or a bad key file stops the
    /// app there) and makes [`Jwt`](crate::auth::Jwt) and [`Auth`](crate::auth::Auth) available.
    pub fn auth(mut self) -> Self {
        self.setup.resources.auth = true;
        self
    }

    /// Adjusts how config is loaded: the one way to point the app at another config folder,
    /// profile, environment or `.env`, or to set keys in code.
    ///
    /// ```
    /// # async fn demo() -> Result<(), trestle::StartupError> {
    /// let router = trestle::App::new()
    ///     .configure(|loader| loader.profile("staging").set("server.port", "0"))
    ///     .into_router()
    ///     .await?;
    /// # let _ = router; Ok(()) }
    /// ```
    pub fn configure(mut self, adjust: impl FnOnce(Loader) -> Loader) -> Self {
        let loader = std::mem::take(&mut self.setup.loader);
        self.setup.loader = adjust(loader);
        self
    }

    /// Phase 1 of startup: loads and validates config (files, `.env`, environment, code) as
    /// [`configure`](App::configure) set it up, without starting anything. For commands that
    /// check or print config.
    pub fn load_config(&self) -> Result<Loaded<C>, StartupError> {
        startup::load_config(&self.setup.loader)
    }

    /// Phases 3 and 4 of startup, once config is loaded (and telemetry is up, if wanted): opens
    /// the resources (connects the database and applies migrations, loads the JWT keys, creates
    /// the metrics registry) and builds the state. Nothing is served: a command that only
    /// migrates stops here.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), trestle::StartupError> {
    /// let app = trestle::App::new().database();
    /// let config = app.load_config()?;
    /// let prepared = app.prepare(config).await?; // connected and migrated
    /// prepared.close().await;
    /// # Ok(()) }
    /// ```
    pub async fn prepare(self, config: Loaded<C>) -> Result<Prepared<C, S>, StartupError> {
        startup::prepare(self, config).await
    }

    /// Loads config, builds the state and returns the finished router with the default stack:
    /// for tests and for serving it yourself. Telemetry is not set up here (call
    /// [`telemetry::init`](crate::telemetry::init) first to export spans), and metrics set to a
    /// port of their own (`telemetry.metrics.port`) are served only by [`run`](App::run).
    pub async fn into_router(self) -> Result<Router, StartupError> {
        let config = self.load_config()?;
        self.prepare(config).await?.into_router().await
    }

    /// Adds the app's own commands to its command line: a `#[derive(clap::Subcommand)]` enum
    /// and the function that runs the one chosen, with the [`Context`] (config loaded, database
    /// connected and migrated, keys loaded, as for serving). `--help` lists them beside
    /// trestle's; an error the function returns (any `Display`: `trestle::Error`,
    /// `anyhow::Error`, …) is printed with its causes and the process exits 1. Call it after
    /// [`config`](App::config).
    ///
    /// ```no_run
    /// use trestle::clap; // clap's derive names `clap::…`: trestle's serves, no dependency needed
    /// use trestle::prelude::*;
    ///
    /// #[derive(clap::Subcommand)]
    /// enum Tasks {
    ///     /// Fill the database with example rows.
    ///     Seed {
    ///         /// How many.
    ///         #[arg(long, default_value_t = 10)]
    ///         count: u32,
    ///     },
    /// }
    ///
    /// #[trestle::main]
    /// async fn main() -> Result<(), StartupError> {
    ///     App::new()
    ///         .database()
    ///         .commands(|task: Tasks, ctx: Context<trestle::config::NoConfig>| async move {
    ///             let Tasks::Seed { count } = task;
    ///             for n in 0..count {
    ///                 trestle::sqlx::query("INSERT INTO items (n) VALUES ($1)").bind(n as i64).execute(&*ctx.db()).await?;
    ///             }
    ///             Ok::<(), trestle::sqlx::Error>(())
    ///         })
    ///         .run()
    ///         .await
    /// }
    /// ```
    ///
    /// # Panics
    ///
    /// When one of the enum's commands has the name of one of trestle's (`serve`, `migrate`,
    /// `routes`, `config`, `health`, `doctor`): at the first [`run`](App::run).
    pub fn commands<E, F, Fut, Err>(mut self, run: F) -> Self
    where
        E: clap::Subcommand + 'static,
        F: FnOnce(E, Context<C>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Err>> + Send + 'static,
        Err: std::fmt::Display + 'static,
    {
        self.commands = Some(cli::AppCommands::new(run));
        self
    }

    /// Runs the app's command line on the process arguments (see [`cli`]): with none, or with
    /// `serve`, it starts the app — loads config, initialises logging, binds
    /// `server.host:server.port`, serves until SIGINT/SIGTERM, then drains in-flight requests.
    /// Other commands migrate, check config, list routes, probe health or diagnose, and exit
    /// with their documented code.
    pub async fn run(self) -> Result<(), StartupError> {
        let code = self.run_with_args(std::env::args_os()).await?;
        if code != 0 {
            use std::io::Write as _;
            let _ = std::io::stdout().flush();
            std::process::exit(code);
        }
        Ok(())
    }

    /// Like [`run`](App::run), with these arguments (the first is the program's name) instead
    /// of the process's, returning the exit code instead of exiting: for tests and for apps that
    /// parse part of the command line themselves.
    pub async fn run_with_args<I, T>(self, args: I) -> Result<i32, StartupError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString>,
    {
        cli::run(self, args.into_iter().map(Into::into).collect()).await
    }

    /// Like [`run`](App::run), but shuts down when `shutdown` completes (not on signals).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), StartupError> {
        let config = self.load_config()?;
        startup::init_telemetry(&config)?;
        let result = startup::run(self, config, shutdown).await;
        // Also when startup failed: its spans say why.
        crate::telemetry::shutdown().await;
        if result.is_ok() {
            tracing::info!("stopped");
        }
        result
    }

    /// For `TestApp`: the `test` profile and no process environment or `.env`, unless the app
    /// chose otherwise.
    #[cfg(feature = "testing")]
    pub(crate) fn for_tests(mut self) -> Self {
        self.setup.loader = self.setup.loader.hermetic_for_tests();
        self
    }
}
