//! JSON log lines, one object per line, for jq and log shippers.
//!
//! The shape is tracing-subscriber's JSON with the event's fields flattened
//! and the current span under `span`: `timestamp` (RFC 3339, UTC), `level`,
//! `message` and the event's other fields, `target`, and `span` with the
//! call's `method`, `caller` and `referral`. What differs: a field logged
//! with `?` whose value is a list (`reasons = ?readiness.reasons`) is written
//! as a JSON array, not as the text of its `Debug` form, so that jq can index
//! it. tracing passes such values only as `Debug`; a list's `Debug` text that
//! reads back as a JSON array is taken as one, anything else stays a string.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter; pair it with [`JsonFields`] for the spans' fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        let value = if text.starts_with('[') {
            match serde_json::from_str::<Value>(&text) {
                Ok(list @ Value::Array(_)) => list,
                _ => Value::from(text),
            }
        } else {
            Value::from(text)
        };
        self.0.insert(field.name().to_owned(), value);
    }
}

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::from(format!("{:.6}", jiff::Timestamp::now())),
        );
        line.insert(
            "level".into(),
            Value::from(event.metadata().level().as_str()),
        );
        event.record(&mut Fields(&mut line));
        line.insert("target".into(), Value::from(event.metadata().target()));
        if let Some(span) = ctx.lookup_current() {
            let mut fields = span
                .extensions()
                .get::<FormattedFields<JsonFields>>()
                .and_then(|f| serde_json::from_str::<Map<String, Value>>(f).ok())
                .unwrap_or_default();
            fields.insert("name".into(), Value::from(span.name()));
            line.insert("span".into(), Value::Object(fields));
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lists_are_arrays_and_a_call_span_rides_along() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("call", method = "m/x", caller = "tenant=a");
            let _entered = span.enter();
            let reasons = vec!["store: disk full".to_owned(), "ccpit \"down\"".to_owned()];
            tracing::warn!(reasons = ?reasons, count = 2u64, "not serving");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["message"], "not serving");
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["count"], 2);
        assert_eq!(
            line["reasons"],
            serde_json::json!(["store: disk full", "ccpit \"down\""])
        );
        assert_eq!(line["span"]["name"], "call");
        assert_eq!(line["span"]["method"], "m/x");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
        // One key per name: jq keeps every field.
        assert_eq!(text.matches("\"message\"").count(), 1);
    }
}
