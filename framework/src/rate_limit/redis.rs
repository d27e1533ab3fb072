//! The Redis backend (feature `redis`): every replica counts in one Redis, one round trip per
//! request.
//!
//! The GCRA step of [`gcra`](super::gcra) runs as a Lua script (`EVALSHA`; the script is
//! loaded again by itself after a Redis restart), atomic on the server, on Redis's own clock
//! (`TIME`), so replicas with skewed clocks still agree. One multiplexed connection
//! (redis-rs's `ConnectionManager`) carries every request's call — pipelined, not one
//! connection per request — and reconnects by itself.
//!
//! A request never waits longer than `rate_limit.redis.timeout` for Redis; after three
//! failures in a row, requests skip Redis for `rate_limit.redis.retry_after` and
//! `rate_limit.on_backend_error` decides them at once (a lone slow answer fails only its own
//! request).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::gcra::{Client, Outcome, Rates};
use crate::config::RedisConfig;

/// One GCRA step on Redis's clock, in microseconds. KEYS[1]: the client; ARGV[1]: the
/// emission interval; ARGV[2]: the burst tolerance. Returns {allowed, remaining or µs until
/// the next request fits, µs until the quota is whole}. Numbers are Lua doubles: microseconds
/// since 1970 fit exactly (below 2^53), and are written with `%.0f`, not Lua's 14 digits. A TAT
/// beyond the tolerance (left by a stricter quota before a redeploy) is cut back to it.
/// `replicate_commands` lets Redis 3.2 to 4 write after reading `TIME` (a no-op from Redis 5).
const SCRIPT: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
if tat > now + tolerance then tat = now + tolerance end
local ahead = tat + interval - now
if ahead > tolerance then
  return {0, ahead - tolerance, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', math.ceil(ahead / 1000))
return {1, math.floor((tolerance - ahead) / interval), ahead}
";

/// The shared counter store.
pub(crate) struct Redis {
    connection: ConnectionManager,
    script: redis::Script,
    timeout: Duration,
    retry_after: Duration,
    prefix: String,
    /// Until when (ns after `epoch`) requests skip Redis after failures.
    resting_until: AtomicU64,
    /// Failures in a row: a lone slow answer fails only its own request.
    failures_in_a_row: AtomicU32,
    epoch: Instant,
}

/// Why Redis gave no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RedisFailure {
    #[error("Redis did not answer within {0:?} (rate_limit.redis.timeout)")]
    Timeout(Duration),
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    /// Recent failures: not tried.
    #[error("Redis failed repeatedly less than rate_limit.redis.retry_after ago")]
    Resting,
}

impl RedisFailure {
    /// Whether Redis was asked (not skipped as [`Resting`](Self::Resting)).
    pub(crate) fn is_real(&self) -> bool {
        !matches!(self, RedisFailure::Resting)
    }
}

/// Failures in a row after which requests skip Redis for `retry_after`.
const TRIP_AFTER: u32 = 3;

impl Redis {
    /// A client for `config.url`, connecting on first use (a replica starts while Redis is
    /// down; requests then fail over as configured).
    pub(crate) fn new(config: &RedisConfig) -> Result<Self, String> {
        // redis-rs's reasons name the part at fault ("invalid database number"), never the
        // password.
        let bad_url = |e: redis::RedisError| {
            format!(
                "{} is not a usable Redis URL ({e}): write redis://[:password@]host:6379[/db], or rediss://… for TLS",
                config.url
            )
        };
        let client = match &config.ca_file {
            None => redis::Client::open(config.url.expose()).map_err(bad_url)?,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    format!(
                        "rate_limit.redis.ca_file {}: {e}; point it at a PEM file of CA certificates",
                        path.display()
                    )
                })?;
                let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(pem) };
                redis::Client::build_with_tls(config.url.expose(), certificates).map_err(bad_url)?
            }
        };
        let settings = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_max_delay(config.retry_after.max(Duration::from_millis(10)));
        let connection = ConnectionManager::new_lazy_with_config(client, settings)
            .map_err(|e| format!("cannot set up the Redis connection to {}: {e}", config.url))?;
        Ok(Self {
            connection,
            script: redis::Script::new(SCRIPT),
            timeout: config.timeout,
            retry_after: config.retry_after,
            prefix: config.prefix.clone(),
            resting_until: AtomicU64::new(0),
            failures_in_a_row: AtomicU32::new(0),
            epoch: Instant::now(),
        })
    }

    /// `PING`, bounded by the timeout: whether Redis answers (logged at startup).
    pub(crate) async fn ping(&self) -> Result<(), RedisFailure> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("PING");
        let ping = command.query_async::<String>(&mut connection);
        tokio::time::timeout(self.timeout, ping).await.map_err(|_| RedisFailure::Timeout(self.timeout))??;
        Ok(())
    }

    /// Counts one request of `client` under `policy` (its name in the key) against `rates`.
    pub(crate) async fn check(&self, policy: &str, client: &Client, rates: Rates) -> Result<Outcome, RedisFailure> {
        let now = self.epoch.elapsed().as_nanos() as u64;
        if now < self.resting_until.load(Ordering::Relaxed) {
            return Err(RedisFailure::Resting);
        }
        let key = format!("{}:{policy}:{}", self.prefix, client_text(client));
        let mut connection = self.connection.clone();
        let mut call = self.script.key(key);
        // Whole microseconds, rounded; the tolerance from the rounded interval, as in memory.
        let interval = ((rates.interval + 500) / 1000).max(1);
        call.arg(interval).arg(interval.saturating_mul(rates.tolerance / rates.interval.max(1)));
        let answer = tokio::time::timeout(self.timeout, call.invoke_async::<(u8, u64, u64)>(&mut connection)).await;
        let failure = match answer {
            Ok(Ok((allowed, n, reset))) => {
                self.failures_in_a_row.store(0, Ordering::Relaxed);
                let micros = Duration::from_micros;
                return Ok(if allowed == 1 {
                    Outcome {
                        allowed: true,
                        remaining: n.min(u64::from(u32::MAX)) as u32,
                        reset: micros(reset),
                        retry_after: Duration::ZERO,
                    }
                } else {
                    Outcome { allowed: false, remaining: 0, reset: micros(reset), retry_after: micros(n) }
                });
            }
            Ok(Err(e)) => RedisFailure::Redis(e),
            Err(_) => RedisFailure::Timeout(self.timeout),
        };
        if self.failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1 >= TRIP_AFTER {
            // Resting ends with one more try: its failure rests again, its success resets.
            let rest = now.saturating_add(self.retry_after.as_nanos() as u64);
            self.resting_until.store(rest, Ordering::Relaxed);
        }
        Err(failure)
    }
}

/// The client as it appears in a Redis key: `ip:192.0.2.1`, `ip:2001:db8:1:2::/64`, `k:alice`.
fn client_text(client: &Client) -> String {
    match client {
        Client::Ip(bits) => {
            let v6 = std::net::Ipv6Addr::from(*bits);
            match v6.to_ipv4_mapped() {
                Some(v4) => format!("ip:{v4}"),
                None => format!("ip:{v6}/64"),
            }
        }
        Client::Text(text) => format!("k:{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_show_the_client_plainly() {
        let v4 = std::net::Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped();
        assert_eq!(client_text(&Client::Ip(u128::from(v4))), "ip:192.0.2.1");
        let v6: std::net::Ipv6Addr = "2001:db8:1:2::".parse().unwrap();
        assert_eq!(client_text(&Client::Ip(u128::from(v6))), "ip:2001:db8:1:2::/64");
        assert_eq!(client_text(&Client::Text("alice".into())), "k:alice");
    }
}
