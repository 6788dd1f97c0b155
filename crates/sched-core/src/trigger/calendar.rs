//! Calendar-interval triggers: every N days/weeks/months/years at a wall-clock time.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::wall::{local_date, resolve_after, DstRule};
use crate::error::{Error, Result};

/// Fires every `years`/`months`/`weeks`/`days` (added together) from a start date, at a
/// fixed wall-clock time in the trigger's zone.
///
/// The wall time follows the fixed-time DST rules: a time swallowed by a gap fires at
/// the first instant after it, a repeated time fires at its first occurrence. A start
/// on the 31st (or 29 February) skips the periods whose month has no such day, as in
/// APScheduler 4.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarInterval {
    /// Years between fires.
    #[serde(default)]
    pub years: u32,
    /// Months between fires.
    #[serde(default)]
    pub months: u32,
    /// Weeks between fires.
    #[serde(default)]
    pub weeks: u32,
    /// Days between fires.
    #[serde(default)]
    pub days: u32,
    /// Wall-clock time of day of each fire.
    pub at: NaiveTime,
    /// The date of the first fire (in the trigger's zone). `None` until the job is
    /// added, when it becomes the current date.
    #[serde(default)]
    pub start_date: Option<NaiveDate>,
}

impl CalendarInterval {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.years == 0 && self.months == 0 && self.weeks == 0 && self.days == 0 {
            return Err(Error::InvalidInterval(
                "a calendar interval needs at least one of years, months, weeks or days".into(),
            ));
        }
        Ok(())
    }

    fn total_months(&self) -> u32 {
        self.years.saturating_mul(12).saturating_add(self.months)
    }

    fn total_days(&self) -> u64 {
        u64::from(self.weeks) * 7 + u64::from(self.days)
    }

    /// The date of fire number `k`, or `None` when that month lacks the start's day.
    fn date(&self, start: NaiveDate, k: u32) -> Option<NaiveDate> {
        let months = self.total_months().checked_mul(k)?;
        let moved = start.checked_add_months(Months::new(months))?;
        if moved.day() != start.day() {
            return None; // chrono clamped 31 Jan + 1 month to 28/29 Feb: skip it
        }
        moved.checked_add_days(Days::new(self.total_days().checked_mul(u64::from(k))?))
    }

    pub(crate) fn next_after(
        &self,
        tz: Tz,
        start: NaiveDate,
        after: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        // Jump close to `after` with a lower bound on k, then step.
        let today = local_date(tz, after)?;
        let elapsed_days = u64::try_from((today - start).num_days()).unwrap_or(0);
        // 31 days a month over-estimates the period, so k starts at or below the answer.
        let period_days = u64::from(self.total_months()) * 31 + self.total_days();
        let mut k = u32::try_from((elapsed_days / period_days.max(1)).saturating_sub(1))
            .unwrap_or(u32::MAX);
        for _ in 0..10_000 {
            if let Some(date) = self.date(start, k) {
                let wall = date.and_time(self.at);
                if let Some(at) = resolve_after(tz, wall, DstRule::Fixed, after) {
                    return Some(at);
                }
            }
            k = k.checked_add(1)?;
        }
        None
    }
}
