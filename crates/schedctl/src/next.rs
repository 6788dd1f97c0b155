//! `next`: the trigger the arguments describe, and its fire times from sched-core.
//!
//! Nothing here computes a schedule: every fire time is [`Trigger::next_checked`]'s
//! (or, for a stored job, [`Job::next_fire_checked`]'s, with the job's own jitter).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sched_core::job::Job;
use sched_core::trigger::{parse_timezone, CalendarInterval, Trigger, Upcoming};

use crate::cli::NextArgs;
use crate::Failure;

/// The fire times `next` found, and whether a search gave up before `count` of them.
pub(crate) type FireTimes = Upcoming;

/// What `next` previews, once the arguments are read.
#[derive(Debug)]
pub(crate) enum Source {
    /// A trigger given on the command line.
    Trigger(Box<Trigger>),
    /// A stored job, by id.
    Job(String),
}

/// The schedule the arguments name (a stored job is only named: it is read later).
pub(crate) fn source(args: &NextArgs) -> Result<Source, Failure> {
    let tz = args
        .tz
        .as_deref()
        .map(parse_timezone)
        .transpose()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let trigger = if let Some(expr) = &args.expr {
        Trigger::cron(expr).map_err(|e| Failure::Usage(e.to_string()))?
    } else if let Some(every) = args.every {
        Trigger::interval(every)
    } else if let Some(period) = args.calendar {
        Trigger::calendar(CalendarInterval {
            years: period.years,
            months: period.months,
            weeks: period.weeks,
            days: period.days,
            at: args.at.unwrap_or_default(),
            start_date: None,
        })
    } else if let Some(json) = &args.trigger {
        let trigger = trigger_json(json)?;
        // As a scheduler's default zone: a zone the trigger names is kept.
        return checked(tz.map_or(trigger.clone(), |tz| trigger.or_timezone(tz)));
    } else if let Some(id) = &args.job {
        return Ok(Source::Job(id.clone()));
    } else {
        return Err(Failure::Usage(
            "a schedule is required: <EXPR>, --every, --calendar, --trigger or --job \
             (usage: schedctl next [OPTIONS] [EXPR])"
                .into(),
        ));
    };
    let mut trigger = trigger.timezone(tz.unwrap_or(Tz::UTC));
    if let Some(start) = &args.start {
        trigger = trigger.start(instant("--start", start)?);
    }
    if let Some(end) = &args.end {
        trigger = trigger.end(instant("--end", end)?);
    }
    checked(trigger)
}

fn checked(trigger: Trigger) -> Result<Source, Failure> {
    trigger
        .validate()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    Ok(Source::Trigger(Box::new(trigger)))
}

/// `--trigger`: JSON, or `@FILE` holding it.
fn trigger_json(value: &str) -> Result<Trigger, Failure> {
    let (text, from) = match value.strip_prefix('@') {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::Usage(format!("cannot read the --trigger file {path:?}: {e}"))
            })?;
            (text, format!(" in {path:?}"))
        }
        None => (value.to_owned(), String::new()),
    };
    serde_json::from_str(&text).map_err(|e| Failure::Usage(format!("invalid --trigger{from}: {e}")))
}

/// An RFC 3339 argument.
pub(crate) fn instant(flag: &str, value: &str) -> Result<DateTime<Utc>, Failure> {
    DateTime::parse_from_rfc3339(value)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| {
            Failure::Usage(format!(
                "invalid {flag} {value:?}: {e} (expected RFC 3339, e.g. 2026-03-07T12:00:00-05:00)"
            ))
        })
}

/// The first `count` fire times of `trigger` strictly after `after`, the trigger
/// anchored at `after` as a job added then would be.
pub(crate) fn of_trigger(trigger: &Trigger, after: DateTime<Utc>, count: usize) -> FireTimes {
    trigger.upcoming(after, count)
}

/// The first `count` fire times of a stored job: strictly after `after` if given,
/// otherwise from its stored next run time (itself the first), or from `now` when it
/// has none.
pub(crate) fn of_job(
    job: &Job,
    after: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    count: usize,
) -> FireTimes {
    job.upcoming(after, now, count)
}
