//! Whether a pool's server is down: once it is, `Db` answers 503 at once instead of letting every
//! request wait `database.acquire_timeout` for a connection that cannot come.
//!
//! How a pool learns it: a sqlx error turned into a problem ([`classify`]) sees only the error,
//! not the pool it came from (and the `error` module, a leaf, calls back through a hook this
//! module installs), so an error that may mean "unreachable" (connection refused, reset
//! or lost, PostgreSQL class 08 or 57P01–57P03, a pool acquire timeout) makes every pool of the
//! process *suspect* its server. A suspecting pool opens one connection of its own to its server
//! (a probe, bounded by [`PROBE_TIMEOUT`]); only a probe that fails for a reason that means
//! "down" marks the pool down, so a pool whose server is up is never marked, however busy it is
//! and whichever other pool failed. While down, a single background task probes every
//! [`PROBE_INTERVAL`] and clears the mark when the server answers. Probes are single-flight per
//! pool: one at a time, and none for [`PROBE_INTERVAL`] after one found the server up, so a
//! storm of acquire timeouts on a saturated pool costs one connection per interval at most.
//!
//! The request path pays one atomic load ([`Health::is_down`]).
//!
//! [`classify`]: crate::error::database::classify

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::error::database::{means_down, ON_UNREACHABLE};

/// How long a probe may take to connect before the server counts as down.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a pool that is down probes its server, and how long after a probe found it up no
/// other probe starts.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(500);

type Probe = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send>> + Send + Sync>;

/// Every watched pool of the process, for [`suspect_all`].
static POOLS: Mutex<Vec<Weak<Health>>> = Mutex::new(Vec::new());

/// One pool's view of its server.
pub(crate) struct Health {
    down: AtomicBool,
    probing: AtomicBool,
    backend: &'static str,
    /// Opens (and closes) one connection to the server, outside the pool.
    probe: Probe,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health").field("backend", &self.backend).field("down", &self.is_down()).finish()
    }
}

impl Health {
    /// A watched pool whose server is taken to be up; `probe` connects to it once.
    pub(crate) fn watch(backend: &'static str, probe: Probe) -> Arc<Health> {
        let health = Arc::new(Health { down: AtomicBool::new(false), probing: AtomicBool::new(false), backend, probe });
        ON_UNREACHABLE.get_or_init(|| suspect_all);
        let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
        pools.retain(|p| p.strong_count() > 0);
        pools.push(Arc::downgrade(&health));
        health
    }

    /// Whether the last probe found the server down.
    #[inline]
    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// The server answered (readiness): requests go through again at once.
    pub(crate) fn answered(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!(backend = self.backend, "database reachable again");
        }
    }

    /// Starts a probe unless one is running (or found the server up within [`PROBE_INTERVAL`]).
    pub(crate) fn suspect(self: &Arc<Self>) {
        if self.probing.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.probing.store(false, Ordering::Release);
            return;
        };
        runtime.spawn(probe_until_up(Arc::downgrade(self)));
    }
}

/// Makes every watched pool probe its server (see the module docs).
pub(crate) fn suspect_all() {
    let pools: Vec<Arc<Health>> =
        POOLS.lock().unwrap_or_else(|e| e.into_inner()).iter().filter_map(Weak::upgrade).collect();
    for health in pools {
        health.suspect();
    }
}

/// Probes until the server answers (once, when it is up), marking the pool down meanwhile; ends
/// when the pool is dropped.
async fn probe_until_up(health: Weak<Health>) {
    loop {
        let Some(h) = health.upgrade() else { return };
        let down = match tokio::time::timeout(PROBE_TIMEOUT, (h.probe)()).await {
            Ok(Ok(())) => false,
            Ok(Err(e)) => means_down(&e),
            Err(_) => true,
        };
        if down {
            if !h.down.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    backend = h.backend,
                    "database unreachable: answering 503 at once until it answers a probe again"
                );
            }
        } else {
            h.answered();
        }
        drop(h);
        tokio::time::sleep(PROBE_INTERVAL).await;
        if !down {
            if let Some(h) = health.upgrade() {
                h.probing.store(false, Ordering::Release);
            }
            return;
        }
    }
}
