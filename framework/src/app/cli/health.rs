//! `health`: probes a running instance's readiness over HTTP, so a container's `HEALTHCHECK`
//! needs nothing but the app's own binary.

use std::time::Duration;

use clap::Args;
use http_body_util::BodyExt;

use super::super::App;
use crate::config::Config;

/// `health`'s options.
#[derive(Args, Debug)]
pub(super) struct Probe {
    /// The URL to probe; by default `/health/ready` on `server.host`:`server.port` from the
    /// config (a wildcard host probes loopback).
    #[arg(long)]
    url: Option<String>,
    /// How long to wait for the answer.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::config::duration::parse(text)
}

pub(super) async fn run<C: Config, S>(app: &App<C, S>, probe: Probe) -> i32 {
    let target = match probe.url {
        Some(url) => url,
        None => match address(app) {
            Ok((host, port)) => default_url(&host, port),
            Err(e) => {
                println!("not checked: the address is unknown (pass --url): {e}");
                return 1;
            }
        },
    };
    // What the messages show: the URL without its user info.
    let url = crate::config::DatabaseUrl::new(target.as_str()).redacted();
    match tokio::time::timeout(probe.timeout, get(&target)).await {
        Ok(Ok((status, _))) if status.is_success() => {
            println!("ready: {url} answered {status}");
            0
        }
        Ok(Ok((status, body))) => {
            println!("not ready: {url} answered {status}");
            let detail = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned));
            if let Some(detail) = detail {
                println!("  {detail}");
            }
            1
        }
        Ok(Err(e)) => {
            println!("not ready: {e}");
            1
        }
        Err(_) => {
            println!("not ready: {url} did not answer within {}ms (--timeout)", probe.timeout.as_millis());
            1
        }
    }
}

/// `server.host` and `server.port`, from the config as it loads — or, when another part of it
/// does not (a secret file rotated away from under a running server), from those two keys alone:
/// the probe asks about the server, not about the config.
fn address<C: Config, S>(app: &App<C, S>) -> Result<(String, u16), String> {
    match app.setup.loader.load::<C>() {
        Ok(config) => Ok((config.server.host, config.server.port)),
        Err(load_error) => {
            let settings = app.setup.loader.explain::<C>().map_err(|e| e.to_string())?;
            let value = |key: &str| {
                settings
                    .iter()
                    .find(|s| s.key == key)
                    .and_then(|s| s.value.clone())
                    .map(|v| v.trim_matches('"').to_owned())
            };
            let host = value("server.host").unwrap_or_default();
            let port = value("server.port").and_then(|p| p.parse().ok());
            match port {
                Some(port) if !host.is_empty() => Ok((host, port)),
                _ => Err(load_error.to_string()),
            }
        }
    }
}

/// `http://host:port/health/ready`, loopback for a wildcard host.
fn default_url(host: &str, port: u16) -> String {
    let host = match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        h if h.contains(':') && !h.starts_with('[') => return format!("http://[{h}]:{port}/health/ready"),
        h => h,
    };
    format!("http://{host}:{port}/health/ready")
}

/// One GET, answered with its status and body.
async fn get(url: &str) -> Result<(http::StatusCode, bytes::Bytes), String> {
    let uri: http::Uri =
        url.parse().map_err(|e| format!("the --url is not a URL ({e}): pass http://host:port/path"))?;
    if uri.scheme_str() != Some("http") {
        return Err(
            "the probe speaks plain http (the app serves http; TLS ends at a proxy in front of it): use an http:// URL"
                .to_owned(),
        );
    }
    let host = uri.host().ok_or_else(|| "the --url names no host".to_owned())?;
    // Host and messages name host and port only: user info in the URL stays out of both.
    let authority = match uri.port_u16() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let addr = format!("{}:{}", host, uri.port_u16().unwrap_or(80));
    // Resolved first, on its own, so a name that does not resolve is told apart from a server
    // that does not answer.
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host(addr.as_str())
        .await
        .map_err(|e| {
            format!(
                "cannot resolve {host} ({e}): the system has no /etc/hosts entry or DNS answer for it (container runtimes mount /etc/hosts and /etc/resolv.conf; in a bare root use --url with an IP address)"
            )
        })?
        .collect();
    let stream = tokio::net::TcpStream::connect(addrs.as_slice())
        .await
        .map_err(|e| format!("cannot connect to {authority} ({e}): is the app running and listening there?"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| format!("{authority} does not speak HTTP/1.1: {e}"))?;
    tokio::spawn(connection);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = http::Request::get(path)
        .header(http::header::HOST, &authority)
        .header(http::header::USER_AGENT, "trestle-health")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| format!("{authority} closed the connection: {e}"))?;
    let status = response.status();
    let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn wildcard_hosts_are_probed_on_loopback() {
        assert_eq!(super::default_url("0.0.0.0", 3000), "http://127.0.0.1:3000/health/ready");
        assert_eq!(super::default_url("::", 80), "http://[::1]:80/health/ready");
        assert_eq!(super::default_url("10.0.0.5", 8080), "http://10.0.0.5:8080/health/ready");
    }
}
