//! A client span per SQL statement (feature `otel`, `telemetry.otlp.db_spans`).
//!
//! sqlx reports each finished statement as a `sqlx::query` event (text, rows, elapsed time) and
//! each pool acquire as a `sqlx::pool::acquire` event; this layer turns them into exported
//! OpenTelemetry client spans, children of the span the statement ran in. So every statement
//! is traced — through the pool, a transaction or a connection — without wrapping sqlx.
//!
//! Attributes follow the database conventions: `db.system.name`, `db.namespace`,
//! `db.operation.name`, `db.query.text` (literals replaced by `?`: values are bound as
//! parameters, and any written into the text are not exported), `db.response.returned_rows`,
//! and `db.client.connection.wait_time` (seconds spent waiting for a pool connection) on the
//! statement that followed the wait. A statement is held until the next one in the same span,
//! or the span's end, so that an error trestle converts from sqlx marks it failed
//! (`error.type`, `db.response.status_code`, status ERROR): the failure goes to the latest
//! statement of the span that started before it, whichever of the two events came first.
//!
//! Statements outside any span (migrations at startup) are not traced.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The target of trestle's own event saying the last statement failed (sent by
/// `error::database`, which keeps to its own module: the target is spelled there too).
pub(crate) const ERROR_TARGET: &str = "trestle::db::error";

/// The database the app's pool talks to: `db.system.name` and `db.namespace`, set when the
/// pool opens (one pool per app).
static DATABASE: OnceLock<(&'static str, String)> = OnceLock::new();

#[cfg_attr(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")), allow(dead_code))]
/// Names the app's database for the statement spans: `system` as OpenTelemetry names it
/// (`postgresql`, `mysql`, `sqlite`), `namespace` the database's name (never credentials).
pub(crate) fn describe_database(system: &'static str, namespace: String) {
    let _ = DATABASE.set((system, namespace));
}

/// The layer; `tracer` builds the spans.
pub(crate) struct DbSpans {
    tracer: SdkTracer,
}

impl DbSpans {
    pub(crate) fn new(tracer: SdkTracer) -> Self {
        Self { tracer }
    }
}

/// A statement waiting for the next one, or its span's end, before it is exported.
struct Pending {
    parent: Context,
    name: String,
    start: SystemTime,
    end: SystemTime,
    attributes: Vec<KeyValue>,
    error: Option<(String, Option<String>)>,
}

/// A failed statement reported by trestle, not yet matched with its statement.
struct Failure {
    at: SystemTime,
    /// `error.type` and the SQLSTATE.
    error: (String, Option<String>),
}

/// The pool wait to put on the next statement of a span.
struct Waited(f64);

impl<S> Layer<S> for DbSpans
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.event_span(event) else { return };
        match event.metadata().target() {
            "sqlx::query" => {
                let mut fields = QueryFields::default();
                event.record(&mut fields);
                let Some(parent) = super::otel::otel_context(&span.id()) else { return };
                // An unsampled trace exports nothing: no statement to build.
                if !parent.span().span_context().is_sampled() {
                    return;
                }
                let mut extensions = span.extensions_mut();
                let waited = extensions.remove::<Waited>();
                let mut statement = fields.into_pending(parent, waited);
                let mut previous = extensions.remove::<Pending>();
                // A failure belongs to the latest statement that started before it: this one
                // when its event came after the error (SQLite reports from its worker thread, so
                // the error can arrive first), else the one held.
                if let Some(failure) = extensions.remove::<Failure>() {
                    if statement.start <= failure.at {
                        statement.error = Some(failure.error);
                    } else if let Some(previous) = &mut previous {
                        previous.error = Some(failure.error);
                    }
                }
                extensions.insert(statement);
                drop(extensions);
                if let Some(previous) = previous {
                    self.export(previous);
                }
            }
            "sqlx::pool::acquire" => {
                let mut fields = AcquireFields::default();
                event.record(&mut fields);
                if let Some(secs) = fields.0 {
                    span.extensions_mut().replace(Waited(secs));
                }
            }
            ERROR_TARGET => {
                let mut fields = ErrorFields::default();
                event.record(&mut fields);
                let error = (fields.kind.unwrap_or_else(|| "_OTHER".into()), fields.code);
                // Settled when the span's next statement arrives, or when the span ends.
                span.extensions_mut().replace(Failure { at: SystemTime::now(), error });
            }
            _ => {}
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let mut extensions = span.extensions_mut();
        let pending = extensions.remove::<Pending>();
        let failure = extensions.remove::<Failure>();
        drop(extensions);
        let Some(mut pending) = pending else { return };
        if let Some(failure) = failure.filter(|f| pending.start <= f.at) {
            pending.error = Some(failure.error);
            return self.export(pending);
        }
        // Not known to have failed: its error may yet be converted in an enclosing span (an
        // instrumented function returned it, the handler's `?` turns it into a problem), so the
        // statement moves up to the parent, where the newer of the two statements is held.
        let Some(parent) = span.parent() else { return self.export(pending) };
        let mut extensions = parent.extensions_mut();
        let older = match extensions.remove::<Pending>() {
            Some(held) if held.start > pending.start => {
                extensions.insert(held);
                pending
            }
            Some(held) => {
                extensions.insert(pending);
                held
            }
            None => {
                extensions.insert(pending);
                return;
            }
        };
        drop(extensions);
        self.export(older);
    }
}

impl DbSpans {
    fn export(&self, pending: Pending) {
        let mut attributes = pending.attributes;
        let status = match pending.error {
            Some((kind, code)) => {
                if let Some(code) = code {
                    attributes.push(KeyValue::new("db.response.status_code", code));
                }
                let message = format!("the statement failed: {kind}");
                attributes.push(KeyValue::new("error.type", kind));
                Status::error(message)
            }
            None => Status::Unset,
        };
        let builder = self
            .tracer
            .span_builder(pending.name)
            .with_kind(SpanKind::Client)
            .with_start_time(pending.start)
            .with_attributes(attributes);
        let mut span = self.tracer.build_with_context(builder, &pending.parent);
        span.set_status(status);
        span.end_with_timestamp(pending.end);
    }
}

/// What sqlx says about a finished statement.
#[derive(Default)]
struct QueryFields {
    summary: String,
    statement: String,
    rows_returned: Option<u64>,
    elapsed: Option<f64>,
}

impl Visit for QueryFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => value.clone_into(&mut self.summary),
            "db.statement" => value.clone_into(&mut self.statement),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "rows_returned" {
            self.rows_returned = Some(value);
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed = Some(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "summary" => self.summary = format!("{value:?}").trim_matches('"').to_owned(),
            "db.statement" => self.statement = format!("{value:?}"),
            _ => {}
        }
    }
}

impl QueryFields {
    fn into_pending(self, parent: Context, waited: Option<Waited>) -> Pending {
        // sqlx gives the whole text only when it is longer than its four-word summary.
        let text = if self.statement.trim().is_empty() { self.summary } else { self.statement.trim().to_owned() };
        let operation = operation_name(&text);
        let end = SystemTime::now();
        let start = end - Duration::try_from_secs_f64(self.elapsed.unwrap_or(0.0)).unwrap_or_default();
        let mut attributes = Vec::with_capacity(7);
        let system = match DATABASE.get() {
            Some((system, namespace)) => {
                if !namespace.is_empty() {
                    attributes.push(KeyValue::new("db.namespace", namespace.clone()));
                }
                *system
            }
            None => "other_sql",
        };
        attributes.push(KeyValue::new("db.system.name", system));
        if let Some(operation) = operation {
            attributes.push(KeyValue::new("db.operation.name", operation));
        }
        attributes.push(KeyValue::new("db.query.text", without_literals(&text, system == "mysql")));
        if let Some(rows) = self.rows_returned {
            attributes.push(KeyValue::new("db.response.returned_rows", rows as i64));
        }
        if let Some(Waited(secs)) = waited {
            attributes.push(KeyValue::new("db.client.connection.wait_time", secs));
        }
        let name = operation.unwrap_or(system).to_owned();
        Pending { parent, name, start, end, attributes, error: None }
    }
}

/// `acquired_after_secs` of an acquire event.
#[derive(Default)]
struct AcquireFields(Option<f64>);

impl Visit for AcquireFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "acquired_after_secs" {
            self.0 = Some(value);
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

/// The fields of [`statement_failed`]'s event.
#[derive(Default)]
struct ErrorFields {
    kind: Option<String>,
    code: Option<String>,
}

impl Visit for ErrorFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "kind" => self.kind = Some(value.to_owned()),
            "code" => self.code = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

/// The statement's SQL keyword (`SELECT`, `INSERT`, …), when it starts with one.
fn operation_name(text: &str) -> Option<&'static str> {
    const OPERATIONS: [&str; 14] = [
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "WITH",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "CREATE",
        "ALTER",
        "DROP",
        "PRAGMA",
    ];
    let first = text.split_whitespace().next()?;
    OPERATIONS.into_iter().find(|op| first.eq_ignore_ascii_case(op))
}

/// `sql` with every literal — quoted strings, dollar-quoted strings, numbers — replaced by `?`
/// and comments dropped; identifiers, keywords and placeholders (`$1`, `?`) stay. `mysql`
/// follows MySQL's rules, where a backslash escapes inside strings, `"…"` is a string and `#`
/// starts a comment; elsewhere (PostgreSQL, SQLite) a backslash is an ordinary character
/// except in PostgreSQL's `E'…'` strings, and `"…"` is an identifier.
pub(crate) fn without_literals(sql: &str, mysql: bool) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    // Whether the previous character continues an identifier (a digit after it is part of it).
    let mut in_word = false;
    while i < bytes.len() {
        let b = bytes[i];
        // PostgreSQL's escape-string syntax: E'…' (the E is dropped with the literal).
        let escape_string = !mysql && matches!(b, b'e' | b'E') && !in_word && bytes.get(i + 1) == Some(&b'\'');
        match b {
            _ if escape_string || b == b'\'' || (mysql && b == b'"') => {
                // A string literal; a doubled quote is a quote inside it.
                if escape_string {
                    i += 1;
                }
                let quote = bytes[i];
                let backslash_escapes = mysql || escape_string;
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == quote {
                        if bytes.get(i + 1) == Some(&quote) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += if backslash_escapes && bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push('?');
                in_word = false;
            }
            b'#' if mysql => {
                i = bytes[i..].iter().position(|&c| c == b'\n').map_or(bytes.len(), |p| i + p);
            }
            b'"' | b'`' => {
                // A quoted identifier: kept.
                let end = bytes[i + 1..].iter().position(|&c| c == b).map_or(bytes.len(), |p| i + 1 + p + 1);
                out.push_str(&sql[i..end]);
                i = end;
                in_word = false;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..].iter().position(|&c| c == b'\n').map_or(bytes.len(), |p| i + p);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(bytes.len(), |p| i + 2 + p + 2);
                out.push(' ');
            }
            b'$' if !in_word => {
                // `$1` is a placeholder; `$$…$$` or `$tag$…$tag$` a string.
                let rest = &sql[i + 1..];
                let tag_len = rest.bytes().take_while(|c| c.is_ascii_alphanumeric() || *c == b'_').count();
                if rest.as_bytes().get(tag_len) == Some(&b'$')
                    && !rest[..tag_len].starts_with(|c: char| c.is_ascii_digit())
                {
                    let tag = &sql[i..i + 1 + tag_len + 1];
                    let body = i + tag.len();
                    i = sql[body..].find(tag).map_or(bytes.len(), |p| body + p + tag.len());
                    out.push('?');
                } else {
                    out.push('$');
                    out.push_str(&rest[..tag_len]);
                    i += 1 + tag_len;
                }
                in_word = false;
            }
            b'0'..=b'9' if !in_word => {
                i += bytes[i..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'.').count();
                out.push('?');
                in_word = false;
            }
            _ => {
                let len = sql[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&sql[i..i + len]);
                in_word = b.is_ascii_alphanumeric() || b == b'_' || len > 1;
                i += len;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_replaced_and_the_rest_kept() {
        let cases = [
            ("SELECT id FROM users WHERE email = $1", "SELECT id FROM users WHERE email = $1"),
            ("SELECT * FROM t WHERE name = 'O''Brien' AND age > 42", "SELECT * FROM t WHERE name = ? AND age > ?"),
            ("SELECT col2, t1.x FROM t1 LIMIT 10 OFFSET 2.5", "SELECT col2, t1.x FROM t1 LIMIT ? OFFSET ?"),
            ("SELECT \"weird 'name'\" FROM `t 1`", "SELECT \"weird 'name'\" FROM `t 1`"),
            ("SELECT $$secret$$, $tag$x$tag$, ?", "SELECT ?, ?, ?"),
            ("SELECT 1 -- password 'x'\nFROM t /* 'y' */ WHERE a = 0x1F", "SELECT ? \nFROM t   WHERE a = ?"),
            // Outside MySQL a backslash is an ordinary character: the next quote ends the string.
            ("INSERT INTO t VALUES ('C:\\', 'hunter2')", "INSERT INTO t VALUES (?, ?)"),
            ("SELECT E'it\\'s', e'x'", "SELECT ?, ?"),
            ("SELECT name FROM t WHERE x = 'a''b'", "SELECT name FROM t WHERE x = ?"),
        ];
        for (sql, want) in cases {
            assert_eq!(without_literals(sql, false), want, "{sql}");
        }
    }

    #[test]
    fn mysql_strings_escape_with_backslashes_and_double_quotes_are_strings() {
        let cases = [
            ("INSERT INTO t VALUES ('a\\'b', 'c')", "INSERT INTO t VALUES (?, ?)"),
            ("SELECT id FROM users WHERE name = \"alice\"", "SELECT id FROM users WHERE name = ?"),
            ("SELECT `name` FROM t # it's 'secret'\nWHERE a = 1", "SELECT `name` FROM t \nWHERE a = ?"),
        ];
        for (sql, want) in cases {
            assert_eq!(without_literals(sql, true), want, "{sql}");
        }
    }

    #[test]
    fn the_operation_is_the_leading_keyword() {
        assert_eq!(operation_name("select 1"), Some("SELECT"));
        assert_eq!(operation_name("  INSERT INTO t"), Some("INSERT"));
        assert_eq!(operation_name("VACUUM"), None);
    }
}
