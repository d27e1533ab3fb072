//! `[rate_limit]`: how many requests each client may make, counted in process or in Redis.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use trestle_macros::Config;

use super::{duration, DatabaseUrl};

/// `[rate_limit]`: a quota of requests per client (GCRA: a steady rate with a burst), off by
/// default. Routes override it with `#[get("/…", rate_limit = "5/1m")]` or in `routes`.
#[derive(Clone, Debug, Config, Deserialize)]
#[config(validate = RateLimitConfig::check)]
pub struct RateLimitConfig {
    /// Limit the app's routes (the health probes and metrics never are).
    #[config(default = false)]
    pub enabled: bool,
    /// Requests each client may make per `period`, at a steady rate.
    #[config(default = 100, validate = super::schema::at_least_one)]
    pub requests: u32,
    /// The period `requests` are counted over.
    #[config(default = "1s", validate = positive)]
    #[serde(with = "duration")]
    pub period: Duration,
    /// Requests a client may make at once after being idle (0: `requests`, a whole period's
    /// worth).
    #[config(default = 0)]
    pub burst: u32,
    /// Who a quota belongs to: `ip` (the client's address; IPv6 by its /64, what one host is
    /// given), `subject` (the verified token's `sub`, else the address; needs `App::auth()`) or
    /// `app` (the key `App::rate_limit_key` computes, else the address).
    #[config(default = "ip")]
    pub key: RateLimitKey,
    /// Where requests are counted: `memory` (this process: right for one replica) or `redis`
    /// (shared by every replica; feature `redis`, `[rate_limit.redis]`).
    #[config(default = "memory")]
    pub backend: RateLimitBackend,
    /// When the backend cannot answer (Redis down or slow): `allow` the request (fail open,
    /// counted in metrics and logged) or `deny` it with 503.
    #[config(default = "allow")]
    pub on_backend_error: OnBackendError,
    /// Send the `RateLimit` and `RateLimit-Policy` headers (IETF draft) on every answer of a
    /// limited route, not only on 429s (which always carry them). Off by default, as in
    /// tower-governor and Envoy: two more headers grow the response's header map, which costs
    /// more than the limiter itself.
    #[config(default = false)]
    pub headers: bool,
    /// Per-route quotas, overriding the routes' own: `"POST /api/users/login" = "5/1m"`, or
    /// `"off"` for none. Keys are a method and the route's path template. In an environment
    /// variable: `POST /api/users/login=5/1m,GET /search=off`.
    #[config(default = BTreeMap::<String, String>::new(), validate = route_quotas)]
    #[serde(deserialize_with = "route_table")]
    pub routes: BTreeMap<String, String>,
    /// The Redis backend.
    #[config(nested)]
    pub redis: RedisConfig,
}

/// `[rate_limit.redis]`: the Redis every replica counts in.
#[derive(Clone, Debug, Config, Deserialize)]
pub struct RedisConfig {
    /// `redis://[[user]:password@]host:6379[/db]`, `rediss://…` (TLS) or
    /// `redis+unix:///path/redis.sock?pass=…`; the password is redacted wherever the URL is
    /// shown.
    #[config(default = "redis://127.0.0.1:6379", secret)]
    pub url: DatabaseUrl,
    /// Longest a request waits for Redis's answer; then `on_backend_error` decides it. Also
    /// bounds each connection attempt.
    #[config(default = "50ms", validate = positive)]
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// After three failures in a row, how long requests skip Redis (and `on_backend_error`
    /// decides them) before it is tried again: an outage costs requests no waiting, and a lone
    /// slow answer fails only its own request.
    #[config(default = "1s")]
    #[serde(with = "duration")]
    pub retry_after: Duration,
    /// Prefix of the keys written (`<prefix>:<route>:<client>`); give each app its own.
    #[config(default = "trestle:rl")]
    pub prefix: String,
    /// PEM file of the certificate authorities to trust for `rediss://` (a private CA); unset:
    /// the public web roots (compiled in).
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for RateLimitConfig {
    /// The defaults, as documented on each field (off).
    fn default() -> Self {
        super::schema::defaults()
    }
}

impl RateLimitConfig {
    /// The default quota: `requests` per `period` with the configured burst.
    pub fn quota(&self) -> Quota {
        Quota { requests: self.requests, period: self.period, burst: self.burst }
    }

    fn check(&self) -> Result<(), &'static str> {
        if self.backend == RateLimitBackend::Redis && self.redis.prefix.is_empty() {
            return Err("redis.prefix must not be empty: it keeps the limiter's keys apart from others");
        }
        Ok(())
    }
}

/// Who a quota belongs to (`rate_limit.key`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitKey {
    /// The client's address (through `server.trusted_proxies`); IPv6 by its /64.
    Ip,
    /// The verified token's subject; the address for requests without a valid token.
    Subject,
    /// The app's key (`App::rate_limit_key`); the address when it gives none.
    App,
}

/// Where requests are counted (`rate_limit.backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitBackend {
    /// In this process.
    Memory,
    /// In Redis, shared by every replica.
    Redis,
}

/// What a request gets when the backend cannot answer (`rate_limit.on_backend_error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnBackendError {
    /// Serve it (fail open).
    Allow,
    /// Refuse it with 503 (fail closed).
    Deny,
}

/// A quota: `requests` per `period`, up to `burst` at once (0: `requests`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Requests per period.
    pub requests: u32,
    /// The period.
    pub period: Duration,
    /// Requests at once after an idle spell; 0 means `requests`.
    pub burst: u32,
}

impl Quota {
    /// Requests allowed at once.
    pub fn burst(&self) -> u32 {
        if self.burst == 0 {
            self.requests
        } else {
            self.burst
        }
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} requests per {}", self.requests, duration_text(self.period))
    }
}

/// `d` as the shortest duration text that reads back the same (`1h`, `90s`, `250ms`).
pub(crate) fn duration_text(d: Duration) -> String {
    match d.as_millis() {
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// A route's quota as written in `#[get("/…", rate_limit = "…")]` or `rate_limit.routes`:
/// `"5/1m"` (5 requests a minute), `"100/1s"`, `"20/1s/40"` (with a burst of 40), or `"off"`
/// (`None`: not limited).
pub fn parse_quota(text: &str) -> Result<Option<Quota>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    const FORM: &str = "write requests/period, like \"5/1m\" or \"100/1s\" (a burst third: \"20/1s/40\"), or \"off\"";
    let mut parts = text.split('/');
    let (Some(requests), Some(period)) = (parts.next(), parts.next()) else {
        return Err(format!("{text:?} is not a quota: {FORM}"));
    };
    let burst = parts.next();
    if parts.next().is_some() {
        return Err(format!("{text:?} is not a quota: {FORM}"));
    }
    let count = |n: &str| n.trim().parse::<u32>().ok().filter(|n| *n > 0);
    let requests =
        count(requests).ok_or_else(|| format!("{text:?}: the request count must be a whole number from 1; {FORM}"))?;
    let period = duration::parse(period)
        .ok()
        .filter(|p| !p.is_zero())
        .ok_or_else(|| format!("{text:?}: the period must be a duration longer than 0, like 1s, 1m or 1h; {FORM}"))?;
    let burst = match burst {
        Some(b) => count(b).ok_or_else(|| format!("{text:?}: the burst must be a whole number from 1; {FORM}"))?,
        None => 0,
    };
    Ok(Some(Quota { requests, period, burst }))
}

/// A `rate_limit.routes` key: `"GET /articles/{slug}"`.
pub(crate) fn parse_route_key(key: &str) -> Option<(http::Method, &str)> {
    let (method, path) = key.trim().split_once(' ')?;
    let path = path.trim();
    let method = http::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).ok()?;
    path.starts_with('/').then_some((method, path))
}

fn route_quotas(routes: &BTreeMap<String, String>) -> Result<(), String> {
    for (route, quota) in routes {
        if parse_route_key(route).is_none() {
            return Err(format!(
                "the key {route:?} is not a route: write a method and a path, like \"POST /api/users/login\""
            ));
        }
        parse_quota(quota).map_err(|e| format!("the quota of {route:?}: {e}"))?;
    }
    Ok(())
}

/// A table, or `route=quota` pairs separated by commas (what an environment variable holds).
fn route_table<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Table(BTreeMap<String, String>),
        Text(String),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::Table(table) => table,
        Raw::Text(text) => {
            let mut table = BTreeMap::new();
            for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let Some((route, quota)) = pair.split_once('=') else {
                    return Err(serde::de::Error::custom(format!(
                        "{pair:?} has no `=`: write \"POST /api/users/login=5/1m,GET /search=off\""
                    )));
                };
                table.insert(route.trim().to_owned(), quota.trim().to_owned());
            }
            table
        }
    })
}

fn positive(d: &Duration) -> Result<(), &'static str> {
    if d.is_zero() {
        return Err("must be longer than 0s");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_with_and_without_burst() {
        let q = parse_quota("5/1m").unwrap().unwrap();
        assert_eq!((q.requests, q.period, q.burst()), (5, Duration::from_secs(60), 5));
        let q = parse_quota(" 20/1s/40 ").unwrap().unwrap();
        assert_eq!((q.requests, q.period, q.burst()), (20, Duration::from_secs(1), 40));
        assert_eq!(parse_quota("OFF").unwrap(), None);
        assert_eq!(q.to_string(), "20 requests per 1s");
    }

    #[test]
    fn bad_quotas_say_how_to_write_one() {
        for bad in ["5", "0/1s", "5/0s", "5/1fortnight", "a/1s", "5/1s/0", "5/1s/2/3", ""] {
            let e = parse_quota(bad).unwrap_err();
            assert!(e.contains("\"5/1m\""), "{bad}: {e}");
        }
    }

    #[test]
    fn route_keys_need_a_method_and_a_path() {
        assert_eq!(parse_route_key("post /api/users/login"), Some((http::Method::POST, "/api/users/login")));
        assert_eq!(parse_route_key("/api/users/login"), None);
        assert_eq!(parse_route_key("POST api"), None);
        let mut routes = BTreeMap::new();
        routes.insert("POST /login".to_owned(), "5/fortnight".to_owned());
        assert!(route_quotas(&routes).unwrap_err().contains("POST /login"));
    }
}
