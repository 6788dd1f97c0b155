//! The node processes' log: the scheduler's `tracing` events (info and up from sched,
//! warnings and up from the rest) on stderr, which the driver sends to one file per
//! node. A few lines instead of a subscriber crate: the evidence for a failed figure is
//! in these files (leases lost, store errors, reaps).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Installs the stderr subscriber for this process (once; later calls do nothing).
pub(crate) fn init() {
    let _ = tracing::subscriber::set_global_default(Stderr::default());
}

#[derive(Debug, Default)]
struct Stderr {
    next_span: AtomicU64,
}

/// `message`, then ` key=value` for each other field.
#[derive(Default)]
struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value}");
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl Subscriber for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let level = *metadata.level();
        level <= Level::WARN || (level <= Level::INFO && metadata.target().starts_with("sched"))
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line::default();
        event.record(&mut line);
        let metadata = event.metadata();
        eprintln!(
            "{} {} {}:{}",
            crate::node::stamp(),
            metadata.level(),
            metadata.target(),
            line.0
        );
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
