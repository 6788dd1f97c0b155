//! Events: what the scheduler did, broadcast to subscribers and listeners.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_core::job::JobId;
use sched_core::policy::Skipped;
use sched_core::store::{RunId, RunStatus};
use tokio::sync::broadcast;

use crate::relay::Relay;

/// Something the scheduler did. Receive them with
/// [`Scheduler::subscribe`](crate::Scheduler::subscribe) or
/// [`Scheduler::add_listener`](crate::Scheduler::add_listener).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The runtime started.
    SchedulerStarted {
        /// When.
        at: DateTime<Utc>,
    },
    /// The runtime stopped (all runs finished or were aborted).
    SchedulerShutdown {
        /// When.
        at: DateTime<Utc>,
    },
    /// `pause()`: no run starts until `resume()`.
    SchedulerPaused {
        /// When.
        at: DateTime<Utc>,
    },
    /// `resume()` after `pause()`.
    SchedulerResumed {
        /// When.
        at: DateTime<Utc>,
    },
    /// A job was added.
    JobAdded(JobEvent),
    /// A job was changed (modified, rescheduled, paused, resumed).
    JobModified(JobEvent),
    /// A job was removed (by a user, or because its trigger is done).
    JobRemoved(JobEvent),
    /// A run was handed to the executor.
    JobSubmitted(RunEvent),
    /// A run returned `Ok`.
    JobExecuted(RunEvent),
    /// A run returned an error, panicked, timed out or was aborted: see `error`.
    JobError(RunEvent),
    /// Runs that started later than their misfire grace time: not run.
    JobMissed(SkipEvent),
    /// Runs merged into a newer run by `coalesce`.
    JobCoalesced(SkipEvent),
    /// Runs skipped because `max_instances` runs of the job were executing.
    JobMaxInstances(SkipEvent),
    /// A run whose node stopped heartbeating mid-run (reported by a surviving node).
    JobAbandoned(AbandonedEvent),
    /// A run failed and its occurrence will be tried again (the job's
    /// [`RetryPolicy`](sched_core::job::RetryPolicy)): sent after its `JobError`.
    JobRetrying(RetryEvent),
    /// This node could not renew a run's lease before it ran out (the store was out of
    /// reach), or found the run taken from it by another node's reaper: another node
    /// may run the occurrence again. A run not started yet is not started; a run that
    /// is executing goes on, but its outcome is recorded only if no other node took it
    /// over (see `docs/stores.md`, "Leases").
    JobLeaseLost(LeaseLostEvent),
    /// A stored job that this node cannot run (unknown task, undecodable row). The job
    /// is left in the store, untouched.
    JobUnrunnable {
        /// The job's id.
        job_id: JobId,
        /// What is wrong with it.
        error: String,
    },
    /// The store failed (the runtime retries with backoff).
    StoreError {
        /// The error text.
        error: String,
    },
    /// Events relayed from other nodes that this node did not receive (see
    /// [`SchedulerBuilder::event_relay`](crate::SchedulerBuilder::event_relay)): a
    /// dashboard can say "12 events from node-b missed".
    EventsMissed(MissedEvents),
}

/// A job-level event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobEvent {
    /// The job's id.
    pub job_id: JobId,
    /// When.
    pub at: DateTime<Utc>,
    /// The node whose scheduler made the change (this node's id, or another node's for
    /// an event relayed from it).
    pub node: String,
}

/// One run of a job.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RunEvent {
    /// The job's id.
    pub job_id: JobId,
    /// The run's id in the store.
    pub run_id: RunId,
    /// The fire time the run stands for.
    pub scheduled: DateTime<Utc>,
    /// When the run started (or was submitted). A run aborted at shutdown reports its
    /// scheduled time here (or the time of the abort, if earlier).
    pub started: DateTime<Utc>,
    /// How long it ran (set on executed and error events; `None` for a run aborted at
    /// shutdown).
    pub duration: Option<Duration>,
    /// The error text (set on error events). Relayed from another node, a text too
    /// long for one notification is cut, ending in `[... truncated from N bytes]`.
    pub error: Option<String>,
    /// The node that ran it (this node's id, or another node's for an event relayed
    /// from it).
    pub node: String,
    /// Which attempt of its occurrence it is: 1 for the first run, more for a retry.
    pub attempt: u32,
    /// Running (submitted), or how it ended.
    pub status: RunStatus,
    /// What the task returned, as JSON text (executed events; `None`: nothing). Not
    /// relayed to other nodes (they find it in the run history).
    pub result: Option<Arc<str>>,
}

/// Runs of one job that did not start.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkipEvent {
    /// The job's id.
    pub job_id: JobId,
    /// Which scheduled times, how many.
    pub runs: Skipped,
    /// When the decision was made.
    pub at: DateTime<Utc>,
    /// The node that decided (this node's id, or another node's for an event relayed
    /// from it).
    pub node: String,
}

/// A run abandoned by a node that died.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AbandonedEvent {
    /// The job's id.
    pub job_id: JobId,
    /// The run's id in the store.
    pub run_id: RunId,
    /// The fire time it stood for.
    pub scheduled: DateTime<Utc>,
    /// The node that claimed it and died.
    pub node: String,
    /// Whether the occurrence will run again elsewhere (`recover_abandoned`).
    pub recovered: bool,
    /// The node that found it abandoned and reported it (this node's id, or another
    /// node's for an event relayed from it).
    pub reported_by: String,
}

/// A failed run whose occurrence is tried again ([`Event::JobRetrying`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryEvent {
    /// The job's id.
    pub job_id: JobId,
    /// The run that failed.
    pub run_id: RunId,
    /// The fire time its attempts stand for.
    pub scheduled: DateTime<Utc>,
    /// Which attempt failed (1: the first run); the next is `attempt + 1`.
    pub attempt: u32,
    /// When the next attempt is due (any node with the task may run it).
    pub retry_at: DateTime<Utc>,
    /// How the failed attempt ended.
    pub error: Option<String>,
    /// The node that ran the failed attempt.
    pub node: String,
}

/// A run whose lease this node lost.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseLostEvent {
    /// The job's id.
    pub job_id: JobId,
    /// The run's id in the store.
    pub run_id: RunId,
    /// The fire time it stands for.
    pub scheduled: DateTime<Utc>,
    /// This node.
    pub node: String,
    /// What happened: its lease ran out unrenewed, or another node reaped it.
    pub reason: String,
    /// When this node noticed.
    pub at: DateTime<Utc>,
}

/// Relayed events this node missed ([`Event::EventsMissed`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MissedEvents {
    /// The node whose events were missed; `None` when this node's relay could not
    /// receive for a while (its connection dropped): which nodes sent what meanwhile
    /// is told, with counts, by the next events each of them relays.
    pub node: Option<String>,
    /// How many (`None`: not known, as when `node` is `None`).
    pub missed: Option<u64>,
    /// When this node noticed.
    pub at: DateTime<Utc>,
}

impl Event {
    /// The bit of this event's kind, to test against an [`EventMask`].
    pub fn mask(&self) -> EventMask {
        EventMask(match self {
            Event::SchedulerStarted { .. } => 1 << 0,
            Event::SchedulerShutdown { .. } => 1 << 1,
            Event::SchedulerPaused { .. } => 1 << 2,
            Event::SchedulerResumed { .. } => 1 << 3,
            Event::JobAdded(_) => 1 << 4,
            Event::JobModified(_) => 1 << 5,
            Event::JobRemoved(_) => 1 << 6,
            Event::JobSubmitted(_) => 1 << 7,
            Event::JobExecuted(_) => 1 << 8,
            Event::JobError(_) => 1 << 9,
            Event::JobMissed(_) => 1 << 10,
            Event::JobCoalesced(_) => 1 << 11,
            Event::JobMaxInstances(_) => 1 << 12,
            Event::JobUnrunnable { .. } => 1 << 13,
            Event::StoreError { .. } => 1 << 14,
            Event::JobAbandoned(_) => 1 << 15,
            Event::JobLeaseLost(_) => 1 << 16,
            Event::EventsMissed(_) => 1 << 17,
            Event::JobRetrying(_) => 1 << 18,
        })
    }

    /// The node this event comes from, for the events a relay carries: the node that
    /// ran, skipped, changed or reaped the job (this node's id for its own events), and
    /// for [`Event::EventsMissed`] the node whose events were missed. `None` for the
    /// events that only ever concern this node (scheduler lifecycle, store errors,
    /// unrunnable jobs).
    pub fn node(&self) -> Option<&str> {
        match self {
            Event::JobAdded(e) | Event::JobModified(e) | Event::JobRemoved(e) => Some(&e.node),
            Event::JobSubmitted(e) | Event::JobExecuted(e) | Event::JobError(e) => Some(&e.node),
            Event::JobMissed(e) | Event::JobCoalesced(e) | Event::JobMaxInstances(e) => {
                Some(&e.node)
            }
            Event::JobAbandoned(e) => Some(&e.reported_by),
            Event::JobLeaseLost(e) => Some(&e.node),
            Event::JobRetrying(e) => Some(&e.node),
            Event::EventsMissed(e) => e.node.as_deref(),
            _ => None,
        }
    }

    /// The job this event is about, if any.
    pub fn job_id(&self) -> Option<&str> {
        match self {
            Event::JobAdded(e) | Event::JobModified(e) | Event::JobRemoved(e) => Some(&e.job_id),
            Event::JobSubmitted(e) | Event::JobExecuted(e) | Event::JobError(e) => Some(&e.job_id),
            Event::JobMissed(e) | Event::JobCoalesced(e) | Event::JobMaxInstances(e) => {
                Some(&e.job_id)
            }
            Event::JobUnrunnable { job_id, .. } => Some(job_id),
            Event::JobAbandoned(e) => Some(&e.job_id),
            Event::JobLeaseLost(e) => Some(&e.job_id),
            Event::JobRetrying(e) => Some(&e.job_id),
            _ => None,
        }
    }

    /// The error text, for error, unrunnable and store-error events.
    pub fn error(&self) -> Option<&str> {
        match self {
            Event::JobError(e) => e.error.as_deref(),
            Event::JobUnrunnable { error, .. } | Event::StoreError { error } => Some(error),
            Event::JobLeaseLost(e) => Some(&e.reason),
            Event::JobRetrying(e) => e.error.as_deref(),
            _ => None,
        }
    }
}

/// A set of event kinds, combinable with `|` like APScheduler's
/// `EVENT_JOB_EXECUTED | EVENT_JOB_ERROR`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventMask(u32);

impl EventMask {
    /// [`Event::SchedulerStarted`].
    pub const SCHEDULER_STARTED: Self = Self(1 << 0);
    /// [`Event::SchedulerShutdown`].
    pub const SCHEDULER_SHUTDOWN: Self = Self(1 << 1);
    /// [`Event::SchedulerPaused`].
    pub const SCHEDULER_PAUSED: Self = Self(1 << 2);
    /// [`Event::SchedulerResumed`].
    pub const SCHEDULER_RESUMED: Self = Self(1 << 3);
    /// [`Event::JobAdded`].
    pub const JOB_ADDED: Self = Self(1 << 4);
    /// [`Event::JobModified`].
    pub const JOB_MODIFIED: Self = Self(1 << 5);
    /// [`Event::JobRemoved`].
    pub const JOB_REMOVED: Self = Self(1 << 6);
    /// [`Event::JobSubmitted`].
    pub const JOB_SUBMITTED: Self = Self(1 << 7);
    /// [`Event::JobExecuted`].
    pub const JOB_EXECUTED: Self = Self(1 << 8);
    /// [`Event::JobError`].
    pub const JOB_ERROR: Self = Self(1 << 9);
    /// [`Event::JobMissed`].
    pub const JOB_MISSED: Self = Self(1 << 10);
    /// [`Event::JobCoalesced`].
    pub const JOB_COALESCED: Self = Self(1 << 11);
    /// [`Event::JobMaxInstances`].
    pub const JOB_MAX_INSTANCES: Self = Self(1 << 12);
    /// [`Event::JobUnrunnable`].
    pub const JOB_UNRUNNABLE: Self = Self(1 << 13);
    /// [`Event::StoreError`].
    pub const STORE_ERROR: Self = Self(1 << 14);
    /// [`Event::JobAbandoned`].
    pub const JOB_ABANDONED: Self = Self(1 << 15);
    /// [`Event::JobLeaseLost`].
    pub const JOB_LEASE_LOST: Self = Self(1 << 16);
    /// [`Event::EventsMissed`].
    pub const EVENTS_MISSED: Self = Self(1 << 17);
    /// [`Event::JobRetrying`].
    pub const JOB_RETRYING: Self = Self(1 << 18);
    /// Every kind.
    pub const ALL: Self = Self((1 << 19) - 1);
    /// The kinds an event relay carries to the other nodes (the default of
    /// [`SchedulerBuilder::relayed_events`](crate::SchedulerBuilder::relayed_events)):
    /// job added, modified, removed, and every run event (submitted, executed, error,
    /// missed, coalesced, max instances, abandoned, lease lost).
    pub const RELAYED: Self = Self(
        Self::JOB_ADDED.0
            | Self::JOB_MODIFIED.0
            | Self::JOB_REMOVED.0
            | Self::JOB_SUBMITTED.0
            | Self::JOB_EXECUTED.0
            | Self::JOB_ERROR.0
            | Self::JOB_MISSED.0
            | Self::JOB_COALESCED.0
            | Self::JOB_MAX_INSTANCES.0
            | Self::JOB_ABANDONED.0
            | Self::JOB_LEASE_LOST.0,
    );

    /// Whether `event`'s kind is in this set.
    pub fn matches(self, event: &Event) -> bool {
        self.0 & event.mask().0 != 0
    }

    /// The kinds in both sets.
    pub(crate) fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }
}

impl BitOr for EventMask {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for EventMask {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for EventMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventMask({:#b})", self.0)
    }
}

/// The scheduler's event channel.
#[derive(Debug)]
pub(crate) struct Events {
    sender: broadcast::Sender<Event>,
    /// Someone may hold a receiver (see [`emit`](Self::emit)).
    listened: AtomicBool,
    /// Where this node's events go to other nodes, and theirs come from.
    relay: Option<Relay>,
}

impl Events {
    pub(crate) fn new(capacity: usize, relay: Option<Relay>) -> Self {
        Self {
            sender: broadcast::channel(capacity).0,
            listened: AtomicBool::new(false),
            relay,
        }
    }

    /// The event relay, if the scheduler has one.
    pub(crate) fn relay(&self) -> Option<&Relay> {
        self.relay.as_ref()
    }

    /// A receiver of every event from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.listened.store(true, Ordering::SeqCst);
        self.sender.subscribe()
    }

    /// Sends this node's `event` to whoever listens, and to the relay.
    pub(crate) fn emit(&self, event: Event) {
        if let Some(relay) = &self.relay {
            relay.offer(&event);
        }
        self.emit_relayed(event);
    }

    /// Sends `event`, relayed from another node (or about the relay), to whoever
    /// listens here: never back to the relay.
    pub(crate) fn emit_relayed(&self, event: Event) {
        // Sending locks the channel, even with no receiver: with nobody listening,
        // runs skip it (two sends per run would contend between worker threads).
        if self.listened.load(Ordering::Relaxed) {
            let _ = self.sender.send(event);
        }
    }

    /// Whether anyone listens, here or through the relay (so building an event is
    /// worth it).
    pub(crate) fn listened(&self) -> bool {
        self.relay.is_some() || self.listened.load(Ordering::Relaxed)
    }

    /// Notices that the last receiver is gone (called by the runtime loop, once per
    /// claim; `subscribe` sets the flag at once).
    pub(crate) fn refresh_listened(&self) {
        if self.listened.load(Ordering::Relaxed) && self.sender.receiver_count() == 0 {
            self.listened.store(false, Ordering::Relaxed);
        }
    }
}
