//! Real server processes: SIGTERM with a request in flight, startup errors, log lines.

mod common;

use std::io::{Read, Write};
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
fn sigterm_the_moment_it_is_listening_still_drains_and_exits_0() {
    // The handler must be installed before "listening on" is printed; it used to be installed on
    // the serve loop's first look at its shutdown future, and a SIGTERM in between killed the
    // process with the default action (seen in CI under load).
    for _ in 0..5 {
        let mut server = start(&[]);
        sigterm(&server.child);
        let status = wait_exit(&mut server.child, Duration::from_secs(10));
        assert!(status.success(), "exit status {status:?}");
        wait_for(&server.lines, "shutdown requested");
    }
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
    let line = wait_for(&server.lines, "\"status\":404");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    // The client's mistake is not the server's warning.
    assert_eq!(v["level"], "INFO");
    assert_eq!(v["fields"]["message"].as_str().or(v["message"].as_str()), Some("request finished"), "{line}");
    assert_eq!(v["status"], 404);
    assert_eq!(v["span"]["request_id"], id.as_str());
    assert_eq!(v["span"]["http.request.method"], "GET");
    assert_eq!(v["span"]["url.path"], "/missing");
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
}

#[test]
fn every_request_gets_one_info_access_line_unless_turned_off() {
    let mut server = start(&[]);
    let response = get(server.addr, "/fast").unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let id = response.lines().find_map(|l| l.strip_prefix("x-request-id: ")).expect("x-request-id").trim().to_owned();
    let line = wait_for(&server.lines, "\"status\":200");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["level"], "INFO", "{line}");
    assert_eq!(v["span"]["http.request.method"], "GET", "{line}");
    assert_eq!(v["span"]["http.route"], "/fast", "{line}");
    assert_eq!(v["span"]["request_id"], id.as_str(), "{line}");
    assert!(v["latency_ms"].is_number(), "{line}");
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());

    // Off: successes and client errors say nothing; a server error still logs its ERROR line.
    let mut server = start(&[("APP__TELEMETRY__ACCESS_LOG", "false")]);
    assert!(get(server.addr, "/fast").unwrap().starts_with("HTTP/1.1 200"));
    assert!(get(server.addr, "/missing").unwrap().starts_with("HTTP/1.1 404"));
    assert!(get(server.addr, "/fail").unwrap().starts_with("HTTP/1.1 500"));
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
    let rest = rest_of(&server.lines);
    let requests: Vec<&String> = rest.iter().filter(|l| l.contains("\"status\":")).collect();
    assert_eq!(requests.len(), 1, "only the 500 is logged: {requests:?}");
    assert!(requests[0].contains("\"level\":\"ERROR\"") && requests[0].contains("disk on fire"), "{requests:?}");
}

#[test]
fn a_route_taking_auth_without_keys_stops_startup_naming_the_route() {
    let output = Command::new(env!("CARGO_BIN_EXE_auth_without_keys"))
        .current_dir(tempfile_dir())
        .env_clear()
        .env("APP__SERVER__PORT", "0")
        .output()
        .unwrap();
    assert!(!output.status.success(), "it must not serve requests that would all fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("GET /me") && stderr.contains("auth_without_keys::me"), "{stderr}");
    assert!(stderr.contains("call App::auth()") && stderr.contains("[auth.jwt]"), "{stderr}");

    // With the keys it serves.
    let mut server = start_binary(
        env!("CARGO_BIN_EXE_auth_without_keys"),
        &[("AUTH", "on"), ("APP__AUTH__JWT__SECRET", "0123456789abcdef0123456789abcdef-process")],
    );
    assert!(get(server.addr, "/me").unwrap().starts_with("HTTP/1.1 401"));
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
}

#[test]
fn text_formats_write_no_colour_codes_into_a_pipe() {
    for format in ["compact", "pretty"] {
        // Even when the environment asks for colour: stdout here is a pipe, not a terminal.
        let mut server =
            start(&[("APP__TELEMETRY__FORMAT", format), ("CLICOLOR_FORCE", "1"), ("TERM", "xterm-256color")]);
        assert!(get(server.addr, "/fast").unwrap().starts_with("HTTP/1.1 200"));
        let line = wait_for(&server.lines, "request finished");
        sigterm(&server.child);
        assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
        let rest = rest_of(&server.lines);
        assert!(line.contains("INFO") && line.contains("200"), "{format}: {line}");
        for l in std::iter::once(&line).chain(&rest) {
            assert!(!l.contains('\u{1b}'), "{format}: an escape code in {l:?}");
        }
    }
}

#[test]
fn a_server_error_is_logged_once_with_its_cause_and_the_request_id() {
    for trace in ["true", "false"] {
        let mut server = start(&[("APP__SERVER__TRACE", trace)]);
        let response = get(server.addr, "/fail").unwrap();
        assert!(response.starts_with("HTTP/1.1 500"), "{response}");
        assert!(!response.contains("disk on fire"), "the cause stays out of the response: {response}");
        let id =
            response.lines().find_map(|l| l.strip_prefix("x-request-id: ")).expect("x-request-id").trim().to_owned();
        sigterm(&server.child);
        assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
        let failed: Vec<serde_json::Value> = rest_of(&server.lines)
            .iter()
            .filter(|l| l.contains("request failed"))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(failed.len(), 1, "server.trace = {trace}: one line per failed request: {failed:?}");
        let line = &failed[0];
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["status"], 500);
        assert!(line["error"].as_str().unwrap().contains("disk on fire"), "{line}");
        if trace == "true" {
            assert_eq!(line["request_id"], id.as_str(), "{line}");
            assert!(line["latency_ms"].is_number(), "{line}");
        }
    }
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

// Issue 13, serving: each test below failed before the accept loop was reworked.

#[test]
fn a_connection_that_sends_nothing_is_closed_after_header_read_timeout() {
    let mut server = start(&[("APP__SERVER__HEADER_READ_TIMEOUT", "300ms"), ("APP__SERVER__MAX_CONNECTIONS", "2")]);
    let addr = server.addr;
    // Two silent sockets take every connection slot; they must be reaped, timed from accept.
    let mut idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let started = Instant::now();
    for stream in &mut idle {
        assert!(closed_within(stream, Duration::from_secs(5)), "a silent connection stayed open");
    }
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());
    let served = Instant::now();
    assert!(get(addr, "/fast").unwrap().starts_with("HTTP/1.1 200"));
    assert!(served.elapsed() < Duration::from_secs(3), "a normal request waited {:?}", served.elapsed());
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[test]
fn http2_prior_knowledge_is_refused_and_does_not_delay_shutdown() {
    let mut server = start(&[]);
    let addr = server.addr;
    let mut refused = TcpStream::connect(addr).unwrap();
    // The preface and an empty SETTINGS frame, as an HTTP/2 client with prior knowledge opens.
    refused.write_all(H2_PREFACE).unwrap();
    refused.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    assert!(closed_within(&mut refused, Duration::from_secs(2)), "an HTTP/2 connection was kept open");

    // Two that stop after the preface must not hold the exit to server.shutdown_timeout (30 s).
    let _held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(H2_PREFACE).unwrap();
            s
        })
        .collect();
    assert!(get(addr, "/fast").unwrap().starts_with("HTTP/1.1 200"));
    let signalled = Instant::now();
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(20)).success());
    assert!(signalled.elapsed() < Duration::from_secs(3), "exit took {:?}", signalled.elapsed());
}

#[test]
fn the_listen_backlog_holds_a_burst_of_connects() {
    // One connection slot, taken by a silent client: every other connect waits in the backlog.
    let mut server = start(&[("APP__SERVER__MAX_CONNECTIONS", "1")]);
    let addr = server.addr;
    let held = TcpStream::connect(addr).unwrap();
    let mut queued = Vec::new();
    for n in 0..300 {
        // 3 s: room for one SYN retransmission on a loaded machine; a full backlog never frees up.
        match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(stream) => queued.push(stream),
            Err(e) => panic!("connect {n} of 300 failed with the backlog full: {e}"),
        }
    }
    drop((held, queued));
    sigterm(&server.child);
    let _ = wait_exit(&mut server.child, Duration::from_secs(40));
}

#[test]
fn keep_alive_clients_are_told_to_close_during_shutdown_and_see_no_errors() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let mut server = start(&[("APP__SERVER__SHUTDOWN_DELAY", "1s")]);
    let addr = server.addr;
    let served = Arc::new(AtomicUsize::new(0));
    let client = {
        let served = served.clone();
        std::thread::spawn(move || {
            // A keep-alive client that honours `Connection: close`: it reconnects after one, and
            // stops when connects are refused (it would go to another replica).
            let deadline = Instant::now() + Duration::from_secs(20);
            let (mut closes, mut reused_errors) = (0, Vec::new());
            'connect: for _ in 0..100_000 {
                let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else { break };
                stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = std::io::BufReader::new(stream);
                for reused in 0..100_000 {
                    if Instant::now() > deadline {
                        break 'connect;
                    }
                    let sent = writer.write_all(b"GET /fast HTTP/1.1\r\nHost: test\r\n\r\n");
                    match sent.and_then(|()| read_response(&mut reader)) {
                        Ok((head, body)) => {
                            assert!(head.starts_with("HTTP/1.1 200") && body == "fast", "{head}{body}");
                            served.fetch_add(1, Ordering::Relaxed);
                            if head.to_ascii_lowercase().contains("connection: close") {
                                closes += 1;
                                continue 'connect;
                            }
                        }
                        // A request on a connection the server had kept alive: the failure the
                        // drain must prevent.
                        Err(e) if reused > 0 => reused_errors.push(e.to_string()),
                        // A fresh connection the closing listener reset: gone to another replica.
                        Err(_) => break 'connect,
                    }
                }
            }
            (closes, reused_errors)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while served.load(Ordering::Relaxed) < 50 {
        assert!(Instant::now() < deadline, "the keep-alive client made no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    sigterm(&server.child);
    let (closes, reused_errors) = client.join().unwrap();
    assert!(reused_errors.is_empty(), "requests on kept-alive connections failed: {reused_errors:?}");
    assert!(closes > 0, "no response asked the client to close");
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
}

#[test]
fn a_stalled_request_body_gets_408_and_the_connection_closes() {
    let mut server = start(&[("APP__SERVER__BODY_READ_TIMEOUT", "300ms")]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    // 10 of the 100 bytes promised, then nothing.
    write!(stream, "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n0123456789").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("the server answers and closes the connection");
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.to_ascii_lowercase().contains("connection: close"), "{response}");
    assert!(response.contains("server.body_read_timeout"), "{response}");
    assert!(started.elapsed() < Duration::from_secs(3), "answered after {:?}", started.elapsed());
    // A body that arrives in time is read whole.
    let mut ok = TcpStream::connect(server.addr).unwrap();
    write!(ok, "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello").unwrap();
    let mut response = String::new();
    ok.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200") && response.ends_with("hello"), "{response}");
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
}

#[test]
fn http11_without_host_is_400_and_http10_without_host_is_served() {
    let mut server = start(&[]);
    let raw = |request: &str| {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let response = raw("GET /fast HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("Host"), "{response}");
    let response = raw("GET /fast HTTP/1.0\r\n\r\n");
    assert!(response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"), "{response}");
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
}

/// A kept-alive connection after one answered request, and the reader for its next response.
fn kept_alive(addr: std::net::SocketAddr) -> (TcpStream, std::io::BufReader<TcpStream>) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = std::io::BufReader::new(stream);
    writer.write_all(b"GET /fast HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let (head, _) = read_response(&mut reader).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    (writer, reader)
}

#[test]
fn keep_alive_timeout_closes_idle_connections_and_header_read_timeout_runs_from_the_first_byte() {
    let mut server =
        start(&[("APP__SERVER__KEEP_ALIVE_TIMEOUT", "300ms"), ("APP__SERVER__HEADER_READ_TIMEOUT", "20s")]);
    let (_writer, mut reader) = kept_alive(server.addr);
    let started = Instant::now();
    assert!(closed_within(reader.get_mut(), Duration::from_secs(5)), "an idle kept-alive connection stayed open");
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());

    let mut server =
        start(&[("APP__SERVER__KEEP_ALIVE_TIMEOUT", "20s"), ("APP__SERVER__HEADER_READ_TIMEOUT", "300ms")]);
    // Idle for longer than the header timeout: still open, since no request has begun.
    let (mut writer, mut reader) = kept_alive(server.addr);
    std::thread::sleep(Duration::from_millis(900));
    writer.write_all(b"GET /fast HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let (head, _) = read_response(&mut reader).expect("the idle connection is still served");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // A request that starts and stalls is closed by the header timeout, timed from its first byte.
    writer.write_all(b"GET /fa").unwrap();
    let started = Instant::now();
    assert!(closed_within(reader.get_mut(), Duration::from_secs(5)), "a stalled request head stayed open");
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
}

#[test]
fn a_request_line_over_the_head_limit_is_414_and_a_long_head_is_431() {
    let mut server = start(&[]);
    let send = |request: String| {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        String::from_utf8_lossy(&response).into_owned()
    };
    let long_path = "a".repeat(70 * 1024);
    let response = send(format!("GET /{long_path} HTTP/1.1\r\nHost: test\r\n\r\n"));
    assert!(response.starts_with("HTTP/1.1 414"), "{response}");
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    let problem: serde_json::Value = serde_json::from_str(body).expect("a JSON problem body");
    assert_eq!(problem["status"], 414);
    // A short request line with too many header bytes is still 431.
    let big_header = "b".repeat(70 * 1024);
    let response = send(format!("GET /fast HTTP/1.1\r\nHost: test\r\nx-big: {big_header}\r\n\r\n"));
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    // The server is unharmed.
    assert!(get(server.addr, "/fast").unwrap().starts_with("HTTP/1.1 200"));
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
}
