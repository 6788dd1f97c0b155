//! The checker: from the timeline and the tables, the figures the verdict is made of.
//! Pure (no I/O), so every rule is tested on rows made up for it.
//!
//! - A *duplicate while the holder lives*: a start of an occurrence (job, scheduled
//!   time) while a process that had started it before was still alive — whether or not
//!   that process was cut off from Postgres (with the lease rules of `docs/stores.md`,
//!   nobody re-runs a live node's run, even after an outage longer than the lease).
//! - *Duplicates in `runs`*: more than one row that is not `abandoned`, or more than one
//!   `success`, for one occurrence.
//! - An *unexplained gap*: an expected fire time with no start and no explanation: a
//!   `JobCoalesced` or `JobMissed` event naming it; a `JobMaxInstances` event naming it
//!   while a run of the job was indeed executing, or held by a dead node not reaped yet
//!   (a row started before the decision and not ended or reaped by then, or ended less
//!   than [`RECORDING_LAG`] before it: ends are recorded in batches within
//!   milliseconds); a skip because of a run that had ended earlier but whose end was
//!   written only after the decision is what `max_instances` counts by design (a known
//!   gap, docs/design.md) and is counted apart, as [`ENDED_NOT_RECORDED`]; or rows
//!   in `runs` that are all `abandoned` and were not recovered (not started because its
//!   lease ran out, or reaped with `recovered: false`).
//! - *Stuck*: rows still `running` once every node has stopped.
//! - *Without a start*: a `success` row whose run never recorded its start (the suite
//!   lost a write: its other figures cannot be trusted).
//! - *Takeover*: from a `kill -9` to the last of the killed process's runs reaped (the
//!   reaper's time, `finished_us` of the abandoned rows), and to the first start of one
//!   of them by another process.
//! - *Reconnect*: from Postgres accepting connections again to the first start of a
//!   run claimed after it went down.
//! - *Lease losses not reported*: a run claimed before Postgres went down and still
//!   executing a lease (and half a second) after it did, with Postgres still down
//!   then, had its lease run out unrenewed; its live node must have reported it
//!   (`JobLeaseLost`, docs/stores.md "Leases through an outage").

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};

use crate::jobs::JobDef;
use crate::load::{EventRec, RunRow, Start, Tables};
use crate::side::nanos;
use crate::timeline::Timeline;

/// The error text of a run a node did not start because its lease ran out.
const NOT_STARTED: &str = "before it started";

/// How long after a run ends its end may still be unrecorded in normal operation: a
/// node records ended runs in batches at most every 10 ms, then commits. A
/// `JobMaxInstances` skip decided within this of the end of the run it counted holds.
const RECORDING_LAG: TimeDelta = TimeDelta::milliseconds(100);

/// (job id, scheduled time in ns).
type Occurrence = (String, i64);

/// A second start while an earlier starter lived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Duplicate {
    pub(crate) first: Start,
    pub(crate) second: Start,
}

/// An expected fire time nothing accounts for, with the rows `runs` has for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Gap {
    pub(crate) job_id: String,
    pub(crate) scheduled: DateTime<Utc>,
    pub(crate) rows: Vec<RunRow>,
    /// An event that named it without a reason that held, and the rows behind it.
    pub(crate) note: Option<String>,
}

/// What became of one killed process's runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Takeover {
    pub(crate) node: String,
    pub(crate) pid: u32,
    pub(crate) at: DateTime<Utc>,
    pub(crate) restart: String,
    /// Its rows `running` at the kill.
    pub(crate) in_flight: usize,
    /// Of those, reaped (`abandoned` by another node).
    pub(crate) reaped: usize,
    /// Kill → the last of them reaped.
    pub(crate) last_reaped: Option<TimeDelta>,
    /// Kill → the first of their occurrences started by another process.
    pub(crate) first_rerun: Option<TimeDelta>,
}

/// How fast the nodes fired again after one outage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reconnect {
    pub(crate) kind: String,
    /// Down (stop returned) → accepting again.
    pub(crate) down_for: TimeDelta,
    /// Accepting again → the first start of a run claimed after the stop.
    pub(crate) first_firing: Option<TimeDelta>,
    pub(crate) lease_lost: usize,
}

/// The figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Findings {
    pub(crate) expected: usize,
    pub(crate) starts: usize,
    pub(crate) runs: usize,
    /// Occurrences started more than once (re-runs after a kill, allowed).
    pub(crate) restarted: usize,
    pub(crate) duplicates: Vec<Duplicate>,
    pub(crate) unknown_starters: usize,
    pub(crate) runs_duplicated: Vec<Vec<RunRow>>,
    pub(crate) runs_succeeded_twice: Vec<Vec<RunRow>>,
    pub(crate) gaps: Vec<Gap>,
    /// Fire times without a start, by explanation.
    pub(crate) explained: BTreeMap<&'static str, usize>,
    pub(crate) stuck: Vec<RunRow>,
    pub(crate) without_start: Vec<RunRow>,
    /// Events a node's subscription lost (it fell behind).
    pub(crate) lagged: i64,
    pub(crate) abandoned_events: usize,
    pub(crate) lease_lost_events: usize,
    pub(crate) takeovers: Vec<Takeover>,
    pub(crate) reconnects: Vec<Reconnect>,
    pub(crate) unreported_lease_losses: Vec<RunRow>,
}

/// The tables, indexed by what the rules look up.
struct Index<'a> {
    starts: HashMap<Occurrence, Vec<&'a Start>>,
    runs: HashMap<Occurrence, Vec<&'a RunRow>>,
    runs_by_id: HashMap<i64, &'a RunRow>,
    runs_by_job: HashMap<&'a str, Vec<&'a RunRow>>,
    started_runs: HashSet<i64>,
    /// Reaped runs by id: recovered or not.
    abandoned: HashMap<i64, bool>,
    lease_lost: HashSet<i64>,
    skips: HashMap<&'a str, Vec<&'a EventRec>>,
}

impl<'a> Index<'a> {
    fn new(tables: &'a Tables) -> Self {
        let mut index = Index {
            starts: HashMap::new(),
            runs: HashMap::new(),
            runs_by_id: HashMap::new(),
            runs_by_job: HashMap::new(),
            started_runs: HashSet::new(),
            abandoned: HashMap::new(),
            lease_lost: HashSet::new(),
            skips: HashMap::new(),
        };
        for start in &tables.starts {
            let key = (start.job_id.clone(), start.sched_ns);
            index.starts.entry(key).or_default().push(start);
            index.started_runs.insert(start.run_id);
        }
        for list in index.starts.values_mut() {
            list.sort_by_key(|s| s.at);
        }
        for run in &tables.runs {
            let key = (run.job_id.clone(), run.sched_ns);
            index.runs.entry(key).or_default().push(run);
            index.runs_by_id.insert(run.id, run);
            index.runs_by_job.entry(&run.job_id).or_default().push(run);
        }
        for event in &tables.events {
            match (event.kind.as_str(), event.job_id.as_deref()) {
                ("abandoned", _) => {
                    if let (Some(run), Some(recovered)) = (event.run_id, event.recovered) {
                        index.abandoned.insert(run, recovered);
                    }
                }
                ("lease_lost", _) => {
                    index.lease_lost.extend(event.run_id);
                }
                ("coalesced" | "missed" | "max_instances", Some(job)) => {
                    index.skips.entry(job).or_default().push(event);
                }
                _ => {}
            }
        }
        index
    }
}

/// Judges the run.
pub(crate) fn check(jobs: &[JobDef], timeline: &Timeline, tables: &Tables) -> Findings {
    let index = Index::new(tables);
    let mut findings = Findings {
        starts: tables.starts.len(),
        runs: tables.runs.len(),
        ..Findings::default()
    };
    duplicates(timeline, &index, &mut findings);
    runs_table(&index, &mut findings);
    gaps(jobs, timeline, &index, &mut findings);
    findings.stuck = tables
        .runs
        .iter()
        .filter(|r| r.status == "running")
        .cloned()
        .collect();
    findings.without_start = tables
        .runs
        .iter()
        .filter(|r| r.status == "success" && !index.started_runs.contains(&r.id))
        .cloned()
        .collect();
    for event in &tables.events {
        match event.kind.as_str() {
            "lagged" => findings.lagged += event.count.unwrap_or(1),
            "abandoned" => findings.abandoned_events += 1,
            "lease_lost" => findings.lease_lost_events += 1,
            _ => {}
        }
    }
    findings.takeovers = timeline
        .kills
        .iter()
        .map(|kill| takeover(timeline, kill, tables, &index))
        .collect();
    findings.reconnects = timeline
        .outages
        .iter()
        .map(|outage| reconnect(outage, tables, &index))
        .collect();
    findings.unreported_lease_losses = unreported_lease_losses(timeline, tables, &index);
    findings
}

/// Runs whose lease surely ran out in an outage, on a node that lived through it, with
/// no `JobLeaseLost` for them.
fn unreported_lease_losses(timeline: &Timeline, tables: &Tables, index: &Index<'_>) -> Vec<RunRow> {
    let lease = TimeDelta::milliseconds(i64::try_from(timeline.lease_ms).unwrap_or(i64::MAX));
    let margin = TimeDelta::milliseconds(500);
    let mut unreported = Vec::new();
    for outage in &timeline.outages {
        let ran_out = outage.down + lease + margin;
        if outage.accepted <= ran_out {
            continue;
        }
        // The process that claimed it: the last one under its node id spawned before.
        let lived = |run: &RunRow| {
            timeline
                .procs
                .iter()
                .filter(|p| p.node == run.node && p.spawned <= run.started)
                .max_by_key(|p| p.spawned)
                .is_some_and(|p| p.died.is_none_or(|died| died > ran_out))
        };
        unreported.extend(
            tables
                .runs
                .iter()
                .filter(|r| r.started < outage.down && r.finished.is_some_and(|f| f > ran_out))
                .filter(|r| {
                    r.status != "abandoned"
                        || !r.error.as_deref().unwrap_or("").contains(NOT_STARTED)
                })
                .filter(|r| lived(r) && !index.lease_lost.contains(&r.id))
                .cloned(),
        );
    }
    unreported
}

fn duplicates(timeline: &Timeline, index: &Index<'_>, findings: &mut Findings) {
    let mut occurrences: Vec<_> = index.starts.values().filter(|s| s.len() > 1).collect();
    occurrences.sort_by_key(|s| s[0].at);
    for starts in occurrences {
        findings.restarted += 1;
        for (i, second) in starts.iter().enumerate().skip(1) {
            let alive = starts[..i].iter().find(|first| {
                timeline
                    .proc(&first.node, first.pid)
                    .is_none_or(|p| p.alive_at(second.at))
            });
            if let Some(first) = alive {
                findings.duplicates.push(Duplicate {
                    first: (*first).clone(),
                    second: (*second).clone(),
                });
            }
        }
    }
    findings.unknown_starters = index
        .starts
        .values()
        .flatten()
        .filter(|s| timeline.proc(&s.node, s.pid).is_none())
        .count();
}

fn runs_table(index: &Index<'_>, findings: &mut Findings) {
    let mut occurrences: Vec<_> = index.runs.values().collect();
    occurrences.sort_by_key(|rows| rows[0].id);
    for rows in occurrences {
        let owned = || rows.iter().map(|r| (*r).clone()).collect::<Vec<_>>();
        if rows.iter().filter(|r| r.status != "abandoned").count() > 1 {
            findings.runs_duplicated.push(owned());
        }
        if rows.iter().filter(|r| r.status == "success").count() > 1 {
            findings.runs_succeeded_twice.push(owned());
        }
    }
}

fn gaps(jobs: &[JobDef], timeline: &Timeline, index: &Index<'_>, findings: &mut Findings) {
    for job in jobs {
        for at in job.fire_times(timeline.epoch, timeline.window_end) {
            findings.expected += 1;
            let key = (job.id.clone(), nanos(at));
            if index.starts.contains_key(&key) {
                continue;
            }
            match explanation(index, &key) {
                Ok(why) => *findings.explained.entry(why).or_default() += 1,
                Err(note) => findings.gaps.push(Gap {
                    job_id: job.id.clone(),
                    scheduled: at,
                    rows: index
                        .runs
                        .get(&key)
                        .map(|rows| rows.iter().map(|r| (*r).clone()).collect())
                        .unwrap_or_default(),
                    note,
                }),
            }
        }
    }
}

/// Why an expected fire time has no start, if something says so truly; otherwise what
/// was said that did not hold.
fn explanation(index: &Index<'_>, (job, at): &Occurrence) -> Result<&'static str, Option<String>> {
    let mut note = None;
    let naming = index
        .skips
        .get(job.as_str())
        .into_iter()
        .flatten()
        .filter(|e| {
            e.first_ns.is_some_and(|first| first <= *at) && e.last_ns.is_some_and(|l| *at <= l)
        });
    for event in naming {
        match event.kind.as_str() {
            "coalesced" => return Ok("coalesced"),
            "missed" => return Ok("missed"),
            _ => match max_instances_held(index, job, event) {
                Ok(why) => return Ok(why),
                Err(why) => note = Some(why),
            },
        }
    }
    let Some(rows) = index.runs.get(&(job.clone(), *at)) else {
        return Err(note);
    };
    let all_abandoned = rows.iter().all(|r| r.status == "abandoned");
    let not_started = rows
        .iter()
        .any(|r| r.error.as_deref().is_some_and(|e| e.contains(NOT_STARTED)));
    let not_recovered = rows
        .iter()
        .any(|r| index.abandoned.get(&r.id) == Some(&false));
    if all_abandoned && not_started {
        Ok("not started: lease ran out")
    } else if all_abandoned && not_recovered {
        Ok("abandoned, not recovered")
    } else {
        Err(note)
    }
}

/// The explanation of a `JobMaxInstances` skip whose counted run had ended on its node
/// but was still recorded `running` when the skip was decided (its end written after):
/// what `max_instances` counts by design (docs/design.md, "Known gaps"), reported on a
/// line of its own.
pub(crate) const ENDED_NOT_RECORDED: &str =
    "max instances, counting a run ended but not yet recorded (design.md known gap)";

/// A `JobMaxInstances` skip held if, when it was decided, a run of the job had started
/// and had not ended (or been reaped) yet; or, [`ENDED_NOT_RECORDED`], had ended on its
/// node with its end written to the store only after the decision (when the server
/// tracks commit times).
fn max_instances_held(
    index: &Index<'_>,
    job: &str,
    event: &EventRec,
) -> Result<&'static str, String> {
    let decided = event.decided.unwrap_or(event.at);
    let rows = index.runs_by_job.get(job).map_or(&[][..], Vec::as_slice);
    let busy = rows
        .iter()
        .any(|r| r.started <= decided && r.finished.is_none_or(|f| f > decided - RECORDING_LAG));
    if busy {
        return Ok("max instances");
    }
    let recorded_after = rows.iter().any(|r| {
        r.started <= decided && r.finished.is_some() && r.written.is_some_and(|w| w > decided)
    });
    if recorded_after {
        return Ok(ENDED_NOT_RECORDED);
    }
    // The rows the claim must have counted: started, ended before the decision, their
    // end recorded after it (when the server tracks commit times).
    let stale: Vec<String> = rows
        .iter()
        .filter(|r| r.started <= decided && r.written.is_none_or(|w| w > decided - RECORDING_LAG))
        .filter(|r| {
            r.finished
                .is_some_and(|f| f > decided - TimeDelta::seconds(30))
        })
        .map(|r| {
            format!(
                "run {} ({} on {}, ended {}, end recorded {})",
                r.id,
                instant(r.sched_ns),
                r.node,
                r.finished.map_or("-".into(), clock),
                r.written.map_or("untracked".into(), clock)
            )
        })
        .collect();
    Err(format!(
        "skipped as max instances by {} at {}, but no run of the job was executing then; rows it counted as running: {}",
        event.node,
        clock(decided),
        if stale.is_empty() {
            "none found".to_owned()
        } else {
            stale.join(", ")
        }
    ))
}

fn clock(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S%.3f").to_string()
}

fn instant(ns: i64) -> String {
    clock(DateTime::<Utc>::from_timestamp_nanos(ns))
}

fn takeover(
    timeline: &Timeline,
    kill: &crate::timeline::Kill,
    tables: &Tables,
    index: &Index<'_>,
) -> Takeover {
    let proc = &timeline.procs[kill.proc];
    let in_flight: Vec<&RunRow> = tables
        .runs
        .iter()
        .filter(|r| {
            r.node == proc.node
                && r.started >= proc.spawned
                && r.started <= kill.at
                && r.finished.is_none_or(|f| f > kill.at)
        })
        .collect();
    let reaped: Vec<&RunRow> = in_flight
        .iter()
        .copied()
        .filter(|r| {
            r.status == "abandoned" && !r.error.as_deref().unwrap_or("").contains(NOT_STARTED)
        })
        .collect();
    let last_reaped = reaped
        .iter()
        .filter_map(|r| r.finished)
        .max()
        .map(|t| t - kill.at);
    let first_rerun = reaped
        .iter()
        .filter_map(|r| index.starts.get(&(r.job_id.clone(), r.sched_ns)))
        .flatten()
        .filter(|s| s.at > kill.at && !(s.node == proc.node && s.pid == proc.pid))
        .map(|s| s.at)
        .min()
        .map(|t| t - kill.at);
    Takeover {
        node: proc.node.clone(),
        pid: proc.pid,
        at: kill.at,
        restart: kill.restart.clone(),
        in_flight: in_flight.len(),
        reaped: reaped.len(),
        last_reaped,
        first_rerun,
    }
}

fn reconnect(outage: &crate::timeline::Outage, tables: &Tables, index: &Index<'_>) -> Reconnect {
    let first = tables
        .starts
        .iter()
        .filter(|s| s.at > outage.down)
        .filter(|s| {
            index
                .runs_by_id
                .get(&s.run_id)
                .is_some_and(|run| run.started > outage.down)
        })
        .map(|s| s.at)
        .min();
    let lease_lost = tables
        .events
        .iter()
        .filter(|e| e.kind == "lease_lost" && e.at >= outage.stopping)
        .filter(|e| e.at <= outage.accepted + TimeDelta::seconds(10))
        .count();
    Reconnect {
        kind: outage.kind.clone(),
        down_for: outage.accepted - outage.down,
        first_firing: first.map(|t| t - outage.accepted),
        lease_lost,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::timeline::{Kill, Outage, Proc};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp_millis(1_800_000_000_000 + s).expect("instant")
    }

    fn job() -> Vec<JobDef> {
        vec![JobDef {
            id: "j".into(),
            every: Duration::from_secs(1),
            run_for: Duration::from_millis(100),
            coalesce: true,
        }]
    }

    fn proc(node: &str, pid: u32, spawned: i64, died: Option<i64>) -> Proc {
        Proc {
            node: node.into(),
            pid,
            spawned: t(spawned),
            died: died.map(t),
        }
    }

    fn start(sched: i64, run_id: i64, node: &str, pid: u32, at: i64) -> Start {
        Start {
            job_id: "j".into(),
            sched_ns: nanos(t(sched)),
            run_id,
            node: node.into(),
            pid,
            at: t(at),
        }
    }

    fn run(id: i64, sched: i64, node: &str, status: &str, started: i64) -> RunRow {
        RunRow {
            id,
            job_id: "j".into(),
            sched_ns: nanos(t(sched)),
            node: node.into(),
            status: status.into(),
            started: t(started),
            finished: Some(t(started + 100)),
            error: None,
            written: None,
        }
    }

    /// One fire time (at 0 ms), two nodes alive throughout.
    fn timeline() -> Timeline {
        Timeline {
            epoch: t(0),
            window_end: t(500),
            procs: vec![proc("a", 1, -5000, None), proc("b", 2, -5000, None)],
            ..Timeline::default()
        }
    }

    #[test]
    fn a_second_start_while_the_first_starter_lives_is_a_duplicate() {
        let tables = Tables {
            starts: vec![start(0, 1, "a", 1, 1), start(0, 2, "b", 2, 6000)],
            runs: vec![
                run(1, 0, "a", "success", 0),
                run(2, 0, "b", "success", 6000),
            ],
            ..Tables::default()
        };
        let findings = check(&job(), &timeline(), &tables);
        assert_eq!(findings.duplicates.len(), 1);
        assert_eq!(findings.duplicates[0].second.node, "b");
        assert_eq!(findings.runs_duplicated.len(), 1);
        assert_eq!(findings.runs_succeeded_twice.len(), 1);
        assert!(findings.gaps.is_empty());
    }

    #[test]
    fn a_re_run_after_the_starter_died_is_a_takeover_not_a_duplicate() {
        let mut timeline = timeline();
        timeline.procs[0].died = Some(t(160));
        timeline.kills.push(Kill {
            proc: 0,
            at: t(150),
            restart: "new id".into(),
        });
        let mut reaped = run(1, 0, "a", "abandoned", 0);
        reaped.finished = Some(t(5600));
        reaped.error = Some("node stopped heartbeating".into());
        let tables = Tables {
            starts: vec![start(0, 1, "a", 1, 1), start(0, 2, "b", 2, 5610)],
            runs: vec![reaped, run(2, 0, "b", "success", 5605)],
            ..Tables::default()
        };
        let findings = check(&job(), &timeline, &tables);
        assert!(findings.duplicates.is_empty());
        assert!(findings.runs_duplicated.is_empty());
        assert_eq!(findings.restarted, 1);
        let takeover = &findings.takeovers[0];
        assert_eq!((takeover.in_flight, takeover.reaped), (1, 1));
        assert_eq!(takeover.last_reaped, Some(TimeDelta::milliseconds(5450)));
        assert_eq!(takeover.first_rerun, Some(TimeDelta::milliseconds(5460)));
    }

    #[test]
    fn gaps_are_explained_by_skip_events_and_unrecovered_abandons_only() {
        let jobs = job();
        let mut timeline = timeline();
        timeline.window_end = t(3000);
        let mut not_started = run(7, 2000, "a", "abandoned", 1990);
        not_started.error = Some("its lease ran out before it started; not started".into());
        let tables = Tables {
            starts: vec![start(0, 1, "a", 1, 1)],
            runs: vec![
                run(1, 0, "a", "success", 0),
                not_started,
                run(8, 3000, "b", "abandoned", 2999),
            ],
            events: vec![EventRec {
                kind: "coalesced".into(),
                job_id: Some("j".into()),
                first_ns: Some(nanos(t(1000))),
                last_ns: Some(nanos(t(1000))),
                ..EventRec::default()
            }],
        };
        let findings = check(&jobs, &timeline, &tables);
        assert_eq!(findings.expected, 4);
        assert_eq!(findings.explained.get("coalesced"), Some(&1));
        assert_eq!(
            findings.explained.get("not started: lease ran out"),
            Some(&1)
        );
        // Reaped and (for all anyone said) recovered, yet never run again.
        assert_eq!(findings.gaps.len(), 1);
        assert_eq!(findings.gaps[0].scheduled, t(3000));
        assert_eq!(findings.gaps[0].rows.len(), 1);
    }

    #[test]
    fn a_max_instances_skip_explains_only_while_a_run_was_executing() {
        let jobs = job();
        let mut timeline = timeline();
        timeline.window_end = t(2000);
        let skip = |first: i64, decided: i64| EventRec {
            kind: "max_instances".into(),
            job_id: Some("j".into()),
            first_ns: Some(nanos(t(first))),
            last_ns: Some(nanos(t(first))),
            decided: Some(t(decided)),
            node: "b".into(),
            at: t(decided + 1),
            ..EventRec::default()
        };
        // Run 0 executes until 1500: the skip of 1000 holds. It ended before 2000, its
        // end recorded at 2100: the skip of 2000 counted it as the store still had it
        // (the known gap, reported apart). Ended at 1500 and recorded at 1510, it does
        // not explain a skip at 2000.
        let mut long = run(1, 0, "a", "success", 0);
        long.finished = Some(t(1500));
        long.written = Some(t(2100));
        let tables = Tables {
            starts: vec![start(0, 1, "a", 1, 1)],
            runs: vec![long.clone()],
            events: vec![skip(1000, 1001), skip(2000, 2002)],
        };
        let findings = check(&jobs, &timeline, &tables);
        assert_eq!(findings.explained.get("max instances"), Some(&1));
        assert_eq!(findings.explained.get(ENDED_NOT_RECORDED), Some(&1));
        assert!(findings.gaps.is_empty(), "{:?}", findings.gaps);
        long.written = Some(t(1510));
        let tables = Tables {
            starts: vec![start(0, 1, "a", 1, 1)],
            runs: vec![long],
            events: vec![skip(1000, 1001), skip(2000, 2002)],
        };
        let findings = check(&jobs, &timeline, &tables);
        assert_eq!(findings.gaps.len(), 1);
        assert_eq!(findings.gaps[0].scheduled, t(2000));
        let note = findings.gaps[0].note.as_deref().expect("a note");
        assert!(note.contains("no run of the job was executing"), "{note}");
    }

    #[test]
    fn a_run_that_ended_just_before_the_skip_may_still_count() {
        let mut timeline = timeline();
        timeline.window_end = t(1000);
        let mut late = run(1, 0, "a", "success", 300);
        late.finished = Some(t(950));
        let tables = Tables {
            starts: vec![start(0, 1, "a", 1, 301)],
            runs: vec![late],
            events: vec![EventRec {
                kind: "max_instances".into(),
                job_id: Some("j".into()),
                first_ns: Some(nanos(t(1000))),
                last_ns: Some(nanos(t(1000))),
                decided: Some(t(1001)),
                ..EventRec::default()
            }],
        };
        let findings = check(&job(), &timeline, &tables);
        assert!(findings.gaps.is_empty(), "{:?}", findings.gaps);
        assert_eq!(findings.explained.get("max instances"), Some(&1));
    }

    #[test]
    fn a_run_outliving_its_lease_in_an_outage_must_be_reported_lost() {
        let mut timeline = timeline();
        timeline.lease_ms = 5000;
        timeline.outages.push(Outage {
            kind: "outage 10 s".into(),
            stopping: t(400),
            down: t(600),
            accepted: t(10_600),
        });
        let mut long = run(1, 0, "a", "success", 0);
        long.finished = Some(t(8000));
        let mut short = run(2, 0, "b", "success", 0);
        short.finished = Some(t(5900));
        let tables = Tables {
            starts: vec![start(0, 1, "a", 1, 1)],
            runs: vec![long.clone(), short],
            ..Tables::default()
        };
        let findings = check(&job(), &timeline, &tables);
        assert_eq!(findings.unreported_lease_losses, [long]);
        let reported = Tables {
            events: vec![EventRec {
                kind: "lease_lost".into(),
                run_id: Some(1),
                ..EventRec::default()
            }],
            ..tables
        };
        assert!(check(&job(), &timeline, &reported)
            .unreported_lease_losses
            .is_empty());
    }

    #[test]
    fn stuck_runs_and_successes_without_a_start_are_counted() {
        let tables = Tables {
            starts: vec![start(0, 1, "a", 1, 1)],
            runs: vec![
                run(1, 0, "a", "success", 0),
                run(2, 1000, "a", "running", 1000),
                run(3, 2000, "b", "success", 2000),
            ],
            ..Tables::default()
        };
        let findings = check(&job(), &timeline(), &tables);
        assert_eq!(findings.stuck.len(), 1);
        assert_eq!(findings.without_start.len(), 1);
        assert_eq!(findings.without_start[0].id, 3);
    }

    #[test]
    fn reconnect_counts_from_accepting_to_the_first_run_claimed_after_the_stop() {
        let mut timeline = timeline();
        timeline.outages.push(Outage {
            kind: "outage 10 s".into(),
            stopping: t(1000),
            down: t(1100),
            accepted: t(11_200),
        });
        let tables = Tables {
            // Run 1 was claimed before the outage and started during it: not a firing
            // after reconnecting.
            starts: vec![start(0, 1, "a", 1, 1150), start(11_000, 2, "b", 2, 11_900)],
            runs: vec![
                run(1, 0, "a", "success", 900),
                run(2, 11_000, "b", "success", 11_890),
            ],
            ..Tables::default()
        };
        let findings = check(&job(), &timeline, &tables);
        let reconnect = &findings.reconnects[0];
        assert_eq!(reconnect.down_for, TimeDelta::milliseconds(10_100));
        assert_eq!(reconnect.first_firing, Some(TimeDelta::milliseconds(700)));
    }
}
