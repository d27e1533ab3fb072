//! `ExportQueue`: finished spans go into a bounded queue and a tokio task exports them in
//! batches. A slow or unreachable collector costs a request nothing: when the queue is full,
//! new spans are dropped and counted (and the count logged), never waited for.
//!
//! The SDK's own `BatchSpanProcessor` runs the exporter on a thread of its own with
//! `block_on`, which the tonic and hyper exporters cannot run on (they need the tokio
//! runtime), and keeps its drop count to itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use tokio::sync::{mpsc, oneshot};

/// Spans per export request.
const MAX_BATCH: usize = 512;
/// Longest a finished span waits before it is sent, unless `OTEL_BSP_SCHEDULE_DELAY`
/// (milliseconds, the OpenTelemetry variable) says otherwise.
const SEND_EVERY: Duration = Duration::from_secs(1);

/// The batch delay: `OTEL_BSP_SCHEDULE_DELAY` when it is a number of milliseconds.
pub(crate) fn send_every() -> Duration {
    std::env::var("OTEL_BSP_SCHEDULE_DELAY")
        .ok()
        .and_then(|ms| ms.trim().parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map_or(SEND_EVERY, Duration::from_millis)
}

/// What happened to the spans handed to the queue.
#[derive(Debug, Default)]
pub(crate) struct ExportStats {
    /// Sent to the collector and accepted.
    pub(crate) exported: AtomicU64,
    /// Lost because the queue was full.
    pub(crate) dropped: AtomicU64,
    /// Lost because the collector failed or took longer than `telemetry.otlp.timeout`.
    pub(crate) failed: AtomicU64,
}

/// The span processor: a bounded queue in front of an exporting task.
#[derive(Debug)]
pub(crate) struct ExportQueue {
    spans: mpsc::Sender<SpanData>,
    flushes: mpsc::UnboundedSender<oneshot::Sender<()>>,
    stats: Arc<ExportStats>,
}

impl ExportQueue {
    /// Starts the exporting task on the current tokio runtime.
    pub(crate) fn start<E: SpanExporter + 'static>(
        exporter: E,
        capacity: usize,
        timeout: Duration,
        every: Duration,
    ) -> Self {
        let (spans, queue) = mpsc::channel(capacity);
        let (flushes, flush_requests) = mpsc::unbounded_channel();
        let stats = Arc::new(ExportStats::default());
        let worker =
            Worker { exporter, queue, flush_requests, stats: stats.clone(), timeout, every, batch: Vec::new() };
        tokio::spawn(worker.run());
        Self { spans, flushes, stats }
    }

    pub(crate) fn stats(&self) -> &Arc<ExportStats> {
        &self.stats
    }

    /// Exports everything queued so far; returns once the collector answered (or the export
    /// timed out), or after `limit` at the latest.
    pub(crate) async fn flush(&self, limit: Duration) -> bool {
        let (done, answered) = oneshot::channel();
        if self.flushes.send(done).is_err() {
            return true;
        }
        matches!(tokio::time::timeout(limit, answered).await, Ok(Ok(())))
    }
}

impl SpanProcessor for ExportQueue {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        // Never wait: a full queue means the collector is behind, and requests come first.
        if self.spans.try_send(span).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Flushing needs the runtime; `telemetry::shutdown` flushes asynchronously instead.
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

struct Worker<E> {
    exporter: E,
    queue: mpsc::Receiver<SpanData>,
    flush_requests: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    stats: Arc<ExportStats>,
    timeout: Duration,
    every: Duration,
    batch: Vec<SpanData>,
}

impl<E: SpanExporter> Worker<E> {
    async fn run(mut self) {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + self.every, self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reported = (0, 0);
        loop {
            tokio::select! {
                biased;
                request = self.flush_requests.recv() => {
                    while let Ok(span) = self.queue.try_recv() {
                        self.push(span).await;
                    }
                    self.send().await;
                    match request {
                        Some(done) => { let _ = done.send(()); }
                        // The queue was dropped: the provider is gone.
                        None => return,
                    }
                }
                span = self.queue.recv() => match span {
                    Some(span) => self.push(span).await,
                    None => { self.send().await; return; }
                },
                _ = tick.tick() => {
                    self.send().await;
                    reported = self.report(reported);
                }
            }
        }
    }

    async fn push(&mut self, span: SpanData) {
        self.batch.push(span);
        if self.batch.len() >= MAX_BATCH {
            self.send().await;
        }
    }

    async fn send(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let n = batch.len() as u64;
        let outcome = tokio::time::timeout(self.timeout, self.exporter.export(batch)).await;
        match outcome {
            Ok(Ok(())) => {
                self.stats.exported.fetch_add(n, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                self.stats.failed.fetch_add(n, Ordering::Relaxed);
                tracing::debug!(spans = n, error = %e, "OTLP export failed");
            }
            Err(_) => {
                self.stats.failed.fetch_add(n, Ordering::Relaxed);
                tracing::debug!(spans = n, timeout_ms = self.timeout.as_millis() as u64, "OTLP export timed out");
            }
        }
    }

    /// One warning per second at most, and only when something was lost since the last one.
    fn report(&self, (dropped_before, failed_before): (u64, u64)) -> (u64, u64) {
        let dropped = self.stats.dropped.load(Ordering::Relaxed);
        let failed = self.stats.failed.load(Ordering::Relaxed);
        if dropped > dropped_before || failed > failed_before {
            tracing::warn!(
                dropped_total = dropped,
                failed_total = failed,
                "spans were lost: {} dropped (export queue full, telemetry.otlp.queue_size), {} not accepted by the collector (down, or slower than telemetry.otlp.timeout); check telemetry.otlp.endpoint",
                dropped - dropped_before,
                failed - failed_before,
            );
        }
        (dropped, failed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
    use opentelemetry::InstrumentationScope;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;

    /// An exporter that records batches, or hangs forever.
    #[derive(Debug, Clone, Default)]
    struct Recorder {
        batches: Arc<Mutex<Vec<usize>>>,
        hang: bool,
    }

    impl SpanExporter for Recorder {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            if self.hang {
                std::future::pending::<()>().await;
            }
            self.batches.lock().unwrap().push(batch.len());
            Ok(())
        }
    }

    fn span(sampled: bool) -> SpanData {
        let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
        SpanData {
            span_context: SpanContext::new(TraceId::from(1), SpanId::from(1), flags, false, TraceState::default()),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: "test".into(),
            start_time: std::time::SystemTime::now(),
            end_time: std::time::SystemTime::now(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    #[tokio::test]
    async fn flush_sends_every_sampled_span_in_batches() {
        let recorder = Recorder::default();
        let queue = ExportQueue::start(recorder.clone(), 2048, Duration::from_secs(1), SEND_EVERY);
        for i in 0..1000 {
            queue.on_end(span(i % 2 == 0));
        }
        assert!(queue.flush(Duration::from_secs(5)).await);
        let batches = recorder.batches.lock().unwrap().clone();
        assert_eq!(batches.iter().sum::<usize>(), 500, "unsampled spans are not exported");
        assert!(batches.iter().all(|&n| n <= MAX_BATCH));
        assert_eq!(queue.stats().exported.load(Ordering::Relaxed), 500);
    }

    #[tokio::test]
    async fn a_hung_collector_drops_spans_instead_of_blocking() {
        let recorder = Recorder { hang: true, ..Recorder::default() };
        let queue = ExportQueue::start(recorder, 8, Duration::from_millis(50), SEND_EVERY);
        let started = std::time::Instant::now();
        for _ in 0..10_000 {
            queue.on_end(span(true));
        }
        assert!(started.elapsed() < Duration::from_secs(1), "on_end never waits");
        let dropped = queue.stats().dropped.load(Ordering::Relaxed);
        assert!(dropped >= 10_000 - 8 - MAX_BATCH as u64, "dropped {dropped}");
        // The flush is bounded by the export timeout, not by the hung collector.
        assert!(queue.flush(Duration::from_secs(5)).await);
        assert!(queue.stats().failed.load(Ordering::Relaxed) > 0);
    }
}
