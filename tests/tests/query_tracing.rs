//! Issue 14, step 2: every statement is a `tracing` span `db.query` with OpenTelemetry's
//! database attributes, nested under the caller's span, and a slow-statement threshold logs
//! a WARN event; checked with a subscriber written here, on every backend.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use orm_sqlx::prelude::*;
use orm_tests::fixture::Book;
use orm_tests::{Backend, with_fixture};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Debug, Default, Clone)]
struct SpanSeen {
    name: String,
    target: String,
    parent: Option<u64>,
    fields: BTreeMap<String, String>,
}

#[derive(Debug, Default, Clone)]
struct EventSeen {
    level: String,
    target: String,
    parent: Option<u64>,
    fields: BTreeMap<String, String>,
}

#[derive(Default)]
struct Seen {
    spans: BTreeMap<u64, SpanSeen>,
    events: Vec<EventSeen>,
    stack: Vec<u64>,
}

/// A subscriber that keeps every span with its fields and parent, and every event.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Seen>>,
    next: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut seen = self.seen.lock().unwrap();
        let parent = match attrs.parent() {
            Some(p) => Some(p.into_u64()),
            None if attrs.is_contextual() => seen.stack.last().copied(),
            None => None,
        };
        let mut span = SpanSeen {
            name: attrs.metadata().name().to_owned(),
            target: attrs.metadata().target().to_owned(),
            parent,
            fields: BTreeMap::new(),
        };
        attrs.record(&mut Fields(&mut span.fields));
        seen.spans.insert(id, span);
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut seen = self.seen.lock().unwrap();
        if let Some(s) = seen.spans.get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut s.fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut seen = self.seen.lock().unwrap();
        let parent = match event.parent() {
            Some(p) => Some(p.into_u64()),
            None if event.is_contextual() => seen.stack.last().copied(),
            None => None,
        };
        let mut e = EventSeen {
            level: event.metadata().level().to_string(),
            target: event.metadata().target().to_owned(),
            parent,
            fields: BTreeMap::new(),
        };
        event.record(&mut Fields(&mut e.fields));
        seen.events.push(e);
    }
    fn enter(&self, span: &Id) {
        self.seen.lock().unwrap().stack.push(span.into_u64());
    }
    fn exit(&self, _: &Id) {
        self.seen.lock().unwrap().stack.pop();
    }
}

fn system_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
        Backend::Mysql => "mysql",
    }
}

#[tokio::test]
async fn every_statement_is_a_span_under_the_callers_with_otel_attributes() {
    with_fixture(|db, backend| async move {
        let recorder = Recorder::default();
        let _guard = tracing::subscriber::set_default(recorder.clone());
        let request = tracing::info_span!("request");
        let request_id = request.id().map(|i| i.into_u64());
        let call_line = line!() + 6;
        let books = {
            let _in = request.enter();
            Book::objects()
                .filter(|b| b.pages.gte(150))
                .order_by(|b| b.id.asc())
                .into_vec(&db)
                .await
                .unwrap()
        };
        assert_eq!(books.len(), 3);
        orm_sqlx::set_slow_query_threshold(Some(std::time::Duration::ZERO));
        let n = Book::objects().count(&db).await;
        orm_sqlx::set_slow_query_threshold(None);
        assert_eq!(n.unwrap(), 3);
        let after = Book::objects().count(&db).await.unwrap();
        assert_eq!(after, 3);
        // Transaction control sqlx sends is a span too.
        let atomic_line = line!() + 1;
        db.atomic(|tx| Box::pin(async move { Book::objects().count(&mut *tx).await }))
            .await
            .unwrap();

        let seen = recorder.seen.lock().unwrap();
        let queries: Vec<(&u64, &SpanSeen)> = seen
            .spans
            .iter()
            .filter(|(_, s)| s.name == "db.query")
            .collect();
        assert_eq!(queries.len(), 6, "{:#?}", seen.spans);
        let ops: Vec<&str> = queries[3..]
            .iter()
            .map(|(_, s)| s.fields["db.operation.name"].as_str())
            .collect();
        assert_eq!(ops, ["BEGIN", "SELECT", "COMMIT"]);
        for (_, control) in [queries[3], queries[5]] {
            assert_eq!(control.fields["code.line.number"], atomic_line.to_string());
            assert_eq!(control.fields["db.system.name"], system_name(backend));
        }
        let (first_id, first) = queries[0];
        assert_eq!(first.target, "orm_sqlx::query");
        assert_eq!(first.parent, request_id, "nested under the caller's span");
        assert_eq!(first.fields["db.system.name"], system_name(backend));
        assert_eq!(first.fields["db.operation.name"], "SELECT");
        assert!(first.fields["db.query.text"].contains("pages"), "{first:?}");
        assert_eq!(first.fields["db.response.returned_rows"], "3");
        assert!(first.fields.contains_key("duration_us"), "{first:?}");
        assert_eq!(first.fields["db.collection.name"], "books");
        assert_eq!(first.fields["code.file.path"], file!());
        assert_eq!(first.fields["code.line.number"], call_line.to_string());
        assert!(
            !first.fields.values().any(|v| v.contains("150")),
            "parameters stay out of the span: {first:?}"
        );
        // The slow one: a WARN event inside its span; the next, after the threshold is
        // off, none.
        let (slow_id, _) = queries[1];
        let warnings: Vec<&EventSeen> = seen
            .events
            .iter()
            .filter(|e| e.target == "orm_sqlx::slow_query")
            .collect();
        assert_eq!(warnings.len(), 1, "{:#?}", seen.events);
        assert_eq!(warnings[0].level, "WARN");
        assert_eq!(warnings[0].parent, Some(*slow_id));
        assert!(
            warnings[0].fields["db.query.text"].contains("COUNT"),
            "{:?}",
            warnings[0]
        );
        assert_ne!(first_id, slow_id);
    })
    .await;
}
