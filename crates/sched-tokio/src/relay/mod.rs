//! Events from every node (opt-in, [`SchedulerBuilder::event_relay`]): this node's
//! events go out through an [`EventRelay`], other nodes' come in from it into the
//! local broadcast (`subscribe`, listeners).
//!
//! ```text
//! Events::emit ──try_send──> bounded queue ──> publisher task: batch (at most one
//!   publish per 50 ms, unless full), number, pack (wire.rs) ──> EventRelay::publish
//! EventRelay sink ──> decode, skip our own, count gaps (gaps.rs) ──> Events::emit_relayed
//! ```
//!
//! The firing path only clones the event into a bounded queue (`try_send`): it never
//! waits for the database. A full queue drops the event and counts it; the count
//! advances the numbering, so the other nodes learn of it as a gap
//! ([`Event::EventsMissed`] with this node's id and the count).
//!
//! [`SchedulerBuilder::event_relay`]: crate::SchedulerBuilder::event_relay

mod gaps;
mod wire;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sched_core::relay::{EventRelay, RelayDelivery, RelaySink, RelaySubscription};
use sched_core::support::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::gaps::Gaps;
use crate::event::{Event, EventMask, MissedEvents};
use crate::scheduler::Inner;

/// At most one publish per this long (a burst is sent in one go once it is over, or
/// once a batch is full): a `NOTIFY` takes a cluster-wide lock at commit.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Most events handed to one publish (several payloads).
const MAX_BATCH: usize = 1024;
/// How long shutdown waits for the queued events to be published.
const FLUSH_AT_SHUTDOWN: Duration = Duration::from_secs(5);
/// The smallest payload limit a relay may have.
pub(crate) const MIN_PAYLOAD: usize = 1024;

/// What the publisher task receives.
enum Outgoing {
    Event(Event),
    /// Publish everything before this, then answer.
    Flush(oneshot::Sender<()>),
}

/// One scheduler's side of a relay.
pub(crate) struct Relay {
    relay: Arc<dyn EventRelay>,
    /// The kinds relayed.
    mask: EventMask,
    node: String,
    /// This scheduler instance (a node started again under the same id is another).
    inst: String,
    queue: mpsc::Sender<Outgoing>,
    /// The queue's receiving end, until `start` hands it to the publisher task.
    pending: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    /// Events dropped because the queue was full, not yet accounted in the numbering.
    dropped: Arc<AtomicU64>,
    publisher: Mutex<Option<JoinHandle<()>>>,
    subscription: Mutex<Option<RelaySubscription>>,
    gaps: Mutex<Gaps>,
}

impl Relay {
    pub(crate) fn new(
        relay: Arc<dyn EventRelay>,
        mask: EventMask,
        node: &str,
        capacity: usize,
    ) -> Self {
        let (queue, pending) = mpsc::channel(capacity);
        Self {
            relay,
            mask: EventMask::RELAYED.intersect(mask),
            node: node.to_owned(),
            inst: instance_id(),
            queue,
            pending: Mutex::new(Some(pending)),
            dropped: Arc::default(),
            publisher: Mutex::new(None),
            subscription: Mutex::new(None),
            gaps: Mutex::default(),
        }
    }

    /// The most bytes of a node id with a relay of `max_payload` bytes per payload:
    /// half of a payload stays for events.
    pub(crate) fn node_fits(node: &str, max_payload: usize) -> bool {
        wire::budget(node, &instance_id(), max_payload) >= max_payload / 2
    }

    /// Queues this node's `event` if its kind is relayed; never waits.
    pub(crate) fn offer(&self, event: &Event) {
        if !self.mask.matches(event) {
            return;
        }
        match self.queue.try_send(Outgoing::Event(event.clone())) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // Shut down: nothing is relayed any more.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// Starts publishing and receiving (from `Scheduler::start`, in a Tokio runtime).
pub(crate) fn start(inner: &Arc<Inner>) {
    let Some(relay) = inner.events.relay() else {
        return;
    };
    if let Some(queue) = relay.pending.lock().take() {
        let publisher = Publisher {
            relay: Arc::clone(&relay.relay),
            node: relay.node.clone(),
            inst: relay.inst.clone(),
            dropped: Arc::clone(&relay.dropped),
            seq: 0,
        };
        *relay.publisher.lock() = Some(tokio::spawn(publisher.run(queue)));
    }
    // Weak: the relay holds the sink, the scheduler holds the relay.
    let weak = Arc::downgrade(inner);
    let sink: RelaySink = Arc::new(move |delivery| {
        if let Some(inner) = weak.upgrade() {
            receive(&inner, delivery);
        }
    });
    *relay.subscription.lock() = Some(relay.relay.subscribe(sink));
}

/// Publishes what is queued (waiting up to 5 s), then stops publishing and receiving
/// (from shutdown).
pub(crate) async fn stop(inner: &Inner) {
    let Some(relay) = inner.events.relay() else {
        return;
    };
    let (ack, flushed) = oneshot::channel();
    let flush = async {
        if relay.queue.send(Outgoing::Flush(ack)).await.is_ok() {
            let _ = flushed.await;
        }
    };
    if tokio::time::timeout(FLUSH_AT_SHUTDOWN, flush)
        .await
        .is_err()
    {
        tracing::warn!("event relay: events still queued at shutdown were not relayed");
    }
    if let Some(task) = relay.publisher.lock().take() {
        task.abort();
    }
    drop(relay.subscription.lock().take());
}

/// One delivery from the relay, on the relay's task.
fn receive(inner: &Inner, delivery: RelayDelivery) {
    let Some(relay) = inner.events.relay() else {
        return;
    };
    let now = inner.env.clock.now();
    let payload = match delivery {
        RelayDelivery::Payload(payload) => payload,
        RelayDelivery::Interrupted => {
            tracing::warn!("event relay interrupted: other nodes' events sent meanwhile are lost");
            inner.events.emit_relayed(Event::EventsMissed(MissedEvents {
                node: None,
                missed: None,
                at: now,
            }));
            return;
        }
        _ => return,
    };
    let batch = match wire::decode(&payload) {
        Ok(Some(batch)) => batch,
        Ok(None) => {
            tracing::debug!("relayed events in another version of the format skipped");
            return;
        }
        // Its events are reported missed by the node's next payload (a gap).
        Err(error) => {
            tracing::warn!(%error, "relayed events that cannot be read skipped");
            return;
        }
    };
    if batch.inst == relay.inst {
        return; // our own, back from the relay
    }
    let count = batch.events.len() as u64;
    let missed = relay
        .gaps
        .lock()
        .observe(&batch.node, &batch.inst, batch.seq, count);
    if let Some(missed) = missed {
        tracing::warn!(node = %batch.node, missed, "relayed events from another node missed");
        inner.events.emit_relayed(Event::EventsMissed(MissedEvents {
            node: Some(batch.node.clone()),
            missed: Some(missed),
            at: now,
        }));
    }
    for event in batch.events {
        if let Some(event) = event.into_event(&batch.node) {
            inner.events.emit_relayed(event);
        }
    }
}

/// The publisher task's state.
struct Publisher {
    relay: Arc<dyn EventRelay>,
    node: String,
    inst: String,
    dropped: Arc<AtomicU64>,
    /// The number of the next event relayed.
    seq: u64,
}

impl Publisher {
    async fn run(mut self, mut queue: mpsc::Receiver<Outgoing>) {
        let max = self.relay.max_payload();
        let budget = wire::budget(&self.node, &self.inst, max).max(wire::MIN_BUDGET);
        let mut last: Option<Instant> = None;
        let mut events = Vec::new();
        let mut acks = Vec::new();
        loop {
            let Some(first) = queue.recv().await else {
                return;
            };
            take(first, budget, &mut events, &mut acks);
            // Gather a burst until a publish is due again (at once after a quiet spell).
            if let Some(until) = last.map(|last| last + FLUSH_EVERY) {
                while acks.is_empty() && events.len() < MAX_BATCH {
                    match tokio::time::timeout_at(until, queue.recv()).await {
                        Ok(Some(next)) => take(next, budget, &mut events, &mut acks),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
            while events.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(next) => take(next, budget, &mut events, &mut acks),
                    Err(_) => break,
                }
            }
            self.publish(&mut events, max).await;
            last = Some(Instant::now());
            for ack in acks.drain(..) {
                let _ = ack.send(());
            }
        }
    }

    /// Numbers and sends `events` (emptied). A failed publish is not retried: its
    /// numbers are spent, so receivers count those events missed.
    async fn publish(&mut self, events: &mut Vec<String>, max: usize) {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(dropped, "event relay queue full: events not relayed");
            self.seq += dropped;
        }
        if events.is_empty() {
            return;
        }
        let count = events.len();
        let payloads = wire::pack(events, &self.node, &self.inst, &mut self.seq, max);
        events.clear();
        if let Err(error) = self.relay.publish(payloads).await {
            tracing::warn!(%error, count, "event relay: events could not be published; other nodes report them missed");
        }
    }
}

fn take(
    outgoing: Outgoing,
    budget: usize,
    events: &mut Vec<String>,
    acks: &mut Vec<oneshot::Sender<()>>,
) {
    match outgoing {
        Outgoing::Event(event) => events.extend(wire::encode(&event, budget)),
        Outgoing::Flush(ack) => acks.push(ack),
    }
}

/// Unique per scheduler built: the process, the time, a counter.
fn instance_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("{:x}-{nanos:x}-{n:x}", std::process::id())
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("relay", &self.relay)
            .field("mask", &self.mask)
            .field("inst", &self.inst)
            .finish_non_exhaustive()
    }
}
