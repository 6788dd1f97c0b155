//! Misfire grace, coalescing and `max_instances`: which overdue runs start now.
//!
//! A run is due at its scheduled time `t`. Started later than `t + misfire_grace_time`
//! it is *missed*. Of the runs still in grace, `coalesce` keeps only the newest (the
//! others are *coalesced* into it), which starts if an instance is free (else it is
//! skipped as *over the limit*). Without coalescing every run still in grace starts, in
//! order, if an instance is free: a backlog after downtime is caught up run by run, at
//! most `max_instances - running` at a time (the runtime starts each when a place frees,
//! and it is missed then if its grace has run out); with no instance free they are all
//! over the limit. Nothing is dropped without being reported in the [`Decision`].

use chrono::{DateTime, Utc};

use crate::job::JobOptions;

/// Most fire times walked one by one, missed and in grace each; a longer backlog (an
/// interval of a second after a week of downtime) is reported with a lower-bound count
/// and `more`, and without coalescing starts at most this many runs.
const MAX_WALKED: u64 = 10_000;

/// A run of consecutive scheduled times that will not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The earliest skipped scheduled time.
    pub first: DateTime<Utc>,
    /// The latest skipped scheduled time that was counted.
    pub last: DateTime<Utc>,
    /// How many were skipped (a lower bound when `more` is set).
    pub count: u64,
    /// More than `count` were skipped; counting stopped.
    pub more: bool,
}

impl Skipped {
    fn push(slot: &mut Option<Skipped>, at: DateTime<Utc>) {
        match slot {
            Some(s) if s.count >= MAX_WALKED => s.more = true,
            Some(s) => {
                s.last = at;
                s.count += 1;
            }
            None => {
                *slot = Some(Skipped {
                    first: at,
                    last: at,
                    count: 1,
                    more: false,
                })
            }
        }
    }
}

/// What to do with a job whose next run time has come.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Scheduled times to start, oldest first: now, or — a backlog without coalescing —
    /// in order, at most [`width`](Self::width) at a time.
    pub run: Vec<DateTime<Utc>>,
    /// How many of [`run`](Self::run) may execute at once: the instances free when the
    /// decision was made. More runs than this are a catch-up backlog, each starting when
    /// one before it ends.
    pub width: usize,
    /// Runs later than their misfire grace: not started (a `JobMissed` event).
    pub missed: Option<Skipped>,
    /// Runs in grace merged into the newest by `coalesce`.
    pub coalesced: Option<Skipped>,
    /// Runs in grace not started because `max_instances` runs would be exceeded.
    pub over_limit: Option<Skipped>,
    /// The job's next run time after this decision (`None`: the trigger is done).
    pub next_run_time: Option<DateTime<Utc>>,
}

/// Decides the runs of a job whose stored next run time `due` is at or before `now`.
///
/// `next` is the job's trigger ("first fire time strictly after t"), `running` the
/// number of its runs still executing on any node. If `due > now`, nothing is due:
/// the decision only carries `next_run_time = Some(due)`.
///
/// Past 10 000 missed or 10 000 in-grace runs, counting stops (`more` is set) but the
/// decision stays right: coalescing runs the newest fire time at or before `now`, and
/// `next_run_time` is the first after it. Without coalescing, at most 10 000 runs start.
///
/// ```
/// use std::time::Duration;
/// use chrono::{DateTime, Utc};
/// use sched_core::job::JobOptions;
/// use sched_core::policy::decide;
/// use sched_core::trigger::Trigger;
///
/// let every_minute = Trigger::interval(Duration::from_secs(60))
///     .start("2026-01-01T00:00:00Z".parse().unwrap());
/// let now: DateTime<Utc> = "2026-01-01T00:10:30Z".parse().unwrap();
/// // Down for ten minutes, coalescing, 5 minutes of grace: run 00:10 once.
/// let options = JobOptions::default().coalesce(true).misfire_grace_time(Duration::from_secs(300));
/// let d = decide("2026-01-01T00:00:00Z".parse().unwrap(), now, &options, 0, |t| every_minute.next_after(t));
/// assert_eq!(d.run, vec!["2026-01-01T00:10:00Z".parse::<DateTime<Utc>>().unwrap()]);
/// assert_eq!(d.missed.unwrap().count, 6);     // 00:00 .. 00:05, before 00:05:30
/// assert_eq!(d.coalesced.unwrap().count, 4);  // 00:06 .. 00:09
/// assert_eq!(d.next_run_time.unwrap().to_rfc3339(), "2026-01-01T00:11:00+00:00");
/// ```
pub fn decide(
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    options: &JobOptions,
    running: u32,
    mut next: impl FnMut(DateTime<Utc>) -> Option<DateTime<Utc>>,
) -> Decision {
    let mut decision = Decision::default();
    if due > now {
        decision.next_run_time = Some(due);
        return decision;
    }
    let slots = usize::try_from(options.max_instances.saturating_sub(running)).unwrap_or(0);

    // The common case, answered without walking: `due` in grace, an instance free, and
    // the fire time after it still ahead (what the walk below gives, in one step). In
    // grace: at most the grace late, which is `due >= now - grace` below without
    // computing `now - grace` (date arithmetic, on every claim).
    let in_grace = || {
        options
            .misfire_grace_time
            .is_none_or(|grace| (now - due).to_std().is_ok_and(|late| late <= grace))
    };
    if slots > 0 && in_grace() {
        let after = next(due);
        if after.is_none_or(|at| at > now) {
            decision.run.push(due);
            decision.width = slots;
            decision.next_run_time = after;
            return decision;
        }
    }

    let cutoff = options
        .misfire_grace_time
        .and_then(|grace| chrono::Duration::from_std(grace).ok())
        .and_then(|grace| now.checked_sub_signed(grace));
    let mut cursor = match cutoff {
        Some(cutoff) => skip_missed(&mut decision, due, cutoff, &mut next),
        None => Some(due),
    };

    // In grace: due at or before now. Keep at most `slots` (or the newest one when
    // coalescing); the rest is coalesced or over the limit.
    let mut walked = 0u64;
    while let Some(at) = cursor.filter(|at| *at <= now) {
        walked += 1;
        if walked > MAX_WALKED {
            cursor = jump_to_newest(&mut decision, options.coalesce, at, now, &mut next);
            break;
        }
        accept(&mut decision, options.coalesce, slots, at);
        cursor = next(at);
    }
    if options.coalesce && decision.run.len() > slots {
        for at in decision.run.drain(slots..) {
            Skipped::push(&mut decision.over_limit, at);
        }
    }
    decision.width = slots;
    decision.next_run_time = match cursor {
        Some(at) if at > now => Some(at),
        Some(_) => next(now),
        None => None,
    };
    decision
}

/// Reports the fire times from `due` before `cutoff` as missed: at most
/// [`MAX_WALKED`] one by one, then a jump to the first in grace. Returns that one.
fn skip_missed(
    decision: &mut Decision,
    due: DateTime<Utc>,
    cutoff: DateTime<Utc>,
    next: &mut impl FnMut(DateTime<Utc>) -> Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let mut cursor = Some(due);
    while let Some(at) = cursor.filter(|at| *at < cutoff) {
        Skipped::push(&mut decision.missed, at);
        cursor = if decision.missed.is_some_and(|m| m.more) {
            next(cutoff - chrono::Duration::nanoseconds(1))
        } else {
            next(at)
        };
    }
    cursor
}

/// Takes scheduled time `at` (in grace) into the decision.
fn accept(decision: &mut Decision, coalesce: bool, slots: usize, at: DateTime<Utc>) {
    if coalesce {
        if let Some(previous) = decision.run.pop() {
            Skipped::push(&mut decision.coalesced, previous);
        }
        decision.run.push(at);
    } else if slots > 0 {
        // Caught up in order, `slots` at a time (see `Decision::width`).
        decision.run.push(at);
    } else {
        Skipped::push(&mut decision.over_limit, at);
    }
}

/// Ends a backlog in grace longer than [`MAX_WALKED`] without walking it: `at` (the
/// first time not walked) and the newest time in grace are counted, the times between
/// them only set `more`. Returns the fire time after the newest.
///
/// Without coalescing, `at` and everything after it is over the limit even if
/// `max_instances` would allow more: starting over ten thousand runs of one job at once
/// is never what a backlog asks for, and running the newest would leave a hole.
fn jump_to_newest(
    decision: &mut Decision,
    coalesce: bool,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    next: &mut impl FnMut(DateTime<Utc>) -> Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let newest = newest_at_or_before(now, at, next);
    let counted = if coalesce {
        // Coalescing keeps one run whatever the limit: `decide` moves it over the limit
        // afterwards if there is no slot.
        accept(decision, true, 1, at);
        if newest != at {
            accept(decision, true, 1, newest);
        }
        &mut decision.coalesced
    } else {
        Skipped::push(&mut decision.over_limit, at);
        if newest != at {
            Skipped::push(&mut decision.over_limit, newest);
        }
        &mut decision.over_limit
    };
    // Exact counts stay exact: `more` only when times between `at` and `newest` went
    // uncounted (or `push` hit its cap).
    if newest != at && next(at) != Some(newest) {
        if let Some(skipped) = counted {
            skipped.more = true;
        }
    }
    next(newest)
}

/// The newest fire time at or before `now`, given `known`, one that is: probes windows
/// `(now - delta, now]` of doubling width, then walks the few times inside the first
/// window that has one.
fn newest_at_or_before(
    now: DateTime<Utc>,
    known: DateTime<Utc>,
    next: &mut impl FnMut(DateTime<Utc>) -> Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let mut delta = chrono::Duration::milliseconds(1);
    loop {
        let probe = now
            .checked_sub_signed(delta)
            .map_or(known, |p| p.max(known));
        if let Some(mut newest) = next(probe).filter(|at| *at <= now) {
            while let Some(later) = next(newest).filter(|at| *at <= now) {
                newest = later;
            }
            return newest;
        }
        if probe == known {
            return known;
        }
        delta = delta * 2;
    }
}

#[cfg(test)]
#[path = "misfire_tests.rs"]
mod tests;
