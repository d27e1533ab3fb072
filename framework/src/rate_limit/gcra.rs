//! The generic cell rate algorithm, and the in-process store it runs on.
//!
//! Each client has one number, its *theoretical arrival time* (TAT): when its quota would be
//! whole again if it sent nothing more. A request moves the TAT one emission interval
//! (`period / requests`) later; it is allowed while the TAT stays within the burst tolerance
//! (`interval × burst`) of now. One number per client, no timers, no windows to reset — the
//! Redis backend runs the same arithmetic in a Lua script.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

use foldhash::fast::RandomState;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Quota;

/// A quota as the algorithm uses it, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rates {
    /// Time one request uses up: `period / requests`.
    pub(crate) interval: u64,
    /// How far ahead of now the TAT may run: `interval × burst`.
    pub(crate) tolerance: u64,
}

impl Rates {
    pub(crate) fn of(quota: &Quota) -> Self {
        let interval = (quota.period.as_nanos() / u128::from(quota.requests)).max(1) as u64;
        Self { interval, tolerance: interval.saturating_mul(u64::from(quota.burst())) }
    }
}

/// What the algorithm decided about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) allowed: bool,
    /// Requests that could still be made right now.
    pub(crate) remaining: u32,
    /// Until the quota is whole again.
    pub(crate) reset: Duration,
    /// Until the next request would be allowed (zero when this one was).
    pub(crate) retry_after: Duration,
}

/// One request at `now` for a client whose TAT is `tat` (both in ns on one clock): the outcome
/// and, when allowed, the new TAT.
pub(crate) fn decide(now: u64, tat: u64, rates: Rates) -> (Outcome, Option<u64>) {
    // Never further ahead than this quota allows: a TAT left by a stricter quota (before the
    // config changed) would otherwise lock clients out for the old period.
    let tat = tat.clamp(now, now.saturating_add(rates.tolerance));
    let next = tat.saturating_add(rates.interval);
    let ahead = next - now;
    if ahead > rates.tolerance {
        let refused = Outcome {
            allowed: false,
            remaining: 0,
            reset: Duration::from_nanos(tat - now),
            retry_after: Duration::from_nanos(ahead - rates.tolerance),
        };
        return (refused, None);
    }
    let remaining = ((rates.tolerance - ahead) / rates.interval).min(u64::from(u32::MAX)) as u32;
    let allowed = Outcome { allowed: true, remaining, reset: Duration::from_nanos(ahead), retry_after: Duration::ZERO };
    (allowed, Some(next))
}

/// Who a quota belongs to, with the policy it is counted under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    /// Which policy (the default, or a route's).
    pub(crate) policy: u32,
    pub(crate) client: Client,
}

/// A client, as `rate_limit.key` names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Client {
    /// An address: IPv4 mapped into IPv6, IPv6 cut to its /64.
    Ip(u128),
    /// A token's subject or the app's key.
    Text(Box<str>),
}

const SHARDS: usize = 16;
/// A shard drops the TATs already in the past (clients whose quota is whole: the same as
/// absent) when it has grown to this size, and then each time it doubles.
const FIRST_SWEEP: usize = 1024;

/// TATs in this process's memory, in shards so that concurrent requests seldom wait for each
/// other. A client's entry is dropped (at the next sweep) once its quota is whole again — at
/// most `burst × period / requests` after its last request — so memory follows the clients
/// active within that time.
pub(crate) struct Memory {
    shards: Box<[Mutex<Shard>]>,
    /// Picks the shard; seeded per process, so clients cannot aim at one shard.
    hasher: RandomState,
    /// Zero of the clock TATs are kept on.
    epoch: Instant,
}

struct Shard {
    tats: HashMap<Key, u64, RandomState>,
    sweep_at: usize,
}

impl Memory {
    pub(crate) fn new() -> Self {
        let shard = || Mutex::new(Shard { tats: HashMap::default(), sweep_at: FIRST_SWEEP });
        Self { shards: (0..SHARDS).map(|_| shard()).collect(), hasher: Default::default(), epoch: Instant::now() }
    }

    /// Counts one request of `key` at `now` against `rates`.
    pub(crate) fn check(&self, key: Key, rates: Rates, now: Instant) -> Outcome {
        let now = now.saturating_duration_since(self.epoch).as_nanos() as u64;
        let shard = &self.shards[(self.hasher.hash_one(&key) as usize) % SHARDS];
        // A panic while holding the lock leaves only numbers behind: keep using them.
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tat) = shard.tats.get_mut(&key) {
            let (outcome, next) = decide(now, *tat, rates);
            if let Some(next) = next {
                *tat = next;
            }
            return outcome;
        }
        let (outcome, next) = decide(now, 0, rates);
        if let Some(next) = next {
            shard.tats.insert(key, next);
            if shard.tats.len() >= shard.sweep_at {
                shard.tats.retain(|_, tat| *tat > now);
                shard.sweep_at = (shard.tats.len() * 2).max(FIRST_SWEEP);
            }
        }
        outcome
    }

    /// Clients with a quota not yet whole.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().tats.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn rates(requests: u32, burst: u32) -> Rates {
        Rates::of(&Quota { requests, period: Duration::from_secs(1), burst })
    }

    #[test]
    fn a_fresh_client_gets_its_burst_then_waits_one_interval() {
        let r = rates(10, 0);
        let (mut tat, now) = (0, 5 * SECOND);
        for left in (0..10).rev() {
            let (o, next) = decide(now, tat, r);
            assert!(o.allowed);
            assert_eq!(o.remaining, left);
            tat = next.unwrap();
        }
        let (o, next) = decide(now, tat, r);
        assert!(!o.allowed && next.is_none());
        assert_eq!(o.retry_after, Duration::from_millis(100));
        assert_eq!(o.reset, Duration::from_secs(1));
        // One interval later exactly one more fits.
        let (o, next) = decide(now + SECOND / 10, tat, r);
        assert!(o.allowed && o.remaining == 0);
        assert!(!decide(now + SECOND / 10, next.unwrap(), r).0.allowed);
    }

    #[test]
    fn a_tat_left_by_a_stricter_quota_is_cut_back_to_this_ones() {
        // 1 an hour spent; the quota becomes 10 a second: the client waits at most 100 ms.
        let now = 5 * SECOND;
        let (o, _) = decide(now, now + 3600 * SECOND, rates(10, 0));
        assert!(!o.allowed);
        assert_eq!(o.retry_after, Duration::from_millis(100));
    }

    #[test]
    fn a_steady_client_at_the_rate_is_never_refused() {
        let r = rates(100, 1);
        let mut tat = 0;
        for i in 0..1000 {
            let (o, next) = decide(i * SECOND / 100, tat, r);
            assert!(o.allowed, "request {i}");
            tat = next.unwrap();
        }
    }

    #[test]
    fn over_a_long_spell_the_allowed_count_is_burst_plus_rate_times_time() {
        let r = rates(20, 0);
        let (mut tat, mut allowed) = (0, 0);
        // 1000 requests a second for 10 s.
        for i in 0..10_000u64 {
            if let (_, Some(next)) = decide(i * SECOND / 1000, tat, r) {
                tat = next;
                allowed += 1;
            }
        }
        assert!((219..=221).contains(&allowed), "{allowed}");
    }

    #[test]
    fn the_memory_store_keeps_clients_and_policies_apart() {
        let m = Memory::new();
        let r = rates(1, 0);
        let now = Instant::now();
        let key = |policy, ip| Key { policy, client: Client::Ip(ip) };
        assert!(m.check(key(0, 1), r, now).allowed);
        assert!(!m.check(key(0, 1), r, now).allowed);
        assert!(m.check(key(0, 2), r, now).allowed);
        assert!(m.check(key(1, 1), r, now).allowed);
        assert!(m.check(Key { policy: 0, client: Client::Text("alice".into()) }, r, now).allowed);
    }

    #[test]
    fn clients_whose_quota_is_whole_again_are_forgotten() {
        let m = Memory::new();
        let r = rates(1000, 0);
        let start = Instant::now();
        for ip in 0..(SHARDS * FIRST_SWEEP * 4) as u128 {
            m.check(Key { policy: 0, client: Client::Ip(ip) }, r, start);
        }
        // Two seconds later every one of them is whole: the next sweep of each shard (when it
        // has doubled again, past 8 × FIRST_SWEEP) drops them.
        let later = start + Duration::from_secs(2);
        for ip in 0..(SHARDS * FIRST_SWEEP * 5) as u128 {
            m.check(Key { policy: 0, client: Client::Ip(u128::MAX - ip) }, r, later);
        }
        assert!(m.len() <= SHARDS * FIRST_SWEEP * 5, "{} of {} kept", m.len(), SHARDS * FIRST_SWEEP * 9);
    }
}
