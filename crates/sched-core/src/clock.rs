//! Wall time, injectable: the system clock in production, a manual one in tests.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use crate::support::Mutex;
use std::time::SystemTime;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// A source of wall-clock time. The scheduler reads every "now" through one of these,
/// so tests of misfires, DST and long schedules run in milliseconds.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current wall-clock instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system's clock: [`Utc::now`], made cheaper.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        thread_local! {
            static TODAY: Cell<Option<(i64, NaiveDate)>> = const { Cell::new(None) };
        }
        match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_secs())
                .ok()
                .and_then(|secs| TODAY.with(|today| from_unix(today, secs, since.subsec_nanos())))
                .unwrap_or_else(Utc::now),
            Err(_) => Utc::now(), // before 1970
        }
    }
}

/// The instant `secs` seconds and `nanos` after the Unix epoch, as `DateTime::from_timestamp`
/// gives it, but with the calendar date of the day kept in `today`: turning a day number
/// into a date is most of the cost of reading the clock, and the scheduler reads it
/// twice per run.
fn from_unix(
    today: &Cell<Option<(i64, NaiveDate)>>,
    secs: i64,
    nanos: u32,
) -> Option<DateTime<Utc>> {
    let (day, second) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let date = match today.get() {
        Some((cached, date)) if cached == day => date,
        _ => {
            // 719,163 days from 0001-01-01 (day 1) to 1970-01-01.
            let date = NaiveDate::from_num_days_from_ce_opt(i32::try_from(day + 719_163).ok()?)?;
            today.set(Some((day, date)));
            date
        }
    };
    let time = NaiveTime::from_num_seconds_from_midnight_opt(u32::try_from(second).ok()?, nanos)?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

/// A clock that only moves when told to: `set` (also backwards, to test clock jumps)
/// and `advance`. Clones share one time.
///
/// ```
/// use sched_core::clock::{Clock, ManualClock};
/// let clock = ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap());
/// clock.advance(std::time::Duration::from_secs(90));
/// assert_eq!(clock.now().to_rfc3339(), "2026-01-01T00:01:30+00:00");
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock standing at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(now)),
        }
    }

    /// Moves the clock to `now` (forwards or backwards).
    pub fn set(&self, now: DateTime<Utc>) {
        *self.now.lock() = now;
    }

    /// Moves the clock forwards by `by`.
    ///
    /// # Panics
    ///
    /// If `by` is 292 years or more (beyond chrono's durations), or the clock would
    /// leave chrono's range of dates. It is a test clock: such a step is a test bug.
    pub fn advance(&self, by: std::time::Duration) {
        let by = chrono::Duration::from_std(by).expect("advance by less than 292 years");
        let mut now = self.now.lock();
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use chrono::{DateTime, Utc};

    use super::{from_unix, Clock, SystemClock};

    #[test]
    fn unix_time_converts_as_chrono_does_across_days() {
        let today = Cell::new(None);
        // Walk across day, month, leap-year and century boundaries, forwards and back
        // (the cached day changes each way), with nanoseconds.
        let points = [
            0,
            86_399,
            86_400,
            951_782_399, // 2000-02-28T23:59:59 (2000 is a leap year)
            951_782_400,
            951_868_800,   // 2000-03-01
            4_102_444_799, // 2099-12-31T23:59:59
            4_102_444_800, // 2100-01-01 (2100 is not a leap year)
            1_790_000_000,
            86_400,
            253_402_300_799, // 9999-12-31T23:59:59
        ];
        for secs in points {
            for nanos in [0, 1, 999_999_999] {
                assert_eq!(
                    from_unix(&today, secs, nanos),
                    DateTime::<Utc>::from_timestamp(secs, nanos),
                    "{secs}.{nanos:09}"
                );
            }
        }
    }

    #[test]
    fn system_clock_reads_the_system_time() {
        // Within a second of chrono's reading (tolerant of a clock step meanwhile).
        let now = SystemClock.now();
        let chrono = Utc::now();
        assert!(
            (chrono - now).abs() < chrono::Duration::seconds(1),
            "{now} {chrono}"
        );
    }
}
