//! Log line formats: JSON (one object per line) and the text formats with the request's
//! correlation ids on every line.
//!
//! Every line logged inside a request — in the request span or in any span the app opens below
//! it — carries `request_id` (from the request span) and, when spans are exported, `trace_id`
//! and the line's own `span_id`, so a log search and a trace view find each other.
//!
//! The JSON is written by hand rather than through `tracing-subscriber`'s JSON layer: that one
//! builds a `serde_json` map per span and per line (a tenth of a request's instructions went to
//! formatting the request span's five fields), and it can show only one span's fields.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// The request span's name and the module that opens it: how a line finds its request.
const REQUEST_SPAN: (&str, &str) = ("request", "trestle::middleware::span");

/// Span fields as JSON members (`"name":value,…`, no braces), kept with each span.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct JsonFields;

thread_local! {
    /// Where a new span's fields are written first: the span's own string is then allocated
    /// once, at its final size, instead of growing field by field.
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl<'w> FormatFields<'w> for JsonFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        SCRATCH.with(|scratch| {
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                // Formatting a field formatted another span's fields: write directly.
                let mut members = Members { out: &mut writer, first: true, result: Ok(()) };
                fields.record(&mut members);
                return members.result;
            };
            scratch.clear();
            let mut members = Members { out: &mut *scratch, first: true, result: Ok(()) };
            fields.record(&mut members);
            let result = members.result.and_then(|()| writer.write_str(&scratch));
            if scratch.capacity() > 16 * 1024 {
                // One huge field does not keep its memory for the thread's lifetime.
                *scratch = String::new();
            }
            result
        })
    }

    fn add_fields(&self, current: &'w mut FormattedFields<Self>, fields: &tracing::span::Record<'_>) -> fmt::Result {
        let before = current.fields.len();
        let mut members = Members { out: &mut current.fields, first: before == 0, result: Ok(()) };
        fields.record(&mut members);
        let result = members.result;
        if result.is_err() {
            // A half-written member would make every later line of this span invalid JSON.
            current.fields.truncate(before);
        }
        result
    }
}

/// One JSON object per line: `timestamp`, `level`, the event's fields, `target`, `span` (the innermost span's fields and `name`), then `request_id`, `trace_id` and
/// `span_id` when the line is inside a request or an exported span.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        writer.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut writer)?;
        write!(writer, "\",\"level\":\"{}\"", event.metadata().level())?;
        let mut members = Members { out: &mut writer, first: false, result: Ok(()) };
        event.record(&mut members);
        members.result?;
        writer.write_str(",\"target\":")?;
        write_str(&mut writer, event.metadata().target())?;
        let leaf = leaf_span(ctx, event);
        if let Some(span) = &leaf {
            writer.write_str(",\"span\":{")?;
            let extensions = span.extensions();
            if let Some(fields) = extensions.get::<FormattedFields<N>>().filter(|f| !f.fields.is_empty()) {
                write!(writer, "{},", fields.fields)?;
            }
            writer.write_str("\"name\":")?;
            write_str(&mut writer, span.name())?;
            writer.write_char('}')?;
        }
        if let Some(span) = leaf {
            write_request_id::<S, N>(&span, &mut writer)?;
            if let Some(ids) = trace_ids(&span) {
                write!(writer, ",\"trace_id\":\"{}\",\"span_id\":\"{}\"", ids.trace_id, ids.span_id)?;
            }
        }
        writer.write_str("}\n")
    }
}

/// A text format (`tracing-subscriber`'s compact or pretty) with `trace_id` and `span_id`
/// added to every line inside an exported span. `request_id` is already there: text formats
/// print the fields of every span a line is in.
pub(crate) struct TextLines<F> {
    plain: F,
    colored: F,
}

impl<F> TextLines<F> {
    /// `plain` and `colored` are the same format without and with ANSI colours.
    pub(crate) fn new(plain: F, colored: F) -> Self {
        Self { plain, colored }
    }
}

impl<S, N, F> FormatEvent<S, N> for TextLines<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let format = if writer.has_ansi_escapes() { &self.colored } else { &self.plain };
        let Some(ids) = leaf_span(ctx, event).and_then(|span| trace_ids(&span)) else {
            return format.format_event(ctx, writer, event);
        };
        // The ids go at the end of the line's first row, before the newline the format ends
        // it with (pretty lines continue with the source location below).
        let mut line = String::with_capacity(256);
        format.format_event(ctx, Writer::new(&mut line), event)?;
        let end = line.find('\n').unwrap_or(line.len());
        writer.write_str(&line[..end])?;
        write!(writer, " trace_id={} span_id={}", ids.trace_id, ids.span_id)?;
        writer.write_str(&line[end..])
    }
}

/// The span an event belongs to: its explicit parent, or the current span.
fn leaf_span<'a, S, N>(ctx: &'a FmtContext<'_, S, N>, event: &Event<'_>) -> Option<SpanRef<'a, S>>
where
    S: Subscriber + for<'b> LookupSpan<'b>,
    N: for<'w> FormatFields<'w> + 'static,
{
    if event.is_contextual() {
        ctx.lookup_current()
    } else {
        event.parent().and_then(|id| ctx.span(id))
    }
}

/// Writes `,"request_id":"…"` as the request span's JSON fields have it (quoted and escaped,
/// copied as written), for a line in any span inside the request.
fn write_request_id<S, N>(leaf: &SpanRef<'_, S>, writer: &mut Writer<'_>) -> fmt::Result
where
    S: Subscriber + for<'b> LookupSpan<'b>,
    N: for<'w> FormatFields<'w> + 'static,
{
    const KEY: &str = "\"request_id\":";
    let is_request = |s: &SpanRef<'_, S>| (s.name(), s.metadata().target()) == REQUEST_SPAN;
    let found;
    let request = if is_request(leaf) {
        leaf
    } else {
        match leaf.scope().skip(1).find(is_request) {
            Some(span) => {
                found = span;
                &found
            }
            None => return Ok(()),
        }
    };
    let extensions = request.extensions();
    let Some(fields) = extensions.get::<FormattedFields<N>>().map(|f| f.fields.as_str()) else { return Ok(()) };
    let Some(start) = fields.find(KEY).map(|i| i + KEY.len()) else { return Ok(()) };
    let value = &fields.as_bytes()[start..];
    if value.first() != Some(&b'"') {
        return Ok(());
    }
    // The closing quote is the first one not escaped.
    let mut i = 1;
    while i < value.len() && value[i] != b'"' {
        i += if value[i] == b'\\' { 2 } else { 1 };
    }
    match fields.get(start..start + i + 1) {
        Some(quoted) => write!(writer, ",{KEY}{quoted}"),
        None => Ok(()),
    }
}

/// The exported trace and span a line belongs to.
struct TraceIds {
    trace_id: String,
    span_id: String,
}

#[cfg(feature = "otel")]
fn trace_ids<S>(leaf: &SpanRef<'_, S>) -> Option<TraceIds>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let (trace_id, span_id) = super::otel::span_ids(&leaf.id())?;
    Some(TraceIds { trace_id: trace_id.to_string(), span_id: span_id.to_string() })
}

#[cfg(not(feature = "otel"))]
fn trace_ids<S>(_leaf: &SpanRef<'_, S>) -> Option<TraceIds>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    None
}

/// Writes fields as JSON members.
struct Members<'a, W: fmt::Write> {
    out: &'a mut W,
    /// No member written yet (no comma before the next).
    first: bool,
    result: fmt::Result,
}

impl<W: fmt::Write> Members<'_, W> {
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if !std::mem::take(&mut self.first) {
                self.out.write_char(',')?;
            }
            write_str(self.out, field.name())?;
            self.out.write_char(':')?;
            value(self.out)
        })();
    }
}

impl<W: fmt::Write> Visit for Members<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |out| write_str(out, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity: those are written as strings.
        if value.is_finite() {
            self.member(field, |out| write!(out, "{value}"));
        } else {
            self.member(field, |out| write!(out, "\"{value}\""));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.member(field, |out| {
            out.write_char('"')?;
            write!(Escaped(out), "{value}")?;
            out.write_char('"')
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |out| {
            out.write_char('"')?;
            write!(Escaped(out), "{value:?}")?;
            out.write_char('"')
        });
    }
}

/// `s` as a JSON string.
fn write_str(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(out).write_str(s)?;
    out.write_char('"')
}

/// Escapes what passes through it for the inside of a JSON string.
struct Escaped<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let bytes = s.as_bytes();
        if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
            // Most values (ids, routes, methods, messages) need no escaping.
            return self.0.write_str(s);
        }
        let mut plain = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&s[plain..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{b:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            plain = i + 1;
        }
        self.0.write_str(&s[plain..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = String::new();
        write_str(&mut out, s).unwrap();
        out
    }

    #[test]
    fn strings_are_escaped_as_json_reads_them() {
        for s in ["plain", "quote \" and \\ back", "line\nbreak\ttab\r", "\u{1}\u{1f} control", "ünïcödé ✓", ""] {
            let json = escaped(s);
            assert_eq!(serde_json::from_str::<String>(&json).unwrap(), s, "{json}");
        }
    }
}
