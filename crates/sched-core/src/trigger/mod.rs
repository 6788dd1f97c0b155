//! Triggers: when a job fires. Every trigger answers one question,
//! [`Trigger::next_after`]: the first fire time strictly after an instant.
//!
//! | kind | built with | time |
//! |---|---|---|
//! | interval | [`Trigger::interval`] | absolute (6 h is 6 real hours across DST) |
//! | cron | [`Trigger::cron`], [`CronFields`] | wall clock, the [DST rules](crate::_documentation#dst) |
//! | date | [`Trigger::date`], [`Trigger::date_str`] | once |
//! | calendar interval | [`Trigger::calendar`] | wall clock, every N days/weeks/months/years |
//! | combination | [`Trigger::and`], [`Trigger::or`] | all must coincide / any |
//!
//! Each trigger carries optional `start`/`end` bounds, an optional jitter and a zone.
//! Triggers are serde types: stores persist them as JSON.
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use sched_core::trigger::Trigger;
//!
//! let trigger = Trigger::cron("30 2 * * *")?.timezone(chrono_tz::America::New_York);
//! let after: DateTime<Utc> = "2026-03-07T17:00:00Z".parse().unwrap();
//! // 02:30 does not exist on 8 March 2026 in New York: a fixed-time entry fires at 03:00 EDT.
//! let next = trigger.next_after(after).unwrap();
//! assert_eq!(next.to_rfc3339(), "2026-03-08T07:00:00+00:00");
//! # Ok::<(), sched_core::Error>(())
//! ```

mod calendar;
mod cron;
mod wall;
mod words;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

pub use self::calendar::CalendarInterval;
pub use self::cron::{CronFields, CronTrigger, CronValue};
pub use self::words::{span, FireTime, Upcoming};
use crate::error::{Error, Result};
use crate::job::{json_depth, Nested, MAX_JSON_DEPTH};

/// Bound on the rounds an `and` combination takes to find a common fire time.
const MAX_AND_ROUNDS: usize = 10_000;

/// The longest jitter: offsets are computed in `i64` nanoseconds (about 292 years), so
/// a longer one would not move fire times as far as it says.
const MAX_JITTER: Duration = Duration::from_nanos(i64::MAX as u64);

/// Bound on the fire times a jittered search walks inside one jitter window (see
/// [`Trigger::next_checked`]).
const MAX_JITTER_WALK: usize = 10_000;

/// When a job fires: a [`TriggerKind`] with start/end bounds, jitter and a time zone.
///
/// Deserialising checks what [`validate`](Self::validate) checks (but the JSON depth,
/// which the parser bounds itself): a stored trigger that `add_job` would refuse — a
/// zero interval written by hand, say — does not decode, so a store reports its row as
/// unrunnable instead of running it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredTrigger")]
pub struct Trigger {
    /// What kind of schedule this is.
    #[serde(flatten)]
    pub kind: TriggerKind,
    /// No fire time before this instant. For an interval it is also the anchor: the
    /// first fire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// No fire time after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// Each fire time is delayed by a deterministic pseudo-random amount below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Duration>,
    /// Zone of wall-clock schedules (cron, calendar interval, date strings); `None`:
    /// not set, so UTC — or the scheduler's default zone, which a trigger without a
    /// zone takes when its job is added (see [`or_timezone`](Self::or_timezone)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Tz>,
}

/// [`Trigger`] as it is deserialised, before its rules are checked.
#[derive(Deserialize)]
struct StoredTrigger {
    #[serde(flatten)]
    kind: TriggerKind,
    #[serde(default)]
    start: Option<DateTime<Utc>>,
    #[serde(default)]
    end: Option<DateTime<Utc>>,
    #[serde(default)]
    jitter: Option<Duration>,
    #[serde(default)]
    timezone: Option<Tz>,
}

impl TryFrom<StoredTrigger> for Trigger {
    type Error = Error;

    fn try_from(stored: StoredTrigger) -> Result<Self> {
        let StoredTrigger {
            kind,
            start,
            end,
            jitter,
            timezone,
        } = stored;
        let trigger = Self {
            kind,
            start,
            end,
            jitter,
            timezone,
        };
        trigger.check_rules()?;
        Ok(trigger)
    }
}

/// The schedule itself, without bounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TriggerKind {
    /// Every `every` of absolute time from `start`.
    Interval {
        /// The period.
        every: Duration,
    },
    /// A cron schedule.
    Cron(CronTrigger),
    /// Once, at `at`.
    Date {
        /// The instant.
        at: DateTime<Utc>,
    },
    /// Every N days/weeks/months/years at a wall-clock time.
    CalendarInterval(CalendarInterval),
    /// Fires when every trigger fires at the same instant.
    And {
        /// The combined triggers.
        triggers: Vec<Trigger>,
    },
    /// Fires whenever any trigger fires.
    Or {
        /// The combined triggers.
        triggers: Vec<Trigger>,
    },
}

impl Trigger {
    fn new(kind: TriggerKind) -> Self {
        Self {
            kind,
            start: None,
            end: None,
            jitter: None,
            timezone: None,
        }
    }

    /// Every `every` of absolute time. The first fire is at `start` if one is set,
    /// otherwise one period after the job is added.
    pub fn interval(every: Duration) -> Self {
        Self::new(TriggerKind::Interval { every })
    }

    /// A crontab expression (see [`CronTrigger::parse`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCron`] naming the expression and what is wrong with it.
    pub fn cron(expression: &str) -> Result<Self> {
        let cron = CronTrigger::parse(expression)?;
        Ok(Self::new(TriggerKind::Cron(cron)))
    }

    /// Once, at an instant.
    pub fn date(at: DateTime<Utc>) -> Self {
        Self::new(TriggerKind::Date { at })
    }

    /// Once, at a date-time string read in `tz`: RFC 3339 (its offset wins), or
    /// `YYYY-MM-DD HH:MM[:SS]`, `YYYY-MM-DDTHH:MM[:SS]`, `YYYY-MM-DD` (midnight).
    /// A wall time that DST skips fires at the first instant after the gap; a
    /// repeated one at its first occurrence.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDateTime`] for a string that cannot be parsed or does not exist
    /// in `tz`.
    pub fn date_str(value: &str, tz: Tz) -> Result<Self> {
        let at = parse_date_time(value, tz)?;
        Ok(Self::date(at).timezone(tz))
    }

    /// Every N days/weeks/months/years at a wall-clock time.
    pub fn calendar(interval: CalendarInterval) -> Self {
        Self::new(TriggerKind::CalendarInterval(interval))
    }

    /// Fires when all `triggers` fire at the same instant.
    pub fn and(triggers: impl IntoIterator<Item = Trigger>) -> Self {
        Self::new(TriggerKind::And {
            triggers: triggers.into_iter().collect(),
        })
    }

    /// Fires whenever any of `triggers` fires.
    pub fn or(triggers: impl IntoIterator<Item = Trigger>) -> Self {
        Self::new(TriggerKind::Or {
            triggers: triggers.into_iter().collect(),
        })
    }

    /// Sets the zone of wall-clock schedules.
    #[must_use]
    pub fn timezone(mut self, tz: Tz) -> Self {
        self.timezone = Some(tz);
        self.pass_zone_to_children(tz);
        self
    }

    /// Sets the zone only where none is set: on this trigger, and on the children of an
    /// `and`/`or` that have none of their own (a scheduler's default zone reaches a job's
    /// trigger this way; a zone the user set, UTC included, is kept).
    ///
    /// ```
    /// use chrono_tz::Europe::Berlin;
    /// use sched_core::trigger::Trigger;
    ///
    /// let daily = Trigger::cron("0 8 * * *")?;
    /// assert_eq!(daily.clone().or_timezone(Berlin).zone(), Berlin);
    /// let in_utc = daily.timezone(chrono_tz::UTC).or_timezone(Berlin);
    /// assert_eq!(in_utc.zone(), chrono_tz::UTC, "an explicit zone wins");
    /// # Ok::<(), sched_core::Error>(())
    /// ```
    #[must_use]
    pub fn or_timezone(mut self, tz: Tz) -> Self {
        let tz = *self.timezone.get_or_insert(tz);
        self.pass_zone_to_children(tz);
        self
    }

    /// The zone its wall-clock times are read in: the one set, or UTC.
    pub fn zone(&self) -> Tz {
        self.timezone.unwrap_or(Tz::UTC)
    }

    /// Gives the children of an `and`/`or` without a zone of their own `tz`.
    fn pass_zone_to_children(&mut self, tz: Tz) {
        if let TriggerKind::And { triggers } | TriggerKind::Or { triggers } = &mut self.kind {
            for child in triggers.iter_mut() {
                let zone = *child.timezone.get_or_insert(tz);
                child.pass_zone_to_children(zone);
            }
        }
    }

    /// Sets the zone by IANA name; an unknown name is [`Error::UnknownTimeZone`].
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTimeZone`] for a name the IANA database does not know.
    pub fn timezone_name(self, name: &str) -> Result<Self> {
        Ok(self.timezone(parse_timezone(name)?))
    }

    /// No fire time before `start`.
    #[must_use]
    pub fn start(mut self, start: DateTime<Utc>) -> Self {
        self.start = Some(start);
        self
    }

    /// No fire time after `end`.
    #[must_use]
    pub fn end(mut self, end: DateTime<Utc>) -> Self {
        self.end = Some(end);
        self
    }

    /// Delays each fire time by a deterministic amount in `[0, jitter)`.
    ///
    /// On an interval the jitter may be as wide as the interval, not wider
    /// ([`validate`](Self::validate) refuses it, [`Error::InvalidJitter`]): each run
    /// stays before the next one's unmoved time, so none is reordered or dropped. The
    /// gaps between the fire times of a cron, calendar, date or `and`/`or` trigger vary
    /// (DST changes them too), so there it is not checked: a jitter wider than the gap
    /// between two fire times can move the earlier one past the later one, which is then
    /// dropped. Keep it below the shortest gap.
    #[must_use]
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = Some(jitter).filter(|j| !j.is_zero());
        self
    }

    /// Checks what the constructors cannot: bounds in order, non-zero periods that a
    /// date-time can hold, a jitter no wider than its interval, non-empty combinations
    /// (recursively), and a JSON form no deeper than a store can read back.
    ///
    /// # Errors
    ///
    /// [`Error::EndBeforeStart`], [`Error::InvalidInterval`], [`Error::InvalidJitter`],
    /// [`Error::EmptyCombination`] or [`Error::NestedTooDeep`], for the first problem
    /// found.
    pub fn validate(&self) -> Result<()> {
        self.check_rules()?;
        // Only combinations nest: a single trigger's JSON is a few levels deep, far
        // within the limit, and is not serialised to find out (adding a million jobs
        // validates a million triggers).
        if !matches!(self.kind, TriggerKind::And { .. } | TriggerKind::Or { .. }) {
            return Ok(());
        }
        // Serialising a trigger cannot fail (no map keys, zones as names): 0 is unreached.
        let depth = serde_json::to_value(self).map_or(0, |json| json_depth(&json));
        if depth > MAX_JSON_DEPTH {
            return Err(Error::NestedTooDeep {
                what: Nested::Trigger,
                depth,
                limit: MAX_JSON_DEPTH,
            });
        }
        Ok(())
    }

    /// [`validate`](Self::validate) but the JSON depth: what a stored trigger must keep
    /// too (checked when one is deserialised, where the parser bounds the depth).
    fn check_rules(&self) -> Result<()> {
        if let (Some(start), Some(end)) = (self.start, self.end) {
            if end < start {
                return Err(Error::EndBeforeStart { start, end });
            }
        }
        match self.jitter {
            Some(jitter) if jitter > MAX_JITTER => {
                return Err(Error::InvalidJitter {
                    jitter,
                    reason: format!(
                        "longer than the longest jitter ({MAX_JITTER:?}, about 292 years: \
                         offsets are counted in 64-bit nanoseconds): use a shorter jitter"
                    ),
                });
            }
            _ => {}
        }
        match &self.kind {
            TriggerKind::Interval { every } => self.check_interval(*every),
            TriggerKind::CalendarInterval(c) => c.validate(),
            TriggerKind::And { triggers } if triggers.is_empty() => {
                Err(Error::EmptyCombination("and"))
            }
            TriggerKind::Or { triggers } if triggers.is_empty() => {
                Err(Error::EmptyCombination("or"))
            }
            TriggerKind::And { triggers } | TriggerKind::Or { triggers } => {
                triggers.iter().try_for_each(Trigger::check_rules)
            }
            // A fire time is searched for strictly after an instant: none lies before
            // the first one.
            TriggerKind::Date { at } if *at == DateTime::<Utc>::MIN_UTC => {
                Err(Error::InvalidDateTime {
                    value: at.to_string(),
                    reason: "the first instant a date-time can hold never comes (nothing \
                             lies before it): use a later date"
                        .into(),
                })
            }
            TriggerKind::Cron(_) | TriggerKind::Date { .. } => Ok(()),
        }
    }

    fn check_interval(&self, every: Duration) -> Result<()> {
        if every.is_zero() {
            return Err(Error::InvalidInterval(
                "an interval of zero length would fire forever, back to back: \
                 use a period of at least 1ns"
                    .into(),
            ));
        }
        if chrono::Duration::from_std(every).is_err() {
            return Err(Error::InvalidInterval(format!(
                "{every:?} is longer than a date-time can hold (at most {:?}): \
                 use a shorter interval",
                longest_span()
            )));
        }
        // Offsets lie in [0, jitter): with jitter <= every each moved run still comes
        // before the next unmoved one, so the order holds and no fire time is dropped.
        match self.jitter {
            Some(jitter) if jitter > every => Err(Error::InvalidJitter {
                jitter,
                reason: format!(
                    "wider than the interval ({every:?}), so a run moved late could fall \
                     after the next one, which would then be dropped: use a jitter of at \
                     most the interval"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Checks, when a job is added at `now`, that its first run time exists: that an
    /// interval's next run after `now`, and a fire time moved by the most its jitter
    /// allows, both lie within the range of a date-time (recursively).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInterval`] or [`Error::InvalidJitter`] naming the value, the
    /// first run and the last instant a date-time can hold.
    pub(crate) fn check_first_run(&self, now: DateTime<Utc>) -> Result<()> {
        let after = just_before(self.search_from(now));
        match &self.kind {
            // `interval_next` ignores the end bound: `None` is past chrono's range.
            TriggerKind::Interval { every }
                if interval_next(*every, self.start, after).is_none() =>
            {
                return Err(Error::InvalidInterval(format!(
                    "with a period of {every:?} the first run after {now} would lie past the \
                     last instant a date-time can hold ({}): use a shorter interval",
                    DateTime::<Utc>::MAX_UTC
                )));
            }
            TriggerKind::And { triggers } | TriggerKind::Or { triggers } => {
                triggers.iter().try_for_each(|t| t.check_first_run(now))?;
            }
            _ => {}
        }
        let (Some(jitter), Ok(Some(first))) = (self.jitter, self.next_unjittered(after)) else {
            return Ok(());
        };
        let span = chrono::Duration::from_std(jitter).unwrap_or(chrono::Duration::MAX);
        if first.checked_add_signed(span).is_some() {
            return Ok(());
        }
        let room = (DateTime::<Utc>::MAX_UTC - first)
            .to_std()
            .unwrap_or_default();
        Err(Error::InvalidJitter {
            jitter,
            reason: format!(
                "it could move the first run ({first}) past the last instant a date-time \
                 can hold ({}): use a jitter of at most {room:?}",
                DateTime::<Utc>::MAX_UTC
            ),
        })
    }

    /// Where a job's first run time is searched from, at `now`: a date that has passed
    /// keeps its date (the misfire rules then decide), so its search starts there.
    pub(crate) fn search_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.kind {
            TriggerKind::Date { at } => at.min(now),
            _ => now,
        }
    }

    /// Fixes what depends on when the job is added: an interval without `start`
    /// gets `now + every`, a calendar interval without a start date gets today's date
    /// in its zone. Idempotent.
    #[must_use]
    pub fn anchored(mut self, now: DateTime<Utc>) -> Self {
        self.anchor(now);
        self
    }

    /// [`anchored`](Self::anchored), in place.
    pub(crate) fn anchor(&mut self, now: DateTime<Utc>) {
        let zone = self.zone();
        match &mut self.kind {
            TriggerKind::Interval { every } if self.start.is_none() => {
                let every = chrono::Duration::from_std(*every).unwrap_or(chrono::Duration::MAX);
                self.start = now.checked_add_signed(every);
            }
            TriggerKind::CalendarInterval(c) if c.start_date.is_none() => {
                let from = self.start.unwrap_or(now);
                c.start_date = wall::local_date(zone, from);
            }
            TriggerKind::And { triggers } | TriggerKind::Or { triggers } => {
                for t in triggers.iter_mut() {
                    t.anchor(now);
                }
            }
            _ => {}
        }
    }

    /// Whether this trigger, as written, is `stored` (a trigger that was
    /// [`anchored`](Self::anchored) when its job was added): equal once the anchors
    /// anchoring filled in — an interval's start, a calendar interval's start date — are
    /// taken from `stored` where this one has none. What a re-added job compares to
    /// keep its schedule.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sched_core::trigger::Trigger;
    ///
    /// let hourly = Trigger::interval(Duration::from_secs(3600));
    /// let stored = hourly.clone().anchored("2026-01-01T00:00:00Z".parse().unwrap());
    /// assert!(hourly.same_schedule_as(&stored));
    /// assert!(!Trigger::interval(Duration::from_secs(60)).same_schedule_as(&stored));
    /// ```
    pub fn same_schedule_as(&self, stored: &Trigger) -> bool {
        self.clone().with_anchors_of(stored) == *stored
    }

    fn with_anchors_of(mut self, stored: &Trigger) -> Self {
        match (&mut self.kind, &stored.kind) {
            (TriggerKind::Interval { .. }, TriggerKind::Interval { .. }) => {
                self.start = self.start.or(stored.start);
            }
            (TriggerKind::CalendarInterval(c), TriggerKind::CalendarInterval(s)) => {
                c.start_date = c.start_date.or(s.start_date);
            }
            (TriggerKind::And { triggers }, TriggerKind::And { triggers: stored })
            | (TriggerKind::Or { triggers }, TriggerKind::Or { triggers: stored })
                if triggers.len() == stored.len() =>
            {
                for (trigger, stored) in triggers.iter_mut().zip(stored) {
                    *trigger = trigger.clone().with_anchors_of(stored);
                }
            }
            _ => {}
        }
        self
    }

    /// The first fire time strictly after `after`, or `None` when there is none: the
    /// trigger is done (past its end, a date already passed, a cron that can never
    /// match), or — rarely — a search gave up (see [`next_checked`](Self::next_checked)).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_after_salted(after, 0)
    }

    /// Like [`next_after`](Self::next_after), telling a trigger that is done
    /// (`Ok(None)`) from a search that gave up without an answer (`Err`): an `and` whose
    /// triggers did not coincide within 10,000 rounds, a cron whose candidate times
    /// all fell into DST transitions for 200,000 steps, or a jitter so much wider than
    /// the gaps between fire times that 10,000 of them were walked without an answer
    /// (what `validate` refuses on an interval; on a cron, a jitter of years over one
    /// firing every second). Only a trigger that is done ends
    /// a job; one whose search gave up is kept, unscheduled, and reported.
    ///
    /// ```
    /// use sched_core::trigger::Trigger;
    ///
    /// let now = "2026-01-01T00:00:00Z".parse().unwrap();
    /// let passed = Trigger::date("2025-01-01T00:00:00Z".parse().unwrap());
    /// assert_eq!(passed.next_checked(now), Ok(None));
    /// // Mondays that are Tuesdays: no answer within the search limit.
    /// let never = Trigger::and(vec![Trigger::cron("0 0 * * mon")?, Trigger::cron("0 0 * * tue")?]);
    /// assert!(never.next_checked(now).is_err());
    /// # Ok::<(), sched_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`SearchLimit`] when a search gave up.
    pub fn next_checked(&self, after: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, SearchLimit> {
        self.next_checked_salted(after, 0)
    }

    /// Whether fire times are moved by a jitter (so the salt matters).
    #[inline]
    pub(crate) fn has_jitter(&self) -> bool {
        self.jitter.is_some()
    }

    /// Like [`next_after`](Self::next_after), with `salt` choosing the jitter (jobs pass
    /// a hash of their id, so jobs with one schedule spread out).
    #[inline]
    pub(crate) fn next_after_salted(
        &self,
        after: DateTime<Utc>,
        salt: u64,
    ) -> Option<DateTime<Utc>> {
        self.next_checked_salted(after, salt).ok().flatten()
    }

    /// [`next_checked`](Self::next_checked) with a jitter salt.
    #[inline]
    pub(crate) fn next_checked_salted(&self, after: DateTime<Utc>, salt: u64) -> Searched {
        match self.jitter {
            None => self.next_unjittered(after),
            Some(jitter) => self.next_jittered(after, salt, jitter),
        }
    }

    /// The next fire time after `after`, each moved by its jitter offset.
    fn next_jittered(&self, after: DateTime<Utc>, salt: u64, jitter: Duration) -> Searched {
        // Fire time b is moved to b + offset(b) < b + jitter: start from the first base
        // time whose moved time may still lie after `after`.
        let Ok(jitter) = chrono::Duration::from_std(jitter) else {
            return Ok(None);
        };
        let from = after
            .checked_sub_signed(jitter)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let Some(mut base) = self.next_unjittered(from)? else {
            return Ok(None);
        };
        // Bases whose moved time may lie after `after` all lie in (after - jitter,
        // after]: at most two when the jitter is no wider than the gap between them (as
        // `validate` requires of intervals). A cron's jitter is not checked against its
        // gaps, and an unvalidated trigger can be anything: give up rather than walk
        // billions (1 s apart over a jitter of a century, say).
        for _ in 0..MAX_JITTER_WALK {
            // A base within `jitter` of chrono's end has no moved time: the trigger is done.
            let Some(moved) = base.checked_add_signed(jitter_offset(base, salt, jitter)) else {
                return Ok(None);
            };
            if moved > after {
                return Ok(Some(moved));
            }
            let Some(next) = self.next_unjittered(base)? else {
                return Ok(None);
            };
            base = next;
        }
        Err(SearchLimit)
    }

    fn next_unjittered(&self, after: DateTime<Utc>) -> Searched {
        // Fire times are >= start: search from just before it.
        let from = match self.start {
            Some(start) if after < start => start - chrono::Duration::nanoseconds(1),
            _ => after,
        };
        let next = self.kind_next(from)?;
        Ok(next.filter(|next| self.end.is_none_or(|end| *next <= end)))
    }

    fn kind_next(&self, after: DateTime<Utc>) -> Searched {
        match &self.kind {
            TriggerKind::Interval { every } => Ok(interval_next(*every, self.start, after)),
            TriggerKind::Cron(cron) => cron.next_checked(self.zone(), after),
            TriggerKind::Date { at } => Ok(Some(*at).filter(|at| *at > after)),
            TriggerKind::CalendarInterval(c) => {
                let start = match c.start_date {
                    Some(date) => date,
                    None => match wall::local_date(self.zone(), self.start.unwrap_or(after)) {
                        Some(date) => date,
                        None => return Ok(None),
                    },
                };
                Ok(c.next_after(self.zone(), start, after))
            }
            TriggerKind::Or { triggers } => or_next(triggers, after),
            TriggerKind::And { triggers } => and_next(triggers, after),
        }
    }
}

/// What a search for a next fire time found: a time, none (done), or no answer.
pub(crate) type Searched = Result<Option<DateTime<Utc>>, SearchLimit>;

/// A search for a trigger's next fire time gave up without an answer (see
/// [`Trigger::next_checked`]): it is not known whether the trigger fires again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no next fire time found within the search limit (the trigger may never fire again)")]
pub struct SearchLimit;

impl From<CronTrigger> for Trigger {
    fn from(cron: CronTrigger) -> Self {
        Self::new(TriggerKind::Cron(cron))
    }
}

impl From<CalendarInterval> for Trigger {
    fn from(interval: CalendarInterval) -> Self {
        Self::calendar(interval)
    }
}

fn interval_next(
    every: Duration,
    start: Option<DateTime<Utc>>,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let every = chrono::Duration::from_std(every).ok()?;
    let Some(start) = start else {
        return after.checked_add_signed(every);
    };
    if after < start {
        return Some(start);
    }
    // In i128 nanoseconds: an i64 count overflows once 292 years have elapsed.
    let period = nanos(every).max(1);
    interval_step(period, start, after).or_else(|| interval_general(period, start, after))
}

/// [`interval_next`] for any span: `start` plus whole periods, in i128 nanoseconds.
fn interval_general(
    period: i128,
    start: DateTime<Utc>,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let offset = (nanos(after - start) / period + 1).checked_mul(period)?;
    let seconds = i64::try_from(offset.div_euclid(1_000_000_000)).ok()?;
    let subsec = i64::try_from(offset.rem_euclid(1_000_000_000)).ok()?;
    start
        .checked_add_signed(chrono::Duration::try_seconds(seconds)?)?
        .checked_add_signed(chrono::Duration::nanoseconds(subsec))
}

/// The common case of [`interval_next`], cheaper: from `after`, step what is left of
/// its period (`after` minus `start` and the period both within 292 years, and no leap
/// second). `None`: not this case (or past chrono's range), take the general path.
fn interval_step(
    period: i128,
    start: DateTime<Utc>,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let (after_ns, start_ns) = (
        after.timestamp_subsec_nanos(),
        start.timestamp_subsec_nanos(),
    );
    if after_ns >= 1_000_000_000 || start_ns >= 1_000_000_000 {
        return None; // a leap second
    }
    let seconds = after.timestamp().checked_sub(start.timestamp())?;
    let elapsed = seconds
        .checked_mul(1_000_000_000)?
        .checked_add(i64::from(after_ns) - i64::from(start_ns))?;
    let period = i64::try_from(period).ok()?;
    let left = period - elapsed.rem_euclid(period);
    after.checked_add_signed(chrono::Duration::nanoseconds(left))
}

/// The longest span chrono adds to a date-time (`TimeDelta::MAX`, about 292 million years).
fn longest_span() -> Duration {
    chrono::Duration::MAX.to_std().unwrap_or(Duration::MAX)
}

/// The instant one nanosecond before `at` (or `at`, at the start of chrono's range).
pub(crate) fn just_before(at: DateTime<Utc>) -> DateTime<Utc> {
    at.checked_sub_signed(chrono::Duration::nanoseconds(1))
        .unwrap_or(at)
}

fn nanos(duration: chrono::Duration) -> i128 {
    i128::from(duration.num_seconds()) * 1_000_000_000 + i128::from(duration.subsec_nanos())
}

/// The earliest next fire time of any trigger; done when all are done, no answer when
/// one gave up and none has a time.
fn or_next(triggers: &[Trigger], after: DateTime<Utc>) -> Searched {
    let mut earliest = None::<DateTime<Utc>>;
    let mut gave_up = false;
    for trigger in triggers {
        match trigger.next_checked(after) {
            Ok(Some(next)) => earliest = Some(earliest.map_or(next, |e| e.min(next))),
            Ok(None) => {}
            Err(SearchLimit) => gave_up = true,
        }
    }
    match earliest {
        Some(at) => Ok(Some(at)),
        None if gave_up => Err(SearchLimit),
        None => Ok(None),
    }
}

/// The first time every trigger fires at; done when one of them is done, no answer
/// after [`MAX_AND_ROUNDS`] rounds without a common time.
fn and_next(triggers: &[Trigger], after: DateTime<Utc>) -> Searched {
    let mut cursor = after;
    for _ in 0..MAX_AND_ROUNDS {
        let mut earliest = None::<DateTime<Utc>>;
        let mut latest = None::<DateTime<Utc>>;
        for trigger in triggers {
            let Some(next) = trigger.next_checked(cursor)? else {
                return Ok(None);
            };
            earliest = Some(earliest.map_or(next, |e| e.min(next)));
            latest = Some(latest.map_or(next, |l| l.max(next)));
        }
        let (Some(earliest), Some(latest)) = (earliest, latest) else {
            return Ok(None);
        };
        if earliest == latest {
            return Ok(Some(latest));
        }
        // No common time before `latest`: ask every trigger again from just before it.
        cursor = latest - chrono::Duration::nanoseconds(1);
    }
    Err(SearchLimit)
}

/// A deterministic offset in `[0, jitter)` for fire time `at`.
fn jitter_offset(at: DateTime<Utc>, salt: u64, jitter: chrono::Duration) -> chrono::Duration {
    let mut bytes = [0u8; 20];
    bytes[..8].copy_from_slice(&at.timestamp().to_le_bytes());
    bytes[8..12].copy_from_slice(&at.timestamp_subsec_nanos().to_le_bytes());
    bytes[12..].copy_from_slice(&salt.to_le_bytes());
    let span = u64::try_from(jitter.num_nanoseconds().unwrap_or(i64::MAX))
        .unwrap_or(1)
        .max(1);
    chrono::Duration::nanoseconds(i64::try_from(stable_hash(&bytes) % span).unwrap_or(0))
}

/// FNV-1a: the same on every node and every Rust version (jitter must agree across
/// nodes sharing a store, which `DefaultHasher` does not promise).
pub(crate) fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Parses an IANA zone name (`"Europe/Berlin"`, `"UTC"`).
///
/// # Errors
///
/// [`Error::UnknownTimeZone`] for a name the IANA database does not know.
pub fn parse_timezone(name: &str) -> Result<Tz> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| Error::UnknownTimeZone(name.to_owned()))
}

/// Parses a date-time string as [`Trigger::date_str`] does.
///
/// # Errors
///
/// [`Error::InvalidDateTime`] for a string that cannot be parsed or does not exist in
/// `tz`.
pub fn parse_date_time(value: &str, tz: Tz) -> Result<DateTime<Utc>> {
    let trimmed = value.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(trimmed) {
        return Ok(at.with_timezone(&Utc));
    }
    const FORMATS: [&str; 4] = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ];
    let wall = FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(trimmed, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(trimmed, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(NaiveTime::MIN))
        })
        .ok_or_else(|| Error::InvalidDateTime {
            value: value.to_owned(),
            reason: "expected RFC 3339 or YYYY-MM-DD[ HH:MM[:SS]]".to_owned(),
        })?;
    let before_all = DateTime::<Utc>::MIN_UTC;
    wall::resolve_after(tz, wall, wall::DstRule::Fixed, before_all).ok_or_else(|| {
        Error::InvalidDateTime {
            value: value.to_owned(),
            reason: format!("not representable in {tz}"),
        }
    })
}

#[cfg(test)]
mod tests;
