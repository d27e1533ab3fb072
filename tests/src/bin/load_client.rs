//! Steady keep-alive HTTP load that counts every answer, for `scripts/test-replicas`.
//!
//! ```text
//! load_client URL [--connections N] [--duration SECONDS] [--source IP] [--until FILE]
//! ```
//!
//! Opens `N` keep-alive connections (from `--source`, a loopback address such as 127.0.0.2, so
//! a proxy reports that client) and sends `GET URL` on each, one request after another, until
//! `--duration` has passed or `--until` FILE exists. A refused or broken connection is counted
//! and reopened. Prints one JSON object: requests, the count per status code, transport errors,
//! failures (5xx or transport errors) and when the first and last failure happened.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;

/// Longest one request may take before it counts as a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

struct Options {
    addr: SocketAddr,
    host: String,
    path: String,
    connections: usize,
    duration: Duration,
    source: Option<IpAddr>,
    until: Option<PathBuf>,
}

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    /// Seconds from the start: first and last 5xx or transport error.
    failures: Option<(f64, f64)>,
    failure_count: u64,
    examples: Vec<String>,
}

impl Tally {
    fn failed(&mut self, at: f64, what: String) {
        self.failure_count += 1;
        self.failures = Some(self.failures.map_or((at, at), |(first, _)| (first, at)));
        if self.examples.len() < 5 {
            self.examples.push(format!("{at:.3}s: {what}"));
        }
    }
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let url =
        args.next().ok_or("usage: load_client URL [--connections N] [--duration S] [--source IP] [--until FILE]")?;
    let rest = url.strip_prefix("http://").ok_or("the URL must start with http://")?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let addr: SocketAddr = host.parse().map_err(|_| format!("{host} is not an IP address and port"))?;
    let mut options = Options {
        addr,
        host: host.to_owned(),
        path,
        connections: 4,
        duration: Duration::from_secs(10),
        source: None,
        until: None,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--connections" => options.connections = value.parse().map_err(|_| "--connections takes a number")?,
            "--duration" => {
                options.duration = Duration::from_secs_f64(value.parse().map_err(|_| "--duration takes seconds")?)
            }
            "--source" => options.source = Some(value.parse().map_err(|_| "--source takes an IP address")?),
            "--until" => options.until = Some(PathBuf::from(value)),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

/// One connection's loop: connect, send requests one after another, reconnect when it breaks.
async fn worker(options: Arc<Options>, tally: Arc<Mutex<Tally>>, start: Instant) {
    let done = || start.elapsed() >= options.duration || options.until.as_ref().is_some_and(|f| f.exists());
    let at = || start.elapsed().as_secs_f64();
    while !done() {
        let socket = TcpSocket::new_v4().expect("a socket");
        if let Some(source) = options.source {
            socket.bind(SocketAddr::new(source, 0)).expect("the source address is on loopback");
        }
        let stream = match tokio::time::timeout(REQUEST_TIMEOUT, socket.connect(options.addr)).await {
            Ok(Ok(stream)) => stream,
            other => {
                {
                    let mut t = tally.lock().unwrap();
                    t.transport_errors += 1;
                    t.failed(at(), format!("connect: {other:?}"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Ok((mut sender, connection)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await else {
            continue;
        };
        tokio::spawn(connection);
        while !done() {
            if sender.ready().await.is_err() {
                break;
            }
            let request = hyper::Request::get(options.path.as_str())
                .header("host", options.host.as_str())
                .body(Empty::<Bytes>::new())
                .expect("a valid request");
            let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
                let response = sender.send_request(request).await?;
                let status = response.status().as_u16();
                let close =
                    response.headers().get("connection").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                response.into_body().collect().await?;
                Ok::<_, hyper::Error>((status, close))
            })
            .await;
            let mut t = tally.lock().unwrap();
            match answer {
                Ok(Ok((status, close))) => {
                    *t.statuses.entry(status).or_default() += 1;
                    if status >= 500 {
                        t.failed(at(), format!("status {status}"));
                    }
                    if close {
                        break;
                    }
                }
                Ok(Err(e)) => {
                    t.transport_errors += 1;
                    t.failed(at(), format!("request: {e}"));
                    break;
                }
                Err(_) => {
                    t.transport_errors += 1;
                    t.failed(at(), format!("no answer within {REQUEST_TIMEOUT:?}"));
                    break;
                }
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let options = match parse_args() {
        Ok(o) => Arc::new(o),
        Err(e) => {
            eprintln!("load_client: {e}");
            std::process::exit(2);
        }
    };
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let workers: Vec<_> =
        (0..options.connections).map(|_| tokio::spawn(worker(options.clone(), tally.clone(), start))).collect();
    for w in workers {
        w.await.expect("a worker does not panic");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let t = tally.lock().unwrap();
    let requests: u64 = t.statuses.values().sum();
    let statuses: BTreeMap<String, u64> = t.statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let summary = serde_json::json!({
        "requests": requests,
        "statuses": statuses,
        "transport_errors": t.transport_errors,
        "failures": t.failure_count,
        "first_failure_s": t.failures.map(|f| f.0),
        "last_failure_s": t.failures.map(|f| f.1),
        "failure_examples": t.examples,
        "elapsed_s": elapsed,
        "requests_per_s": requests as f64 / elapsed,
    });
    println!("{summary}");
}
