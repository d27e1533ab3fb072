//! Startup in phases: each phase can be run alone, and a failure in any of them is a
//! `StartupError` naming the subsystem, with the subsystem's error as its source.

use std::error::Error as _;

use trestle::config::ConfigError;
use trestle::prelude::*;
use trestle::testing::TestApp;

#[trestle::test]
async fn load_config_runs_phase_one_only() {
    // `.auth()` without a secret fails in phase 3, so loading config alone must succeed.
    let app = App::new().auth().configure(|c| c.profile("test").env_vars([("APP__SERVER__PORT", "4321")]).dotenv(None));
    let config = app.load_config().expect("config loads without opening any resource");
    assert_eq!(config.server.port, 4321);
    assert_eq!(config.profile, "test");
    match app.prepare(config).await.unwrap_err() {
        StartupError::Auth { source, env_var } => {
            assert!(matches!(source, trestle::auth::AuthError::MissingSecret(_)));
            assert_eq!(env_var.as_deref(), Some("APP__AUTH__JWT__SECRET"));
        }
        other => panic!("expected the auth phase to fail, got {other:?}"),
    }
}

#[trestle::test]
async fn prepare_builds_the_state_and_into_router_serves_it() {
    #[derive(Clone)]
    struct Greeting(&'static str);
    async fn hello(State(g): State<Greeting>) -> &'static str {
        g.0
    }
    let app = App::new()
        .configure(|c| c.profile("test").env_vars([("APP__AUTH__JWT__SECRET", "0123456789abcdef0123456789abcdef")]))
        .auth()
        .state(|_| Greeting("hi"))
        .routes(Router::new().route("/", trestle::axum::routing::get(hello)));
    let config = app.load_config().unwrap();
    let prepared = app.prepare(config).await.unwrap();
    assert!(prepared.context().try_jwt().is_some(), "keys are loaded in phase 3");
    let app = TestApp::from_router(prepared.into_router().await.unwrap());
    let res = app.get("/").send().await;
    assert_eq!(res.text(), "hi");
    assert!(res.header("x-request-id").is_some(), "the default stack is applied");
    assert_eq!(app.get("/health/live").send().await.status(), 200);
}

#[trestle::test]
async fn a_config_error_is_the_config_variant_with_its_source() {
    let err = TestApp::new(App::new().configure(|c| c.set("server.port", "eighty"))).await.unwrap_err();
    let source = err.source().expect("the config error is the source");
    assert!(source.is::<ConfigError>(), "{err:?}");
    assert!(matches!(err, StartupError::Config(_)));
    assert!(err.to_string().contains("server.port"), "{err}");
}

#[trestle::test]
async fn a_taken_port_is_a_bind_error_naming_the_keys() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let app = App::new().configure(|c| {
        c.profile("test").env_vars([("APP__SERVER__PORT", port.as_str())]).dotenv(None).set("server.health", "false")
    });
    let err = app.run_until(std::future::pending()).await.unwrap_err();
    match &err {
        StartupError::Bind { addr, source, .. } => {
            assert_eq!(addr, &format!("127.0.0.1:{port}"));
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        }
        other => panic!("expected a bind error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("server.port") && text.contains("APP__SERVER__PORT"), "{text}");
}

#[trestle::test]
async fn startup_errors_name_the_variables_of_the_configured_prefix() {
    let err = TestApp::new(App::new().auth().configure(|c| c.env_prefix("SHOP"))).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("SHOP__AUTH__JWT__SECRET") && !text.contains("APP__"), "{text}");

    let plain = Router::new().route("/health/live", trestle::axum::routing::get(|| async { "mine" }));
    let err = TestApp::new(App::new().routes(plain).configure(|c| c.env_prefix("SHOP"))).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("SHOP__SERVER__HEALTH") && !text.contains("APP__"), "{text}");
}
