//! Real server processes: SIGTERM with a request in flight, startup errors, log lines.

mod common;

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn sigterm_drains_in_flight_requests_refuses_new_ones_and_exits_0() {
    let mut server = start(&[("APP__SERVER__SHUTDOWN_TIMEOUT", "10s")]);
    let addr = server.addr;
    assert!(get(addr, "/fast").unwrap().starts_with("HTTP/1.1 200"));

    let in_flight = std::thread::spawn(move || get(addr, "/slow"));
    wait_for(&server.lines, "slow request started");
    let signalled = Instant::now();
    sigterm(&server.child);

    // New connections are refused once the listener is closed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting connections 5s after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }

    let response = in_flight.join().unwrap().expect("the in-flight request completes");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("finished"), "{response}");

    let status = wait_exit(&mut server.child, Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
    wait_for(&server.lines, "stopped");
}

#[test]
fn shutdown_timeout_bounds_the_drain() {
    let mut server = start(&[("APP__SERVER__SHUTDOWN_TIMEOUT", "200ms")]);
    let addr = server.addr;
    let in_flight = std::thread::spawn(move || get(addr, "/slow"));
    wait_for(&server.lines, "slow request started");
    let signalled = Instant::now();
    sigterm(&server.child);
    let status = wait_exit(&mut server.child, Duration::from_secs(5));
    assert!(status.success(), "exit status {status:?}");
    assert!(
        signalled.elapsed() < Duration::from_millis(1400),
        "waited for the slow request: {:?}",
        signalled.elapsed()
    );
    let _ = in_flight.join();
}

#[test]
fn a_config_error_stops_startup_with_the_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_slow_server"))
        .current_dir(tempfile_dir())
        .env_clear()
        .env("APP__SERVER__PORT", "not-a-port")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`server.port`") && stderr.contains("APP__SERVER__PORT"), "{stderr}");
    assert!(!stderr.contains("not-a-port"), "{stderr}");
}

#[test]
fn json_log_lines_carry_the_request_span() {
    let mut server = start(&[]);
    let response = get(server.addr, "/missing").unwrap();
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let id =
        response.lines().find_map(|l| l.strip_prefix("x-request-id: ")).expect("x-request-id header").trim().to_owned();
    let line = wait_for(&server.lines, "request rejected");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["level"], "WARN");
    assert_eq!(v["status"], 404);
    assert_eq!(v["span"]["request_id"], id.as_str());
    assert_eq!(v["span"]["http.request.method"], "GET");
    assert_eq!(v["span"]["url.path"], "/missing");
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
}

#[test]
fn an_invalid_log_filter_stops_startup_naming_the_key() {
    let output = Command::new(env!("CARGO_BIN_EXE_slow_server"))
        .current_dir(tempfile_dir())
        .env_clear()
        .env("APP__TELEMETRY__FILTER", "info,[broken")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("telemetry.filter") && stderr.contains("APP__TELEMETRY__FILTER"), "{stderr}");
}

#[test]
fn shutdown_delay_keeps_serving_while_readiness_is_503() {
    let mut server = start(&[("APP__SERVER__SHUTDOWN_DELAY", "2s")]);
    let addr = server.addr;
    assert!(get(addr, "/health/ready").unwrap().starts_with("HTTP/1.1 200"));
    sigterm(&server.child);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ready = get(addr, "/health/ready").expect("still accepting during the delay");
        if ready.starts_with("HTTP/1.1 503") {
            break;
        }
        assert!(Instant::now() < deadline, "readiness never turned 503");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(get(addr, "/fast").unwrap().starts_with("HTTP/1.1 200"), "requests are still served during the delay");
    let status = wait_exit(&mut server.child, Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
}
