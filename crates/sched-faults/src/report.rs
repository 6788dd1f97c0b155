//! The verdict: each figure with its target, PASS or FAIL, then the evidence of every
//! failure (rows of `runs`, starts), on stdout.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

use crate::check::Findings;
use crate::load::RunRow;
use crate::timeline::Timeline;

/// How many rows of evidence to print per failed figure.
const EVIDENCE: usize = 20;

/// The time targets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Targets {
    /// Kill → runs reaped and first re-run: the lease plus 1 s.
    pub(crate) takeover: TimeDelta,
    /// Accepting connections → first firing.
    pub(crate) reconnect: TimeDelta,
}

impl Targets {
    pub(crate) fn for_lease(lease: Duration) -> Self {
        let lease = TimeDelta::from_std(lease).unwrap_or(TimeDelta::MAX);
        Self {
            takeover: lease + TimeDelta::seconds(1),
            reconnect: TimeDelta::seconds(2),
        }
    }
}

/// The report, and whether every target was met.
pub(crate) fn render(
    title: &str,
    timeline: &Timeline,
    findings: &Findings,
    targets: Targets,
) -> (String, bool) {
    let mut out = String::new();
    let mut pass = true;
    let _ = writeln!(out, "== {title}");
    timeline_lines(&mut out, timeline);
    let _ = writeln!(out, "figures:");
    let info = |out: &mut String, what: &str, value: String| {
        let _ = writeln!(out, "  {what:<46} {value}");
    };
    info(
        &mut out,
        "fire times expected",
        findings.expected.to_string(),
    );
    info(
        &mut out,
        "starts recorded",
        format!(
            "{} ({} occurrences started again after a kill)",
            findings.starts, findings.restarted
        ),
    );
    info(&mut out, "rows in runs", findings.runs.to_string());
    let explained: Vec<String> = findings
        .explained
        .iter()
        .map(|(why, n)| format!("{why} {n}"))
        .collect();
    info(
        &mut out,
        "fire times without a start, explained",
        if explained.is_empty() {
            "none".to_owned()
        } else {
            explained.join(", ")
        },
    );
    info(
        &mut out,
        "events logged: abandoned, lease lost",
        format!(
            "{}, {}",
            findings.abandoned_events, findings.lease_lost_events
        ),
    );
    let mut zero = |out: &mut String, what: &str, n: usize| {
        let ok = n == 0;
        pass &= ok;
        let _ = writeln!(
            out,
            "  {what:<46} {n:>6}   target 0          {}",
            verdict(ok)
        );
    };
    zero(
        &mut out,
        "duplicate starts while the holder lives",
        findings.duplicates.len(),
    );
    zero(
        &mut out,
        "runs: >1 non-abandoned row per occurrence",
        findings.runs_duplicated.len(),
    );
    zero(
        &mut out,
        "runs: >1 success per occurrence",
        findings.runs_succeeded_twice.len(),
    );
    zero(&mut out, "unexplained gaps", findings.gaps.len());
    zero(
        &mut out,
        "leases run out in an outage, not reported",
        findings.unreported_lease_losses.len(),
    );
    zero(
        &mut out,
        "runs stuck running after the end",
        findings.stuck.len(),
    );
    zero(
        &mut out,
        "successes without a recorded start",
        findings.without_start.len(),
    );
    zero(
        &mut out,
        "events lost by a lagging subscriber",
        usize::try_from(findings.lagged).unwrap_or(usize::MAX),
    );
    zero(
        &mut out,
        "nodes that did not stop cleanly",
        timeline.unclean_stops.len(),
    );
    zero(
        &mut out,
        "starts by a process the driver did not spawn",
        findings.unknown_starters,
    );
    for (i, t) in findings.takeovers.iter().enumerate() {
        let ok = [t.last_reaped, t.first_rerun]
            .iter()
            .flatten()
            .all(|d| *d <= targets.takeover)
            && t.reaped == t.in_flight;
        pass &= ok;
        let _ = writeln!(
            out,
            "  takeover {} ({} pid {}, {}): {} in flight, {} reaped, last {}; first re-run {}   target <= {}   {}",
            i + 1,
            t.node,
            t.pid,
            t.restart,
            t.in_flight,
            t.reaped,
            seconds(t.last_reaped),
            seconds(t.first_rerun),
            seconds(Some(targets.takeover)),
            verdict(ok)
        );
    }
    for (i, r) in findings.reconnects.iter().enumerate() {
        let ok = r.first_firing.is_some_and(|d| d <= targets.reconnect);
        pass &= ok;
        let _ = writeln!(
            out,
            "  reconnect {} ({}, down {}, {} leases lost): accepting -> first firing {}   target <= {}   {}",
            i + 1,
            r.kind,
            seconds(Some(r.down_for)),
            r.lease_lost,
            seconds(r.first_firing),
            seconds(Some(targets.reconnect)),
            verdict(ok)
        );
    }
    summary(&mut out, findings);
    evidence(&mut out, findings, timeline);
    let _ = writeln!(out, "verdict: {}", verdict(pass));
    (out, pass)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

fn seconds(d: Option<TimeDelta>) -> String {
    d.map_or_else(
        || "n/a".to_owned(),
        |d| format!("{:.2} s", d.num_milliseconds() as f64 / 1000.0),
    )
}

fn offset(timeline: &Timeline, at: DateTime<Utc>) -> String {
    format!(
        "{:>7.2}",
        (at - timeline.start).num_milliseconds() as f64 / 1000.0
    )
}

fn timeline_lines(out: &mut String, timeline: &Timeline) {
    let _ = writeln!(
        out,
        "timeline (s after {}; jobs from {}, fire times checked up to {}):",
        timeline.start.to_rfc3339_opts(SecondsFormat::Millis, true),
        offset(timeline, timeline.epoch).trim(),
        offset(timeline, timeline.window_end).trim()
    );
    let mut lines: Vec<(DateTime<Utc>, String)> = Vec::new();
    for kill in &timeline.kills {
        let p = &timeline.procs[kill.proc];
        lines.push((
            kill.at,
            format!(
                "kill -9 {} (pid {}), back with {}",
                p.node, p.pid, kill.restart
            ),
        ));
    }
    for o in &timeline.outages {
        lines.push((
            o.stopping,
            format!(
                "Postgres {}: down at {}, accepting at {}",
                o.kind,
                offset(timeline, o.down).trim(),
                offset(timeline, o.accepted).trim()
            ),
        ));
    }
    lines.sort();
    for (at, line) in lines {
        let _ = writeln!(out, "  {}  {line}", offset(timeline, at));
    }
}

/// The figures BENCHMARKS.md records, on one line each.
fn summary(out: &mut String, findings: &Findings) {
    let max = |it: &mut dyn Iterator<Item = TimeDelta>| it.max();
    let reaped = max(&mut findings.takeovers.iter().filter_map(|t| t.last_reaped));
    let rerun = max(&mut findings.takeovers.iter().filter_map(|t| t.first_rerun));
    let reconnect = max(&mut findings.reconnects.iter().filter_map(|r| r.first_firing));
    let _ = writeln!(
        out,
        "summary: takeover (all reaped) max {}, first re-run max {}, reconnect max {}",
        seconds(reaped),
        seconds(rerun),
        seconds(reconnect)
    );
}

fn run_line(run: &RunRow) -> String {
    format!(
        "runs id {} job {} scheduled {} node {} status {} started {} finished {} written {} error {:?}",
        run.id,
        run.job_id,
        instant_ns(run.sched_ns),
        run.node,
        run.status,
        run.started.to_rfc3339_opts(SecondsFormat::Millis, true),
        stamp(run.finished),
        stamp(run.written),
        run.error.as_deref().unwrap_or("")
    )
}

fn stamp(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(
        || "-".to_owned(),
        |at| at.to_rfc3339_opts(SecondsFormat::Millis, true),
    )
}

fn instant_ns(ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn evidence(out: &mut String, findings: &Findings, timeline: &Timeline) {
    let mut section = |title: &str, lines: Vec<String>| {
        if lines.is_empty() {
            return;
        }
        let _ = writeln!(out, "{title} ({}):", lines.len());
        for line in lines.iter().take(EVIDENCE) {
            let _ = writeln!(out, "  {line}");
        }
    };
    section(
        "duplicate starts while the holder lives",
        findings
            .duplicates
            .iter()
            .map(|d| {
                format!(
                    "job {} scheduled {}: started by {} (pid {}) at {}, again by {} (pid {}) at {}",
                    d.first.job_id,
                    instant_ns(d.first.sched_ns),
                    d.first.node,
                    d.first.pid,
                    offset(timeline, d.first.at).trim(),
                    d.second.node,
                    d.second.pid,
                    offset(timeline, d.second.at).trim()
                )
            })
            .collect(),
    );
    let rows = |groups: &[Vec<RunRow>]| {
        groups
            .iter()
            .flat_map(|g| g.iter().map(run_line).chain(std::iter::once(String::new())))
            .collect::<Vec<_>>()
    };
    section(
        "runs: >1 non-abandoned row",
        rows(&findings.runs_duplicated),
    );
    section("runs: >1 success", rows(&findings.runs_succeeded_twice));
    section(
        "unexplained gaps",
        findings
            .gaps
            .iter()
            .map(|g| {
                let rows: Vec<String> = g.rows.iter().map(run_line).collect();
                format!(
                    "job {} scheduled {}: {}{}",
                    g.job_id,
                    g.scheduled.to_rfc3339_opts(SecondsFormat::Millis, true),
                    if rows.is_empty() {
                        "no row in runs".to_owned()
                    } else {
                        rows.join(" | ")
                    },
                    g.note
                        .as_deref()
                        .map_or_else(String::new, |note| format!("; {note}"))
                )
            })
            .collect(),
    );
    section(
        "leases run out in an outage, not reported (no JobLeaseLost)",
        findings
            .unreported_lease_losses
            .iter()
            .map(run_line)
            .collect(),
    );
    section(
        "stuck running",
        findings.stuck.iter().map(run_line).collect(),
    );
    section(
        "successes without a start",
        findings.without_start.iter().map(run_line).collect(),
    );
}
