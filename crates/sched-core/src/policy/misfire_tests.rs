//! Specification of [`decide`]: tables for each rule, the long-backlog jump path, and a
//! property test against a reference that enumerates every fire time.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use proptest::prelude::*;

use super::*;
use crate::trigger::Trigger;

type Time = DateTime<Utc>;

fn utc(s: &str) -> Time {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

/// Every table below counts from here.
fn t0() -> Time {
    utc("2026-01-01T00:00:00Z")
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

fn options(grace: Option<Duration>, coalesce: bool, max_instances: u32) -> JobOptions {
    let options = JobOptions::default()
        .coalesce(coalesce)
        .max_instances(max_instances);
    match grace {
        Some(grace) => options.misfire_grace_time(grace),
        None => options,
    }
}

fn every(period: Duration) -> Trigger {
    Trigger::interval(period).start(t0())
}

fn span(times: &[Time]) -> Option<Skipped> {
    Some(Skipped {
        first: *times.first()?,
        last: *times.last()?,
        count: times.len() as u64,
        more: false,
    })
}

/// Every fire time from `due` up to `now`, one by one.
fn due_times(due: Time, now: Time, next: impl Fn(Time) -> Option<Time>) -> Vec<Time> {
    let mut times = Vec::new();
    let mut cursor = Some(due);
    while let Some(at) = cursor.filter(|at| *at <= now) {
        times.push(at);
        cursor = next(at);
    }
    times
}

/// The module doc taken literally: enumerate, split off the missed, keep the newest when
/// coalescing (it starts if a slot is free); without coalescing all in grace start (a
/// backlog `slots` at a time) if a slot is free; the rest is over the limit.
fn reference(
    due: Time,
    now: Time,
    options: &JobOptions,
    running: u32,
    next: impl Fn(Time) -> Option<Time>,
) -> Decision {
    if due > now {
        return Decision {
            next_run_time: Some(due),
            ..Decision::default()
        };
    }
    reference_of(
        &due_times(due, now, &next),
        now,
        options,
        running,
        next(now),
    )
}

/// [`reference`] over fire times already enumerated (they take long for a cron).
fn reference_of(
    all: &[Time],
    now: Time,
    options: &JobOptions,
    running: u32,
    next_run_time: Option<Time>,
) -> Decision {
    let grace = options
        .misfire_grace_time
        .map(|g| chrono::Duration::from_std(g).expect("test grace fits"));
    let is_missed =
        |t: &Time| grace.is_some_and(|g| t.checked_add_signed(g).is_some_and(|end| now > end));
    let (missed, in_grace): (Vec<Time>, Vec<Time>) = all.iter().partition(|t| is_missed(t));
    let (coalesced, candidates) = match in_grace.split_last() {
        Some((newest, older)) if options.coalesce => (older.to_vec(), vec![*newest]),
        _ => (Vec::new(), in_grace),
    };
    let slots = options.max_instances.saturating_sub(running) as usize;
    // Without coalescing, a backlog starts at most MAX_WALKED runs.
    let (run, over_limit) = if slots > 0 {
        let started = candidates.len().min(MAX_WALKED as usize);
        (
            candidates[..started].to_vec(),
            candidates[started..].to_vec(),
        )
    } else {
        (Vec::new(), candidates)
    };
    Decision {
        run,
        width: slots,
        missed: span(&missed),
        coalesced: span(&coalesced),
        over_limit: span(&over_limit),
        next_run_time,
    }
}

fn count(skipped: Option<Skipped>) -> u64 {
    skipped.map_or(0, |s| s.count)
}

/// For backlogs past the walking limit: runs and next run time exact, each category
/// present iff expected, first exact, count a true lower bound, `more` exactly when the
/// count falls short, last exact when the count is.
fn assert_bounded(actual: &Decision, expected: &Decision, context: &str) {
    assert_eq!(actual.run, expected.run, "run, {context}");
    assert_eq!(
        actual.next_run_time, expected.next_run_time,
        "next_run_time, {context}"
    );
    let categories = [
        ("missed", actual.missed, expected.missed),
        ("coalesced", actual.coalesced, expected.coalesced),
        ("over_limit", actual.over_limit, expected.over_limit),
    ];
    for (name, actual, expected) in categories {
        let context = format!("{name}, {context}: {actual:?} vs {expected:?}");
        let (Some(a), Some(e)) = (actual, expected) else {
            assert_eq!(actual.is_some(), expected.is_some(), "{context}");
            continue;
        };
        assert_eq!(a.first, e.first, "{context}");
        assert!(a.count >= 1 && a.count <= e.count, "{context}");
        assert_eq!(a.more, a.count < e.count, "{context}");
        assert!(a.first <= a.last && a.last <= e.last, "{context}");
        if !a.more {
            assert_eq!(a.last, e.last, "{context}");
        }
    }
}

// ---------------------------------------------------------------------------------
// Tables: every 60 s from t0, down until t0 + 330 s. Due: 0, 60, .., 300 (six runs);
// next 360 whatever the options.

/// `(first, last, count)` in seconds after t0.
type Span = Option<(i64, i64, u64)>;

#[derive(Debug)]
struct Row {
    grace: Option<u64>,
    coalesce: bool,
    max_instances: u32,
    running: u32,
    run: &'static [i64],
    missed: Span,
    coalesced: Span,
    over_limit: Span,
}

const fn row(grace: Option<u64>, coalesce: bool, max_instances: u32, running: u32) -> Row {
    Row {
        grace,
        coalesce,
        max_instances,
        running,
        run: &[],
        missed: None,
        coalesced: None,
        over_limit: None,
    }
}

impl Row {
    const fn run(mut self, run: &'static [i64]) -> Self {
        self.run = run;
        self
    }
    const fn missed(mut self, first: i64, last: i64, count: u64) -> Self {
        self.missed = Some((first, last, count));
        self
    }
    const fn coalesced(mut self, first: i64, last: i64, count: u64) -> Self {
        self.coalesced = Some((first, last, count));
        self
    }
    const fn over(mut self, first: i64, last: i64, count: u64) -> Self {
        self.over_limit = Some((first, last, count));
        self
    }

    fn expected(&self, next: i64) -> Decision {
        let span = |s: Span| {
            s.map(|(first, last, count)| Skipped {
                first: t0() + secs(first),
                last: t0() + secs(last),
                count,
                more: false,
            })
        };
        Decision {
            run: self.run.iter().map(|s| t0() + secs(*s)).collect(),
            width: self.max_instances.saturating_sub(self.running) as usize,
            missed: span(self.missed),
            coalesced: span(self.coalesced),
            over_limit: span(self.over_limit),
            next_run_time: Some(t0() + secs(next)),
        }
    }

    fn check(&self, now: i64, next: i64) {
        let options = options(
            self.grace.map(Duration::from_secs),
            self.coalesce,
            self.max_instances,
        );
        let trigger = every(Duration::from_secs(60));
        let now = t0() + secs(now);
        let decision = decide(t0(), now, &options, self.running, |t| trigger.next_after(t));
        assert_eq!(decision, self.expected(next), "{self:?}");
    }
}

const NO_GRACE: Option<u64> = None;

const AFTER_DOWNTIME: &[Row] = &[
    // Never missed, coalescing: the newest runs if a slot is free.
    row(NO_GRACE, true, 1, 0).run(&[300]).coalesced(0, 240, 5),
    row(NO_GRACE, true, 1, 1)
        .coalesced(0, 240, 5)
        .over(300, 300, 1),
    row(NO_GRACE, true, 3, 0).run(&[300]).coalesced(0, 240, 5),
    row(NO_GRACE, true, 3, 1).run(&[300]).coalesced(0, 240, 5),
    row(NO_GRACE, true, 3, 3)
        .coalesced(0, 240, 5)
        .over(300, 300, 1),
    row(NO_GRACE, true, 1, 7)
        .coalesced(0, 240, 5)
        .over(300, 300, 1),
    // Never missed, not coalescing: the oldest runs fill the free slots.
    // Without coalescing, a backlog runs in order, a free slot at a time.
    row(NO_GRACE, false, 1, 0).run(&[0, 60, 120, 180, 240, 300]),
    row(NO_GRACE, false, 1, 1).over(0, 300, 6),
    row(NO_GRACE, false, 3, 0).run(&[0, 60, 120, 180, 240, 300]),
    row(NO_GRACE, false, 3, 1).run(&[0, 60, 120, 180, 240, 300]),
    row(NO_GRACE, false, 3, 3).over(0, 300, 6),
    row(NO_GRACE, false, 3, 5).over(0, 300, 6),
    row(NO_GRACE, false, 10, 0).run(&[0, 60, 120, 180, 240, 300]),
    // Grace 100 s: cutoff 230, so 0..180 are missed and 240, 300 in grace.
    row(Some(100), true, 1, 0)
        .run(&[300])
        .missed(0, 180, 4)
        .coalesced(240, 240, 1),
    row(Some(100), true, 1, 1)
        .missed(0, 180, 4)
        .coalesced(240, 240, 1)
        .over(300, 300, 1),
    row(Some(100), true, 3, 0)
        .run(&[300])
        .missed(0, 180, 4)
        .coalesced(240, 240, 1),
    row(Some(100), true, 3, 1)
        .run(&[300])
        .missed(0, 180, 4)
        .coalesced(240, 240, 1),
    row(Some(100), true, 3, 3)
        .missed(0, 180, 4)
        .coalesced(240, 240, 1)
        .over(300, 300, 1),
    row(Some(100), false, 1, 0)
        .run(&[240, 300])
        .missed(0, 180, 4),
    row(Some(100), false, 1, 1)
        .missed(0, 180, 4)
        .over(240, 300, 2),
    row(Some(100), false, 3, 0)
        .run(&[240, 300])
        .missed(0, 180, 4),
    row(Some(100), false, 3, 1)
        .run(&[240, 300])
        .missed(0, 180, 4),
    row(Some(100), false, 3, 2)
        .run(&[240, 300])
        .missed(0, 180, 4),
    row(Some(100), false, 3, 3)
        .missed(0, 180, 4)
        .over(240, 300, 2),
    // Boundaries: started exactly at t + grace is in time, a second later is not.
    row(Some(90), true, 1, 0)
        .run(&[300])
        .missed(0, 180, 4)
        .coalesced(240, 240, 1),
    row(Some(90), false, 3, 0)
        .run(&[240, 300])
        .missed(0, 180, 4),
    row(Some(89), true, 1, 0).run(&[300]).missed(0, 240, 5),
    row(Some(89), false, 3, 0).run(&[300]).missed(0, 240, 5),
    row(Some(30), false, 1, 0).run(&[300]).missed(0, 240, 5),
    row(Some(29), false, 1, 0).missed(0, 300, 6),
    row(Some(29), true, 3, 3).missed(0, 300, 6),
    // Grace longer than the downtime: as if there were none.
    row(Some(3600), true, 1, 0).run(&[300]).coalesced(0, 240, 5),
    row(Some(3600), false, 3, 0).run(&[0, 60, 120, 180, 240, 300]),
    // A grace too long for chrono: never missed, never a panic.
    row(Some(u64::MAX), true, 1, 0)
        .run(&[300])
        .coalesced(0, 240, 5),
    row(Some(u64::MAX), false, 3, 1).run(&[0, 60, 120, 180, 240, 300]),
];

#[test]
fn after_downtime_table() {
    for row in AFTER_DOWNTIME {
        row.check(330, 360);
    }
}

/// Every combination of the options, for the rules that do not depend on them.
fn all_options() -> Vec<(Option<Duration>, bool, u32, u32)> {
    let mut all = Vec::new();
    for grace in [None, Some(Duration::ZERO), Some(Duration::from_secs(100))] {
        for coalesce in [true, false] {
            for (max_instances, running) in [(1, 0), (1, 1), (3, 0), (3, 1), (3, 3)] {
                all.push((grace, coalesce, max_instances, running));
            }
        }
    }
    all
}

#[test]
fn zero_grace_misses_everything_started_late() {
    let trigger = every(Duration::from_secs(60));
    for (_, coalesce, max_instances, running) in all_options() {
        let options = options(Some(Duration::ZERO), coalesce, max_instances);
        let d = decide(t0(), t0() + secs(330), &options, running, |t| {
            trigger.next_after(t)
        });
        let expected = row(Some(0), coalesce, max_instances, running).missed(0, 300, 6);
        assert_eq!(d, expected.expected(360), "{options:?} running {running}");
    }
}

#[test]
fn zero_grace_runs_the_one_due_exactly_now() {
    let trigger = every(Duration::from_secs(60));
    for (_, coalesce, max_instances, running) in all_options() {
        let options = options(Some(Duration::ZERO), coalesce, max_instances);
        let d = decide(t0(), t0() + secs(300), &options, running, |t| {
            trigger.next_after(t)
        });
        assert_eq!(
            d.missed,
            span(&due_times(t0(), t0() + secs(240), |t| trigger.next_after(t)))
        );
        assert_eq!(d.run.len() + count(d.over_limit) as usize, 1, "{options:?}");
        assert_eq!(d.run.is_empty(), running >= max_instances, "{options:?}");
        assert_eq!(d.next_run_time, Some(t0() + secs(360)));
    }
}

#[test]
fn due_exactly_now_runs_once_if_a_slot_is_free() {
    let trigger = every(Duration::from_secs(60));
    for (grace, coalesce, max_instances, running) in all_options() {
        let options = options(grace, coalesce, max_instances);
        let d = decide(t0(), t0(), &options, running, |t| trigger.next_after(t));
        let expected = if running < max_instances {
            row(None, coalesce, max_instances, running).run(&[0])
        } else {
            row(None, coalesce, max_instances, running).over(0, 0, 1)
        };
        assert_eq!(d, expected.expected(60), "{options:?} running {running}");
    }
}

#[test]
fn due_in_the_future_decides_nothing() {
    let trigger = every(Duration::from_secs(60));
    for (grace, coalesce, max_instances, running) in all_options() {
        let options = options(grace, coalesce, max_instances);
        for now in [t0() - chrono::Duration::nanoseconds(1), t0() - secs(3600)] {
            let d = decide(t0(), now, &options, running, |t| trigger.next_after(t));
            let expected = Decision {
                next_run_time: Some(t0()),
                ..Decision::default()
            };
            assert_eq!(d, expected, "{options:?} running {running} now {now}");
        }
    }
}

/// `(grace, coalesce, max_instances, running, started secs after t0, runs, missed, over)`
type DateRow = (Option<u64>, bool, u32, u32, i64, bool, Span, Span);

#[test]
fn date_trigger_runs_once_then_is_done() {
    let trigger = Trigger::date(t0());
    let next = |t| trigger.next_after(t);
    let one = |from: i64| Some((from, from, 1));
    let table: &[DateRow] = &[
        (None, true, 1, 0, 10, true, None, None),
        (None, false, 1, 0, 10, true, None, None),
        (None, true, 3, 1, 0, true, None, None),
        (Some(0), true, 1, 0, 0, true, None, None),
        (Some(10), false, 1, 0, 10, true, None, None),
        (Some(5), true, 1, 0, 10, false, one(0), None),
        (Some(0), false, 3, 0, 1, false, one(0), None),
        (None, true, 1, 1, 10, false, None, one(0)),
        (None, false, 3, 3, 10, false, None, one(0)),
        (Some(5), false, 1, 1, 10, false, one(0), None),
    ];
    for &(grace, coalesce, max_instances, running, now, runs, missed, over) in table {
        let options = options(grace.map(Duration::from_secs), coalesce, max_instances);
        let d = decide(t0(), t0() + secs(now), &options, running, next);
        let mut expected = row(grace, coalesce, max_instances, running);
        expected.run = if runs { &[0] } else { &[] };
        expected.missed = missed;
        expected.over_limit = over;
        let expected = Decision {
            next_run_time: None,
            ..expected.expected(0)
        };
        assert_eq!(d, expected, "{options:?} running {running} now +{now}s");
    }
    // Before its date it waits for it.
    let d = decide(t0(), t0() - secs(1), &JobOptions::default(), 0, next);
    assert_eq!(d.next_run_time, Some(t0()));
    assert!(d.run.is_empty());
}

#[test]
fn cron_trigger_after_downtime() {
    let trigger = Trigger::cron("*/5 * * * *").expect("valid cron");
    let next = |t| trigger.next_after(t);
    let min = |m: i64| t0() + chrono::Duration::minutes(m);
    let now = min(17) + secs(30);
    let grace = Some(Duration::from_secs(300));

    let d = decide(t0(), now, &options(grace, true, 1), 0, next);
    let expected = Decision {
        run: vec![min(15)],
        width: 1,
        missed: span(&[min(0), min(5), min(10)]),
        next_run_time: Some(min(20)),
        ..Decision::default()
    };
    assert_eq!(d, expected);
    assert_eq!(
        decide(t0(), now, &options(grace, false, 3), 0, next),
        Decision {
            width: 3,
            ..expected
        }
    );

    // Without coalescing, the whole backlog runs, three at a time.
    let d = decide(t0(), now, &options(None, false, 3), 0, next);
    let expected = Decision {
        run: vec![min(0), min(5), min(10), min(15)],
        width: 3,
        next_run_time: Some(min(20)),
        ..Decision::default()
    };
    assert_eq!(d, expected);

    let d = decide(t0(), now, &options(None, true, 1), 0, next);
    let expected = Decision {
        run: vec![min(15)],
        width: 1,
        coalesced: span(&[min(0), min(5), min(10)]),
        next_run_time: Some(min(20)),
        ..Decision::default()
    };
    assert_eq!(d, expected);
}

#[test]
fn cron_across_spring_forward_runs_each_day_once() {
    let trigger = Trigger::cron("30 2 * * *")
        .expect("valid cron")
        .timezone(chrono_tz::America::New_York);
    let next = |t| trigger.next_after(t);
    let due = utc("2026-03-07T02:30:00-05:00");
    let now = utc("2026-03-09T12:00:00-04:00");
    // 8 March has no 02:30 in New York: a fixed-time entry fires at 03:00 EDT.
    let days = vec![
        due,
        utc("2026-03-08T03:00:00-04:00"),
        utc("2026-03-09T02:30:00-04:00"),
    ];
    let tomorrow = Some(utc("2026-03-10T02:30:00-04:00"));

    let d = decide(due, now, &options(None, false, 3), 0, next);
    let expected = Decision {
        run: days.clone(),
        width: 3,
        next_run_time: tomorrow,
        ..Decision::default()
    };
    assert_eq!(d, expected);

    let d = decide(due, now, &options(None, true, 1), 0, next);
    let expected = Decision {
        run: vec![days[2]],
        width: 1,
        coalesced: span(&days[..2]),
        next_run_time: tomorrow,
        ..Decision::default()
    };
    assert_eq!(d, expected);
}

// ---------------------------------------------------------------------------------
// Long backlogs: the jump path.

/// `decide` over a trigger, also counting how often it asked for a fire time.
fn decide_counting(
    due: Time,
    now: Time,
    options: &JobOptions,
    running: u32,
    next: impl Fn(Time) -> Option<Time>,
) -> (Decision, u64) {
    let calls = Cell::new(0u64);
    let d = decide(due, now, options, running, |t| {
        calls.set(calls.get() + 1);
        next(t)
    });
    (d, calls.get())
}

/// `trigger.next_after`, remembering its answers: a test that walks the same long
/// backlog of a cron many times would otherwise spend seconds recomputing it.
fn memoized(trigger: &Trigger) -> impl Fn(Time) -> Option<Time> + '_ {
    let memo = RefCell::new(HashMap::new());
    move |t| {
        *memo
            .borrow_mut()
            .entry(t)
            .or_insert_with(|| trigger.next_after(t))
    }
}

/// Walking at most MAX_WALKED missed and MAX_WALKED in grace, plus the probes of the
/// jump: a bound that does not grow with the backlog.
const JUMP_CALLS: u64 = 2 * MAX_WALKED + 200;

#[test]
fn week_of_downtime_on_one_second_interval() {
    let second = Duration::from_secs(1);
    let trigger = every(second);
    let now = t0() + chrono::Duration::days(7);
    let after_now = Some(now + secs(1));
    let total = 7 * 24 * 3600 + 1; // t0 ..= now, every second
    let day = 24 * 3600;
    let cases = [
        (None, true, 1, 0),
        (None, false, 3, 0),
        (None, true, 1, 1),
        (Some(Duration::ZERO), true, 1, 0),
        (Some(Duration::from_secs(60)), true, 1, 0),
        (Some(Duration::from_secs(60)), false, 3, 1),
        (Some(Duration::from_secs(day as u64)), false, 1, 0),
        (Some(Duration::from_secs(day as u64)), true, 3, 0),
    ];
    for (grace, coalesce, max_instances, running) in cases {
        let options = options(grace, coalesce, max_instances);
        let context = format!("{options:?} running {running}");
        let (d, calls) = decide_counting(t0(), now, &options, running, |t| trigger.next_after(t));
        assert!(
            calls <= JUMP_CALLS,
            "{calls} fire times asked for, {context}"
        );
        assert_eq!(d.next_run_time, after_now, "{context}");
        // Nothing is lost: whatever is not counted is flagged.
        let counted =
            d.run.len() as u64 + count(d.missed) + count(d.coalesced) + count(d.over_limit);
        let flagged = [d.missed, d.coalesced, d.over_limit]
            .iter()
            .flatten()
            .any(|s| s.more);
        assert!(
            counted <= total && (counted == total || flagged),
            "{context}: {d:?}"
        );

        let missed_before = grace.map(|g| now - chrono::Duration::from_std(g).expect("fits"));
        let first_in_grace = missed_before.unwrap_or(t0());
        if let Some(cutoff) = missed_before {
            let missed = d.missed.expect("missed runs");
            assert_eq!(missed.first, t0(), "{context}");
            assert!(missed.more && missed.last < cutoff, "{context}: {missed:?}");
        } else {
            assert_eq!(d.missed, None, "{context}");
        }
        let slots = max_instances.saturating_sub(running) as i64;
        let expected_run: Vec<Time> = match (coalesce, slots) {
            (_, 0) => vec![],
            (true, _) => vec![now],
            // The whole backlog, up to the walking limit, `slots` at a time.
            (false, _) => {
                let in_grace = (now - first_in_grace).num_seconds() + 1;
                let started = in_grace.min(MAX_WALKED as i64);
                (0..started).map(|i| first_in_grace + secs(i)).collect()
            }
        };
        assert_eq!(d.run, expected_run, "{context}");
    }
}

#[test]
fn week_of_downtime_short_grace_counts_the_in_grace_runs_exactly() {
    let trigger = every(Duration::from_secs(1));
    let now = t0() + chrono::Duration::days(7);
    let options = options(Some(Duration::from_secs(60)), true, 1);
    let (d, _) = decide_counting(t0(), now, &options, 0, |t| trigger.next_after(t));
    assert_eq!(d.run, vec![now]);
    let in_grace: Vec<Time> = (0..60).map(|i| now - secs(60 - i)).collect();
    assert_eq!(d.coalesced, span(&in_grace));
    assert_eq!(d.over_limit, None);
}

/// Runs `decide` and the reference over backlogs of `n` one-second fire times.
fn check_backlog(
    n: i64,
    grace: Option<Duration>,
    coalesce: bool,
    max_instances: u32,
    running: u32,
) {
    let trigger = every(Duration::from_secs(1));
    let next = |t| trigger.next_after(t);
    // Half a second after the last due time, so a zero grace misses them all.
    let now = t0() + secs(n - 1) + chrono::Duration::milliseconds(500);
    let options = options(grace, coalesce, max_instances);
    let d = decide(t0(), now, &options, running, next);
    let expected = reference(t0(), now, &options, running, next);
    let context = format!("n {n}, {options:?}, running {running}");
    assert_bounded(&d, &expected, &context);
    if n as u64 <= MAX_WALKED {
        assert_eq!(d, expected, "{context}");
    }
}

#[test]
fn backlogs_around_the_walking_limit() {
    let limit = MAX_WALKED as i64;
    for n in [limit - 1, limit, limit + 1, limit + 2, limit + 3, 3 * limit] {
        for (coalesce, max_instances, running) in [
            (true, 1, 0),
            (true, 1, 1),
            (false, 1, 0),
            (false, 3, 0),
            (false, 3, 2),
            (false, 3, 3),
        ] {
            check_backlog(n, None, coalesce, max_instances, running);
            check_backlog(n, Some(Duration::ZERO), coalesce, max_instances, running);
            // Half the backlog missed, half in grace.
            let half = Duration::from_secs(n as u64 / 2);
            check_backlog(n, Some(half), coalesce, max_instances, running);
        }
    }
}

#[test]
fn exactly_one_past_the_limit_is_not_counted_twice() {
    // 10 001 in grace, three slots: the oldest 10 000 start (three at a time), the one
    // past the limit is over it, counted once.
    let trigger = every(Duration::from_secs(1));
    let now = t0() + secs(MAX_WALKED as i64);
    let d = decide(t0(), now, &options(None, false, 3), 0, |t| {
        trigger.next_after(t)
    });
    assert_eq!(d.run.len() as u64, MAX_WALKED);
    assert_eq!(
        (d.run.first(), d.run.last()),
        (Some(&t0()), Some(&(now - secs(1))))
    );
    assert_eq!(d.width, 3);
    let over = d.over_limit.expect("over the limit");
    assert_eq!(
        (over.first, over.last, over.count, over.more),
        (now, now, 1, false)
    );
}

#[test]
fn more_instances_than_the_walking_limit_start_no_more_than_it() {
    let trigger = every(Duration::from_secs(1));
    let n = 3 * MAX_WALKED as i64;
    let now = t0() + secs(n - 1);
    let d = decide(t0(), now, &options(None, false, u32::MAX), 0, |t| {
        trigger.next_after(t)
    });
    // The oldest MAX_WALKED, one second apart, and nothing after a hole.
    assert_eq!(d.run.len() as u64, MAX_WALKED);
    assert_eq!(d.run.first(), Some(&t0()));
    assert!(d.run.windows(2).all(|w| w[1] - w[0] == secs(1)));
    let over = d.over_limit.expect("the rest is reported");
    assert_eq!(over.first, t0() + secs(MAX_WALKED as i64));
    assert!(over.more);
    assert_eq!(d.next_run_time, Some(now + secs(1)));
}

/// The run chosen by coalescing after a jump is the newest fire time <= now, however
/// irregular the trigger and wherever `now` falls between fire times.
#[test]
fn jump_finds_the_newest_fire_time() {
    let micros = chrono::Duration::microseconds;
    let triggers = [
        (
            "every 300 µs",
            every(Duration::from_micros(300)),
            micros(300) * 20_000,
        ),
        (
            "every hour",
            every(Duration::from_secs(3600)),
            secs(3600) * 15_000,
        ),
        (
            "7 s or 11 s",
            Trigger::or([
                every(Duration::from_secs(7)),
                every(Duration::from_secs(11)).start(t0() + secs(3)),
            ]),
            secs(7 * 20_000),
        ),
        (
            "hourly cron",
            Trigger::cron("0 * * * *").expect("valid cron"),
            secs(3600) * 10_100,
        ),
        (
            "cron bursts",
            Trigger::cron("0,1,2,30 * * * * *").expect("valid cron"),
            secs(60 * 2_530),
        ),
    ];
    for (name, trigger, downtime) in &triggers {
        // Only a cron is slower to compute than to look up.
        let next: &dyn Fn(Time) -> Option<Time> = match trigger.kind {
            crate::trigger::TriggerKind::Cron(_) => &memoized(trigger),
            _ => &|t| trigger.next_after(t),
        };
        for nudge in [0, 1, 999_999, 1_000_000, 1_000_001, 299_999_999_999] {
            let now = t0() + *downtime + chrono::Duration::nanoseconds(nudge);
            let all = due_times(t0(), now, next);
            assert!(all.len() as u64 > MAX_WALKED, "{name}: backlog too short");
            for (coalesce, running) in [(true, 0), (true, 1), (false, 0)] {
                let options = options(None, coalesce, 1);
                let (d, calls) = decide_counting(t0(), now, &options, running, next);
                let expected = reference_of(&all, now, &options, running, next(now));
                let context = format!("{name}, now {now}, {options:?}, running {running}");
                assert_bounded(&d, &expected, &context);
                assert!(
                    calls <= JUMP_CALLS,
                    "{calls} fire times asked for, {context}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Property: agrees with the reference on every small backlog.

/// Fire time of `k` periods after t0 for the interval used below.
fn nth(period: chrono::Duration, k: i64) -> Time {
    t0() + period * i32::try_from(k).expect("small k")
}

fn grace_for(kind: u8, raw: u64, now: Time, period: chrono::Duration, k: i64) -> Option<Duration> {
    let since = |t: Time| (now - t).to_std().ok();
    let fire = nth(period, (raw % (k as u64 + 1)) as i64);
    let one_ns = Duration::from_nanos(1);
    match kind {
        0 => None,
        1 => Some(Duration::ZERO),
        // Exactly now - fire time: the boundary of grace, and a nanosecond either side.
        2 => since(fire),
        3 => since(fire).map(|g| g + one_ns),
        4 => since(fire).map(|g| g.saturating_sub(one_ns)),
        // Anywhere up to a period past the whole backlog.
        _ => Some(Duration::from_nanos(
            raw % (since(t0())? + period.to_std().ok()?).as_nanos().max(1) as u64,
        )),
    }
}

fn check_against_reference(
    trigger: &Trigger,
    salt: u64,
    now: Time,
    options: &JobOptions,
    running: u32,
) -> Result<(), TestCaseError> {
    let next = |t| trigger.next_after_salted(t, salt);
    let due = next(t0() - chrono::Duration::nanoseconds(1)).expect("trigger fires");
    let d = decide(due, now, options, running, next);
    let expected = reference(due, now, options, running, next);
    prop_assert_eq!(&d, &expected);

    let due_count = if due > now {
        0
    } else {
        due_times(due, now, next).len() as u64
    };
    let accounted = d.run.len() as u64 + count(d.missed) + count(d.coalesced) + count(d.over_limit);
    prop_assert_eq!(
        accounted,
        due_count,
        "every due fire time accounted for once"
    );
    prop_assert!(d.run.windows(2).all(|w| w[0] < w[1]), "runs in order");
    prop_assert!(d.run.iter().all(|t| *t <= now));
    prop_assert!(d.next_run_time.is_none_or(|t| t > now));
    Ok(())
}

proptest! {
    #[test]
    fn interval_agrees_with_reference(
        period_ms in 1i64..=100_000,
        backlog in 0i64..500,
        offset in 0.0f64..1.0,
        early in prop::bool::weighted(0.05),
        grace_kind in 0u8..6,
        grace_raw in any::<u64>(),
        coalesce in any::<bool>(),
        max_instances in 1u32..=5,
        running in 0u32..=6,
        jitter in 0.0f64..1.0,
        salt in any::<u64>(),
    ) {
        let period = chrono::Duration::milliseconds(period_ms);
        let into_period = chrono::Duration::nanoseconds((offset * period_ms as f64 * 1e6) as i64);
        let now = if early { t0() - into_period } else { nth(period, backlog) + into_period };
        // Jitter below the period keeps fire times in order.
        let jitter = Duration::from_nanos((jitter * period_ms as f64 * 1e6) as u64);
        let trigger = every(period.to_std().expect("positive")).jitter(jitter);
        let grace = grace_for(grace_kind, grace_raw, now, period, backlog);
        let options = options(grace, coalesce, max_instances);
        check_against_reference(&trigger, salt, now, &options, running)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn cron_agrees_with_reference(
        step in 1u32..=30,
        backlog in 0i64..200,
        offset_secs in 0i64..60,
        grace_kind in 0u8..6,
        grace_raw in any::<u64>(),
        coalesce in any::<bool>(),
        max_instances in 1u32..=5,
        running in 0u32..=6,
    ) {
        let trigger = Trigger::cron(&format!("*/{step} * * * *")).expect("valid cron");
        let next = |t| trigger.next_after(t);
        let mut now = t0();
        for _ in 0..backlog {
            now = next(now).expect("cron fires");
        }
        let now = now + secs(offset_secs);
        let period = chrono::Duration::minutes(i64::from(step));
        let grace = grace_for(grace_kind, grace_raw, now, period, backlog);
        let options = options(grace, coalesce, max_instances);
        check_against_reference(&trigger, 0, now, &options, running)?;
    }
}

#[test]
fn the_next_fire_time_falling_exactly_on_now_is_due_too() {
    // The boundary of the one-step common case: the fire time after `due` is `now`
    // itself (due, so walked), one nanosecond later (not due), or one earlier.
    let trigger = every(Duration::from_secs(10));
    let next = |t: Time| trigger.next_after(t);
    let ns = chrono::Duration::nanoseconds;
    for now in [
        t0() + secs(10) - ns(1),
        t0() + secs(10),
        t0() + secs(10) + ns(1),
    ] {
        for (grace, coalesce, max_instances, running) in [
            (None, false, 3, 0),
            (None, true, 1, 0),
            (None, false, 1, 0),
            (Some(Duration::from_secs(5)), false, 3, 0),
            (None, false, 2, 1),
        ] {
            let options = options(grace, coalesce, max_instances);
            assert_eq!(
                decide(t0(), now, &options, running, next),
                reference(t0(), now, &options, running, next),
                "now {now}, {options:?}, running {running}"
            );
        }
    }
    // And `due` exactly at the end of its grace (still in grace), or just past it.
    let options = options(Some(Duration::from_secs(5)), false, 1);
    for now in [t0() + secs(5), t0() + secs(5) + ns(1)] {
        assert_eq!(
            decide(t0(), now, &options, 0, next),
            reference(t0(), now, &options, 0, next),
            "now {now}"
        );
    }
}
