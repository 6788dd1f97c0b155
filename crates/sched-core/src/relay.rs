//! Events from every node: the contract between a runtime that publishes its events and
//! a store that carries them to the runtimes of the other nodes.
//!
//! The runtime (sched-tokio) packs its events into payloads, opaque here: ASCII JSON
//! text of at most [`EventRelay::max_payload`] bytes, each numbered so that a receiver
//! can count what it missed. A relay only carries them: [`EventRelay::publish`] sends
//! payloads to every subscriber on every node (the publishing one included), in the
//! order given, and [`EventRelay::subscribe`] hands each one received to a sink, or
//! tells it that receiving was interrupted ([`RelayDelivery::Interrupted`]), so that
//! what was sent meanwhile is known to be lost.
//!
//! sched-store-sqlx's `PostgresStore::event_relay` relays through `LISTEN/NOTIFY`;
//! [`MemoryRelay`] within one process (tests, several schedulers on one
//! [`MemoryStore`](crate::store::MemoryStore)).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use async_trait::async_trait;

use crate::support::Mutex;
use crate::Result;

/// What a relay hands a subscriber: see [`EventRelay::subscribe`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayDelivery {
    /// One payload some node published (this node's own included: a subscriber
    /// recognises and skips those).
    Payload(String),
    /// Receiving was interrupted (the relay's connection dropped, or could not be
    /// made): payloads published meanwhile are lost, how many is not known here. The
    /// relay goes on receiving once it can.
    Interrupted,
}

/// Receives a relay's deliveries. Called on the relay's own task: it must not block.
pub type RelaySink = Arc<dyn Fn(RelayDelivery) + Send + Sync>;

/// Carries event payloads between the nodes sharing a store; object safe, used as
/// `Arc<dyn EventRelay>` (by `SchedulerBuilder::event_relay` in sched-tokio).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use sched_core::relay::{EventRelay, MemoryRelay, RelayDelivery};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> sched_core::Result<()> {
/// let relay = MemoryRelay::new();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&seen);
/// let subscription = relay.subscribe(Arc::new(move |d: RelayDelivery| sink.lock().unwrap().push(d)));
/// relay.publish(vec!["[1]".into(), "[2]".into()]).await?;
/// assert_eq!(*seen.lock().unwrap(), [RelayDelivery::Payload("[1]".into()), RelayDelivery::Payload("[2]".into())]);
/// drop(subscription); // no more deliveries
/// # Ok(()) }
/// ```
#[async_trait]
pub trait EventRelay: Send + Sync + fmt::Debug {
    /// The longest payload [`publish`](Self::publish) takes, in bytes (Postgres: 7999,
    /// since a `NOTIFY` payload must be shorter than 8000 bytes).
    fn max_payload(&self) -> usize;

    /// Sends each payload, in order, to every subscriber on every node sharing the
    /// relay. Payloads are ASCII text of at most [`max_payload`](Self::max_payload)
    /// bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Store`](crate::Error::Store) if they could not be sent (then none or
    /// some were: receivers notice the gap), or
    /// [`Error::InvalidConfiguration`](crate::Error::InvalidConfiguration) for a
    /// payload over the limit.
    async fn publish(&self, payloads: Vec<String>) -> Result<()>;

    /// Calls `sink` with every delivery from now on, until the returned subscription is
    /// dropped. A relay may start its receiving task here (the Postgres relay does, on
    /// the current Tokio runtime).
    fn subscribe(&self, sink: RelaySink) -> RelaySubscription;
}

/// A subscription to an [`EventRelay`]: dropping it ends the deliveries.
#[must_use = "dropping the subscription ends it"]
pub struct RelaySubscription {
    cancel: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl RelaySubscription {
    /// A subscription that runs `cancel` when dropped (for relay implementors).
    pub fn new(cancel: impl FnOnce() + Send + Sync + 'static) -> Self {
        Self {
            cancel: Some(Box::new(cancel)),
        }
    }
}

impl Drop for RelaySubscription {
    fn drop(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            cancel();
        }
    }
}

impl fmt::Debug for RelaySubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelaySubscription").finish_non_exhaustive()
    }
}

/// The sinks subscribed to a relay, for relay implementors: [`Sinks::deliver`] calls
/// each (outside the lock, so a sink may subscribe or unsubscribe).
#[derive(Default)]
pub struct Sinks {
    next: u64,
    sinks: Vec<(u64, RelaySink)>,
}

impl Sinks {
    /// Adds `sink` to `this`; the subscription removes it again, then calls
    /// `on_empty` if it was the last one.
    pub fn add(
        this: &Arc<Mutex<Sinks>>,
        sink: RelaySink,
        on_empty: impl FnOnce() + Send + Sync + 'static,
    ) -> RelaySubscription {
        let id = {
            let mut sinks = this.lock();
            sinks.next += 1;
            let id = sinks.next;
            sinks.sinks.push((id, sink));
            id
        };
        let weak: Weak<Mutex<Sinks>> = Arc::downgrade(this);
        RelaySubscription::new(move || {
            if let Some(sinks) = weak.upgrade() {
                let empty = {
                    let mut sinks = sinks.lock();
                    sinks.sinks.retain(|(other, _)| *other != id);
                    sinks.sinks.is_empty()
                };
                if empty {
                    on_empty();
                }
            }
        })
    }

    /// How many sinks are subscribed.
    pub fn len(&self) -> usize {
        self.sinks.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Calls every sink of `this` with `delivery`.
    pub fn deliver(this: &Mutex<Sinks>, delivery: RelayDelivery) {
        let sinks: Vec<RelaySink> = this
            .lock()
            .sinks
            .iter()
            .map(|(_, s)| Arc::clone(s))
            .collect();
        for sink in sinks {
            sink(delivery.clone());
        }
    }
}

impl fmt::Debug for Sinks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sinks")
            .field("len", &self.sinks.len())
            .finish()
    }
}

/// A relay within one process: [`publish`](EventRelay::publish) calls every subscriber
/// at once. For tests and for several schedulers sharing one
/// [`MemoryStore`](crate::store::MemoryStore); a cheap `Clone`.
#[derive(Clone, Debug)]
pub struct MemoryRelay {
    inner: Arc<MemoryInner>,
}

#[derive(Debug)]
struct MemoryInner {
    sinks: Arc<Mutex<Sinks>>,
    max_payload: usize,
    published: AtomicU64,
}

impl Default for MemoryRelay {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRelay {
    /// A relay with Postgres's payload limit (7999 bytes).
    pub fn new() -> Self {
        Self::with_max_payload(7999)
    }

    /// A relay taking payloads of at most `max` bytes.
    pub fn with_max_payload(max: usize) -> Self {
        Self {
            inner: Arc::new(MemoryInner {
                sinks: Arc::default(),
                max_payload: max,
                published: AtomicU64::new(0),
            }),
        }
    }

    /// How many payloads were published so far.
    pub fn published(&self) -> u64 {
        self.inner.published.load(Ordering::SeqCst)
    }

    /// Tells every subscriber that receiving was interrupted (as a dropped connection
    /// would).
    pub fn interrupt(&self) {
        Sinks::deliver(&self.inner.sinks, RelayDelivery::Interrupted);
    }
}

#[async_trait]
impl EventRelay for MemoryRelay {
    fn max_payload(&self) -> usize {
        self.inner.max_payload
    }

    async fn publish(&self, payloads: Vec<String>) -> Result<()> {
        check_payloads(&payloads, self.inner.max_payload)?;
        for payload in payloads {
            self.inner.published.fetch_add(1, Ordering::SeqCst);
            Sinks::deliver(&self.inner.sinks, RelayDelivery::Payload(payload));
        }
        Ok(())
    }

    fn subscribe(&self, sink: RelaySink) -> RelaySubscription {
        Sinks::add(&self.inner.sinks, sink, || {})
    }
}

/// Refuses a payload longer than `max` bytes (for relay implementors).
///
/// # Errors
///
/// [`Error::InvalidConfiguration`](crate::Error::InvalidConfiguration) naming its length.
pub fn check_payloads(payloads: &[String], max: usize) -> Result<()> {
    match payloads.iter().find(|p| p.len() > max) {
        Some(payload) => Err(crate::Error::InvalidConfiguration {
            setting: "publish",
            value: format!("a payload of {} bytes", payload.len()),
            rule: format!("at most {max} bytes"),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dropped_subscription_gets_nothing_more() {
        let relay = MemoryRelay::with_max_payload(4);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let subscription = relay.subscribe(Arc::new(move |d| sink.lock().push(d)));
        relay.publish(vec!["a".into()]).await.expect("fits");
        relay.interrupt();
        assert!(relay.publish(vec!["12345".into()]).await.is_err());
        drop(subscription);
        relay.publish(vec!["b".into()]).await.expect("fits");
        assert_eq!(
            *seen.lock(),
            [
                RelayDelivery::Payload("a".into()),
                RelayDelivery::Interrupted
            ]
        );
        assert_eq!(relay.published(), 2);
    }
}
