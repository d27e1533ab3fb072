//! `telemetry::init` with export configured, called where no tokio runtime runs (its own
//! process: the subscriber is global).

#[test]
fn init_outside_the_runtime_says_where_to_call_it() {
    let mut config = trestle::config::TelemetryConfig::default();
    config.otlp.endpoint = "http://127.0.0.1:4317".into();
    let error = trestle::telemetry::init(&config).unwrap_err().to_string();
    assert!(error.contains("inside the runtime"), "{error}");
}
