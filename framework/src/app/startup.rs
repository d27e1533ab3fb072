//! Startup in phases, each a function with one job and a typed result:
//!
//! 1. [`load_config`]: files, `.env`, environment → [`Loaded`];
//! 2. [`init_telemetry`]: logs and trace export;
//! 3. [`open_resources`]: database pool (connected, migrated), JWT keys, metrics registry;
//! 4. [`build_state`]: the [`Context`] and the app's state built from it;
//! 5. [`build_routes`]: the app's routes with health and metrics, checked for conflicts;
//! 6. [`apply_stack`]: the default middleware around them;
//! 7. [`serve`]: bind, serve, drain.
//!
//! `App::run` runs them in order; `App::load_config` stops after 1 and `App::prepare` after 4.

use std::future::Future;
use std::sync::Arc;

use axum::Router;

use super::{App, Context, Shared, StartupError};
use crate::config::{Config, EnvNames, Loaded, Loader, MetricsConfig, ServerConfig};
use crate::health::Health;
use crate::routing::{Claim, Routes};

/// What phase 3 opened: the framework's handles to the world outside the process.
#[derive(Debug, Default)]
pub(crate) struct Resources {
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    pub(crate) db: Option<crate::db::Handle>,
    pub(crate) jwt: Option<crate::auth::Jwt>,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: crate::metrics::Metrics,
}

/// An app after phases 1 to 4: config loaded, resources open (the database connected and
/// migrated), state built; nothing bound or served yet. [`App::prepare`] returns it.
#[must_use = "a prepared app serves nothing: call `into_router`, or `close` it"]
pub struct Prepared<C, S> {
    context: Context<C>,
    state: S,
    routes: Routes<S>,
    layers: Vec<super::LayerFn>,
    stack: crate::middleware::Settings,
    health: Health,
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    metrics: MetricsConfig,
    env: EnvNames,
    /// What the OpenAPI document is built from, unless `openapi.enabled = false`.
    openapi: Option<crate::openapi::DocumentSource>,
}

impl<C, S> std::fmt::Debug for Prepared<C, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").field("profile", &self.context.profile()).finish_non_exhaustive()
    }
}

/// An app after every phase but serving: its routers, and what shutdown needs.
pub(crate) struct Ready {
    /// The app's router with the default stack.
    pub(crate) router: Router,
    /// The metrics router, when `telemetry.metrics.port` puts it on a listener of its own.
    #[cfg(feature = "metrics")]
    metrics: Option<(Router, u16)>,
    health: Health,
    server: ServerConfig,
    env: EnvNames,
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    db: Option<crate::db::Handle>,
}

impl<C: Config, S: Clone + Send + Sync + 'static> Prepared<C, S> {
    /// The context the state was built from: config, pool, keys, metrics registry.
    pub fn context(&self) -> &Context<C> {
        &self.context
    }

    /// Phases 5 and 6: the app's router with health, metrics and the default stack, as
    /// [`App::into_router`] returns it.
    pub async fn into_router(self) -> Result<Router, StartupError> {
        Ok(self.finish()?.router)
    }

    /// Phases 5 to 7: builds the router and serves it until `shutdown` completes, as
    /// [`App::run_until`] does after `prepare`.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), StartupError> {
        serve(self.finish()?, shutdown).await
    }

    /// Closes what phase 3 opened (the database pool), for a command that stops here.
    pub async fn close(self) {
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
        if let Some(db) = &self.context.inner.resources.db {
            db.close().await;
        }
    }

    /// Phases 5 and 6.
    pub(crate) fn finish(self) -> Result<Ready, StartupError> {
        let server = self.context.server().clone();
        let health = self.health.with_timeout(server.readiness_timeout);
        let names = FrameworkRoutes {
            health: format!(
                "trestle's health checks (turned off by server.health = false, {})",
                self.env.var("server.health")
            ),
            metrics: format!(
                "trestle's metrics (moved by telemetry.metrics.path, {})",
                self.env.var("telemetry.metrics.path")
            ),
            openapi: format!(
                "trestle's OpenAPI document and docs page (moved by openapi.path, {}, and openapi.docs_path, {}; off with openapi.enabled = false)",
                self.env.var("openapi.path"),
                self.env.var("openapi.docs_path")
            ),
        };
        #[cfg(feature = "metrics")]
        let registry = &self.context.inner.resources.metrics;
        #[cfg(feature = "metrics")]
        let (metrics_on_app_port, metrics_port) = match &self.metrics {
            m if !m.enabled => (None, None),
            m => match m.port {
                Some(port) => (None, Some((registry.router(&m.path), port))),
                // Production keeps them off the app's public port: route names and traffic
                // volumes are not for the internet, and a port of its own is what a scraper
                // inside the network reaches.
                None if self.context.profile() == "production" => {
                    tracing::warn!(
                        "metrics are not served: in the production profile they stay off the app's port; set telemetry.metrics.port ({}) to serve them on a port of their own, or telemetry.metrics.enabled = false to silence this",
                        self.env.var("telemetry.metrics.port")
                    );
                    (None, None)
                }
                None => (Some((m.path.as_str(), registry.router(&m.path))), None),
            },
        };
        #[cfg(not(feature = "metrics"))]
        let metrics_on_app_port: Option<(&str, Router)> = None;
        let health_routes = server.health.then(|| health.clone());
        let framework_routes =
            FrameworkParts { health: health_routes, metrics: metrics_on_app_port, openapi: self.openapi };
        let (app, framework) = build_routes(self.routes, self.state, framework_routes, self.layers, &names)?;
        // The stack wraps each part: the framework's routes are not traced, counted or CORS'd.
        // Merged into the framework's part, so the app's fallback (404s, traced) is the one
        // kept: axum keeps the merged-in router's fallback when both are the default.
        let router = apply_stack(framework, &server, &self.stack, &self.env, true)?.merge(apply_stack(
            app,
            &server,
            &self.stack,
            &self.env,
            false,
        )?);
        #[cfg(feature = "metrics")]
        let metrics_port = match metrics_port {
            Some((router, port)) => Some((apply_stack(router, &server, &self.stack, &self.env, true)?, port)),
            None => None,
        };
        Ok(Ready {
            router,
            #[cfg(feature = "metrics")]
            metrics: metrics_port,
            health,
            server,
            env: self.env,
            #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
            db: self.context.inner.resources.db.clone(),
        })
    }
}

/// How a route conflict names the framework's own routes: with the key that moves them.
struct FrameworkRoutes {
    health: String,
    metrics: String,
    openapi: String,
}

/// The framework's own routes the config turned on.
struct FrameworkParts<'a> {
    health: Option<Health>,
    metrics: Option<(&'a str, Router)>,
    openapi: Option<crate::openapi::DocumentSource>,
}

/// Phase 1: config from every source, validated.
pub(super) fn load_config<C: Config>(loader: &Loader) -> Result<Loaded<C>, StartupError> {
    Ok(loader.load::<C>()?)
}

/// Phase 2: logs (and trace export with the `otel` feature); a subscriber already installed is
/// kept.
pub(super) fn init_telemetry<C>(config: &Loaded<C>) -> Result<(), StartupError> {
    crate::telemetry::init(&config.telemetry).map_err(|source| StartupError::Telemetry {
        env_var: source.config_key().map(|key| env_var(config, key)),
        source,
    })?;
    Ok(())
}

/// Phases 3 and 4, as [`App::prepare`] runs them.
pub(super) async fn prepare<C: Config, S: Clone + Send + Sync + 'static>(
    app: App<C, S>,
    config: Loaded<C>,
) -> Result<Prepared<C, S>, StartupError> {
    let setup = app.setup;
    let problem_schema = setup.problem_schema();
    refuse_auth_without_keys::<C, S>(&app.routes, setup.resources.auth)?;
    let mut health = setup.health;
    let resources = open_resources(&setup.resources, &config, &mut health).await?;
    let expose_constraint_names = config.database.expose_constraint_names;
    let metrics = config.telemetry.metrics.clone();
    let access_log = config.telemetry.access_log;
    let env = config.env.clone();
    let rate_limit = crate::rate_limit::Limiter::build(crate::rate_limit::Inputs {
        config: &config.rate_limit,
        routes: &app.routes.table(),
        jwt: resources.jwt.clone(),
        app_key: setup.rate_limit_key,
    })
    .map_err(|source| StartupError::RateLimit {
        env_var: source.config_key().map(|key| env_var(&config, key)),
        source,
    })?;
    if let Some(limiter) = &rate_limit {
        limiter.announce(&config.rate_limit).await;
        #[cfg(feature = "metrics")]
        resources.metrics.register_collector(crate::metrics::RateLimitMetrics(limiter.clone()));
    }
    let mut layers = setup.layers;
    // `Page` reads the app's `[pagination]` from the request; the defaults need nothing there.
    let pagination = config.pagination;
    if pagination != crate::config::PaginationConfig::default() {
        layers.insert(0, Box::new(move |router: Router| router.layer(axum::Extension(pagination))));
    }
    // Built when first asked for, then served as the same bytes (see `openapi::router`).
    let openapi = config.openapi.enabled.then(|| document_source(&app.routes.table(), &config, problem_schema));
    let (context, state) = build_state(config, resources, app.state).await?;
    let stack = crate::middleware::Settings {
        renderer: setup.renderer,
        default_renderer: setup.default_renderer,
        expose_constraint_names,
        make_request_id: setup.request_id,
        observe: observe(access_log, &metrics, &context),
        rate_limit,
    };
    Ok(Prepared { context, state, routes: app.routes, layers, stack, health, metrics, env, openapi })
}

/// What the OpenAPI document of `routes` under `config` is built from.
pub(super) fn document_source<C>(
    routes: &[crate::routing::RouteInfo],
    config: &Loaded<C>,
    problem: crate::openapi::ProblemSchema,
) -> crate::openapi::DocumentSource {
    use crate::openapi::{Access, RouteDoc};
    use crate::routing::AuthRequirement;
    let routes: Vec<RouteDoc> = routes
        .iter()
        .filter_map(|route| {
            Some(RouteDoc {
                methods: route.methods,
                path: route.path,
                handler: route.handler,
                summary: route.summary,
                description: route.description,
                tags: route.tags,
                deprecated: route.deprecated,
                access: match route.auth {
                    AuthRequirement::None => Access::Public,
                    AuthRequirement::Optional => Access::Optional,
                    AuthRequirement::Required => Access::Required,
                },
                scopes: route.scopes,
                package: route.package,
                version: route.version,
                describe: route.openapi?,
                limited: route
                    .methods
                    .iter()
                    .copied()
                    .filter(|method| {
                        crate::rate_limit::effective_quota(&config.rate_limit, route.path, method, route.rate_limit)
                            .is_some()
                    })
                    .collect(),
            })
        })
        .collect();
    crate::openapi::DocumentSource {
        routes,
        openapi: config.openapi.clone(),
        pagination: config.pagination,
        jwt: config.auth.jwt.clone(),
        problem,
    }
}

/// With the `Context` as state, a route that takes `Auth` gets its keys from the context, which
/// has none unless `App::auth()` was called: every request would fail. Caught here, before
/// anything opens, naming the route. (An app state of its own holds its keys itself.)
fn refuse_auth_without_keys<C: 'static, S: Clone + Send + Sync + 'static>(
    routes: &Routes<S>,
    auth: bool,
) -> Result<(), StartupError> {
    if auth || std::any::TypeId::of::<S>() != std::any::TypeId::of::<Context<C>>() {
        return Ok(());
    }
    match routes.table().into_iter().find(|r| r.auth != crate::routing::AuthRequirement::None) {
        Some(route) => Err(StartupError::Auth {
            source: crate::auth::AuthError::NotSetUp {
                route: format!("{} {} ({})", route.methods.join(","), route.path, route.handler),
            },
            env_var: None,
        }),
        None => Ok(()),
    }
}

/// Phase 3: connects the database (and migrates), loads the JWT keys, creates the metrics
/// registry; registers the database's readiness check.
async fn open_resources<C>(
    wanted: &super::WantedResources,
    config: &Loaded<C>,
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")), allow(unused_variables))]
    health: &mut Health,
) -> Result<Resources, StartupError> {
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    let db = match &wanted.database {
        Some((connect, migrations)) => {
            let mut database = config.database.clone();
            database.statement_timeout = database.statement_timeout.resolve(config.server.request_timeout);
            let handle = connect(database, migrations.clone()).await.map_err(|source| StartupError::Database {
                env_var: source.config_key().map(|key| env_var(config, key)),
                source,
            })?;
            let probe = handle.clone();
            health.add_check("database", move || {
                let probe = probe.clone();
                async move { probe.ping().await }
            });
            Some(handle)
        }
        None => None,
    };
    let jwt = if wanted.auth {
        let jwt = crate::auth::Jwt::from_config(&config.auth.jwt).map_err(|source| StartupError::Auth {
            env_var: source.config_key().map(|key| env_var(config, key)),
            source,
        })?;
        tracing::info!(algorithm = %config.auth.jwt.algorithm, "auth keys loaded");
        Some(jwt)
    } else {
        None
    };
    #[cfg(feature = "metrics")]
    let metrics = crate::metrics::Metrics::with_buckets(&config.telemetry.metrics.buckets);
    #[cfg(all(feature = "metrics", any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
    if let Some(db) = &db {
        metrics.register_collector(crate::metrics::PoolMetrics(db.clone()));
    }
    Ok(Resources {
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
        db,
        jwt,
        #[cfg(feature = "metrics")]
        metrics,
    })
}

/// Phase 4: the context, and the app's state built from it.
async fn build_state<C, S>(
    config: Loaded<C>,
    resources: Resources,
    make_state: super::StateFn<C, S>,
) -> Result<(Context<C>, S), StartupError> {
    let context = Context {
        inner: Arc::new(Shared {
            config: Arc::new(config.app),
            server: config.server,
            profile: config.profile,
            resources,
        }),
    };
    let state = make_state(context.clone()).await.map_err(|cause| StartupError::State { cause })?;
    Ok((context, state))
}

/// Phase 5: the app's routes (with its own layers around them), the health routes and the
/// metrics route in one router, after one check of every route against every other.
fn build_routes<S: Clone + Send + Sync + 'static>(
    routes: Routes<S>,
    state: S,
    parts: FrameworkParts<'_>,
    layers: Vec<super::LayerFn>,
    names: &FrameworkRoutes,
) -> Result<(Router, Router), StartupError> {
    let mut framework: Vec<(Claim<'_>, Router)> = Vec::new();
    let openapi_paths: Vec<String> =
        parts.openapi.as_ref().map(|source| crate::openapi::paths(&source.openapi)).unwrap_or_default();
    if let Some(source) = parts.openapi {
        let handler = names.openapi.as_str();
        for path in &openapi_paths[1..] {
            framework.push((Claim { methods: &["GET"], path, handler }, Router::new()));
        }
        let config = source.openapi.clone();
        let router = crate::openapi::router(source, &config);
        framework.push((Claim { methods: &["GET"], path: &openapi_paths[0], handler }, router));
    }
    let (health, metrics) = (parts.health, parts.metrics);
    if let Some(health) = health {
        let [live, ready] = &crate::health::ROUTES;
        let handler = names.health.as_str();
        framework.push((Claim { handler, ..Claim::of(live) }, Router::new()));
        framework.push((Claim { handler, ..Claim::of(ready) }, health.router()));
    }
    if let Some((path, router)) = metrics {
        framework.push((Claim { methods: &["GET"], path, handler: names.metrics.as_str() }, router));
    }
    let (mut router, framework) = crate::routing::check(routes, state, framework)?;
    // The app's layers wrap the app's routes only, not health and metrics.
    for layer in layers {
        router = layer(router);
    }
    Ok((router, framework))
}

/// What the stack records beyond logs: metrics and trace context, when on.
fn observe<C>(
    access_log: bool,
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))] metrics: &MetricsConfig,
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))] context: &Context<C>,
) -> crate::middleware::Observe {
    // With every feature on, every field is named here; without them, `Default` fills the rest.
    #[allow(unused_mut, clippy::needless_update)]
    let mut observe = crate::middleware::Observe { errors_only: !access_log, ..Default::default() };
    #[cfg(feature = "otel")]
    {
        observe.otel = crate::telemetry::otel_active();
    }
    #[cfg(feature = "metrics")]
    if metrics.enabled {
        observe.metrics = Some(context.inner.resources.metrics.http.clone());
    }
    observe
}

/// Phase 6: the default middleware stack around `router`: the app's routes, or the framework's
/// own (`framework`: probes and metrics, see `middleware::apply_framework`).
fn apply_stack(
    router: Router,
    server: &ServerConfig,
    settings: &crate::middleware::Settings,
    env: &EnvNames,
    framework: bool,
) -> Result<Router, StartupError> {
    let applied = if framework {
        crate::middleware::apply_framework(router, server, settings)
    } else {
        crate::middleware::apply(router, server, settings)
    };
    applied.map_err(|e| StartupError::Middleware {
        env_var: env.var(e.key),
        key: e.key.to_owned(),
        value: e.value,
        problem: e.problem,
    })
}

/// Phases 3 to 7 after config and telemetry: what `App::run_until` does.
pub(super) async fn run<C: Config, S: Clone + Send + Sync + 'static>(
    app: App<C, S>,
    config: Loaded<C>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), StartupError> {
    tracing::info!(profile = %config.profile, "starting");
    let files: Vec<String> = config.files.iter().map(|p| p.display().to_string()).collect();
    tracing::info!(files = ?files, "config loaded");
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    for route in app.route_table() {
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
    // Polled once now, so `run`'s signal handlers exist from the start of startup: as PID 1 of
    // a container (where a signal without a handler is dropped) a SIGTERM while the database is
    // still being retried ends startup at once instead of waiting for the runtime's SIGKILL.
    let mut shutdown = std::pin::pin!(shutdown);
    let requested = std::future::poll_fn(|cx| std::task::Poll::Ready(shutdown.as_mut().poll(cx).is_ready())).await;
    if requested {
        return Ok(());
    }
    let prepared = tokio::select! {
        prepared = prepare(app, config) => prepared?,
        () = shutdown.as_mut() => {
            tracing::info!("shutdown requested during startup: stopping before serving");
            return Ok(());
        }
    };
    prepared.serve(shutdown).await
}

/// Phase 7: binds the listeners, serves until `shutdown`, drains, closes the pool.
async fn serve(ready: Ready, shutdown: impl Future<Output = ()> + Send) -> Result<(), StartupError> {
    let server = ready.server;
    let health = ready.health;
    let env = ready.env;
    // Polled once before the listener exists: a future that installs signal handlers when first
    // polled (as `run`'s does) has them in place before any client is served, so a SIGTERM right
    // after "listening on" drains instead of killing the process. (`App::run` polls it first at
    // the start of startup already; `Prepared::serve` called directly starts here.)
    let mut shutdown = std::pin::pin!(shutdown);
    let requested = std::future::poll_fn(|cx| std::task::Poll::Ready(shutdown.as_mut().poll(cx).is_ready())).await;
    let addr = format!("{}:{}", server.host, server.port);
    let (listener, local) = super::serve::bind(&addr, server.backlog).await.map_err(|source| StartupError::Bind {
        addr: addr.clone(),
        keys: "server.host / server.port".to_owned(),
        env_vars: format!("{}, {}", env.var("server.host"), env.var("server.port")),
        source,
    })?;
    tracing::info!(addr = %local, "listening on http://{local}");

    // Both listeners stop on the same signal, and ask clients to close from the same moment.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let draining = super::serve::Draining::default();
    #[cfg(feature = "metrics")]
    let metrics_server = match ready.metrics {
        Some((router, port)) => {
            let addr = format!("{}:{port}", server.host);
            let (listener, local) =
                super::serve::bind(&addr, server.backlog).await.map_err(|source| StartupError::Bind {
                    addr: addr.clone(),
                    keys: "telemetry.metrics.port".to_owned(),
                    env_vars: env.var("telemetry.metrics.port"),
                    source,
                })?;
            tracing::info!(addr = %local, "metrics on http://{local}");
            let server = server.clone();
            let mut stopped = stopped.clone();
            let draining = draining.clone();
            Some(tokio::spawn(async move {
                super::serve::serve(listener, router, &server, draining, async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
            }))
        }
        None => None,
    };
    drop(stopped);

    let delay = server.shutdown_delay;
    super::serve::serve(listener, ready.router, &server, draining.clone(), async move {
        if !requested {
            shutdown.await;
        }
        // From here every response carries `Connection: close`: keep-alive clients reconnect,
        // and find another replica, before the listener closes.
        draining.start();
        let _ = stop.send(true);
        // Readiness answers 503 first; load balancers get `shutdown_delay` to notice before the
        // listener closes.
        health.start_draining();
        if !delay.is_zero() {
            tracing::info!(delay_ms = delay.as_millis() as u64, "readiness is 503; waiting server.shutdown_delay");
            tokio::time::sleep(delay).await;
        }
    })
    .await;
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    if let Some(db) = ready.db {
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

/// The environment variable that sets `key`, with the loader's prefix.
fn env_var<C>(config: &Loaded<C>, key: &str) -> String {
    config.env.var(key)
}
