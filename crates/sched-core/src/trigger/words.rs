//! Schedules for people: a trigger in a few words, what a daylight-saving change does
//! to a fire time, and the next fire times of a trigger or a job. Shared by `schedctl`
//! and the dashboard, so both say the same.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, LocalResult, Offset, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;

use super::{SearchLimit, Trigger, TriggerKind};
use crate::job::Job;

impl Trigger {
    /// The trigger in a few words: `cron "0 9 * * mon-fri" in Europe/Paris`,
    /// `every 1h30m`, `every 2w at 09:30:00`, `or(cron "0 9 * * *", every 6h)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sched_core::trigger::Trigger;
    ///
    /// let trigger = Trigger::or([
    ///     Trigger::cron("0 9 * * mon-fri")?,
    ///     Trigger::interval(Duration::from_secs(6 * 3600)),
    /// ])
    /// .timezone(chrono_tz::Europe::Paris);
    /// assert_eq!(trigger.describe(), r#"or(cron "0 9 * * mon-fri", every 6h) in Europe/Paris"#);
    /// # Ok::<(), sched_core::Error>(())
    /// ```
    pub fn describe(&self) -> String {
        self.describe_in(Tz::UTC)
    }

    /// [`describe`](Self::describe), naming the zone where it is not `outer` (the zone
    /// of the combination around it) and matters (not for an interval or a date, which
    /// are instants).
    fn describe_in(&self, outer: Tz) -> String {
        let zone = self.zone();
        let mut text = match &self.kind {
            TriggerKind::Interval { every } => format!("every {}", span(*every)),
            TriggerKind::Cron(cron) => format!("cron {:?}", cron.expression()),
            TriggerKind::Date { at } => {
                format!(
                    "once at {}",
                    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                )
            }
            TriggerKind::CalendarInterval(c) => {
                let parts: Vec<String> = [
                    (c.years, "y"),
                    (c.months, "mo"),
                    (c.weeks, "w"),
                    (c.days, "d"),
                ]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, unit)| format!("{n}{unit}"))
                .collect();
                format!("every {} at {}", parts.concat(), c.at.format("%H:%M:%S"))
            }
            TriggerKind::And { triggers } => combination("and", triggers, zone),
            TriggerKind::Or { triggers } => combination("or", triggers, zone),
        };
        let instants = matches!(
            self.kind,
            TriggerKind::Interval { .. } | TriggerKind::Date { .. }
        );
        if zone != outer && !instants {
            text.push_str(&format!(" in {zone}"));
        }
        if let Some(jitter) = self.jitter {
            text.push_str(&format!(" (jitter {})", span(jitter)));
        }
        text
    }

    /// The first `count` fire times strictly after `after`, the trigger anchored at
    /// `after` as a job added then would be.
    pub fn upcoming(&self, after: DateTime<Utc>, count: usize) -> Upcoming {
        let trigger = self.clone().anchored(after);
        collect(trigger.zone(), None, after, count, |at| {
            trigger.next_checked(at)
        })
    }
}

impl Job {
    /// The first `count` fire times of this job (its own jitter included): strictly
    /// after `after` if given, otherwise from its next run time (itself the first), or
    /// from `now` when it has none.
    pub fn upcoming(
        &self,
        after: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        count: usize,
    ) -> Upcoming {
        let (first, from) = match (after, self.next_run_time) {
            (Some(after), _) => (None, after),
            (None, Some(next)) => (Some(next), next),
            (None, None) => (None, now),
        };
        collect(self.trigger.zone(), first, from, count, |at| {
            self.next_fire_checked(at)
        })
    }
}

/// Fire times to show, and whether the search for the next one gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Upcoming {
    /// The fire times found, in order.
    pub times: Vec<FireTime>,
    /// The search for the next one gave up (see [`Trigger::next_checked`]).
    pub gave_up: Option<SearchLimit>,
}

/// One fire time, in the zone of its schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FireTime {
    /// The instant.
    pub at: DateTime<Utc>,
    /// The zone of the schedule, which it is shown in.
    pub zone: Tz,
}

impl FireTime {
    /// The fire time `at`, shown in `zone`.
    pub fn new(at: DateTime<Utc>, zone: Tz) -> Self {
        Self { at, zone }
    }

    /// RFC 3339 in the zone, with its offset (fractions of a second only when there
    /// are).
    pub fn local(&self) -> String {
        self.at
            .with_timezone(&self.zone)
            .to_rfc3339_opts(SecondsFormat::AutoSi, false)
    }

    /// RFC 3339 in UTC, `Z`.
    pub fn utc(&self) -> String {
        self.at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// What a daylight-saving change does to this fire time: the clocks change at this
    /// very instant (a wall time in the skipped hour fires here), or its wall time
    /// occurs twice that day (and which of the two this is). `None`: nothing.
    ///
    /// ```
    /// use chrono::{DateTime, Utc};
    /// use sched_core::trigger::FireTime;
    ///
    /// let at: DateTime<Utc> = "2026-11-01T05:30:00Z".parse().unwrap(); // 01:30 EDT
    /// let note = FireTime::new(at, chrono_tz::America::New_York).dst_note().unwrap();
    /// assert!(note.ends_with("this is the first"), "{note}");
    /// ```
    pub fn dst_note(&self) -> Option<String> {
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
            FixedOffset::east_opt(seconds).map_or_else(|| seconds.to_string(), |o| o.to_string())
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

fn combination(name: &str, triggers: &[Trigger], zone: Tz) -> String {
    let parts: Vec<String> = triggers.iter().map(|t| t.describe_in(zone)).collect();
    format!("{name}({})", parts.join(", "))
}

/// `1h30m`, `45s`, `1500ms`, `1w1d`: the largest units that add up to `duration`
/// exactly.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(sched_core::trigger::span(Duration::from_secs(5400)), "1h30m");
/// ```
pub fn span(duration: Duration) -> String {
    if duration.subsec_nanos() != 0 {
        return if duration.subsec_nanos() % 1_000_000 == 0 {
            format!("{}ms", duration.as_millis())
        } else {
            format!("{duration:?}")
        };
    }
    let mut left = duration.as_secs();
    if left == 0 {
        return "0s".into();
    }
    let mut text = String::new();
    for (unit, seconds) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3_600),
        ("m", 60),
        ("s", 1),
    ] {
        if left >= seconds {
            text.push_str(&format!("{}{unit}", left / seconds));
            left %= seconds;
        }
    }
    text
}

fn collect(
    zone: Tz,
    first: Option<DateTime<Utc>>,
    mut cursor: DateTime<Utc>,
    count: usize,
    mut next: impl FnMut(DateTime<Utc>) -> Result<Option<DateTime<Utc>>, SearchLimit>,
) -> Upcoming {
    let mut times: Vec<FireTime> = first.map(|at| FireTime { at, zone }).into_iter().collect();
    while times.len() < count {
        match next(cursor) {
            Ok(Some(at)) => {
                times.push(FireTime { at, zone });
                cursor = at;
            }
            Ok(None) => break,
            Err(limit) => {
                return Upcoming {
                    times,
                    gave_up: Some(limit),
                }
            }
        }
    }
    times.truncate(count);
    Upcoming {
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

    #[test]
    fn spans_use_the_largest_units() {
        assert_eq!(span(Duration::from_secs(5400)), "1h30m");
        assert_eq!(span(Duration::from_secs(8 * 86_400)), "1w1d");
        assert_eq!(span(Duration::from_millis(1500)), "1500ms");
        assert_eq!(span(Duration::from_nanos(10)), "10ns");
        assert_eq!(span(Duration::ZERO), "0s");
    }

    #[test]
    fn upcoming_stops_at_a_done_trigger() {
        let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("instant");
        let once = Trigger::date(start + chrono::Duration::hours(1));
        let upcoming = once.upcoming(start, 10);
        assert_eq!(upcoming.times.len(), 1);
        assert_eq!(upcoming.gave_up, None);
        let every = Trigger::interval(Duration::from_secs(60)).upcoming(start, 3);
        let minutes: Vec<i64> = every
            .times
            .iter()
            .map(|t| (t.at - start).num_minutes())
            .collect();
        assert_eq!(minutes, [1, 2, 3]);
    }
}
