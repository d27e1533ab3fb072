//! Rate limiting (`[rate_limit]`): a quota of requests per client, checked by the default
//! stack before the handler runs.
//!
//! ```toml
//! [rate_limit]
//! enabled = true      # the default quota, for every route of the app
//! requests = 100      # per client, per period, at a steady rate…
//! period = "1s"
//! burst = 0           # …with this many at once after an idle spell (0: `requests`)
//! key = "ip"          # ip | subject | app
//! backend = "memory"  # memory (one replica) | redis (shared by every replica)
//!
//! [rate_limit.routes]
//! "POST /api/users/login" = "5/1m"
//! ```
//!
//! A route sets its own quota in its attribute, `#[post("/api/users/login", rate_limit =
//! "5/1m")]` (or `"off"`); `rate_limit.routes` overrides both. Routes with a quota of their own
//! are limited whether or not `enabled` turns on the default, and count separately from it.
//! The health probes and metrics are never limited.
//!
//! The algorithm is GCRA (the generic cell rate algorithm): a steady rate with a burst, one
//! number per client. A request over quota gets `429 Too Many Requests`, a problem with
//! `Retry-After` and the IETF draft's `RateLimit-Policy: "default";q=100;w=1` and `RateLimit:
//! "default";r=0;t=1` (remaining, seconds until whole); with `rate_limit.headers = true` every
//! answer of a limited route carries the two.
//!
//! Clients are told apart by `rate_limit.key`: their address (`ip`; through
//! `server.trusted_proxies`, IPv6 by its /64 — what one host gets), the verified token's
//! subject (`subject`, the address for anonymous requests) or the app's own key
//! ([`App::rate_limit_key`](crate::App::rate_limit_key)).
//!
//! With several replicas, `backend = "redis"` (feature `redis`) counts in one Redis: one
//! round trip per request, bounded by `rate_limit.redis.timeout`. When Redis cannot answer,
//! `on_backend_error = "allow"` (the default) serves the request — counted in
//! `trestle_rate_limit_backend_failures_total` and logged at most every 10 s — and `"deny"`
//! answers 503.

mod gcra;
#[cfg(feature = "redis")]
mod redis;

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use crate::auth::Jwt;
use crate::config::{
    parse_quota, parse_route_key, OnBackendError, Quota, RateLimitBackend, RateLimitConfig, RateLimitKey,
};
use crate::error::Error;
use crate::routing::RouteInfo;
use gcra::{Client, Key, Memory, Outcome, Rates};

/// Problem `type` of a 429 answer.
pub const RATE_LIMITED: &str = "urn:trestle:problem:rate-limited";

/// The `RateLimit-Policy` header (IETF draft `ratelimit-headers`).
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// The `RateLimit` header (IETF draft `ratelimit-headers`).
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// How often a failing backend is logged: the first failure, then a summary at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The app's own rate limit key ([`App::rate_limit_key`](crate::App::rate_limit_key)).
pub(crate) type KeyFn = Arc<dyn Fn(&Request) -> Option<String> + Send + Sync>;

/// Why rate limiting could not be set up as configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// `key = "subject"` without `App::auth()`.
    #[error("rate_limit.key = \"subject\" counts requests by the verified token's subject, but the app has no keys to verify tokens with: call App::auth(), or set rate_limit.key = \"ip\"")]
    SubjectWithoutAuth,
    /// `key = "app"` without `App::rate_limit_key`.
    #[error("rate_limit.key = \"app\" counts requests by the app's own key, but the app gives none: call App::rate_limit_key(|request| …), or set rate_limit.key = \"ip\"")]
    NoAppKey,
    /// `App::rate_limit_key` with another `key`.
    #[error("App::rate_limit_key was called, but rate_limit.key is \"{0}\", so the app's key would be ignored: set rate_limit.key = \"app\"")]
    AppKeyUnused(&'static str),
    /// `backend = "redis"` in a build without the feature.
    #[error("rate_limit.backend = \"redis\" needs trestle's `redis` feature: add `features = [\"redis\"]` to trestle in Cargo.toml, or set rate_limit.backend = \"memory\"")]
    RedisNotBuilt,
    /// `rate_limit.redis.url` is unusable.
    #[error("rate_limit.redis.url: {0}")]
    RedisUrl(String),
    /// A route's `rate_limit = "…"` does not parse.
    #[error("the route {route} has rate_limit = {text:?}: {problem}")]
    RouteQuota {
        /// The route's method, path and handler.
        route: String,
        /// Its quota as written.
        text: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl RateLimitError {
    /// The config key to fix, if one is to blame.
    pub fn config_key(&self) -> Option<&'static str> {
        match self {
            RateLimitError::SubjectWithoutAuth | RateLimitError::NoAppKey | RateLimitError::AppKeyUnused(_) => {
                Some("rate_limit.key")
            }
            RateLimitError::RedisNotBuilt => Some("rate_limit.backend"),
            RateLimitError::RedisUrl(_) => Some("rate_limit.redis.url"),
            RateLimitError::RouteQuota { .. } => None,
        }
    }
}

/// One quota, as the stack applies it.
struct Policy {
    /// `default`, or the route (`POST /api/users/login`): the name in Redis keys.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    name: Box<str>,
    quota: Quota,
    rates: Rates,
    /// `"default";q=100;w=1`.
    header: HeaderValue,
    /// The header's policy item: `"default"` or `"route"`.
    item: &'static str,
}

impl Policy {
    fn new(name: &str, quota: Quota, item: &'static str) -> Self {
        // The draft counts in whole seconds: a shorter or fractional period is shown as its rate
        // over one second (never less than one request).
        let millis = quota.period.as_millis().max(1);
        let (q, w) = if millis.is_multiple_of(1000) {
            (u128::from(quota.requests), millis / 1000)
        } else {
            ((u128::from(quota.requests) * 1000 / millis).max(1), 1)
        };
        // Leaked once per policy at startup, so that each answer clones a static value.
        let text: &'static str = Box::leak(format!("\"{item}\";q={q};w={w}").into_boxed_str());
        let header = HeaderValue::from_static(text);
        Self { name: name.into(), quota, rates: Rates::of(&quota), header, item }
    }
}

/// Where requests are counted.
enum Backend {
    Memory(Memory),
    #[cfg(feature = "redis")]
    Redis(redis::Redis),
}

/// The limiter the stack consults: the policies, who clients are, where they are counted.
pub(crate) struct Limiter {
    policies: Vec<Policy>,
    /// The policy of routes without one of their own (`rate_limit.enabled`).
    default: Option<u32>,
    /// Route path → its methods' policies (`None`: not limited).
    routes: HashMap<Box<str>, Vec<(Method, Option<u32>)>>,
    key: RateLimitKey,
    jwt: Option<Jwt>,
    app_key: Option<KeyFn>,
    backend: Backend,
    on_error: OnBackendError,
    headers: bool,
    limited: AtomicU64,
    failures: Failures,
}

/// What the limiter made of one request.
enum Verdict {
    /// No quota applies, or the backend failed open: serve it, no headers.
    Unlimited,
    /// Counted: serve it (`allowed`) or refuse it with 429.
    Decided { policy: u32, outcome: Outcome },
    /// The backend failed closed: 503.
    Unavailable,
}

/// A verdict still waiting for the backend's answer.
type Pending = Pin<Box<dyn Future<Output = Verdict> + Send>>;

/// A request counted, its verdict ready or on its way.
pub(crate) struct Check(Result<Verdict, Pending>);

/// An admitted request's standing under its quota, for its answer's headers.
pub(crate) struct Standing {
    policy: u32,
    outcome: Outcome,
}

/// The quota that limits `method` on the route at `path` whose own quota is `own` (its
/// `rate_limit = "…"`), as [`Limiter::build`] decides it: an entry of `rate_limit.routes`, else
/// the route's own, else the default quota when `rate_limit.enabled`. `None` when nothing, or
/// `off`, does. For the route table and the OpenAPI document's 429s.
pub(crate) fn effective_quota(config: &RateLimitConfig, path: &str, method: &str, own: Option<&str>) -> Option<String> {
    let configured = config.routes.iter().find_map(|(key, text)| {
        let (m, route) = parse_route_key(key)?;
        (m.as_str() == method && route == path).then(|| text.clone())
    });
    let quota = configured.or(own.map(str::to_owned)).or_else(|| {
        let q = config.quota();
        config.enabled.then(|| match q.burst {
            0 => format!("{}/{}", q.requests, crate::config::duration_text(q.period)),
            burst => format!("{}/{}/{burst}", q.requests, crate::config::duration_text(q.period)),
        })
    })?;
    matches!(parse_quota(&quota), Ok(Some(_))).then_some(quota)
}

/// What the limiter needs from the app, beside `[rate_limit]`.
pub(crate) struct Inputs<'a> {
    pub(crate) config: &'a RateLimitConfig,
    /// Every macro route, for their `rate_limit = "…"`.
    pub(crate) routes: &'a [RouteInfo],
    /// The app's keys, when `App::auth()` loaded them.
    pub(crate) jwt: Option<Jwt>,
    pub(crate) app_key: Option<KeyFn>,
}

impl Limiter {
    /// The limiter `inputs` describe; `None` when no route is limited.
    pub(crate) fn build(inputs: Inputs<'_>) -> Result<Option<Arc<Limiter>>, RateLimitError> {
        let config = inputs.config;
        let mut policies = Vec::new();
        let default = config.enabled.then(|| {
            policies.push(Policy::new("default", config.quota(), "default"));
            0
        });
        // Each method of a route with its own quota, and the policy it counts under (`None`:
        // not limited). A route's quota is shared by its methods; `rate_limit.routes` then
        // overrides single methods.
        let mut table: Vec<(Method, String, Option<u32>)> = Vec::new();
        let mut add = |name: &str, quota: Option<Quota>| {
            quota.map(|quota| {
                policies.push(Policy::new(name, quota, "route"));
                (policies.len() - 1) as u32
            })
        };
        for route in inputs.routes {
            let Some(text) = route.rate_limit else { continue };
            let name = format!("{} {}", route.methods.join(","), route.path);
            let quota = parse_quota(text).map_err(|problem| RateLimitError::RouteQuota {
                route: format!("{name} ({})", route.handler),
                text: text.to_owned(),
                problem,
            })?;
            let policy = add(&name, quota);
            for method in route.methods {
                let method = Method::from_bytes(method.as_bytes()).expect("the route macros check methods");
                table.push((method, route.path.to_owned(), policy));
            }
        }
        for (key, text) in &config.routes {
            // Both parse: the config was validated when it loaded.
            let (Some((method, path)), Ok(quota)) = (parse_route_key(key), parse_quota(text)) else { continue };
            table.retain(|(m, p, _)| !(*m == method && p == path));
            let policy = add(&format!("{method} {path}"), quota);
            table.push((method, path.to_owned(), policy));
            if !inputs.routes.iter().any(|r| r.path == path) {
                tracing::warn!(route = %key, "rate_limit.routes names a route no route macro declares; it applies if a hand-written router serves it, so check the method and the path template (like /articles/{{slug}})");
            }
        }
        let mut routes: HashMap<Box<str>, Vec<(Method, Option<u32>)>> = HashMap::new();
        for (method, path, policy) in table {
            routes.entry(path.into()).or_default().push((method, policy));
        }
        if policies.is_empty() {
            return Ok(None);
        }
        match (config.key, &inputs.app_key, &inputs.jwt) {
            (RateLimitKey::App, None, _) => return Err(RateLimitError::NoAppKey),
            (RateLimitKey::Ip, Some(_), _) => return Err(RateLimitError::AppKeyUnused("ip")),
            (RateLimitKey::Subject, Some(_), _) => return Err(RateLimitError::AppKeyUnused("subject")),
            (RateLimitKey::Subject, _, None) => return Err(RateLimitError::SubjectWithoutAuth),
            _ => {}
        }
        let backend = match config.backend {
            RateLimitBackend::Memory => Backend::Memory(Memory::new()),
            #[cfg(feature = "redis")]
            RateLimitBackend::Redis => {
                Backend::Redis(redis::Redis::new(&config.redis).map_err(RateLimitError::RedisUrl)?)
            }
            #[cfg(not(feature = "redis"))]
            RateLimitBackend::Redis => return Err(RateLimitError::RedisNotBuilt),
        };
        Ok(Some(Arc::new(Limiter {
            policies,
            default,
            routes,
            key: config.key,
            jwt: inputs.jwt,
            app_key: inputs.app_key,
            backend,
            on_error: config.on_backend_error,
            headers: config.headers,
            limited: AtomicU64::new(0),
            failures: Failures::default(),
        })))
    }

    /// Logs what is limited, and whether the backend answers.
    pub(crate) async fn announce(&self, config: &RateLimitConfig) {
        let backend = match &self.backend {
            Backend::Memory(_) => "memory".to_owned(),
            #[cfg(feature = "redis")]
            Backend::Redis(_) => format!("redis at {}", config.redis.url),
        };
        let default = match self.default {
            Some(p) => self.policies[p as usize].quota.to_string(),
            None => "none".to_owned(),
        };
        let routes = self.policies.len() - usize::from(self.default.is_some());
        tracing::info!(default = %default, routes_with_own_quota = routes, key = ?config.key, %backend, "rate limiting on");
        #[cfg(feature = "redis")]
        if let Backend::Redis(redis) = &self.backend {
            if let Err(e) = redis.ping().await {
                tracing::warn!(error = %e, on_backend_error = ?self.on_error, "Redis does not answer: requests are decided by rate_limit.on_backend_error until it does; check rate_limit.redis.url and that Redis is up");
            }
        }
    }

    /// The quota that applies to `req`, if any: its route's own, else the default.
    fn policy_for(&self, req: &Request) -> Option<u32> {
        if !self.routes.is_empty() {
            let own = req.extensions().get::<MatchedPath>().and_then(|path| self.routes.get(path.as_str()));
            let method = req.method();
            // The method's own entry; HEAD, which axum serves with the GET handler, else GET's.
            let found = own.and_then(|list| {
                list.iter()
                    .find(|(m, _)| m == method)
                    .or_else(|| list.iter().find(|(m, _)| method == Method::HEAD && m == Method::GET))
            });
            if let Some((_, policy)) = found {
                return *policy;
            }
        }
        self.default
    }

    /// Who `req` counts against.
    fn client(&self, req: &Request, ip: Option<IpAddr>) -> Client {
        let text = match self.key {
            RateLimitKey::Ip => None,
            RateLimitKey::Subject => self.jwt.as_ref().and_then(|jwt| {
                let token = jwt.token_in(req.headers(), req.uri())?.ok()?;
                jwt.verify::<serde::de::IgnoredAny>(token).ok().map(|claims| claims.sub)
            }),
            // A panicking key function is the app's bug: count the request by its address and
            // say so, rather than lose the connection.
            RateLimitKey::App => self.app_key.as_ref().and_then(|key| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| key(req))).unwrap_or_else(|_| {
                    tracing::error!("App::rate_limit_key panicked; the request is counted by its client address");
                    None
                })
            }),
        };
        match text {
            Some(text) => Client::Text(text.into()),
            None => Client::Ip(ip_bits(ip)),
        }
    }

    /// Settles a [`check`](Self::check): `Ok` with the request's standing to report (`None`
    /// when no quota applies), or `Err` with the answer to give instead of the handler's — 429
    /// over quota, 503 when the backend fails closed. Two steps, so that the request is not
    /// held across the wait: `check` reads it, `admit` awaits the backend.
    pub(crate) async fn admit(&self, check: Check) -> Result<Option<Standing>, Response> {
        let verdict = match check.0 {
            Ok(verdict) => verdict,
            Err(pending) => pending.await,
        };
        match verdict {
            Verdict::Unlimited => Ok(None),
            Verdict::Decided { policy, outcome } if outcome.allowed => Ok(Some(Standing { policy, outcome })),
            Verdict::Decided { policy, outcome } => Err(self.refuse(policy, &outcome)),
            Verdict::Unavailable => Err(Self::unavailable()),
        }
    }

    /// Counts `req` (from `ip`, when known; `now` is when it arrived): the verdict, or (Redis)
    /// the call that will give it, for [`admit`](Self::admit).
    pub(crate) fn check(self: &Arc<Self>, req: &Request, ip: Option<IpAddr>, now: Instant) -> Check {
        Check(self.verdict(req, ip, now))
    }

    fn verdict(self: &Arc<Self>, req: &Request, ip: Option<IpAddr>, now: Instant) -> Result<Verdict, Pending> {
        let Some(policy) = self.policy_for(req) else { return Ok(Verdict::Unlimited) };
        let client = self.client(req, ip);
        let rates = self.policies[policy as usize].rates;
        match &self.backend {
            Backend::Memory(memory) => Ok(self.decided(policy, memory.check(Key { policy, client }, rates, now))),
            #[cfg(feature = "redis")]
            Backend::Redis(_) => {
                let limiter = self.clone();
                Err(Box::pin(async move {
                    let Backend::Redis(redis) = &limiter.backend else { unreachable!("matched above") };
                    match redis.check(&limiter.policies[policy as usize].name, &client, rates).await {
                        Ok(outcome) => {
                            limiter.failures.recovered();
                            limiter.decided(policy, outcome)
                        }
                        Err(failure) => limiter.failed(&failure, failure.is_real()),
                    }
                }))
            }
        }
    }

    fn decided(&self, policy: u32, outcome: Outcome) -> Verdict {
        if !outcome.allowed {
            self.limited.fetch_add(1, Ordering::Relaxed);
        }
        Verdict::Decided { policy, outcome }
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    fn failed(&self, failure: &dyn std::fmt::Display, real: bool) -> Verdict {
        self.failures.record(failure, real, self.on_error);
        match self.on_error {
            OnBackendError::Allow => Verdict::Unlimited,
            OnBackendError::Deny => Verdict::Unavailable,
        }
    }

    /// The 429 for a request over quota.
    fn refuse(&self, policy: u32, outcome: &Outcome) -> Response {
        let quota = &self.policies[policy as usize].quota;
        let wait = whole_seconds(outcome.retry_after).max(1);
        let mut error = Error::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many requests: this client may make {quota}; retry in {wait} s"),
        )
        .with_type(RATE_LIMITED)
        .with_retry_after(wait.min(u64::from(u32::MAX)) as u32);
        let mut headers = HeaderMap::new();
        self.write_headers(policy, outcome, &mut headers);
        for (name, value) in &headers {
            error = error.with_header(name.clone(), value.clone());
        }
        error.into_response()
    }

    /// The 503 when the backend failed closed.
    fn unavailable() -> Response {
        Error::unavailable(
            "the rate limiter cannot reach its store, and rate_limit.on_backend_error = \"deny\"; retry shortly",
        )
        .with_retry_after(1)
        .into_response()
    }

    /// `RateLimit-Policy` and `RateLimit` on the answer to an admitted request, when
    /// `rate_limit.headers` asks for them.
    pub(crate) fn add_headers(&self, standing: &Standing, headers: &mut HeaderMap) {
        if self.headers {
            self.write_headers(standing.policy, &standing.outcome, headers);
        }
    }

    fn write_headers(&self, policy: u32, outcome: &Outcome, headers: &mut HeaderMap) {
        let policy = &self.policies[policy as usize];
        // `"default";r=42;t=1`, written by hand: `format!` costs more than the rest of the
        // limiter together (callgrind, `ratelimit` pair).
        let mut value = [0u8; 64];
        let mut len = 0;
        for part in [b"\"".as_slice(), policy.item.as_bytes(), b"\";r="] {
            value[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
        len += write_decimal(u64::from(outcome.remaining), &mut value[len..]);
        value[len..len + 3].copy_from_slice(b";t=");
        len += 3;
        len += write_decimal(whole_seconds(outcome.reset), &mut value[len..]);
        headers.insert(RATELIMIT_POLICY, policy.header.clone());
        headers.insert(RATELIMIT, HeaderValue::from_bytes(&value[..len]).expect("digits and quotes"));
    }

    /// Requests refused with 429, and requests the backend could not decide, so far.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.limited.load(Ordering::Relaxed), self.failures.count.load(Ordering::Relaxed))
    }

    /// What a request gets when the backend cannot answer.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn on_backend_error(&self) -> OnBackendError {
        self.on_error
    }
}

/// For `doctor`: whether the shared store of `config` answers within `timeout` — `None` with
/// the in-process store (nothing to reach), else the store's description or what is wrong.
pub(crate) async fn check_store(config: &RateLimitConfig, timeout: Duration) -> Option<Result<String, String>> {
    if config.backend != RateLimitBackend::Redis {
        return None;
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = timeout;
        Some(Err(RateLimitError::RedisNotBuilt.to_string()))
    }
    #[cfg(feature = "redis")]
    {
        let settings = crate::config::RedisConfig { timeout, ..config.redis.clone() };
        let redis = match redis::Redis::new(&settings) {
            Ok(redis) => redis,
            Err(e) => return Some(Err(e)),
        };
        Some(match redis.ping().await {
            Ok(()) => Ok(format!("Redis at {} answers", config.redis.url)),
            Err(e) => {
                Err(format!("Redis at {} does not answer: {e}; start it or fix rate_limit.redis.url", config.redis.url))
            }
        })
    }
}

/// An address as a rate limit key: IPv4 mapped into IPv6; IPv6 cut to its /64 (one host's
/// share: a client cannot get new quotas by changing the last 64 bits); unknown (no peer, as in
/// in-process tests) as `::`.
fn ip_bits(ip: Option<IpAddr>) -> u128 {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => u128::from(v4.to_ipv6_mapped()),
        Some(IpAddr::V6(v6)) => u128::from(v6) & !u128::from(u64::MAX),
        None => 0,
    }
}

/// Writes `n` in decimal at the start of `out` (20 bytes hold any `u64`); returns its length.
fn write_decimal(mut n: u64, out: &mut [u8]) -> usize {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    out[..len].copy_from_slice(&digits[i..]);
    len
}

/// Rounded up: a client told to wait 0 s would come straight back.
fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Backend failures: counted, logged when they start and then at most every [`LOG_EVERY`]
/// with the count and the last real error; the recovery is logged once.
#[derive(Default)]
struct Failures {
    count: AtomicU64,
    since_log: AtomicU64,
    /// A failure was logged and no success came since.
    failing: AtomicBool,
    log: Mutex<FailureLog>,
}

#[derive(Default)]
struct FailureLog {
    logged_at: Option<Instant>,
    /// The last failure that was not merely "resting" (skipped after earlier ones).
    last_error: Option<String>,
}

impl Failures {
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    fn record(&self, failure: &dyn std::fmt::Display, real: bool, on_error: OnBackendError) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.since_log.fetch_add(1, Ordering::Relaxed);
        // Whoever holds the lock logs; the others only count.
        let Ok(mut log) = self.log.try_lock() else { return };
        if real {
            log.last_error = Some(failure.to_string());
        }
        if log.logged_at.is_some_and(|at| at.elapsed() < LOG_EVERY) {
            return;
        }
        log.logged_at = Some(Instant::now());
        self.failing.store(true, Ordering::Relaxed);
        let failures = self.since_log.swap(0, Ordering::Relaxed);
        let decision = match on_error {
            OnBackendError::Allow => "allowed (rate_limit.on_backend_error = \"allow\": not counted)",
            OnBackendError::Deny => "refused with 503 (rate_limit.on_backend_error = \"deny\")",
        };
        let error = log.last_error.clone().unwrap_or_else(|| failure.to_string());
        tracing::error!(%error, failures, "the rate limit backend cannot answer; requests are {decision} until it does: check that Redis is up and rate_limit.redis.url");
    }

    /// A success: logs the recovery once, when failures were logged.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    fn recovered(&self) {
        if !self.failing.load(Ordering::Relaxed) || !self.failing.swap(false, Ordering::Relaxed) {
            return;
        }
        if let Ok(mut log) = self.log.lock() {
            log.logged_at = None;
        }
        let failures = self.since_log.swap(0, Ordering::Relaxed);
        tracing::warn!(
            failures_since_last_report = failures,
            "the rate limit backend answers again; requests are counted again"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64_bit_prefix() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_bits(Some(a)), ip_bits(Some(b)));
        assert_ne!(ip_bits(Some(a)), ip_bits(Some(c)));
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(ip_bits(Some(v4)), ip_bits(Some(mapped)));
        assert_ne!(ip_bits(Some(v4)), ip_bits(Some("192.0.2.2".parse().unwrap())));
    }

    #[test]
    fn policy_headers_count_in_whole_seconds() {
        let q = |requests, ms| Quota { requests, period: Duration::from_millis(ms), burst: 0 };
        assert_eq!(Policy::new("default", q(100, 1000), "default").header, "\"default\";q=100;w=1");
        assert_eq!(Policy::new("x", q(5, 60_000), "route").header, "\"route\";q=5;w=60");
        assert_eq!(Policy::new("x", q(10, 100), "route").header, "\"route\";q=100;w=1");
        assert_eq!(Policy::new("x", q(1, 1500), "route").header, "\"route\";q=1;w=1");
    }

    #[test]
    fn decimals_are_written_by_hand_correctly() {
        for n in [0, 7, 10, 42, 999, 1_000_000, u64::MAX] {
            let mut out = [0u8; 20];
            let len = write_decimal(n, &mut out);
            assert_eq!(std::str::from_utf8(&out[..len]).unwrap(), n.to_string());
        }
    }

    #[test]
    fn waits_round_up() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
        assert_eq!(whole_seconds(Duration::ZERO), 0);
    }
}
