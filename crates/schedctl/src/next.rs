//! `next`: the trigger the arguments describe, and its fire times from sched-core.
//!
//! Nothing here computes a schedule: every fire time is [`Trigger::next_checked`]'s
//! (or, for a stored job, [`Job::next_fire_checked`]'s, with the job's own jitter).

use chrono::{DateTime, LocalResult, Offset, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use sched_core::job::Job;
use sched_core::trigger::{parse_timezone, CalendarInterval, SearchLimit, Trigger};

use crate::cli::NextArgs;
use crate::Failure;

/// One fire time, with what a reader may want to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FireTime {
    /// The instant.
    pub(crate) at: DateTime<Utc>,
    /// The zone it is shown in.
    pub(crate) zone: Tz,
}

impl FireTime {
    /// RFC 3339 in the zone, with its offset (fractions of a second only when there are).
    pub(crate) fn local(&self) -> String {
        self.at
            .with_timezone(&self.zone)
            .to_rfc3339_opts(SecondsFormat::AutoSi, false)
    }

    /// RFC 3339 in UTC, `Z`.
    pub(crate) fn utc(&self) -> String {
        self.at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// What a daylight-saving change does to this fire time: the clocks change at this
    /// very instant, or its wall time occurs twice that day. `None`: nothing.
    pub(crate) fn dst_note(&self) -> Option<String> {
        let offset = |at: DateTime<Utc>| {
            self.zone
                .offset_from_utc_datetime(&at.naive_utc())
                .fix()
                .local_minus_utc()
        };
        let here = offset(self.at);
        let before = self
            .at
            .checked_sub_signed(chrono::Duration::nanoseconds(1))
            .map_or(here, offset);
        let show = |seconds: i32| {
            chrono::FixedOffset::east_opt(seconds)
                .map_or_else(|| seconds.to_string(), |o| o.to_string())
        };
        if here > before {
            return Some(format!(
                "the clocks go forward at this instant ({} to {}): a wall time in the skipped \
                 hour fires here",
                show(before),
                show(here)
            ));
        }
        let local = self.at.with_timezone(&self.zone);
        match self.zone.from_local_datetime(&local.naive_local()) {
            LocalResult::Ambiguous(first, second) => {
                let which = if first == local { "first" } else { "second" };
                Some(format!(
                    "the wall time {} occurs twice ({}, then {}): this is the {which}",
                    local.format("%H:%M:%S"),
                    first.offset(),
                    second.offset()
                ))
            }
            _ => None,
        }
    }
}

/// The fire times `next` found, and whether a search gave up before `count` of them.
#[derive(Debug)]
pub(crate) struct FireTimes {
    pub(crate) times: Vec<FireTime>,
    /// A search for the next one gave up (see [`Trigger::next_checked`]).
    pub(crate) gave_up: Option<SearchLimit>,
}

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
    let trigger = trigger.clone().anchored(after);
    collect(trigger.zone(), None, after, count, |at| {
        trigger.next_checked(at)
    })
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
    let (first, from) = match (after, job.next_run_time) {
        (Some(after), _) => (None, after),
        (None, Some(next)) => (Some(next), next),
        (None, None) => (None, now),
    };
    collect(job.trigger.zone(), first, from, count, |at| {
        job.next_fire_checked(at)
    })
}

fn collect(
    zone: Tz,
    first: Option<DateTime<Utc>>,
    mut cursor: DateTime<Utc>,
    count: usize,
    mut next: impl FnMut(DateTime<Utc>) -> Result<Option<DateTime<Utc>>, SearchLimit>,
) -> FireTimes {
    let mut times: Vec<FireTime> = first.map(|at| FireTime { at, zone }).into_iter().collect();
    while times.len() < count {
        match next(cursor) {
            Ok(Some(at)) => {
                times.push(FireTime { at, zone });
                cursor = at;
            }
            Ok(None) => break,
            Err(limit) => {
                return FireTimes {
                    times,
                    gave_up: Some(limit),
                }
            }
        }
    }
    times.truncate(count);
    FireTimes {
        times,
        gave_up: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(zone: Tz, rfc3339: &str) -> FireTime {
        let at = DateTime::parse_from_rfc3339(rfc3339)
            .expect("test instant")
            .with_timezone(&Utc);
        FireTime { at, zone }
    }

    #[test]
    fn dst_notes_name_the_change() {
        let ny = chrono_tz::America::New_York;
        let gap = at(ny, "2026-03-08T03:00:00-04:00")
            .dst_note()
            .expect("a gap");
        assert!(
            gap.contains("forward") && gap.contains("-05:00 to -04:00"),
            "{gap}"
        );
        let first = at(ny, "2026-11-01T01:30:00-04:00")
            .dst_note()
            .expect("twice");
        assert!(
            first.ends_with("the first") && first.contains("01:30:00"),
            "{first}"
        );
        let second = at(ny, "2026-11-01T01:30:00-05:00")
            .dst_note()
            .expect("twice");
        assert!(second.ends_with("the second"), "{second}");
        assert_eq!(at(ny, "2026-11-01T02:30:00-05:00").dst_note(), None);
        assert_eq!(at(Tz::UTC, "2026-03-08T07:00:00Z").dst_note(), None);
    }

    #[test]
    fn local_times_keep_their_fractions() {
        let fire = at(Tz::UTC, "2026-01-01T00:00:00.5Z");
        assert_eq!(fire.local(), "2026-01-01T00:00:00.500+00:00");
        assert_eq!(
            at(Tz::UTC, "2026-01-01T00:00:00Z").utc(),
            "2026-01-01T00:00:00Z"
        );
    }
}
