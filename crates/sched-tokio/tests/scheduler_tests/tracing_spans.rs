//! Each run is traced in a `job_run` span (job id, run id, scheduled time, delay), and
//! the job's own events and a failed run's warning are inside it.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_tokio::prelude::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

#[derive(Default)]
struct Seen {
    /// Span id → (name, fields).
    spans: HashMap<u64, (String, HashMap<String, String>)>,
    /// Spans entered and not exited, innermost last.
    entered: Vec<u64>,
    /// (level, message, innermost span entered when it was emitted).
    events: Vec<(Level, String, Option<u64>)>,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Seen>>,
    next: Arc<AtomicU64>,
}

impl Recorder {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fields = HashMap::new();
        span.record(&mut Fields(&mut fields));
        let name = span.metadata().name().to_owned();
        self.seen().spans.insert(id, (name, fields));
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut seen = self.seen();
        if let Some((_, fields)) = seen.spans.get_mut(&span.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let mut seen = self.seen();
        let inside = seen.entered.last().copied();
        let message = fields.remove("message").unwrap_or_default();
        seen.events
            .push((*event.metadata().level(), message, inside));
    }
    fn enter(&self, span: &Id) {
        self.seen().entered.push(span.into_u64());
    }
    fn exit(&self, span: &Id) {
        let mut seen = self.seen();
        if let Some(at) = seen.entered.iter().rposition(|id| *id == span.into_u64()) {
            seen.entered.remove(at);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn each_run_is_a_span_and_a_failure_a_warning_inside_it() {
    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let t0: DateTime<Utc> = "2026-03-02T00:00:00Z".parse().unwrap();
    let scheduler = Scheduler::builder()
        .clock(TokioClock::starting_at(t0))
        .build()
        .unwrap();
    scheduler
        .add_job(
            JobSpec::date(t0 + chrono::Duration::seconds(5)).id("flaky"),
            || async {
                tracing::info!("connecting");
                Err::<(), _>("no connection")
            },
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    scheduler.shutdown().await.unwrap();

    let seen = recorder.seen.lock().unwrap();
    let runs: Vec<(&u64, &HashMap<String, String>)> = seen
        .spans
        .iter()
        .filter(|(_, (name, _))| name == "job_run")
        .map(|(id, (_, fields))| (id, fields))
        .collect();
    assert_eq!(runs.len(), 1, "one run, one span");
    let (span, fields) = runs[0];
    assert_eq!(fields.get("job_id").map(String::as_str), Some("flaky"));
    assert!(fields.contains_key("run_id"), "{fields:?}");
    assert_eq!(
        fields.get("scheduled").map(String::as_str),
        Some("2026-03-02 00:00:05 UTC")
    );
    assert_eq!(fields.get("delay_ms").map(String::as_str), Some("0"));
    let failed: Vec<_> = seen
        .events
        .iter()
        .filter(|(_, message, _)| message == "job run failed")
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", seen.events);
    assert_eq!(failed[0].0, Level::WARN);
    assert_eq!(
        failed[0].2,
        Some(*span),
        "the warning is inside the run's span"
    );
    let inside: Vec<_> = seen
        .events
        .iter()
        .filter(|(_, message, _)| message == "connecting")
        .map(|(_, _, inside)| *inside)
        .collect();
    assert_eq!(
        inside,
        vec![Some(*span)],
        "the job's own events are in its span"
    );
}
