//! `SchedulerBuilder`: a scheduler's settings, checked once when it is built.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use sched_core::clock::{Clock, SystemClock};
use sched_core::job::JobOptions;
use sched_core::relay::EventRelay;
use sched_core::store::{JobStore, MemoryStore};

use crate::error::Result;
use crate::event::EventMask;
use crate::relay::Relay;
use crate::scheduler::{Env, Inner, Scheduler};

/// The settings a running scheduler reads.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// This node's id in a shared store.
    pub(crate) node: String,
    /// The zone of jobs whose trigger names none.
    pub(crate) timezone: Tz,
    /// Options of jobs added without their own.
    pub(crate) defaults: JobOptions,
    pub(crate) shutdown_timeout: Duration,
    /// Most jobs claimed in one go.
    pub(crate) batch: usize,
    pub(crate) lease: Duration,
    pub(crate) heartbeat: Duration,
    pub(crate) wall_clock_check: Duration,
    pub(crate) claim_ahead: Duration,
    /// The longest run result kept, in bytes of JSON.
    pub(crate) max_result_bytes: usize,
}

/// [`SchedulerBuilder::max_result_bytes`] unless set: 64 KiB.
pub const DEFAULT_MAX_RESULT_BYTES: usize = 64 * 1024;

/// Configures a [`Scheduler`]; from [`Scheduler::builder`]. Settings are checked by
/// [`build`](Self::build): nothing is clamped silently.
#[must_use]
pub struct SchedulerBuilder {
    store: Option<Arc<dyn JobStore>>,
    clock: Arc<dyn Clock>,
    node: Option<String>,
    timezone: Tz,
    defaults: JobOptions,
    max_concurrency: Option<usize>,
    event_capacity: usize,
    shutdown_timeout: Duration,
    batch: usize,
    lease: Duration,
    /// `None`: a fifth of the lease.
    heartbeat: Option<Duration>,
    wall_clock_check: Duration,
    claim_ahead: Option<Duration>,
    relay: Option<Arc<dyn EventRelay>>,
    relayed: EventMask,
    max_result_bytes: usize,
}

impl Default for SchedulerBuilder {
    /// The defaults: a fresh [`MemoryStore`], the system clock, UTC, default job options.
    fn default() -> Self {
        Self {
            store: None,
            clock: Arc::new(SystemClock),
            node: None,
            timezone: Tz::UTC,
            defaults: JobOptions::default(),
            max_concurrency: None,
            event_capacity: 4096,
            shutdown_timeout: Duration::from_secs(30),
            batch: 2048,
            lease: Duration::from_secs(10),
            heartbeat: None,
            wall_clock_check: Duration::from_secs(30),
            claim_ahead: None,
            relay: None,
            relayed: EventMask::RELAYED,
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
        }
    }
}

/// The shortest lease: a node renews its leases at least this long before they end.
const MIN_LEASE: Duration = Duration::from_millis(10);
/// The shortest heartbeat interval and wall-clock check.
const MIN_PERIOD: Duration = Duration::from_millis(1);
/// The longest wait a setting may ask for (100 years): a timer `now + wait` must exist
/// (`Instant + Duration::MAX` overflows), and longer means "never" in all but name.
const MAX_WAIT: Duration = Duration::from_secs(100 * 365 * 86_400);

impl SchedulerBuilder {
    /// Where jobs live (default: a fresh [`MemoryStore`]).
    pub fn store(mut self, store: Arc<dyn JobStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The zone of jobs whose trigger does not name one (default UTC).
    pub fn timezone(mut self, tz: Tz) -> Self {
        self.timezone = tz;
        self
    }

    /// Options of jobs added without their own.
    pub fn job_defaults(mut self, defaults: JobOptions) -> Self {
        self.defaults = defaults;
        self
    }

    /// Most runs executing at once on this node, over all jobs (default: unlimited;
    /// at least 1: [`build`](Self::build) refuses 0, with which no job would ever run).
    /// A run that waits for a slot past its misfire grace is missed, not started late.
    pub fn max_concurrency(mut self, limit: usize) -> Self {
        self.max_concurrency = Some(limit);
        self
    }

    /// How long `shutdown` waits for running jobs before aborting them (default 30 s, at
    /// most 100 years).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The wall clock (default: the system clock, which does not follow Tokio's paused
    /// time). Tests on `tokio::time::pause()` pass a
    /// [`TokioClock`](crate::TokioClock) (`TokioClock::new()`).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// This node's id in a shared store (default: generated, unique per process start).
    pub fn node_id(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// Capacity of the event channel; a receiver that falls further behind learns how
    /// many events it missed (default 4096, at least 1).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// Most jobs claimed from the store in one go (default 2048, at least 1).
    pub fn claim_batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    /// How long this node's claims stay valid without a heartbeat (default 10 s, at
    /// least 10 ms, at most 100 years): when a node dies, its running runs are reported
    /// abandoned this long after its last heartbeat. Only stores shared between
    /// processes use it.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How often this node heartbeats with a shared store (default: a fifth of the
    /// lease, 2 s with the default lease; set, it must be shorter than the lease, and
    /// is better well under it). It looks for abandoned runs twice as often.
    pub fn heartbeat_interval(mut self, every: Duration) -> Self {
        self.heartbeat = Some(every);
        self
    }

    fn heartbeat(&self) -> Duration {
        self.heartbeat.unwrap_or(self.lease / 5)
    }

    /// The longest the runtime sleeps without re-reading the wall clock, so that a
    /// clock step (NTP, suspend/resume) is noticed (default 30 s, at least 1 ms, at most
    /// 100 years).
    pub fn wall_clock_check(mut self, every: Duration) -> Self {
        self.wall_clock_check = every;
        self
    }

    /// Claims each job's next run up to `ahead` before it is due, and starts it from a
    /// local timer at its time, never early (at most half the lease). The default is the
    /// store's ([`JobStore::default_claim_ahead`]): 500 ms on a store several nodes
    /// share (`PostgresStore`), zero on `MemoryStore` and `SqliteStore`, whose claims
    /// cost little; capped at half the lease. `Duration::ZERO` turns it off.
    ///
    /// On a shared store the database round trip then no longer adds to a run's delay,
    /// and one claim takes a slice of the coming runs instead of what fell due since the
    /// last one. A run is claimed ahead only when its job has a free instance
    /// (`max_instances`) and the run is not its job's last (a one-off job is claimed
    /// when due); otherwise it is decided when due, as without claim-ahead.
    ///
    /// The guarantee: a run claimed ahead and not started yet is given back to the
    /// store ([`JobStore::unclaim`]) when its job is paused, changed, rescheduled,
    /// replaced or removed, run now ([`run_job_now`](Scheduler::run_job_now)) or
    /// backfilled through this scheduler — before that call returns — or when the
    /// scheduler is [`pause`](Scheduler::pause)d; its occurrence is then decided anew at
    /// its time with the job as it is (paused: not run; removed: gone; changed: run as
    /// changed; rescheduled: the new trigger's). A change made on another node applies
    /// the same way as soon as its notice arrives (Postgres `NOTIFY` naming the job,
    /// within milliseconds); a notice lost while the listener reconnects leaves that
    /// change to apply from the job's following run, as a change made after the run
    /// started does. Runs are never doubled by it: a run is either given back before it
    /// starts or runs as claimed. `run_job_now` on another node than the one holding a
    /// job's run claimed ahead still finds that instance taken (`JobMaxInstances`, with
    /// `max_instances` 1).
    ///
    /// Shutting down waits for the claimed runs' times (or cancels them with
    /// [`shutdown_now`](Scheduler::shutdown_now)). A node killed while holding runs
    /// claimed ahead loses them like runs in flight: they are reported abandoned once its
    /// lease expires, and run again only for jobs with `recover_abandoned`.
    ///
    /// [`JobStore::default_claim_ahead`]: sched_core::store::JobStore::default_claim_ahead
    /// [`JobStore::unclaim`]: sched_core::store::JobStore::unclaim
    ///
    /// ```
    /// # use std::time::Duration;
    /// let builder = sched_tokio::Scheduler::builder().claim_ahead(Duration::from_millis(300));
    /// ```
    pub fn claim_ahead(mut self, ahead: Duration) -> Self {
        self.claim_ahead = Some(ahead);
        self
    }

    /// Relays events between the nodes sharing the store (opt-in; default none): this
    /// node's events of the [`relayed_events`](Self::relayed_events) kinds go out
    /// through `relay`, and the other nodes' come in, so that
    /// [`subscribe`](Scheduler::subscribe), listeners and a dashboard on any node see
    /// what every node did. [`Event::node`](crate::Event::node) tells where an event
    /// comes from.
    ///
    /// Relaying never slows scheduling: an event is queued without waiting (the queue
    /// holds [`event_capacity`](Self::event_capacity) events; a full one drops them,
    /// counted) and sent in batches, at most one publish per 50 ms unless a batch is
    /// full, from a task of its own; shutdown waits up to 5 s for the queue to be sent.
    /// Events a node missed — dropped by a full queue, lost in a failed publish, sent
    /// while its relay reconnected — are reported on it as [`Event::EventsMissed`],
    /// with the sending node and the count when known. With a relay, events are built
    /// even when nobody subscribes on this node.
    ///
    /// With Postgres, `PostgresStore::event_relay()` (sched-store-sqlx) relays through
    /// `LISTEN/NOTIFY`: `Scheduler::builder().store(Arc::new(store.clone()))
    /// .event_relay(store.event_relay())`. Here two nodes in one process, through a
    /// [`MemoryRelay`](sched_core::relay::MemoryRelay):
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use sched_tokio::prelude::*;
    /// use sched_tokio::sched_core::relay::MemoryRelay;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), sched_tokio::Error> {
    /// let relay = Arc::new(MemoryRelay::new());
    /// let node = |id: &str| {
    ///     Scheduler::builder().node_id(id).clock(TokioClock::new()).event_relay(relay.clone()).build()
    /// };
    /// let (a, b) = (node("node-a")?, node("node-b")?);
    /// let mut on_b = b.subscribe();
    /// a.start().await?;
    /// b.start().await?;
    /// a.add_job(JobSpec::interval(Duration::from_secs(10)).id("tick"), || async {}).await?;
    /// loop {
    ///     // node b hears of the run on node a
    ///     if let Event::JobExecuted(run) = on_b.recv().await.expect("open") {
    ///         assert_eq!((run.job_id.as_str(), run.node.as_str()), ("tick", "node-a"));
    ///         break;
    ///     }
    /// }
    /// a.shutdown().await?;
    /// b.shutdown().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// [`Event::EventsMissed`]: crate::Event::EventsMissed
    pub fn event_relay(mut self, relay: Arc<dyn EventRelay>) -> Self {
        self.relay = Some(relay);
        self
    }

    /// The kinds of event this node relays (default [`EventMask::RELAYED`], every kind
    /// a relay carries: job added, modified, removed, and every run event); kinds
    /// outside it are never relayed (scheduler lifecycle, store errors, unrunnable
    /// jobs). Leaving out `JOB_SUBMITTED` halves what a busy node sends.
    pub fn relayed_events(mut self, mask: EventMask) -> Self {
        self.relayed = mask;
        self
    }

    /// The longest result a run may return, in bytes of JSON (default 64 KiB, at least
    /// 1): a run returning a longer one is recorded failed, with
    /// [`ResultTooLarge`](sched_core::Error::ResultTooLarge), and not retried. Results
    /// are kept with the run in a store's history: keep them small (a summary, an id).
    pub fn max_result_bytes(mut self, limit: usize) -> Self {
        self.max_result_bytes = limit;
        self
    }

    /// Builds the scheduler (not started).
    ///
    /// # Errors
    ///
    /// [`sched_core::Error::InvalidConfiguration`] naming a setting out of its range
    /// (a heartbeat interval not shorter than the lease, a claim-ahead longer than half
    /// the lease, a zero batch, event capacity or `max_concurrency`, a wait over 100
    /// years, ...); [`sched_core::Error::InvalidOptions`]
    /// for job defaults that cannot work.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let error = sched_tokio::Scheduler::builder()
    ///     .lease(Duration::from_secs(5))
    ///     .heartbeat_interval(Duration::from_secs(5))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "invalid configuration: heartbeat_interval = 5s: shorter than the lease (5s), \
    ///      so that leases are renewed before they end"
    /// );
    /// ```
    pub fn build(self) -> Result<Scheduler> {
        self.validate()?;
        let heartbeat = self.heartbeat();
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let claim_ahead = self
            .claim_ahead
            .unwrap_or_else(|| store.default_claim_ahead().min(self.lease / 2));
        let config = Config {
            node: self.node.unwrap_or_else(generated_node_id),
            timezone: self.timezone,
            defaults: self.defaults,
            shutdown_timeout: self.shutdown_timeout,
            batch: self.batch,
            lease: self.lease,
            heartbeat,
            wall_clock_check: self.wall_clock_check,
            claim_ahead,
            max_result_bytes: self.max_result_bytes,
        };
        let relay = match self.relay {
            Some(relay) => Some(relay_for(
                relay,
                self.relayed,
                &config.node,
                self.event_capacity,
            )?),
            None => None,
        };
        let env = Env::new(store, self.clock);
        let inner = Inner::new(
            config,
            env,
            self.event_capacity,
            self.max_concurrency,
            relay,
        );
        Ok(Scheduler {
            inner: inner.shared(),
        })
    }

    fn validate(&self) -> Result<()> {
        let invalid = |setting, value: String, rule: String| {
            Err(sched_core::Error::InvalidConfiguration {
                setting,
                value,
                rule,
            }
            .into())
        };
        let at_least_one = "at least 1".to_owned();
        if self.max_concurrency == Some(0) {
            return invalid(
                "max_concurrency",
                "0".into(),
                format!("{at_least_one}: with none no job would ever run"),
            );
        }
        if self.event_capacity == 0 {
            return invalid("event_capacity", "0".into(), at_least_one);
        }
        if self.max_result_bytes == 0 {
            return invalid("max_result_bytes", "0".into(), at_least_one);
        }
        if self.batch == 0 {
            return invalid("claim_batch", "0".into(), at_least_one);
        }
        if self.lease < MIN_LEASE {
            return invalid("lease", format!("{:?}", self.lease), "at least 10ms".into());
        }
        let waits = [
            ("shutdown_timeout", self.shutdown_timeout),
            ("wall_clock_check", self.wall_clock_check),
            ("lease", self.lease),
        ];
        if let Some((setting, wait)) = waits.into_iter().find(|(_, wait)| *wait > MAX_WAIT) {
            let rule = format!(
                "at most 100 years ({MAX_WAIT:?}), the longest a timer is set for \
                 (to wait for ever, use a long one)"
            );
            return invalid(setting, format!("{wait:?}"), rule);
        }
        let heartbeat = self.heartbeat();
        if heartbeat < MIN_PERIOD {
            let value = format!("{heartbeat:?}");
            return invalid("heartbeat_interval", value, "at least 1ms".into());
        }
        if heartbeat >= self.lease {
            let rule = format!(
                "shorter than the lease ({:?}), so that leases are renewed before they end",
                self.lease
            );
            return invalid("heartbeat_interval", format!("{heartbeat:?}"), rule);
        }
        if self.wall_clock_check < MIN_PERIOD {
            let value = format!("{:?}", self.wall_clock_check);
            return invalid("wall_clock_check", value, "at least 1ms".into());
        }
        if let Some(ahead) = self.claim_ahead.filter(|ahead| *ahead > self.lease / 2) {
            let rule = format!("at most half the lease ({:?})", self.lease / 2);
            return invalid("claim_ahead", format!("{ahead:?}"), rule);
        }
        self.defaults.validate()?;
        Ok(())
    }
}

/// The relay's side of a scheduler, if its payloads have room for this node's events.
fn relay_for(
    relay: Arc<dyn EventRelay>,
    mask: EventMask,
    node: &str,
    capacity: usize,
) -> Result<Relay> {
    let max = relay.max_payload();
    let invalid = |setting, value, rule| sched_core::Error::InvalidConfiguration {
        setting,
        value,
        rule,
    };
    if max < crate::relay::MIN_PAYLOAD {
        let rule = format!(
            "a relay whose payloads hold at least {} bytes",
            crate::relay::MIN_PAYLOAD
        );
        return Err(invalid("event_relay", format!("{relay:?} ({max} bytes)"), rule).into());
    }
    if !Relay::node_fits(node, max) {
        let rule =
            format!("short enough to leave half of a relayed payload ({max} bytes) for events");
        return Err(invalid("node_id", format!("{} bytes", node.len()), rule).into());
    }
    Ok(Relay::new(relay, mask, node, capacity))
}

fn generated_node_id() -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("node-{}-{:x}", std::process::id(), nanos)
}

impl fmt::Debug for SchedulerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerBuilder")
            .field("timezone", &self.timezone)
            .field("defaults", &self.defaults)
            .field("lease", &self.lease)
            .field("heartbeat", &self.heartbeat)
            .field("claim_ahead", &self.claim_ahead)
            .field("event_relay", &self.relay)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::SchedulerBuilder;

    fn refused(builder: SchedulerBuilder) -> String {
        match builder.build() {
            Err(crate::Error::Core(error @ sched_core::Error::InvalidConfiguration { .. })) => {
                error.to_string()
            }
            other => panic!("expected an invalid configuration, got {other:?}"),
        }
    }

    #[test]
    fn settings_out_of_range_are_refused_not_clamped() {
        let ms = Duration::from_millis;
        let b = SchedulerBuilder::default;
        assert_eq!(
            refused(b().heartbeat_interval(ms(10_000))),
            "invalid configuration: heartbeat_interval = 10s: shorter than the lease (10s), \
             so that leases are renewed before they end"
        );
        assert_eq!(
            refused(b().lease(ms(5))),
            "invalid configuration: lease = 5ms: at least 10ms"
        );
        assert_eq!(
            refused(b().claim_ahead(ms(6_000))),
            "invalid configuration: claim_ahead = 6s: at most half the lease (5s)"
        );
        assert_eq!(
            refused(b().max_concurrency(0)),
            "invalid configuration: max_concurrency = 0: at least 1: with none no job would ever run"
        );
        assert_eq!(
            refused(b().event_capacity(0)),
            "invalid configuration: event_capacity = 0: at least 1"
        );
        assert_eq!(
            refused(b().claim_batch(0)),
            "invalid configuration: claim_batch = 0: at least 1"
        );
        assert_eq!(
            refused(b().wall_clock_check(Duration::ZERO)),
            "invalid configuration: wall_clock_check = 0ns: at least 1ms"
        );
        assert_eq!(
            refused(b().heartbeat_interval(Duration::ZERO)),
            "invalid configuration: heartbeat_interval = 0ns: at least 1ms"
        );
        // `Instant::now() + wait` must exist: nothing longer than 100 years.
        let rule = "at most 100 years (3153600000s), the longest a timer is set for \
                    (to wait for ever, use a long one)";
        assert_eq!(
            refused(b().shutdown_timeout(Duration::MAX)),
            format!(
                "invalid configuration: shutdown_timeout = 18446744073709551615.999999999s: {rule}"
            )
        );
        assert_eq!(
            refused(b().wall_clock_check(Duration::from_secs(u64::MAX))),
            format!("invalid configuration: wall_clock_check = 18446744073709551615s: {rule}")
        );
        assert_eq!(
            refused(b().lease(ms(3_153_600_001_000))),
            format!("invalid configuration: lease = 3153600001s: {rule}")
        );
    }

    #[test]
    fn the_heartbeat_follows_a_shorter_lease_unless_set() {
        let lease = Duration::from_millis(500);
        let built = SchedulerBuilder::default().lease(lease).build();
        let scheduler = built.expect("a short lease alone is fine");
        assert_eq!(scheduler.inner.config.heartbeat, Duration::from_millis(100));
        let default = SchedulerBuilder::default().build().expect("defaults");
        assert_eq!(default.inner.config.heartbeat, Duration::from_secs(2));
        assert_eq!(default.inner.config.lease, Duration::from_secs(10));
    }

    #[test]
    fn settings_at_their_bounds_are_taken() {
        let ms = Duration::from_millis;
        let built = SchedulerBuilder::default()
            .lease(ms(10))
            .heartbeat_interval(ms(9))
            .claim_ahead(ms(5))
            .max_concurrency(1)
            .event_capacity(1)
            .claim_batch(1)
            .wall_clock_check(ms(1))
            .build();
        assert!(built.is_ok(), "{built:?}");
        let century = Duration::from_secs(100 * 365 * 86_400);
        let built = SchedulerBuilder::default()
            .shutdown_timeout(century)
            .wall_clock_check(century)
            .lease(century)
            .build();
        assert!(built.is_ok(), "{built:?}");
    }
}
