//! The `App` builder: config → telemetry → state → router and default layers → bind → serve →
//! graceful shutdown.

mod serve;

use std::future::Future;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;

use crate::config::{Config, Loaded, Loader, NoConfig, ServerConfig};
use crate::error::{ProblemJson, Renderer};
use crate::health::Health;

/// What the state constructor gets: the loaded config and the framework's resources (the
/// database pool, the JWT keys). It is also usable as the app's state itself:
/// `.state(|ctx| ctx.clone())` makes `Db`, `Auth` and `State<Context<C>>` extractable. Cloning
/// it (axum clones the state for every request) is one reference-count increment.
#[derive(Debug)]
pub struct Context<C> {
    inner: Arc<Resources<C>>,
}

#[derive(Debug)]
struct Resources<C> {
    config: Arc<C>,
    server: ServerConfig,
    profile: String,
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    db: Option<crate::db::Handle>,
    jwt: Option<crate::auth::Jwt>,
    #[cfg(feature = "metrics")]
    metrics: crate::metrics::Metrics,
}

impl<C> Clone for Context<C> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
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

    /// The pool of backend `DB`, if the app connected one.
    pub fn try_db<DB: crate::db::Backend>(&self) -> Option<crate::db::Db<DB>> {
        self.inner.db.as_ref().and_then(DB::pool).map(|pool| crate::db::Db::new(pool.clone()))
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
        self.inner.jwt.as_ref()
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
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }
}

/// The finished app, before serving.
struct Built {
    router: Router,
    /// The metrics router, when `telemetry.metrics.port` puts it on a listener of its own.
    #[cfg(feature = "metrics")]
    metrics: Option<(Router, u16)>,
    health: Health,
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    db: Option<crate::db::Handle>,
}

type StateFn<C, S> = Box<dyn FnOnce(&Context<C>) -> S + Send>;
type LayerFn = Box<dyn FnOnce(Router) -> Router + Send>;

/// Builds and runs an app. See the [crate docs](crate) for the whole picture.
///
/// Call the steps in this order: [`config`](App::config), then [`state`](App::state), then
/// [`routes`](App::routes) and [`layer`](App::layer), then [`run`](App::run) (or
/// [`into_router`](App::into_router) to serve it yourself).
///
/// ```
/// use trestle::prelude::*;
///
/// async fn hello() -> &'static str { "hello" }
///
/// # async fn demo() -> trestle::Result<()> {
/// let router = App::new()
///     .routes(Router::new().route("/", get(hello)))
///     .into_router()
///     .await?;
/// # let _ = router; Ok(()) }
/// ```
#[must_use = "an App does nothing until `.run().await` or `.into_router().await`"]
pub struct App<C = NoConfig, S = ()> {
    setup: Setup,
    state: StateFn<C, S>,
    routes: crate::routing::Routes<S>,
    _config: PhantomData<fn() -> C>,
}

/// Everything in an `App` that does not depend on its config or state type.
struct Setup {
    loader: Loader,
    layers: Vec<LayerFn>,
    renderer: Arc<dyn Renderer>,
    default_renderer: bool,
    request_id: Option<Arc<dyn crate::middleware::MakeRequestId>>,
    health: Health,
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
                request_id: None,
                health: Health::default(),
                #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
                database: None,
                auth: false,
            },
            state: Box::new(|_| ()),
            routes: crate::routing::Routes::new(),
            _config: PhantomData,
        }
    }

    /// Reads the app's own config struct `C` (top-level keys, beside `[server]` and
    /// `[telemetry]`) from the same sources as the framework's sections.
    pub fn config<C: Config>(self) -> App<C, ()> {
        App { setup: self.setup, state: Box::new(|_| ()), routes: self.routes, _config: PhantomData }
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
        App { setup: self.setup, state: Box::new(build), routes: self.routes.with_state(()), _config: PhantomData }
    }
}

impl<C: Config, S: Clone + Send + Sync + 'static> App<C, S> {
    /// Adds routes: `routes![…]` of macro-annotated handlers, or any `axum::Router<S>`; merged
    /// with those added before. Two routes for the same method and path stop the app at startup
    /// with both handlers named.
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

    /// Replaces the problem renderer: one place to change how every error looks.
    pub fn renderer(mut self, renderer: impl Renderer) -> Self {
        self.setup.renderer = Arc::new(renderer);
        self.setup.default_renderer = false;
        self
    }

    /// Replaces how new request ids are made (by default [`RandomRequestId`](crate::middleware::RandomRequestId),
    /// 128 random bits as hex); a well-formed id the client sends in `server.request_id_header`
    /// is still kept. See [`MakeRequestId`](crate::middleware::MakeRequestId) for an example.
    pub fn request_id(mut self, make: impl crate::middleware::MakeRequestId) -> Self {
        self.setup.request_id = Some(Arc::new(make));
        self
    }

    /// Registers a readiness check for `/health/ready`.
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
    pub fn database(self) -> Self {
        self.database_with::<crate::db::DefaultBackend>()
    }

    /// Like [`database`](App::database), for the backend `DB` (`trestle::db::Sqlite`, …).
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    pub fn database_with<DB: crate::db::Backend>(mut self) -> Self {
        let migrations = self.setup.database.take().and_then(|(_, m)| m);
        self.setup.database = Some((crate::db::connector::<DB>(), migrations));
        self
    }

    /// The migrations to apply at startup when `database.migrate` is on: `trestle::migrate!()`.
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    pub fn migrations(mut self, migrations: crate::db::Migrations) -> Self {
        let connector =
            self.setup.database.take().map_or(crate::db::connector::<crate::db::DefaultBackend>(), |(c, _)| c);
        self.setup.database = Some((connector, Some(migrations)));
        self
    }

    /// Loads the JWT keys of `[auth.jwt]` at startup (a short secret or a bad key file stops the
    /// app there) and makes [`Jwt`](crate::auth::Jwt) and [`Auth`](crate::auth::Auth) available.
    pub fn auth(mut self) -> Self {
        self.setup.auth = true;
        self
    }

    /// Reads config files from `dir` instead of `APP_CONFIG_DIR` / `./config`.
    pub fn config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.setup.loader = self.setup.loader.dir(dir);
        self
    }

    /// Uses this profile instead of `APP_ENV`.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.setup.loader = self.setup.loader.profile(profile);
        self
    }

    /// Sets a config key above every other source (`.config_set("server.port", "0")`).
    pub fn config_set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.setup.loader = self.setup.loader.set(key, value);
        self
    }

    /// Replaces the config loader (to read a given environment, another `.env`, …).
    pub fn loader(mut self, loader: Loader) -> Self {
        self.setup.loader = loader;
        self
    }

    /// The loader as configured so far.
    pub fn config_loader(&self) -> &Loader {
        &self.setup.loader
    }

    /// Loads config, builds the state and returns the finished router with the default stack:
    /// for tests and for serving it yourself. Telemetry is not set up here (call
    /// [`telemetry::init`](crate::telemetry::init) first to export spans), and metrics set to a
    /// port of their own (`telemetry.metrics.port`) are served only by [`run`](App::run).
    pub async fn into_router(self) -> crate::Result<Router> {
        let loaded = self.setup.loader.load::<C>()?;
        Ok(self.build(loaded).await?.router)
    }

    /// Starts the app: loads config, initialises logging, binds `server.host:server.port`,
    /// serves until SIGINT/SIGTERM, then drains in-flight requests.
    pub async fn run(self) -> crate::Result<()> {
        self.run_until(serve::shutdown_signal()).await
    }

    /// Like [`run`](App::run), but shuts down when `shutdown` completes (not on signals).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> crate::Result<()> {
        let loaded = self.setup.loader.load::<C>()?;
        crate::telemetry::init(&loaded.telemetry)?;
        let result = self.serve(loaded, shutdown).await;
        // Also when startup failed: its spans say why.
        crate::telemetry::shutdown().await;
        if result.is_ok() {
            tracing::info!("stopped");
        }
        result
    }

    /// `run_until` once config is loaded and telemetry is up.
    async fn serve(self, loaded: Loaded<C>, shutdown: impl Future<Output = ()> + Send) -> crate::Result<()> {
        tracing::info!(profile = %loaded.profile, "starting");
        let files: Vec<String> = loaded.files.iter().map(|p| p.display().to_string()).collect();
        tracing::info!(files = ?files, "config loaded");
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
        let server = loaded.server.clone();
        for route in self.route_table() {
            tracing::debug!(
                methods = ?route.methods,
                path = route.path,
                auth = %route.auth,
                scopes = ?route.scopes,
                handler = route.handler,
                summary = route.summary,
                "route"
            );
        }
        let built = self.build(loaded).await?;
        let health = built.health;

        let (listener, local) = serve::bind(
            &format!("{}:{}", server.host, server.port),
            "set server.host / server.port (APP__SERVER__HOST, APP__SERVER__PORT) to a free address",
        )
        .await?;
        tracing::info!(addr = %local, "listening on http://{local}");

        // Both listeners stop on the same signal.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        #[cfg(feature = "metrics")]
        let metrics_server = match built.metrics {
            Some((router, port)) => {
                let (listener, local) = serve::bind(
                    &format!("{}:{port}", server.host),
                    "set telemetry.metrics.port (APP__TELEMETRY__METRICS__PORT) to a free port, or unset it to serve metrics on the app's port",
                )
                .await?;
                tracing::info!(addr = %local, "metrics on http://{local}");
                let server = server.clone();
                let mut stopped = stopped.clone();
                Some(tokio::spawn(async move {
                    serve::serve(listener, router, &server, async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    })
                    .await;
                }))
            }
            None => None,
        };
        drop(stopped);

        let delay = server.shutdown_delay;
        serve::serve(listener, built.router, &server, async move {
            shutdown.await;
            let _ = stop.send(true);
            // Readiness answers 503 first; load balancers get `shutdown_delay` to notice
            // before the listener closes.
            health.start_draining();
            if !delay.is_zero() {
                tracing::info!(delay_ms = delay.as_millis() as u64, "readiness is 503; waiting server.shutdown_delay");
                tokio::time::sleep(delay).await;
            }
        })
        .await;
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
        if let Some(db) = built.db {
            // A connection still held by an aborted request would make close() wait forever.
            match tokio::time::timeout(std::time::Duration::from_secs(5), db.close()).await {
                Ok(()) => tracing::info!("database pool closed"),
                Err(_) => tracing::warn!("database pool did not close within 5s; exiting anyway"),
            }
        }
        #[cfg(feature = "metrics")]
        if let Some(task) = metrics_server {
            let _ = task.await;
        }
        Ok(())
    }

    async fn build(self, loaded: Loaded<C>) -> crate::Result<Built> {
        #[cfg_attr(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")), allow(unused_mut))]
        let mut health = self.setup.health;
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
        let db = match self.setup.database {
            Some((connect, migrations)) => {
                let handle = connect(loaded.database.clone(), migrations).await?;
                let probe = handle.clone();
                health.add_check("database", move || {
                    let probe = probe.clone();
                    async move { probe.ping().await }
                });
                Some(handle)
            }
            None => None,
        };
        let expose_constraint_names = loaded.database.expose_constraint_names;
        let jwt = if self.setup.auth {
            let jwt = crate::auth::Jwt::from_config(&loaded.auth.jwt)?;
            tracing::info!(algorithm = %loaded.auth.jwt.algorithm, "auth keys loaded");
            Some(jwt)
        } else {
            None
        };
        #[cfg(feature = "metrics")]
        let metrics = crate::metrics::Metrics::new();
        #[cfg(all(feature = "metrics", any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
        if let Some(db) = &db {
            metrics.register_collector(crate::metrics::PoolMetrics(db.clone()));
        }
        let telemetry = loaded.telemetry;
        let ctx = Context {
            inner: Arc::new(Resources {
                config: Arc::new(loaded.app),
                server: loaded.server,
                profile: loaded.profile,
                #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
                db: db.clone(),
                jwt,
                #[cfg(feature = "metrics")]
                metrics: metrics.clone(),
            }),
        };
        let state = (self.state)(&ctx);
        let mut router = self.routes.into_router()?.with_state(state);
        for layer in self.setup.layers {
            router = layer(router);
        }
        let health = health.with_timeout(ctx.server().readiness_timeout);
        if ctx.server().health {
            router = router.merge(health.clone().router());
        }
        #[allow(unused_mut)]
        let mut observe = crate::middleware::Observe::default();
        #[cfg(feature = "otel")]
        {
            observe.otel = crate::telemetry::otel_active();
        }
        #[cfg(feature = "metrics")]
        let metrics = match &telemetry.metrics {
            m if !m.enabled => None,
            m => {
                observe.metrics = Some(metrics.http.clone());
                match m.port {
                    Some(port) => Some((metrics.router(&m.path), port)),
                    None => {
                        // axum panics on a route that is already there; say which key to change.
                        let merged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            router.merge(metrics.router(&m.path))
                        }));
                        router = merged.map_err(|_| {
                            crate::Error::internal(anyhow::anyhow!(
                                "telemetry.metrics.path {:?} is already a route of the app; set telemetry.metrics.path (APP__TELEMETRY__METRICS__PATH) to a free path, or serve metrics on their own port with telemetry.metrics.port",
                                m.path
                            ))
                        })?;
                        None
                    }
                }
            }
        };
        #[cfg(not(feature = "metrics"))]
        let _ = &telemetry;
        let settings = crate::middleware::Settings {
            renderer: self.setup.renderer,
            default_renderer: self.setup.default_renderer,
            expose_constraint_names,
            make_request_id: self.setup.request_id,
            observe,
        };
        let router = crate::middleware::apply(router, ctx.server(), &settings)?;
        #[cfg(feature = "metrics")]
        let metrics = match metrics {
            // Its own listener still gets request ids and problem bodies, but is not measured.
            Some((router, port)) => {
                Some((crate::middleware::apply(router, ctx.server(), &settings.unobserved())?, port))
            }
            None => None,
        };
        Ok(Built {
            router,
            #[cfg(feature = "metrics")]
            metrics,
            health,
            #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
            db,
        })
    }

    /// For `TestApp`: the `test` profile and no process environment or `.env`, unless the app
    /// chose otherwise.
    pub(crate) fn for_tests(mut self) -> Self {
        self.setup.loader = self.setup.loader.hermetic_for_tests();
        self
    }
}
