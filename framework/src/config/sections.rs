//! The framework's own config sections: `[server]`, and the tree `FrameworkConfig` loads.

use std::time::Duration;

use serde::{Deserialize, Deserializer};
use trestle_macros::Config;

use super::{byte_size, duration};

/// `[server]`: binding, limits, timeouts and the default middleware stack.
#[derive(Clone, Debug, Config, Deserialize)]
pub struct ServerConfig {
    /// Address to listen on.
    #[config(default = "127.0.0.1")]
    pub host: String,
    /// TCP port; 0 picks a free one (logged at startup).
    #[config(default = 3000)]
    pub port: u16,
    /// Longest a handler may run; slower requests get 503 (0s: no limit).
    #[config(default = "30s")]
    #[serde(with = "duration")]
    pub request_timeout: Duration,
    /// Largest request body read by extractors; larger bodies get 413.
    #[config(default = "2MiB")]
    #[serde(with = "byte_size")]
    pub body_limit: usize,
    /// On SIGINT/SIGTERM, how long readiness answers 503 before the listener closes (time for
    /// load balancers to stop sending traffic).
    #[config(default = "0s")]
    #[serde(with = "duration")]
    pub shutdown_delay: Duration,
    /// On SIGINT/SIGTERM, how long in-flight requests may take to finish.
    #[config(default = "30s")]
    #[serde(with = "duration")]
    pub shutdown_timeout: Duration,
    /// Longest a client may take to send request headers, timed from accept (slowloris
    /// protection: a connection that sends nothing is closed too) and, on a kept-alive
    /// connection, from the first byte of the next request.
    #[config(default = "30s")]
    #[serde(with = "duration")]
    pub header_read_timeout: Duration,
    /// Longest a kept-alive connection may wait, after a response, for the first byte of the
    /// next request before it is closed (0s: no keep-alive, one request per connection).
    #[config(default = "75s")]
    #[serde(with = "duration")]
    pub keep_alive_timeout: Duration,
    /// Longest a request body may stall (no bytes arriving) before the request gets 408 and the
    /// connection closes; the clock restarts with every chunk received (0s: no limit).
    #[config(default = "10s")]
    #[serde(with = "duration")]
    pub body_read_timeout: Duration,
    /// Listen backlog: connections the kernel completes and queues before the server accepts
    /// them (capped by the kernel's `net.core.somaxconn`).
    #[config(default = 1024, validate = super::schema::at_least_one)]
    pub backlog: u32,
    /// Most connections served at once; more clients wait in the accept queue.
    #[config(default = 10000, validate = super::schema::at_least_one)]
    pub max_connections: usize,
    /// Most requests handled at once; beyond it requests get 503 with Retry-After (0: no limit).
    #[config(default = 0)]
    pub concurrency_limit: usize,
    /// Keep or set `x-request-id` and record it on the span and in problem bodies.
    #[config(default = true)]
    pub request_id: bool,
    /// The header the request id is read from and echoed in (`server.request_id`).
    #[config(default = "x-request-id", validate = header_name)]
    pub request_id_header: String,
    /// Proxies whose forwarding headers are believed: IP addresses or networks (`10.0.0.0/8`,
    /// `fd00::/8`). When the connection comes from one of them, the client's address and scheme
    /// are read from `Forwarded` (or `X-Forwarded-For`/`X-Forwarded-Proto`), right-most
    /// untrusted hop first; from anyone else those headers are ignored. Empty: the peer is the
    /// client.
    #[config(default = [] as [&str; 0], validate = networks)]
    pub trusted_proxies: Vec<String>,
    /// The header trusted proxies report the client in: `x-forwarded-for` (with
    /// `x-forwarded-proto`: nginx, HAProxy, cloud load balancers) or `forwarded` (RFC 7239).
    /// Only that one is read: a proxy that does not write the other passes a client's forged
    /// copy of it through.
    #[config(default = "x-forwarded-for", validate = forwarded_header)]
    pub forwarded_header: String,
    /// Open a span per request (method, route, request id, status, latency) and log its outcome.
    #[config(default = true)]
    pub trace: bool,
    /// Answer a panicking handler with a 500 problem and keep serving.
    #[config(default = true)]
    pub catch_panic: bool,
    /// Compress responses over 1 KiB (gzip, brotli) for clients that accept it.
    #[config(default = true)]
    pub compression: bool,
    /// Add `x-content-type-options`, `x-frame-options` and `referrer-policy` to responses.
    #[config(default = true)]
    pub security_headers: bool,
    /// Serve `/health/live` and `/health/ready`.
    #[config(default = true)]
    pub health: bool,
    /// Longest one readiness check may take before it counts as failed.
    #[config(default = "2s")]
    #[serde(with = "duration")]
    pub readiness_timeout: Duration,
    /// Cross-origin resource sharing (off until `allowed_origins` is set).
    #[config(nested)]
    pub cors: Cors,
}

/// `[server.cors]`: CORS, off unless `allowed_origins` is set.
#[derive(Clone, Debug, Config, Deserialize)]
#[config(validate = Cors::check)]
pub struct Cors {
    /// Origins allowed to call the API (`["https://app.example.com"]`, or `["*"]`); empty: CORS off.
    #[config(default = [] as [&str; 0], validate = origins)]
    #[serde(deserialize_with = "list")]
    pub allowed_origins: Vec<String>,
    /// Methods allowed in cross-origin requests.
    #[config(default = ["GET", "POST", "PUT", "PATCH", "DELETE"], validate = methods)]
    #[serde(deserialize_with = "list")]
    pub allowed_methods: Vec<String>,
    /// Request headers allowed in cross-origin requests.
    #[config(default = ["authorization", "content-type"], validate = header_names)]
    #[serde(deserialize_with = "list")]
    pub allowed_headers: Vec<String>,
    /// Allow cookies and credentials (not with the origin `*`).
    #[config(default = false)]
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight answer.
    #[config(default = "1h")]
    #[serde(with = "duration")]
    pub max_age: Duration,
}

impl Cors {
    fn check(&self) -> Result<(), &'static str> {
        if self.allow_credentials && self.allowed_origins.iter().any(|o| o == "*") {
            return Err("allow_credentials cannot be used with the origin \"*\": list the origins instead");
        }
        Ok(())
    }
}

// The entries are checked at load time, so the middleware builds CORS from a valid section
// without failing. Entries are named by position, not quoted: messages never echo config values.

fn bad_entry(n: usize, what: &str) -> String {
    format!("entry {} is not {what}", n + 1)
}

/// A header the stack may set on every response: a valid name, and not one HTTP itself or
/// cookies give a meaning (the id would overwrite it).
fn header_name(name: &str) -> Result<(), &'static str> {
    use http::header;
    let Ok(name) = name.parse::<http::HeaderName>() else {
        return Err("must be an HTTP header name (letters, digits and `-`, like x-request-id)");
    };
    let reserved = [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
        header::TRANSFER_ENCODING,
        header::CONNECTION,
        header::HOST,
        header::SET_COOKIE,
        header::COOKIE,
        header::AUTHORIZATION,
        header::LOCATION,
        header::DATE,
        header::UPGRADE,
        header::TE,
        header::TRAILER,
    ];
    if reserved.contains(&name) || name.as_str() == "keep-alive" || name.as_str() == "proxy-connection" {
        return Err("names a header HTTP gives a meaning of its own; use a header of its own, like x-request-id");
    }
    Ok(())
}

fn origins(origins: &[String]) -> Result<(), String> {
    match origins.iter().position(|o| http::HeaderValue::from_str(o).is_err()) {
        Some(n) => Err(bad_entry(n, "a valid origin (visible ASCII, like https://app.example.com)")),
        None => Ok(()),
    }
}

fn methods(methods: &[String]) -> Result<(), String> {
    match methods.iter().position(|m| http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()).is_err()) {
        Some(n) => Err(bad_entry(n, "an HTTP method (like GET or POST)")),
        None => Ok(()),
    }
}

fn forwarded_header(name: &str) -> Result<(), &'static str> {
    match name.to_ascii_lowercase().as_str() {
        "x-forwarded-for" | "forwarded" => Ok(()),
        _ => Err("must be \"x-forwarded-for\" or \"forwarded\""),
    }
}

/// IP addresses or CIDR networks.
fn networks(list: &[String]) -> Result<(), String> {
    list.iter().try_for_each(|net| net.parse::<Cidr>().map(drop))
}

/// A network in CIDR notation (`10.0.0.0/8`, `fd00::/8`) or a single address: an entry of
/// `server.trusted_proxies`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = text.trim().split_once('/').map_or((text.trim(), None), |(a, p)| (a, Some(p)));
        let addr: std::net::IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or a network like 10.0.0.0/8 or fd00::/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?} has a prefix length that is not 0 to {max}"))?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

impl Cidr {
    /// Whether `ip` is in the network; an IPv4 peer on a dual-stack socket (`::ffff:a.b.c.d`)
    /// counts as IPv4.
    pub(crate) fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn header_names(headers: &[String]) -> Result<(), String> {
    match headers.iter().position(|h| h.parse::<http::HeaderName>().is_err()) {
        Some(n) => Err(bad_entry(n, "an HTTP header name (letters, digits and `-`)")),
        None => Ok(()),
    }
}

/// A list written either as a TOML array or as comma-separated text (as environment variables
/// must write it: `APP__SERVER__CORS__ALLOWED_ORIGINS=https://a.com,https://b.com`).
pub(super) fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::List(v) => v,
        Raw::Text(t) => t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
    })
}

/// Everything the framework reads, loaded from the same tree as the app's struct.
#[derive(Clone, Debug, Config, Deserialize)]
pub(crate) struct FrameworkConfig {
    #[config(nested)]
    pub(crate) server: ServerConfig,
    #[config(nested)]
    pub(crate) telemetry: super::TelemetryConfig,
    #[config(nested)]
    pub(crate) database: super::DatabaseConfig,
    #[config(nested)]
    pub(crate) auth: super::AuthConfig,
    #[config(nested)]
    pub(crate) rate_limit: super::RateLimitConfig,
    #[config(nested)]
    pub(crate) pagination: super::PaginationConfig,
    #[config(nested)]
    pub(crate) openapi: super::OpenApiConfig,
}

impl Default for ServerConfig {
    /// The defaults, as documented on each field.
    fn default() -> Self {
        super::schema::defaults()
    }
}

impl Default for super::DatabaseConfig {
    /// The defaults, as documented on each field (no URL).
    fn default() -> Self {
        super::schema::defaults()
    }
}

impl Default for super::TelemetryConfig {
    /// The defaults, as documented on each field.
    fn default() -> Self {
        super::schema::defaults()
    }
}
