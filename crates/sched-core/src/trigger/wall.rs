//! Wall-clock times to instants, with the DST rules of `docs/design.md` (Vixie cron's, made exact).
//!
//! Cron and calendar triggers compute *wall-clock* candidates; this module turns each
//! candidate into the instant it denotes in a zone, or into nothing:
//! - a **fixed-time** entry fires once: at the first instant after a gap when its wall
//!   time does not exist, at the first occurrence when it exists twice;
//! - a **wildcard** entry skips wall times that do not exist and fires at every real
//!   instant that matches, in both occurrences of a repeated hour.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// How a trigger treats wall times that a DST transition removes or repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DstRule {
    /// `30 2 * * *`: fires once per wall-clock time, even across a transition.
    Fixed,
    /// `*/15 * * * *`: fires at each real instant whose wall time matches.
    Wildcard,
}

/// The instant that wall time `wall` in `tz` denotes under `rule`, if it lies strictly
/// after `after`.
pub(crate) fn resolve_after(
    tz: Tz,
    wall: NaiveDateTime,
    rule: DstRule,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)).filter(|at| *at > after),
        LocalResult::Ambiguous(first, second) => {
            let first = first.with_timezone(&Utc);
            if first > after {
                Some(first)
            } else if rule == DstRule::Wildcard {
                Some(second.with_timezone(&Utc)).filter(|at| *at > after)
            } else {
                None
            }
        }
        LocalResult::None => match rule {
            DstRule::Wildcard => None,
            DstRule::Fixed => gap_end(tz, wall).filter(|at| *at > after),
        },
    }
}

/// The first real instant after the DST gap that swallows `wall`.
///
/// Found by bisection over ±15 h around `wall` read as UTC (every offset in use lies
/// within that range): the first instant whose local wall time is later than `wall`.
/// `None` when that range leaves chrono's (a wall time at the very end of it).
pub(crate) fn gap_end(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    let as_utc = wall.and_utc().timestamp();
    let mut lo = as_utc - 15 * 3600; // wall(lo) < wall
    let mut hi = as_utc + 15 * 3600; // wall(hi) > wall
    let local = |secs: i64| {
        DateTime::<Utc>::from_timestamp(secs, 0).map(|at| at.with_timezone(&tz).naive_local())
    };
    local(lo)?;
    local(hi)?;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if local(mid)? > wall {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::<Utc>::from_timestamp(hi, 0)
}

/// `at`, moved to where every zone has a wall time for it; `None` past the end.
///
/// Chrono cannot express the local time of an instant within a day of its range
/// limits in every zone (`with_timezone` panics there), so searches start a day
/// inside the range and give up within a day of its end.
pub(crate) fn in_range(at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let margin = chrono::Duration::days(1);
    if at > DateTime::<Utc>::MAX_UTC - margin {
        return None;
    }
    Some(at.max(DateTime::<Utc>::MIN_UTC + margin))
}

/// The date of `at` in `tz` (see [`in_range`] for `None`).
pub(crate) fn local_date(tz: Tz, at: DateTime<Utc>) -> Option<NaiveDate> {
    in_range(at).map(|at| at.with_timezone(&tz).date_naive())
}

/// Where a wall-clock search must begin so that it sees every instant after `after`.
///
/// Normally that is `after`'s own wall time. When `after` lies in the *first*
/// occurrence of a repeated hour, the second occurrence (whose wall times are earlier)
/// is still ahead: the result then also carries the wall time where the repeat begins
/// (or a little before it), which a second walk must start from.
pub(crate) fn search_start(tz: Tz, after: DateTime<Utc>) -> (NaiveDateTime, Option<NaiveDateTime>) {
    let local = after.with_timezone(&tz);
    let wall = local.naive_local();
    if let LocalResult::Ambiguous(first, second) = tz.from_local_datetime(&wall) {
        let this = local.offset().fix();
        if this == first.offset().fix() {
            let fold = this.local_minus_utc() - second.offset().fix().local_minus_utc();
            return (
                wall,
                Some(wall - chrono::Duration::seconds(i64::from(fold))),
            );
        }
    }
    (wall, None)
}
