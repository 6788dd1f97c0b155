//! What a command prints: the same [`Report`] as lines and aligned tables, or as JSON.

use chrono::{DateTime, SecondsFormat, Utc};
use sched_core::job::Job;
use sched_core::store::RunRecord;
use sched_core::trigger::Trigger;
use serde_json::{json, Value};

use crate::next::FireTimes;

/// The result of a command, before it is printed.
#[derive(Debug)]
pub(crate) enum Report {
    /// `next`.
    FireTimes(FireTimes),
    /// `jobs`.
    Jobs(Vec<Job>),
    /// `history`.
    Runs(Vec<RunRecord>),
    /// `pause`, `resume`, `run`, `remove` or `migrate`.
    Done(Box<Action>),
}

/// What a command that changes a store did.
#[derive(Debug)]
pub(crate) enum Action {
    Paused(Job),
    Resumed(Job),
    MadeDue(Job),
    /// `job` is `None` after `remove --force`, which deletes without reading.
    Removed {
        id: String,
        job: Option<Job>,
    },
    Migrated {
        store: String,
        schema: Option<String>,
    },
}

impl Report {
    /// The report as text: one line per fire time, a table of jobs or runs (nothing at
    /// all when there are none), a sentence for an action.
    pub(crate) fn text(&self) -> String {
        match self {
            Report::FireTimes(fired) => {
                fired.times.iter().map(|fire| fire.local() + "\n").collect()
            }
            Report::Jobs(jobs) => table(
                &["ID", "NAME", "TASK", "TRIGGER", "NEXT RUN", "STATE"],
                jobs.iter().map(|job| {
                    vec![
                        job.id.to_string(),
                        job.name.clone(),
                        job.task.clone(),
                        describe(&job.trigger),
                        next_run(job),
                        state(job).to_owned(),
                    ]
                }),
            ),
            Report::Runs(runs) => table(
                &[
                    "RUN",
                    "JOB",
                    "SCHEDULED",
                    "STARTED",
                    "FINISHED",
                    "NODE",
                    "STATUS",
                    "ERROR",
                ],
                runs.iter().map(|run| {
                    vec![
                        run.run_id.to_string(),
                        run.job_id.to_string(),
                        rfc3339(run.scheduled),
                        rfc3339(run.started),
                        run.finished.map_or_else(|| "-".into(), rfc3339),
                        run.node.clone(),
                        run.status.as_str().to_owned(),
                        run.error.clone().unwrap_or_default(),
                    ]
                }),
            ),
            Report::Done(action) => action.sentence() + "\n",
        }
    }

    /// The report as one JSON document and a newline.
    pub(crate) fn json(&self) -> String {
        let value = match self {
            Report::FireTimes(fired) => fired
                .times
                .iter()
                .map(|fire| {
                    let mut entry = json!({ "at": fire.local(), "utc": fire.utc() });
                    if let Some(note) = fire.dst_note() {
                        entry["dst"] = note.into();
                    }
                    entry
                })
                .collect(),
            Report::Jobs(jobs) => jobs.iter().map(job_json).collect(),
            Report::Runs(runs) => runs.iter().map(run_json).collect(),
            Report::Done(action) => action.json(),
        };
        value.to_string() + "\n"
    }
}

impl Action {
    fn sentence(&self) -> String {
        match self {
            Action::Paused(job) => format!("paused {} (next run {})", id(job), next_run(job)),
            Action::Resumed(job) => format!("resumed {} (next run {})", id(job), next_run(job)),
            Action::MadeDue(job) if job.paused => format!(
                "made {} due now ({}); it is paused: no run starts while it is",
                id(job),
                next_run(job)
            ),
            Action::MadeDue(job) => format!(
                "made {} due now ({}): a running scheduler starts it at its next look",
                id(job),
                next_run(job)
            ),
            Action::Removed { id, .. } => format!("removed {}", escaped(id)),
            Action::Migrated {
                store,
                schema: Some(schema),
            } => format!("migrated {store} (schema {schema})"),
            Action::Migrated {
                store,
                schema: None,
            } => format!("migrated {store}"),
        }
    }

    /// `{"action": <the command>, …}`: the job as it now is, where there is one.
    fn json(&self) -> Value {
        match self {
            Action::Paused(job) => changed("pause", job),
            Action::Resumed(job) => changed("resume", job),
            Action::MadeDue(job) => changed("run", job),
            Action::Removed { id, job } => json!({
                "action": "remove",
                "id": id,
                "forced": job.is_none(),
                "job": job.as_ref().map(job_json),
            }),
            Action::Migrated { store, schema } => json!({
                "action": "migrate",
                "store": store,
                "schema": schema,
            }),
        }
    }
}

fn changed(action: &str, job: &Job) -> Value {
    json!({ "action": action, "id": job.id.as_str(), "job": job_json(job) })
}

/// A job in the serde form stores keep (trigger, options and all).
fn job_json(job: &Job) -> Value {
    // A job's fields are strings, numbers, zones by name and JSON already: this holds.
    serde_json::to_value(job).expect("a job serialises to JSON")
}

fn run_json(run: &RunRecord) -> Value {
    json!({
        "run_id": run.run_id.0,
        "job_id": run.job_id.as_str(),
        "scheduled": rfc3339(run.scheduled),
        "started": rfc3339(run.started),
        "finished": run.finished.map(rfc3339),
        "node": run.node,
        "status": run.status.as_str(),
        "error": run.error,
    })
}

fn id(job: &Job) -> String {
    escaped(job.id.as_str())
}

fn next_run(job: &Job) -> String {
    job.next_run_time.map_or_else(|| "none".into(), rfc3339)
}

fn state(job: &Job) -> &'static str {
    if job.paused {
        "paused"
    } else {
        "active"
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `rows` under `header`, each column as wide as its widest cell (counted in chars),
/// two spaces between columns, none after the last; nothing when there are no rows.
pub(crate) fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = rows
        .map(|row| row.iter().map(|cell| escaped(cell)).collect())
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let header: Vec<String> = header.iter().map(|cell| (*cell).to_owned()).collect();
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let pad = width - cell.chars().count();
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A cell on one line: control characters (a newline in a name, a tab in an error) as
/// escapes, so that rows and columns stay where they are.
fn escaped(cell: &str) -> String {
    if !cell.chars().any(char::is_control) {
        return cell.to_owned();
    }
    cell.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().collect()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A trigger in a few words (see [`Trigger::describe`]).
pub(crate) fn describe(trigger: &Trigger) -> String {
    trigger.describe()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_every_column_but_the_last_by_chars() {
        let text = table(
            &["ID", "NAME", "STATE"],
            [
                vec!["a".into(), "Zürich Ωmega".into(), "active".into()],
                vec!["long-id".into(), "b".into(), "paused".into()],
            ]
            .into_iter(),
        );
        assert_eq!(
            text,
            "ID       NAME          STATE\n\
             a        Zürich Ωmega  active\n\
             long-id  b             paused\n"
        );
        assert_eq!(table(&["ID"], std::iter::empty()), "");
    }

    #[test]
    fn a_control_character_cannot_break_a_row() {
        let text = table(
            &["ID", "ERROR"],
            [vec!["x\ny".into(), "line one\nline\ttwo".into()]].into_iter(),
        );
        assert_eq!(text, "ID    ERROR\nx\\ny  line one\\nline\\ttwo\n");
    }
}
