//! Database pool metrics, read from the pool at scrape time.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::db::Handle;

/// OpenTelemetry's `db.client.connection.pool.name`.
const POOL_NAME: &str = "db_client_connection_pool_name";

/// The app's pool, as metrics.
#[derive(Debug)]
pub(crate) struct PoolMetrics(pub(crate) Handle);

impl Collector for PoolMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.stats();
        // OpenTelemetry's `db.client.connection.count`, named without the `_count` suffix that
        // Prometheus reserves for histograms and summaries.
        let mut count = encoder.encode_descriptor(
            "db_client_connections",
            "Database connections open, by state.",
            None,
            MetricType::Gauge,
        )?;
        let pool = self.0.pool_name();
        for (state, n) in [("idle", stats.idle), ("used", stats.size.saturating_sub(stats.idle))] {
            count
                .encode_family(&[(POOL_NAME, pool), ("db_client_connection_state", state)])?
                .encode_gauge(&(n as i64))?;
        }
        encoder
            .encode_descriptor(
                "db_client_connection_max",
                "Most database connections the pool opens.",
                None,
                MetricType::Gauge,
            )?
            .encode_family(&[(POOL_NAME, pool)])?
            .encode_gauge(&i64::from(stats.max))?;
        encoder
            .encode_descriptor(
                "db_client_connection_timeouts",
                "Requests that waited database.acquire_timeout for a connection and gave up (answered 503).",
                None,
                MetricType::Counter,
            )?
            .encode_family(&[(POOL_NAME, pool)])?
            .encode_counter::<NoLabelSet, _, u64>(&crate::error::database::pool_timeouts(), None)?;
        Ok(())
    }
}
