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
    /// Why the last failed export failed (the collector's or the transport's words).
    pub(crate) last_error: std::sync::Mutex<Option<String>>,
}

impl ExportStats {
    /// What was lost so far, and why, for a log line; `None` when nothing was.
    pub(crate) fn losses(&self) -> Option<String> {
        self.losses_since((0, 0))
    }

    /// What was lost since `before` (dropped, failed), and why; `None` when nothing was.
    ///
    /// A full queue has two causes with opposite fixes: a collector that is down or too slow
    /// (exports fail, the queue fills behind them: a bigger queue only delays the loss), or
    /// more spans than a healthy collector is sent in time (then the queue is too small).
    fn losses_since(&self, before: (u64, u64)) -> Option<String> {
        let dropped = self.dropped.load(Ordering::Relaxed) - before.0;
        let failed = self.failed.load(Ordering::Relaxed) - before.1;
        if dropped == 0 && failed == 0 {
            return None;
        }
        let mut parts = Vec::new();
        if failed > 0 {
            let why = self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_default();
            let why = if why.is_empty() { String::new() } else { format!("; last error: {why}") };
            parts.push(format!(
                "{failed} not accepted by the collector: it is down or slower than telemetry.otlp.timeout (check telemetry.otlp.endpoint and the collector{why})"
            ));
        }
        if dropped > 0 && failed > 0 {
            parts.push(format!(
                "{dropped} dropped because the export queue filled while the collector was not accepting: fix the collector; a larger telemetry.otlp.queue_size only delays the loss"
            ));
        } else if dropped > 0 {
            parts.push(format!(
                "{dropped} dropped because the export queue was full although the collector accepts every batch: spans are made faster than they are sent; raise telemetry.otlp.queue_size or lower telemetry.otlp.sample_ratio"
            ));
        }
        Some(parts.join("; "))
    }
}

/// The span processor: a bounded queue in front of an exporting task. Clones are handles to the
/// same queue.
#[derive(Clone, Debug)]
pub(crate) struct ExportQueue {
    spans: mpsc::Sender<SpanData>,
    flushes: mpsc::UnboundedSender<Flush>,
    stats: Arc<ExportStats>,
}

/// A flush request: export everything queued, giving up at `deadline`, then say so.
struct Flush {
    deadline: tokio::time::Instant,
    done: oneshot::Sender<()>,
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

    /// Exports everything queued so far, within `limit` (an export already under way may
    /// finish first). `false` when spans could not all be sent in time or the export task has
    /// stopped.
    pub(crate) async fn flush(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        let (done, answered) = oneshot::channel();
        if self.flushes.send(Flush { deadline, done }).is_err() {
            return false;
        }
        // The task answers by the deadline unless an export was under way; that one is
        // bounded by `telemetry.otlp.timeout` too.
        let failed_before = self.stats.failed.load(Ordering::Relaxed);
        let answered = tokio::time::timeout(limit * 2, answered).await;
        matches!(answered, Ok(Ok(()))) && self.stats.failed.load(Ordering::Relaxed) == failed_before
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
    flush_requests: mpsc::UnboundedReceiver<Flush>,
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
            // Flushes first, then the timer (so a busy queue cannot starve the loss warning),
            // then spans.
            tokio::select! {
                biased;
                request = self.flush_requests.recv() => {
                    let Some(Flush { deadline, done }) = request else {
                        // The queue was dropped: the provider is gone.
                        return;
                    };
                    while let Ok(span) = self.queue.try_recv() {
                        self.batch.push(span);
                        if self.batch.len() >= MAX_BATCH {
                            self.send(Some(deadline)).await;
                        }
                    }
                    self.send(Some(deadline)).await;
                    let _ = done.send(());
                }
                _ = tick.tick() => {
                    self.send(None).await;
                    reported = self.report(reported);
                }
                span = self.queue.recv() => match span {
                    Some(span) => {
                        self.batch.push(span);
                        if self.batch.len() >= MAX_BATCH {
                            self.send(None).await;
                        }
                    }
                    None => { self.send(None).await; return; }
                },
            }
        }
    }

    /// Exports the batch within `telemetry.otlp.timeout`, and before `deadline` if there is one
    /// (past it, the batch counts as failed without being sent).
    async fn send(&mut self, deadline: Option<tokio::time::Instant>) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let n = batch.len() as u64;
        let limit = deadline
            .map_or(self.timeout, |d| self.timeout.min(d.saturating_duration_since(tokio::time::Instant::now())));
        let error = if limit.is_zero() {
            "the shutdown flush ran out of time (telemetry.otlp.timeout)".to_owned()
        } else {
            match tokio::time::timeout(limit, self.exporter.export(batch)).await {
                Ok(Ok(())) => {
                    self.stats.exported.fetch_add(n, Ordering::Relaxed);
                    return;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {}ms", limit.as_millis()),
            }
        };
        self.stats.failed.fetch_add(n, Ordering::Relaxed);
        tracing::debug!(spans = n, error = %error, "OTLP export failed");
        *self.stats.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    /// One warning per batch interval at most, and only when something was lost since the last;
    /// it says why those spans were lost.
    fn report(&self, before: (u64, u64)) -> (u64, u64) {
        let now = (self.stats.dropped.load(Ordering::Relaxed), self.stats.failed.load(Ordering::Relaxed));
        if let Some(losses) = self.stats.losses_since(before) {
            tracing::warn!(dropped_total = now.0, failed_total = now.1, "spans were lost: {losses}");
        }
        now
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
        // The flush is bounded by the export timeout, not by the hung collector, and says that
        // spans were lost.
        let flushing = std::time::Instant::now();
        assert!(!queue.flush(Duration::from_secs(5)).await);
        assert!(flushing.elapsed() < Duration::from_secs(2), "{:?}", flushing.elapsed());
        assert_eq!(queue.stats().failed.load(Ordering::Relaxed), 8);
        let losses = queue.stats().losses().unwrap();
        assert!(losses.contains("no answer within 50ms"), "{losses}");
        // The queue filled because the collector hung: the hint is about the collector.
        assert!(losses.contains("while the collector was not accepting"), "{losses}");
        assert!(!losses.contains("raise telemetry.otlp.queue_size"), "{losses}");
    }

    #[tokio::test]
    async fn a_full_queue_with_a_healthy_collector_says_to_raise_the_queue_size() {
        // A healthy collector, but a queue of 4 and a burst of 1000 before the task runs.
        let queue = ExportQueue::start(Recorder::default(), 4, Duration::from_secs(1), SEND_EVERY);
        for _ in 0..1000 {
            queue.on_end(span(true));
        }
        assert!(queue.flush(Duration::from_secs(5)).await);
        let losses = queue.stats().losses().unwrap();
        assert!(losses.contains("raise telemetry.otlp.queue_size"), "{losses}");
        assert!(!losses.contains("collector is down") && !losses.contains("not accepted"), "{losses}");
    }

    #[tokio::test]
    async fn the_flush_deadline_bounds_a_slow_export() {
        // Each export may take 30 s; the flush has 200 ms.
        let queue =
            ExportQueue::start(Recorder { hang: true, ..Recorder::default() }, 64, Duration::from_secs(30), SEND_EVERY);
        queue.on_end(span(true));
        let flushing = std::time::Instant::now();
        assert!(!queue.flush(Duration::from_millis(200)).await);
        assert!(flushing.elapsed() < Duration::from_secs(2), "{:?}", flushing.elapsed());
        assert_eq!(queue.stats().failed.load(Ordering::Relaxed), 1);
    }
}
