//! The specification of triggers. Every expected instant is written as RFC 3339 with
//! the offset in force in the trigger's zone, checked by hand against the 2026 tz
//! rules (and Python's `zoneinfo`):
//!
//! | zone | gap (clocks forward) | overlap (clocks back; first, second offset) |
//! |---|---|---|
//! | America/New_York | 03-08 02:00 → 03:00 | 11-01 01:00–02:00 (−04, −05) |
//! | Europe/Berlin | 03-29 02:00 → 03:00 | 10-25 02:00–03:00 (+02, +01) |
//! | Australia/Lord_Howe | 10-04 02:00 → 02:30 | 04-05 01:30–02:00 (+11, +10:30) |
//! | Pacific/Chatham | 09-27 02:45 → 03:45 | 04-05 02:45–03:45 (+13:45, +12:45) |
//! | Australia/Sydney | 10-04 02:00 → 03:00 | 04-05 02:00–03:00 (+11, +10) |
//! | America/Santiago | 09-06 00:00 → 01:00 | 04-04 23:00–24:00 (−03, −04) |
//! | Antarctica/Troll | 03-29 01:00 → 03:00 | 10-25 01:00–03:00 (+02, +00) |

use std::collections::BTreeSet;

use chrono_tz::America::{New_York, Santiago};
use chrono_tz::Antarctica::Troll;
use chrono_tz::Australia::{Lord_Howe, Sydney};
use chrono_tz::Europe::Berlin;
use chrono_tz::Pacific::Chatham;

use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

fn cron(expression: &str, tz: Tz) -> Trigger {
    Trigger::cron(expression)
        .expect("valid test expression")
        .timezone(tz)
}

fn fields(fields: CronFields) -> Trigger {
    Trigger::from(fields.build().expect("valid test fields"))
}

/// Walks `next_after` from `after` and compares the fire times, as RFC 3339 in the
/// trigger's zone, with `expected` (`"None"` where the trigger is done).
#[track_caller]
fn assert_fires(trigger: &Trigger, after: &str, expected: &[&str]) {
    let tz = trigger.zone();
    let show = |at: DateTime<Utc>| at.with_timezone(&tz).to_rfc3339();
    let mut actual = Vec::new();
    let mut cursor = utc(after);
    for _ in expected {
        match trigger.next_after(cursor) {
            Some(next) => {
                actual.push(show(next));
                cursor = next;
            }
            None => {
                actual.push("None".to_owned());
                break;
            }
        }
    }
    let expected: Vec<String> = expected
        .iter()
        .map(|e| {
            if *e == "None" {
                (*e).to_owned()
            } else {
                show(utc(e))
            }
        })
        .collect();
    assert_eq!(actual, expected, "fire times of {trigger:?} after {after}");
}

mod interval {
    use super::*;

    const SIX_HOURS: Duration = Duration::from_secs(6 * 3600);

    #[test]
    fn counts_real_hours_across_spring_forward() {
        let t = Trigger::interval(SIX_HOURS)
            .start(utc("2026-03-07T20:00:00-05:00"))
            .timezone(New_York);
        assert_fires(
            &t,
            "2026-03-07T00:00:00-05:00",
            &[
                "2026-03-07T20:00:00-05:00",
                // 6 real hours after 20:00 EST; the wall clock moved 7.
                "2026-03-08T03:00:00-04:00",
                "2026-03-08T09:00:00-04:00",
                "2026-03-08T15:00:00-04:00",
            ],
        );
    }

    #[test]
    fn counts_real_hours_across_fall_back() {
        let t = Trigger::interval(SIX_HOURS)
            .start(utc("2026-10-31T22:00:00-04:00"))
            .timezone(New_York);
        assert_fires(
            &t,
            "2026-10-31T21:00:00-04:00",
            &[
                "2026-10-31T22:00:00-04:00",
                // 6 real hours after 22:00 EDT; the wall clock moved 5.
                "2026-11-01T03:00:00-05:00",
                "2026-11-01T09:00:00-05:00",
            ],
        );
    }

    #[test]
    fn start_is_the_first_fire_and_the_anchor() {
        let t = Trigger::interval(Duration::from_secs(90 * 60)).start(utc("2026-01-01T10:00:00Z"));
        let next = |after: &str| t.next_after(utc(after));
        assert_eq!(
            next("2025-06-01T00:00:00Z"),
            Some(utc("2026-01-01T10:00:00Z"))
        );
        assert_eq!(
            next("2026-01-01T09:59:59.999999999Z"),
            Some(utc("2026-01-01T10:00:00Z"))
        );
        assert_eq!(
            next("2026-01-01T10:00:00Z"),
            Some(utc("2026-01-01T11:30:00Z"))
        );
        assert_eq!(
            next("2026-01-01T10:45:00Z"),
            Some(utc("2026-01-01T11:30:00Z"))
        );
        assert_eq!(
            next("2026-01-01T11:29:59.999999999Z"),
            Some(utc("2026-01-01T11:30:00Z"))
        );
        assert_eq!(
            next("2026-01-01T11:30:00Z"),
            Some(utc("2026-01-01T13:00:00Z"))
        );
        // 1000 days = 16000 periods later, still on the grid of the anchor.
        assert_eq!(
            next("2028-09-27T10:01:00Z"),
            Some(utc("2028-09-27T11:30:00Z"))
        );
    }

    #[test]
    fn without_start_fires_one_period_after() {
        let t = Trigger::interval(Duration::from_secs(300));
        assert_eq!(
            t.next_after(utc("2026-01-01T12:00:07Z")),
            Some(utc("2026-01-01T12:05:07Z"))
        );
        let anchored = t.anchored(utc("2026-01-01T12:00:00Z"));
        assert_eq!(anchored.start, Some(utc("2026-01-01T12:05:00Z")));
        assert_eq!(
            anchored.clone().anchored(utc("2026-01-01T13:00:00Z")),
            anchored,
            "anchoring twice changes nothing"
        );
        assert_fires(
            &anchored,
            "2026-01-01T12:00:00Z",
            &[
                "2026-01-01T12:05:00Z",
                "2026-01-01T12:10:00Z",
                "2026-01-01T12:15:00Z",
            ],
        );
        assert_eq!(
            anchored.next_after(utc("2026-01-01T12:06:30Z")),
            Some(utc("2026-01-01T12:10:00Z"))
        );
    }

    #[test]
    fn end_bound_is_inclusive() {
        let t = Trigger::interval(Duration::from_secs(3600))
            .start(utc("2026-01-01T10:00:00Z"))
            .end(utc("2026-01-01T12:00:00Z"));
        assert_fires(
            &t,
            "2026-01-01T00:00:00Z",
            &[
                "2026-01-01T10:00:00Z",
                "2026-01-01T11:00:00Z",
                "2026-01-01T12:00:00Z",
                "None",
            ],
        );
    }

    #[test]
    fn anchor_centuries_back_stays_exact() {
        // 326 years of nanoseconds do not fit an i64: the count must not overflow.
        let start = utc("1700-01-01T00:00:00Z");
        let every_7s = Trigger::interval(Duration::from_secs(7)).start(start);
        assert_eq!(
            every_7s.next_after(utc("2026-06-15T12:00:00Z")),
            Some(utc("2026-06-15T12:00:07Z"))
        );
        let every_700ms = Trigger::interval(Duration::from_millis(700)).start(start);
        assert_eq!(
            every_700ms.next_after(utc("2026-06-15T12:00:00Z")),
            Some(utc("2026-06-15T12:00:00.7Z"))
        );
    }
}

mod cron_syntax {
    use super::*;

    #[test]
    fn five_fields_with_ranges_steps_and_names() {
        // 2026-01-02 is a Friday.
        assert_fires(
            &cron("*/15 9-17 * * mon-fri", Tz::UTC),
            "2026-01-02T17:40:00Z",
            &[
                "2026-01-02T17:45:00Z",
                "2026-01-05T09:00:00Z",
                "2026-01-05T09:15:00Z",
            ],
        );
    }

    #[test]
    fn six_fields_lead_with_seconds() {
        assert_fires(
            &cron("*/20 * * * * *", Tz::UTC),
            "2026-01-01T12:00:00Z",
            &[
                "2026-01-01T12:00:20Z",
                "2026-01-01T12:00:40Z",
                "2026-01-01T12:01:00Z",
            ],
        );
        assert_fires(
            &cron("30 0 12 * * *", Tz::UTC),
            "2026-01-01T00:00:00Z",
            &["2026-01-01T12:00:30Z", "2026-01-02T12:00:30Z"],
        );
    }

    #[test]
    fn month_and_weekday_names() {
        // Sundays of January and July 2026: ..., 25 Jan; 5 Jul, 12 Jul, ...
        assert_fires(
            &cron("0 12 * jan,jul sun", Tz::UTC),
            "2026-01-20T00:00:00Z",
            &[
                "2026-01-25T12:00:00Z",
                "2026-07-05T12:00:00Z",
                "2026-07-12T12:00:00Z",
            ],
        );
    }

    #[test]
    fn lists_ranges_and_steps() {
        assert_fires(
            &cron("0 8-18/5 * * *", Tz::UTC),
            "2026-01-01T00:00:00Z",
            &[
                "2026-01-01T08:00:00Z",
                "2026-01-01T13:00:00Z",
                "2026-01-01T18:00:00Z",
                "2026-01-02T08:00:00Z",
            ],
        );
        assert_fires(
            &cron("0,30 9,17 * * *", Tz::UTC),
            "2026-01-01T00:00:00Z",
            &[
                "2026-01-01T09:00:00Z",
                "2026-01-01T09:30:00Z",
                "2026-01-01T17:00:00Z",
                "2026-01-01T17:30:00Z",
            ],
        );
        assert_fires(
            &cron("10-12 0 * * *", Tz::UTC),
            "2026-01-01T00:00:00Z",
            &[
                "2026-01-01T00:10:00Z",
                "2026-01-01T00:11:00Z",
                "2026-01-01T00:12:00Z",
                "2026-01-02T00:10:00Z",
            ],
        );
    }

    #[test]
    fn sunday_is_0_or_7() {
        // 2026-01-04 is a Sunday.
        for expression in ["0 0 * * 0", "0 0 * * 7", "0 0 * * sun"] {
            assert_fires(
                &cron(expression, Tz::UTC),
                "2026-01-01T00:00:00Z",
                &["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"],
            );
        }
    }

    #[test]
    fn aliases() {
        let after = "2026-01-01T10:30:00Z";
        let hourly = ["2026-01-01T11:00:00Z", "2026-01-01T12:00:00Z"];
        assert_fires(&cron("@hourly", Tz::UTC), after, &hourly);
        let daily = ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"];
        assert_fires(&cron("@daily", Tz::UTC), after, &daily);
        // Weekly is Sunday midnight.
        let weekly = ["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"];
        assert_fires(&cron("@weekly", Tz::UTC), after, &weekly);
        let monthly = ["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"];
        assert_fires(&cron("@monthly", Tz::UTC), after, &monthly);
        let yearly = ["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"];
        assert_fires(&cron("@yearly", Tz::UTC), after, &yearly);
        assert_fires(&cron("@annually", Tz::UTC), after, &yearly);
        assert_fires(&cron("@DAILY", Tz::UTC), after, &daily);
    }

    #[test]
    fn alias_dst_classes() {
        // @hourly is `0 * * * *`, a wildcard entry; the others are fixed-time.
        let classes = ["@hourly", "@daily", "@weekly", "@monthly", "@yearly"]
            .map(|e| CronTrigger::parse(e).expect("alias").is_fixed_time());
        assert_eq!(classes, [false, true, true, true, true]);
    }

    #[test]
    fn last_day_of_month() {
        assert_fires(
            &cron("0 0 L * *", Tz::UTC),
            "2026-01-15T00:00:00Z",
            &[
                "2026-01-31T00:00:00Z",
                "2026-02-28T00:00:00Z",
                "2026-03-31T00:00:00Z",
                "2026-04-30T00:00:00Z",
            ],
        );
        assert_fires(
            &cron("0 0 L 2 *", Tz::UTC),
            "2027-03-01T00:00:00Z",
            &["2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z"],
        );
    }

    #[test]
    fn nearest_weekday() {
        // The 15th of Feb and Mar 2026 are Sundays (→ Monday 16th); 15 Apr is a Wednesday.
        assert_fires(
            &cron("0 0 15W * *", Tz::UTC),
            "2026-01-31T00:00:00Z",
            &[
                "2026-02-16T00:00:00Z",
                "2026-03-16T00:00:00Z",
                "2026-04-15T00:00:00Z",
            ],
        );
        // 15 Aug 2026 is a Saturday: the Friday before.
        assert_fires(
            &cron("0 0 15W * *", Tz::UTC),
            "2026-08-01T00:00:00Z",
            &["2026-08-14T00:00:00Z"],
        );
        // 1 Aug 2026 is a Saturday: W does not leave the month, so Monday 3rd.
        assert_fires(
            &cron("0 0 1W * *", Tz::UTC),
            "2026-07-15T00:00:00Z",
            &[
                "2026-08-03T00:00:00Z",
                "2026-09-01T00:00:00Z",
                "2026-10-01T00:00:00Z",
                "2026-11-02T00:00:00Z",
            ],
        );
        // Last weekday: 31 Jan and 28 Feb 2026 are Saturdays.
        assert_fires(
            &cron("0 0 LW * *", Tz::UTC),
            "2026-01-01T00:00:00Z",
            &[
                "2026-01-30T00:00:00Z",
                "2026-02-27T00:00:00Z",
                "2026-03-31T00:00:00Z",
            ],
        );
    }

    #[test]
    fn nth_and_last_weekday() {
        assert_fires(
            &cron("0 0 * * fri#2", Tz::UTC),
            "2026-01-01T00:00:00Z",
            &[
                "2026-01-09T00:00:00Z",
                "2026-02-13T00:00:00Z",
                "2026-03-13T00:00:00Z",
                "2026-04-10T00:00:00Z",
            ],
        );
        assert_fires(
            &cron("0 0 * * 5L", Tz::UTC),
            "2026-01-01T00:00:00Z",
            &[
                "2026-01-30T00:00:00Z",
                "2026-02-27T00:00:00Z",
                "2026-03-27T00:00:00Z",
                "2026-04-24T00:00:00Z",
            ],
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_when_both_restricted() {
        // POSIX: every 13th AND every Friday. April 2026: Fridays 3, 10, 17, 24; the 13th
        // is a Monday.
        assert_fires(
            &cron("0 0 13 * fri", Tz::UTC),
            "2026-04-01T00:00:00Z",
            &[
                "2026-04-03T00:00:00Z",
                "2026-04-10T00:00:00Z",
                "2026-04-13T00:00:00Z",
                "2026-04-17T00:00:00Z",
                "2026-04-24T00:00:00Z",
                "2026-05-01T00:00:00Z",
            ],
        );
        // Only one restricted: that one alone.
        assert_fires(
            &cron("0 0 13 * *", Tz::UTC),
            "2026-04-01T00:00:00Z",
            &["2026-04-13T00:00:00Z", "2026-05-13T00:00:00Z"],
        );
        assert_fires(
            &cron("0 0 * * fri", Tz::UTC),
            "2026-04-01T00:00:00Z",
            &[
                "2026-04-03T00:00:00Z",
                "2026-04-10T00:00:00Z",
                "2026-04-17T00:00:00Z",
            ],
        );
    }

    #[test]
    fn zone_applies_to_the_wall_clock() {
        assert_fires(
            &cron("0 9 * * *", Berlin),
            "2026-01-01T00:00:00Z",
            &["2026-01-01T09:00:00+01:00", "2026-01-02T09:00:00+01:00"],
        );
        assert_fires(
            &cron("0 9 * * *", Berlin),
            "2026-07-01T00:00:00Z",
            &["2026-07-01T09:00:00+02:00"],
        );
    }

    #[test]
    fn fixed_time_or_wildcard_by_minute_and_hour_fields() {
        let fixed = |e: &str| CronTrigger::parse(e).expect("valid").is_fixed_time();
        for e in [
            "30 2 * * *",
            "0 1,13 * * *",
            "15 1-3 * * *",
            "0 0-23 * * *",
            "0 30 2 * * *",
        ] {
            assert!(fixed(e), "{e} is fixed-time");
        }
        for e in [
            "*/30 * * * *",
            "5 */2 * * *",
            "0 * * * *",
            "* * * * *",
            "0 * 2 * * *",
        ] {
            assert!(!fixed(e), "{e} is a wildcard entry");
        }
    }
}

mod day_of_week_ranges {
    use super::*;

    /// The weekdays (0 = Sunday) a trigger fires on over two weeks from a Monday, or
    /// `None` if the expression is refused.
    fn weekdays(expression: &str) -> Option<BTreeSet<u32>> {
        use chrono::Datelike;
        let trigger = Trigger::cron(expression).ok()?;
        let mut cursor = utc("2026-01-05T00:00:00Z"); // a Monday
        let until = cursor + chrono::Duration::days(14);
        let mut days = BTreeSet::new();
        while let Some(at) = trigger.next_after(cursor).filter(|at| *at < until) {
            days.insert(at.weekday().num_days_from_sunday());
            cursor = at;
        }
        Some(days)
    }

    #[test]
    fn a_range_from_sunday_to_sunday_is_sunday_alone() {
        let sunday = Some(BTreeSet::from([0]));
        for expression in [
            "sun-sun", "SUN-Sun", "sun-7", "7-sun", "0-0", "7-7", "sun", "7",
        ] {
            assert_eq!(
                weekdays(&format!("0 0 * * {expression}")),
                sunday,
                "{expression}"
            );
        }
        let every_day = Some((0..7).collect::<BTreeSet<u32>>());
        for expression in ["0-7", "mon-sun", "sun-sat", "0-6", "*"] {
            assert_eq!(
                weekdays(&format!("0 0 * * {expression}")),
                every_day,
                "{expression}"
            );
        }
        assert_eq!(weekdays("0 0 * * sun-sun/2"), sunday, "a step on one day");
        assert_eq!(
            weekdays("0 0 * * mon,sun-sun"),
            Some(BTreeSet::from([0, 1]))
        );
    }

    /// Every range of two day names against the range of their numbers, the way Vixie
    /// cron reads them: Sunday is 0 where a range starts and 7 where one ends, and a
    /// range that runs backwards is refused.
    #[test]
    fn every_range_of_names_agrees_with_its_numbers() {
        const NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
        for (a, first) in NAMES.iter().enumerate() {
            for (b, last) in NAMES.iter().enumerate() {
                let from = a as u32;
                let to = match (a, b) {
                    (0, 0) => 0,
                    (_, 0) => 7,
                    _ => b as u32,
                };
                let expected = (from <= to).then(|| (from..=to).map(|d| d % 7).collect());
                let named = format!("0 0 * * {first}-{last}");
                assert_eq!(weekdays(&named), expected, "{named}");
                let numbered = format!("0 0 * * {from}-{to}");
                assert_eq!(weekdays(&numbered), expected, "{numbered}");
            }
        }
    }

    #[test]
    fn apscheduler_fields_read_sunday_ranges_the_same_way() {
        let on = |dow: &str| {
            let trigger = fields(CronFields::new().day_of_week(dow).hour("0"));
            let mut cursor = utc("2026-01-05T00:00:00Z");
            let mut days = Vec::new();
            for _ in 0..3 {
                cursor = trigger.next_after(cursor).expect("fires");
                days.push(cursor.format("%a").to_string());
            }
            days
        };
        assert_eq!(on("sun-sun"), ["Sun", "Sun", "Sun"]);
        assert_eq!(
            on("6-6"),
            ["Sun", "Sun", "Sun"],
            "APScheduler's 6 is Sunday"
        );
        assert_eq!(on("sat-sun"), ["Sat", "Sun", "Sat"]);
        assert_eq!(on("mon-sun"), ["Tue", "Wed", "Thu"]);
    }
}

mod cron_fields {

    /// APScheduler's day expressions: `last`, `last fri`, `2nd fri`, and numbers as
    /// numbers.
    #[test]
    fn apscheduler_day_expressions_and_numbers() {
        let fires = |f: CronFields, n: usize| {
            let trigger = fields(f);
            let mut cursor = utc("2026-01-05T12:00:00Z");
            (0..n)
                .map(|_| {
                    cursor = trigger.next_after(cursor).expect("fires");
                    cursor.to_rfc3339()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            fires(CronFields::new().day("last").hour(8), 2),
            ["2026-01-31T08:00:00+00:00", "2026-02-28T08:00:00+00:00"]
        );
        assert_eq!(
            fires(CronFields::new().day("1,last").hour(8), 2),
            ["2026-01-31T08:00:00+00:00", "2026-02-01T08:00:00+00:00"]
        );
        assert_eq!(
            fires(CronFields::new().day("last fri").hour(8), 2),
            ["2026-01-30T08:00:00+00:00", "2026-02-27T08:00:00+00:00"]
        );
        assert_eq!(
            fires(CronFields::new().day("2nd fri").hour(8), 2),
            ["2026-01-09T08:00:00+00:00", "2026-02-13T08:00:00+00:00"]
        );
        assert_eq!(
            fires(CronFields::new().day("1st mon, 3rd Mon").hour(8), 2),
            ["2026-01-19T08:00:00+00:00", "2026-02-02T08:00:00+00:00"]
        );
        assert_eq!(
            fires(CronFields::new().hour(8).minute(30_u8), 1),
            fires(CronFields::new().hour("8").minute("30"), 1),
            "numbers and strings alike"
        );
        let refused = |f: CronFields| f.build().expect_err("refused").to_string();
        assert_eq!(
            refused(CronFields::new().day("1, last fri")),
            "invalid cron field day=\"1, last fri\": mixes days of the month with weekdays \
             of the month (add one job for each)"
        );
        assert_eq!(
            refused(CronFields::new().day("last fri").day_of_week("mon")),
            "invalid cron field day=\"last fri\": a weekday of the month cannot be combined \
             with day_of_week"
        );
        assert_eq!(
            refused(CronFields::new().day("6th fri")),
            "invalid cron field day=\"6th fri\": \"6th\" is not last, 1st, 2nd, 3rd, 4th or 5th"
        );
        assert_eq!(
            refused(CronFields::new().day("2nd friday")),
            "invalid cron field day=\"2nd friday\": \"friday\" is not a weekday \
             (mon, tue, wed, thu, fri, sat, sun)"
        );
        assert_eq!(
            refused(CronFields::new().hour(25)),
            "invalid cron field hour=\"25\": hour 25 out of range 0-23"
        );
    }
    use super::*;

    #[test]
    fn fields_are_anded() {
        // Friday the 13th only: February, March and November 2026, then August 2027.
        let t = CronFields::new().day("13").day_of_week("fri");
        assert_eq!(t.build().expect("valid").expression(), "0 0 0 13 * FRI *");
        assert_fires(
            &fields(t),
            "2026-01-01T00:00:00Z",
            &[
                "2026-02-13T00:00:00Z",
                "2026-03-13T00:00:00Z",
                "2026-11-13T00:00:00Z",
                "2027-08-13T00:00:00Z",
            ],
        );
    }

    #[test]
    fn less_significant_fields_default_to_their_minimum() {
        let hour = CronFields::new().hour("8");
        assert_eq!(hour.build().expect("valid").expression(), "0 0 8 * * * *");
        assert_fires(
            &fields(hour),
            "2026-01-01T09:00:00Z",
            &["2026-01-02T08:00:00Z", "2026-01-03T08:00:00Z"],
        );
        // 2026-01-05 is the first Monday.
        assert_fires(
            &fields(CronFields::new().day_of_week("mon")),
            "2026-01-01T00:00:00Z",
            &["2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z"],
        );
        assert_fires(
            &fields(CronFields::new().month("6")),
            "2026-01-01T00:00:00Z",
            &["2026-06-01T00:00:00Z", "2027-06-01T00:00:00Z"],
        );
        assert_fires(
            &fields(CronFields::new().second("*/10")),
            "2026-01-01T00:00:00Z",
            &["2026-01-01T00:00:10Z", "2026-01-01T00:00:20Z"],
        );
    }

    #[test]
    fn day_of_week_numbers_count_from_monday() {
        let after = "2026-01-01T00:00:00Z"; // a Thursday
        assert_fires(
            &fields(CronFields::new().day_of_week("0")),
            after,
            &["2026-01-05T00:00:00Z"],
        );
        assert_fires(
            &fields(CronFields::new().day_of_week("6")),
            after,
            &["2026-01-04T00:00:00Z"],
        );
        assert_fires(
            &fields(CronFields::new().day_of_week("5-6")),
            after,
            &[
                "2026-01-03T00:00:00Z",
                "2026-01-04T00:00:00Z",
                "2026-01-10T00:00:00Z",
            ],
        );
        // APScheduler's */2 is 0, 2, 4, 6: Monday, Wednesday, Friday, Sunday.
        let every_other = [
            "2026-01-02T00:00:00Z",
            "2026-01-04T00:00:00Z",
            "2026-01-05T00:00:00Z",
            "2026-01-07T00:00:00Z",
        ];
        assert_fires(
            &fields(CronFields::new().day_of_week("*/2")),
            after,
            &every_other,
        );
        assert_fires(
            &fields(CronFields::new().day_of_week("0-6/2")),
            after,
            &every_other,
        );
        // The count after # stays a count: the second Friday.
        assert_fires(
            &fields(CronFields::new().day_of_week("4#2")),
            after,
            &["2026-01-09T00:00:00Z", "2026-02-13T00:00:00Z"],
        );
    }

    #[test]
    fn weekdays_at_a_time() {
        let t = CronFields::new()
            .day_of_week("mon-fri")
            .hour("17")
            .minute("30");
        assert_eq!(
            t.build().expect("valid").expression(),
            "0 30 17 * * MON-FRI *"
        );
        assert_fires(
            &fields(t).timezone(Berlin),
            "2026-01-02T18:00:00+01:00",
            &["2026-01-05T17:30:00+01:00", "2026-01-06T17:30:00+01:00"],
        );
    }

    #[test]
    fn years() {
        assert_fires(
            &fields(CronFields::new().year("2027")),
            "2026-01-01T00:00:00Z",
            &["2027-01-01T00:00:00Z", "None"],
        );
        assert_fires(
            &fields(CronFields::new().year("2028").month("2").day("29")),
            "2026-01-01T00:00:00Z",
            &["2028-02-29T00:00:00Z", "None"],
        );
        let past = fields(CronFields::new().year("2020"));
        assert_eq!(past.next_after(utc("2026-01-01T00:00:00Z")), None);
        let before_1970 = fields(CronFields::new().year("1960").month("7"));
        assert_eq!(
            before_1970.next_after(utc("1950-01-01T00:00:00Z")),
            Some(utc("1960-07-01T00:00:00Z"))
        );
        assert_eq!(
            past.next_after(utc("2019-06-01T00:00:00Z")),
            Some(utc("2020-01-01T00:00:00Z"))
        );
        // Neither 2026 nor 2027 has a 29 February.
        let never = fields(CronFields::new().year("2026-2027").month("2").day("29"));
        assert_eq!(never.next_after(utc("2020-01-01T00:00:00Z")), None);
    }

    #[test]
    fn fixed_time_or_wildcard() {
        let fixed = |f: CronFields| f.build().expect("valid").is_fixed_time();
        assert!(fixed(CronFields::new().hour("8")));
        assert!(fixed(CronFields::new().day_of_week("mon")));
        assert!(!fixed(CronFields::new().minute("*/15")));
        assert!(!fixed(CronFields::new().minute("0")), "hourly");
    }
}

/// The DST rules of docs/design.md, zone by zone.
mod dst {
    use super::*;

    #[test]
    fn new_york_spring_forward_fixed_time_fires_after_the_gap() {
        assert_fires(
            &cron("30 2 * * *", New_York),
            "2026-03-06T12:00:00-05:00",
            &[
                "2026-03-07T02:30:00-05:00",
                "2026-03-08T03:00:00-04:00",
                "2026-03-09T02:30:00-04:00",
            ],
        );
        // Same through the builder.
        assert_fires(
            &fields(CronFields::new().hour("2").minute("30")).timezone(New_York),
            "2026-03-07T12:00:00-05:00",
            &["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
        );
    }

    #[test]
    fn new_york_spring_forward_fixed_time_range_fires_once_for_the_gap() {
        assert_fires(
            &cron("15 1-3 * * *", New_York),
            "2026-03-08T00:00:00-05:00",
            &[
                "2026-03-08T01:15:00-05:00",
                "2026-03-08T03:00:00-04:00", // 02:15
                "2026-03-08T03:15:00-04:00",
                "2026-03-09T01:15:00-04:00",
            ],
        );
        // Two wall times in one gap still fire once.
        assert_fires(
            &cron("15,45 2 * * *", New_York),
            "2026-03-07T12:00:00-05:00",
            &["2026-03-08T03:00:00-04:00", "2026-03-09T02:15:00-04:00"],
        );
    }

    #[test]
    fn new_york_spring_forward_wildcards_skip_the_gap() {
        assert_fires(
            &cron("*/30 * * * *", New_York),
            "2026-03-08T01:00:00-05:00",
            &[
                "2026-03-08T01:30:00-05:00",
                "2026-03-08T03:00:00-04:00",
                "2026-03-08T03:30:00-04:00",
            ],
        );
        assert_fires(
            &cron("0 * * * *", New_York),
            "2026-03-08T00:30:00-05:00",
            &[
                "2026-03-08T01:00:00-05:00",
                "2026-03-08T03:00:00-04:00",
                "2026-03-08T04:00:00-04:00",
            ],
        );
        assert_fires(
            &cron("* * * * *", New_York),
            "2026-03-08T01:58:00-05:00",
            &[
                "2026-03-08T01:59:00-05:00",
                "2026-03-08T03:00:00-04:00",
                "2026-03-08T03:01:00-04:00",
            ],
        );
        assert_fires(
            &cron("30 * 2 * * *", New_York),
            "2026-03-07T12:00:00-05:00",
            &["2026-03-09T02:00:30-04:00"],
        );
    }

    #[test]
    fn new_york_fall_back_fixed_time_fires_at_the_first_occurrence() {
        assert_fires(
            &cron("30 1 * * *", New_York),
            "2026-10-30T12:00:00-04:00",
            &[
                "2026-10-31T01:30:00-04:00",
                "2026-11-01T01:30:00-04:00",
                "2026-11-02T01:30:00-05:00",
            ],
        );
        assert_fires(
            &cron("0 1,13 * * *", New_York),
            "2026-10-31T12:00:00-04:00",
            &[
                "2026-10-31T13:00:00-04:00",
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T13:00:00-05:00",
                "2026-11-02T01:00:00-05:00",
            ],
        );
        assert_fires(
            &cron("15 1-3 * * *", New_York),
            "2026-11-01T00:00:00-04:00",
            &[
                "2026-11-01T01:15:00-04:00",
                "2026-11-01T02:15:00-05:00",
                "2026-11-01T03:15:00-05:00",
                "2026-11-02T01:15:00-05:00",
            ],
        );
    }

    #[test]
    fn new_york_fall_back_fixed_time_from_inside_the_repeat() {
        let t = cron("30 1 * * *", New_York);
        // From the first occurrence, before and after 01:30.
        assert_fires(
            &t,
            "2026-11-01T01:10:00-04:00",
            &["2026-11-01T01:30:00-04:00"],
        );
        assert_fires(
            &t,
            "2026-11-01T01:40:00-04:00",
            &["2026-11-02T01:30:00-05:00"],
        );
        // From the second occurrence: 01:30 has already fired.
        assert_fires(
            &t,
            "2026-11-01T01:10:00-05:00",
            &["2026-11-02T01:30:00-05:00"],
        );
    }

    #[test]
    fn new_york_fall_back_wildcards_fire_in_both_occurrences() {
        assert_fires(
            &cron("*/30 * * * *", New_York),
            "2026-11-01T00:00:00-04:00",
            &[
                "2026-11-01T00:30:00-04:00",
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T01:30:00-04:00",
                "2026-11-01T01:00:00-05:00",
                "2026-11-01T01:30:00-05:00",
                "2026-11-01T02:00:00-05:00",
            ],
        );
        let hourly = [
            "2026-11-01T01:00:00-04:00",
            "2026-11-01T01:00:00-05:00",
            "2026-11-01T02:00:00-05:00",
            "2026-11-01T03:00:00-05:00",
        ];
        assert_fires(
            &cron("0 * * * *", New_York),
            "2026-11-01T00:30:00-04:00",
            &hourly,
        );
        assert_fires(
            &cron("@hourly", New_York),
            "2026-11-01T00:30:00-04:00",
            &hourly,
        );
        assert_fires(
            &cron("* * * * *", New_York),
            "2026-11-01T01:58:00-04:00",
            &[
                "2026-11-01T01:59:00-04:00",
                "2026-11-01T01:00:00-05:00",
                "2026-11-01T01:01:00-05:00",
            ],
        );
    }

    #[test]
    fn new_york_wildcard_from_the_first_occurrence_finds_the_second() {
        let t = cron("*/20 * * * *", New_York);
        // First-occurrence matches after `after` come first, then the whole repeat.
        assert_fires(
            &t,
            "2026-11-01T01:10:00-04:00",
            &[
                "2026-11-01T01:20:00-04:00",
                "2026-11-01T01:40:00-04:00",
                "2026-11-01T01:00:00-05:00",
                "2026-11-01T01:20:00-05:00",
                "2026-11-01T01:40:00-05:00",
                "2026-11-01T02:00:00-05:00",
            ],
        );
        // Past the last first-occurrence match: the second occurrence's earliest match.
        let second = [
            "2026-11-01T01:00:00-05:00",
            "2026-11-01T01:20:00-05:00",
            "2026-11-01T01:40:00-05:00",
            "2026-11-01T02:00:00-05:00",
        ];
        assert_fires(&t, "2026-11-01T01:50:00-04:00", &second);
        assert_fires(&t, "2026-11-01T01:45:30.5-04:00", &second);
        assert_fires(
            &cron("0 */20 * * * *", New_York),
            "2026-11-01T01:50:00-04:00",
            &second,
        );
        // From inside the second occurrence: nothing from the first comes back.
        assert_fires(
            &t,
            "2026-11-01T01:10:00-05:00",
            &["2026-11-01T01:20:00-05:00", "2026-11-01T01:40:00-05:00"],
        );
    }

    #[test]
    fn berlin() {
        assert_fires(
            &cron("30 2 * * *", Berlin),
            "2026-03-28T00:00:00+01:00",
            &[
                "2026-03-28T02:30:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-30T02:30:00+02:00",
            ],
        );
        assert_fires(
            &cron("5 */2 * * *", Berlin),
            "2026-03-29T00:00:00+01:00",
            &[
                "2026-03-29T00:05:00+01:00",
                "2026-03-29T04:05:00+02:00", // 02:05 does not exist
                "2026-03-29T06:05:00+02:00",
            ],
        );
        assert_fires(
            &cron("5 */2 * * *", Berlin),
            "2026-10-25T00:00:00+02:00",
            &[
                "2026-10-25T00:05:00+02:00",
                "2026-10-25T02:05:00+02:00",
                "2026-10-25T02:05:00+01:00",
                "2026-10-25T04:05:00+01:00",
            ],
        );
        assert_fires(
            &cron("0 2 * * *", Berlin),
            "2026-10-24T12:00:00+02:00",
            &["2026-10-25T02:00:00+02:00", "2026-10-26T02:00:00+01:00"],
        );
    }

    #[test]
    fn lord_howe_half_hour_shift() {
        assert_fires(
            &cron("*/15 * * * *", Lord_Howe),
            "2026-04-05T01:00:00+11:00",
            &[
                "2026-04-05T01:15:00+11:00",
                "2026-04-05T01:30:00+11:00",
                "2026-04-05T01:45:00+11:00",
                "2026-04-05T01:30:00+10:30",
                "2026-04-05T01:45:00+10:30",
                "2026-04-05T02:00:00+10:30",
            ],
        );
        assert_fires(
            &cron("45 1 * * *", Lord_Howe),
            "2026-04-04T00:00:00+11:00",
            &[
                "2026-04-04T01:45:00+11:00",
                "2026-04-05T01:45:00+11:00",
                "2026-04-06T01:45:00+10:30",
            ],
        );
        assert_fires(
            &cron("15 2 * * *", Lord_Howe),
            "2026-10-03T00:00:00+10:30",
            &[
                "2026-10-03T02:15:00+10:30",
                "2026-10-04T02:30:00+11:00",
                "2026-10-05T02:15:00+11:00",
            ],
        );
        assert_fires(
            &cron("*/15 * * * *", Lord_Howe),
            "2026-10-04T01:30:00+10:30",
            &[
                "2026-10-04T01:45:00+10:30",
                "2026-10-04T02:30:00+11:00",
                "2026-10-04T02:45:00+11:00",
            ],
        );
        // From the first occurrence of the half-hour repeat.
        assert_fires(
            &cron("*/10 * * * *", Lord_Howe),
            "2026-04-05T01:45:00+11:00",
            &[
                "2026-04-05T01:50:00+11:00",
                "2026-04-05T01:30:00+10:30",
                "2026-04-05T01:40:00+10:30",
                "2026-04-05T01:50:00+10:30",
                "2026-04-05T02:00:00+10:30",
            ],
        );
    }

    #[test]
    fn chatham_quarter_hour_offsets() {
        assert_fires(
            &cron("0 3 * * *", Chatham),
            "2026-04-04T12:00:00+13:45",
            &["2026-04-05T03:00:00+13:45", "2026-04-06T03:00:00+12:45"],
        );
        assert_fires(
            &cron("0 3 * * *", Chatham),
            "2026-09-26T12:00:00+12:45",
            &["2026-09-27T03:45:00+13:45", "2026-09-28T03:00:00+13:45"],
        );
        assert_fires(
            &cron("*/30 * * * *", Chatham),
            "2026-04-05T02:00:00+13:45",
            &[
                "2026-04-05T02:30:00+13:45",
                "2026-04-05T03:00:00+13:45",
                "2026-04-05T03:30:00+13:45",
                "2026-04-05T03:00:00+12:45",
                "2026-04-05T03:30:00+12:45",
                "2026-04-05T04:00:00+12:45",
            ],
        );
        assert_fires(
            &cron("*/30 * * * *", Chatham),
            "2026-09-27T02:00:00+12:45",
            &[
                "2026-09-27T02:30:00+12:45",
                "2026-09-27T04:00:00+13:45",
                "2026-09-27T04:30:00+13:45",
            ],
        );
        // 02:45 opens the repeat, 03:45 exists once (after it).
        assert_fires(
            &cron("15,45 * * * *", Chatham),
            "2026-04-05T02:00:00+13:45",
            &[
                "2026-04-05T02:15:00+13:45",
                "2026-04-05T02:45:00+13:45",
                "2026-04-05T03:15:00+13:45",
                "2026-04-05T02:45:00+12:45",
                "2026-04-05T03:15:00+12:45",
                "2026-04-05T03:45:00+12:45",
            ],
        );
    }

    #[test]
    fn sydney_southern_hemisphere() {
        assert_fires(
            &cron("30 2 * * *", Sydney),
            "2026-04-04T00:00:00+11:00",
            &[
                "2026-04-04T02:30:00+11:00",
                "2026-04-05T02:30:00+11:00",
                "2026-04-06T02:30:00+10:00",
            ],
        );
        assert_fires(
            &cron("30 2 * * *", Sydney),
            "2026-10-03T00:00:00+10:00",
            &[
                "2026-10-03T02:30:00+10:00",
                "2026-10-04T03:00:00+11:00",
                "2026-10-05T02:30:00+11:00",
            ],
        );
        assert_fires(
            &cron("0 * * * *", Sydney),
            "2026-04-05T00:30:00+11:00",
            &[
                "2026-04-05T01:00:00+11:00",
                "2026-04-05T02:00:00+11:00",
                "2026-04-05T02:00:00+10:00",
                "2026-04-05T03:00:00+10:00",
            ],
        );
        assert_fires(
            &cron("0 * * * *", Sydney),
            "2026-10-04T00:30:00+10:00",
            &[
                "2026-10-04T01:00:00+10:00",
                "2026-10-04T03:00:00+11:00",
                "2026-10-04T04:00:00+11:00",
            ],
        );
    }

    #[test]
    fn santiago_transitions_at_midnight() {
        // Midnight does not exist on 6 September 2026: the first instant after is 01:00.
        assert_fires(
            &cron("0 0 * * *", Santiago),
            "2026-09-04T12:00:00-04:00",
            &[
                "2026-09-05T00:00:00-04:00",
                "2026-09-06T01:00:00-03:00",
                "2026-09-07T00:00:00-03:00",
            ],
        );
        assert_fires(
            &cron("30 * * * *", Santiago),
            "2026-09-05T22:00:00-04:00",
            &[
                "2026-09-05T22:30:00-04:00",
                "2026-09-05T23:30:00-04:00",
                "2026-09-06T01:30:00-03:00",
                "2026-09-06T02:30:00-03:00",
            ],
        );
        // 23:00-24:00 on 4 April 2026 happens twice.
        assert_fires(
            &cron("0 23 * * *", Santiago),
            "2026-04-03T12:00:00-03:00",
            &[
                "2026-04-03T23:00:00-03:00",
                "2026-04-04T23:00:00-03:00",
                "2026-04-05T23:00:00-04:00",
            ],
        );
        assert_fires(
            &cron("*/30 * * * *", Santiago),
            "2026-04-04T22:00:00-03:00",
            &[
                "2026-04-04T22:30:00-03:00",
                "2026-04-04T23:00:00-03:00",
                "2026-04-04T23:30:00-03:00",
                "2026-04-04T23:00:00-04:00",
                "2026-04-04T23:30:00-04:00",
                "2026-04-05T00:00:00-04:00",
            ],
        );
        assert_fires(
            &cron("*/20 * * * *", Santiago),
            "2026-04-04T23:30:00-03:00",
            &[
                "2026-04-04T23:40:00-03:00",
                "2026-04-04T23:00:00-04:00",
                "2026-04-04T23:20:00-04:00",
                "2026-04-04T23:40:00-04:00",
                "2026-04-05T00:00:00-04:00",
            ],
        );
    }

    #[test]
    fn troll_two_hour_shift() {
        assert_fires(
            &cron("30 1 * * *", Troll),
            "2026-03-28T12:00:00+00:00",
            &["2026-03-29T03:00:00+02:00", "2026-03-30T01:30:00+02:00"],
        );
        assert_fires(
            &cron("0 * * * *", Troll),
            "2026-10-25T00:30:00+02:00",
            &[
                "2026-10-25T01:00:00+02:00",
                "2026-10-25T02:00:00+02:00",
                "2026-10-25T01:00:00+00:00",
                "2026-10-25T02:00:00+00:00",
                "2026-10-25T03:00:00+00:00",
            ],
        );
    }

    #[test]
    fn whole_day_walks_across_transitions() {
        // Every fire of an hourly-in-the-night schedule on both New York transition days.
        let t = cron("0,30 0-3 * * *", New_York); // fixed-time
        assert_fires(
            &t,
            "2026-03-07T23:00:00-05:00",
            &[
                "2026-03-08T00:00:00-05:00",
                "2026-03-08T00:30:00-05:00",
                "2026-03-08T01:00:00-05:00",
                "2026-03-08T01:30:00-05:00",
                "2026-03-08T03:00:00-04:00", // 02:00, 02:30 and 03:00 fire once
                "2026-03-08T03:30:00-04:00",
                "2026-03-09T00:00:00-04:00",
            ],
        );
        assert_fires(
            &t,
            "2026-10-31T23:00:00-04:00",
            &[
                "2026-11-01T00:00:00-04:00",
                "2026-11-01T00:30:00-04:00",
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T01:30:00-04:00",
                "2026-11-01T02:00:00-05:00",
                "2026-11-01T02:30:00-05:00",
                "2026-11-01T03:00:00-05:00",
                "2026-11-01T03:30:00-05:00",
                "2026-11-02T00:00:00-05:00",
            ],
        );
    }
}

mod date {
    use super::*;

    #[test]
    fn fires_once() {
        let t = Trigger::date(utc("2026-05-01T08:00:00Z"));
        assert_fires(
            &t,
            "2026-01-01T00:00:00Z",
            &["2026-05-01T08:00:00Z", "None"],
        );
        assert_eq!(
            t.next_after(utc("2026-05-01T07:59:59.999999999Z")),
            Some(utc("2026-05-01T08:00:00Z"))
        );
        assert_eq!(t.next_after(utc("2026-06-01T00:00:00Z")), None);
    }

    #[test]
    fn date_strings() {
        let cases = [
            // RFC 3339: its offset wins over the zone.
            (
                "2026-05-01T10:00:00+02:00",
                New_York,
                "2026-05-01T08:00:00Z",
            ),
            ("2026-05-01T10:00:00Z", Berlin, "2026-05-01T10:00:00Z"),
            ("2026-05-01 10:00:00", Berlin, "2026-05-01T10:00:00+02:00"),
            ("2026-05-01T10:00:00", Berlin, "2026-05-01T10:00:00+02:00"),
            ("2026-05-01 10:00", Berlin, "2026-05-01T10:00:00+02:00"),
            ("2026-05-01T10:00", Berlin, "2026-05-01T10:00:00+02:00"),
            (
                " 2026-05-01 10:00:00.250 ",
                Berlin,
                "2026-05-01T10:00:00.250+02:00",
            ),
            ("2026-05-01", Berlin, "2026-05-01T00:00:00+02:00"),
            ("2026-01-15 09:30:00", New_York, "2026-01-15T09:30:00-05:00"),
            // Swallowed by a gap: the first instant after it.
            ("2026-03-29 02:30:00", Berlin, "2026-03-29T03:00:00+02:00"),
            ("2026-03-08 02:30", New_York, "2026-03-08T03:00:00-04:00"),
            ("2026-09-06", Santiago, "2026-09-06T01:00:00-03:00"),
            // Repeated: the first occurrence.
            ("2026-10-25 02:30:00", Berlin, "2026-10-25T02:30:00+02:00"),
            ("2026-04-04 23:30", Santiago, "2026-04-04T23:30:00-03:00"),
        ];
        for (value, tz, expected) in cases {
            let t = Trigger::date_str(value, tz).expect("valid date string");
            assert_eq!(
                t.kind,
                TriggerKind::Date { at: utc(expected) },
                "{value} in {tz}"
            );
            assert_eq!(t.zone(), tz);
        }
    }
}

mod calendar {
    use super::*;

    fn every(
        years: u32,
        months: u32,
        weeks: u32,
        days: u32,
        at: &str,
        start: &str,
    ) -> CalendarInterval {
        CalendarInterval {
            years,
            months,
            weeks,
            days,
            at: at.parse().expect("test time"),
            start_date: Some(start.parse().expect("test date")),
        }
    }

    #[test]
    fn days_keep_the_wall_time_across_dst() {
        // 47 real hours between the first two fires, 48 between the next.
        let t = Trigger::calendar(every(0, 0, 0, 2, "09:00:00", "2026-03-06")).timezone(New_York);
        assert_fires(
            &t,
            "2026-03-05T12:00:00-05:00",
            &[
                "2026-03-06T09:00:00-05:00",
                "2026-03-08T09:00:00-04:00",
                "2026-03-10T09:00:00-04:00",
            ],
        );
    }

    #[test]
    fn weeks() {
        let t = Trigger::calendar(every(0, 0, 1, 0, "10:00:00", "2026-03-23")).timezone(Berlin);
        assert_fires(
            &t,
            "2026-03-22T00:00:00+01:00",
            &[
                "2026-03-23T10:00:00+01:00",
                "2026-03-30T10:00:00+02:00",
                "2026-04-06T10:00:00+02:00",
            ],
        );
    }

    #[test]
    fn months_from_the_31st_skip_short_months() {
        let t = Trigger::calendar(every(0, 1, 0, 0, "10:00:00", "2026-01-31"));
        assert_fires(
            &t,
            "2026-01-01T00:00:00Z",
            &[
                "2026-01-31T10:00:00Z",
                "2026-03-31T10:00:00Z",
                "2026-05-31T10:00:00Z",
                "2026-07-31T10:00:00Z",
                "2026-08-31T10:00:00Z",
                "2026-10-31T10:00:00Z",
                "2026-12-31T10:00:00Z",
                "2027-01-31T10:00:00Z",
            ],
        );
    }

    #[test]
    fn years_from_29_february() {
        let t = Trigger::calendar(every(1, 0, 0, 0, "12:00:00", "2024-02-29"));
        assert_fires(
            &t,
            "2024-03-01T00:00:00Z",
            &["2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z"],
        );
    }

    #[test]
    fn years_and_months_add_up() {
        let t = Trigger::calendar(every(1, 6, 0, 0, "08:00:00", "2026-01-15"));
        assert_fires(
            &t,
            "2026-01-15T08:00:00Z",
            &["2027-07-15T08:00:00Z", "2029-01-15T08:00:00Z"],
        );
    }

    #[test]
    fn fixed_time_rule_in_gaps_and_repeats() {
        let gap = Trigger::calendar(every(0, 0, 0, 1, "02:30:00", "2026-03-06")).timezone(New_York);
        assert_fires(
            &gap,
            "2026-03-05T12:00:00-05:00",
            &[
                "2026-03-06T02:30:00-05:00",
                "2026-03-07T02:30:00-05:00",
                "2026-03-08T03:00:00-04:00",
                "2026-03-09T02:30:00-04:00",
            ],
        );
        let repeat =
            Trigger::calendar(every(0, 0, 0, 1, "01:30:00", "2026-10-30")).timezone(New_York);
        assert_fires(
            &repeat,
            "2026-10-29T12:00:00-04:00",
            &[
                "2026-10-30T01:30:00-04:00",
                "2026-10-31T01:30:00-04:00",
                "2026-11-01T01:30:00-04:00",
                "2026-11-02T01:30:00-05:00",
            ],
        );
        let midnight =
            Trigger::calendar(every(0, 0, 0, 1, "00:00:00", "2026-09-01")).timezone(Santiago);
        assert_fires(
            &midnight,
            "2026-09-04T12:00:00-04:00",
            &[
                "2026-09-05T00:00:00-04:00",
                "2026-09-06T01:00:00-03:00",
                "2026-09-07T00:00:00-03:00",
            ],
        );
        let half_hour =
            Trigger::calendar(every(0, 0, 0, 1, "01:45:00", "2026-04-01")).timezone(Lord_Howe);
        assert_fires(
            &half_hour,
            "2026-04-03T12:00:00+11:00",
            &[
                "2026-04-04T01:45:00+11:00",
                "2026-04-05T01:45:00+11:00",
                "2026-04-06T01:45:00+10:30",
            ],
        );
    }

    #[test]
    fn a_century_later() {
        let t = Trigger::calendar(every(0, 0, 0, 1, "09:00:00", "2026-01-01"));
        assert_eq!(
            t.next_after(utc("2126-01-01T12:00:00Z")),
            Some(utc("2126-01-02T09:00:00Z"))
        );
    }

    #[test]
    fn anchored_starts_on_the_zones_date() {
        let mut interval = every(0, 0, 0, 3, "09:00:00", "2000-01-01");
        interval.start_date = None;
        // 22:30 UTC on 10 May is already 11 May in Berlin.
        let t = Trigger::calendar(interval.clone())
            .timezone(Berlin)
            .anchored(utc("2026-05-10T22:30:00Z"));
        let TriggerKind::CalendarInterval(anchored) = &t.kind else {
            panic!("still a calendar interval");
        };
        assert_eq!(anchored.start_date, "2026-05-11".parse().ok());
        assert_fires(
            &t,
            "2026-05-10T22:30:00Z",
            &["2026-05-11T09:00:00+02:00", "2026-05-14T09:00:00+02:00"],
        );
        // With a start bound, its date.
        let t = Trigger::calendar(interval)
            .timezone(Berlin)
            .start(utc("2026-06-30T23:00:00Z"))
            .anchored(utc("2026-05-10T22:30:00Z"));
        assert_fires(
            &t,
            "2026-05-10T22:30:00Z",
            &["2026-07-01T09:00:00+02:00", "2026-07-04T09:00:00+02:00"],
        );
    }
}

mod combination {
    use super::*;

    #[test]
    fn and_fires_when_all_coincide() {
        let hourly = Trigger::and([cron("*/15 * * * *", Tz::UTC), cron("0 * * * *", Tz::UTC)]);
        assert_fires(
            &hourly,
            "2026-01-01T10:07:00Z",
            &[
                "2026-01-01T11:00:00Z",
                "2026-01-01T12:00:00Z",
                "2026-01-01T13:00:00Z",
            ],
        );
        let half_hourly =
            Trigger::and([cron("*/10 * * * *", Tz::UTC), cron("*/15 * * * *", Tz::UTC)]);
        assert_fires(
            &half_hourly,
            "2026-01-01T10:00:00Z",
            &["2026-01-01T10:30:00Z", "2026-01-01T11:00:00Z"],
        );
        // 09:00 + k·45 min is on the hour every fourth time.
        let every_3h = Trigger::and([
            Trigger::interval(Duration::from_secs(45 * 60)).start(utc("2026-01-01T09:00:00Z")),
            cron("0 * * * *", Tz::UTC),
        ]);
        assert_fires(
            &every_3h,
            "2026-01-01T09:00:00Z",
            &[
                "2026-01-01T12:00:00Z",
                "2026-01-01T15:00:00Z",
                "2026-01-01T18:00:00Z",
            ],
        );
    }

    #[test]
    fn and_across_zones() {
        // 09:00 Berlin and 03:00 New York coincide except between the two springs forward.
        let t = Trigger::and([cron("0 9 * * *", Berlin), cron("0 3 * * *", New_York)]);
        assert_fires(
            &t,
            "2026-03-06T12:00:00Z",
            &[
                "2026-03-07T08:00:00Z",
                "2026-03-29T07:00:00Z",
                "2026-03-30T07:00:00Z",
            ],
        );
    }

    #[test]
    fn impossible_and_is_none() {
        let after = utc("2026-01-01T00:00:00Z");
        let weekdays = Trigger::and([cron("0 0 * * mon", Tz::UTC), cron("0 0 * * tue", Tz::UTC)]);
        assert_eq!(weekdays.next_after(after), None);
        let dates = Trigger::and([
            Trigger::date(utc("2026-02-01T00:00:00Z")),
            Trigger::date(utc("2026-03-01T00:00:00Z")),
        ]);
        assert_eq!(dates.next_after(after), None);
        let never = Trigger::and([cron("0 0 30 2 *", Tz::UTC), cron("* * * * *", Tz::UTC)]);
        assert_eq!(never.next_after(after), None);
    }

    #[test]
    fn or_is_the_earliest_child() {
        let t = Trigger::or([
            Trigger::date(utc("2026-01-01T12:00:00Z")),
            cron("0 0 * * *", Tz::UTC),
        ]);
        assert_fires(
            &t,
            "2026-01-01T06:00:00Z",
            &[
                "2026-01-01T12:00:00Z",
                "2026-01-02T00:00:00Z",
                "2026-01-03T00:00:00Z",
            ],
        );
        // Each child keeps its own zone.
        let t = Trigger::or([cron("0 9 * * *", Berlin), cron("0 9 * * *", New_York)]);
        assert_fires(
            &t,
            "2026-01-01T00:00:00Z",
            &[
                "2026-01-01T08:00:00Z",
                "2026-01-01T14:00:00Z",
                "2026-01-02T08:00:00Z",
            ],
        );
        // A finished child no longer counts; one instant from two children fires once.
        let t = Trigger::or([
            cron("0 * * * *", Tz::UTC).end(utc("2026-01-01T11:00:00Z")),
            cron("*/30 * * * *", Tz::UTC),
        ]);
        assert_fires(
            &t,
            "2026-01-01T10:00:00Z",
            &[
                "2026-01-01T10:30:00Z",
                "2026-01-01T11:00:00Z",
                "2026-01-01T11:30:00Z",
            ],
        );
        let done = Trigger::or([Trigger::date(utc("2025-01-01T00:00:00Z"))]);
        assert_eq!(done.next_after(utc("2026-01-01T00:00:00Z")), None);
    }
}

mod bounds_and_jitter {
    use super::*;

    #[test]
    fn start_and_end_are_inclusive() {
        let t = cron("0 * * * *", Tz::UTC)
            .start(utc("2026-01-01T10:00:00Z"))
            .end(utc("2026-01-01T12:00:00Z"));
        assert_fires(
            &t,
            "2026-01-01T00:00:00Z",
            &[
                "2026-01-01T10:00:00Z",
                "2026-01-01T11:00:00Z",
                "2026-01-01T12:00:00Z",
                "None",
            ],
        );
        let t = cron("0 * * * *", Tz::UTC).start(utc("2026-01-01T10:30:00Z"));
        assert_fires(&t, "2026-01-01T00:00:00Z", &["2026-01-01T11:00:00Z"]);
        let outside = Trigger::date(utc("2026-05-01T00:00:00Z")).end(utc("2026-04-01T00:00:00Z"));
        assert_eq!(outside.next_after(utc("2026-01-01T00:00:00Z")), None);
        let before = Trigger::date(utc("2026-05-01T00:00:00Z")).start(utc("2026-06-01T00:00:00Z"));
        assert_eq!(before.next_after(utc("2026-01-01T00:00:00Z")), None);
    }

    fn jittered_sequence(trigger: &Trigger, salt: u64) -> Vec<DateTime<Utc>> {
        let mut cursor = utc("2026-01-01T00:00:00Z");
        (0..48)
            .map(|_| {
                cursor = trigger
                    .next_after_salted(cursor, salt)
                    .expect("an hourly trigger");
                cursor
            })
            .collect()
    }

    #[test]
    fn jitter_delays_each_fire_by_less_than_the_jitter() {
        let jitter = chrono::Duration::minutes(10);
        let t = cron("0 * * * *", Tz::UTC).jitter(Duration::from_secs(600));
        let fires = jittered_sequence(&t, 0);
        // The walk starts at 00:00 exactly: the 00:00 fire, moved later, still lies ahead.
        for (hour, fire) in (0..).zip(&fires) {
            let base = utc("2026-01-01T00:00:00Z") + chrono::Duration::hours(hour);
            assert!(
                base <= *fire && *fire < base + jitter,
                "{fire} within 10 min of {base}"
            );
            assert_eq!(
                t.next_after(*fire - chrono::Duration::nanoseconds(1)),
                Some(*fire)
            );
        }
        assert!(fires.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        assert!(
            fires.iter().any(|f| f.timestamp() % 3600 != 0),
            "jitter moved some fire"
        );
    }

    #[test]
    fn jitter_is_deterministic_per_salt() {
        let t = cron("0 * * * *", Tz::UTC).jitter(Duration::from_secs(600));
        assert_eq!(jittered_sequence(&t, 0), jittered_sequence(&t, 0));
        assert_eq!(jittered_sequence(&t, 7), jittered_sequence(&t, 7));
        assert_eq!(jittered_sequence(&t, 0), {
            let mut cursor = utc("2026-01-01T00:00:00Z");
            (0..48)
                .map(|_| {
                    cursor = t.next_after(cursor).expect("hourly");
                    cursor
                })
                .collect::<Vec<_>>()
        });
        assert_ne!(
            jittered_sequence(&t, 0),
            jittered_sequence(&t, 7),
            "salts spread jobs"
        );
    }

    #[test]
    fn jitter_on_a_date_and_zero_jitter() {
        let at = utc("2026-05-01T08:00:00Z");
        let t = Trigger::date(at).jitter(Duration::from_secs(60));
        let fire = t
            .next_after(utc("2026-01-01T00:00:00Z"))
            .expect("fires once");
        assert!(at <= fire && fire < at + chrono::Duration::minutes(1));
        assert_eq!(t.next_after(fire), None);
        assert_eq!(Trigger::date(at).jitter(Duration::ZERO).jitter, None);
    }
}

/// Termination: a trigger that can never fire again answers `None`, promptly (the
/// property tests below run thousands of these, so a slow answer fails by timeout).
mod never {
    use super::*;

    #[test]
    fn impossible_dates() {
        for expression in [
            "0 0 30 2 *",
            "0 0 31 4 *",
            "0 0 31 2,4,6,9,11 *",
            "0 0 0 31 6 *",
        ] {
            let t = cron(expression, New_York);
            for after in [
                "1970-01-01T00:00:00Z",
                "2026-01-01T00:00:00Z",
                "4999-01-01T00:00:00Z",
            ] {
                assert_eq!(t.next_after(utc(after)), None, "{expression} after {after}");
            }
        }
    }

    #[test]
    fn rare_but_possible_dates() {
        // 29 February on a Monday (ANDed): 2044, then 2072.
        let t = fields(CronFields::new().month("2").day("29").day_of_week("mon"));
        assert_fires(
            &t,
            "2026-01-01T00:00:00Z",
            &["2044-02-29T00:00:00Z", "2072-02-29T00:00:00Z"],
        );
    }

    #[test]
    fn beyond_the_search_range() {
        let t = cron("* * * * *", Tz::UTC);
        assert_eq!(t.next_after(DateTime::<Utc>::MAX_UTC), None);
        assert_eq!(t.next_after(utc("5000-01-01T00:00:00Z")), None);
        let t = cron("* * * * *", chrono_tz::Pacific::Kiritimati);
        assert_eq!(
            t.next_after(DateTime::<Utc>::MAX_UTC - chrono::Duration::hours(1)),
            None
        );
        assert!(t.next_after(DateTime::<Utc>::MIN_UTC).is_some());
    }
}

mod errors {
    use super::*;

    fn cron_error(expression: &str) -> String {
        let error = Trigger::cron(expression).expect_err("invalid expression");
        assert!(
            matches!(&error, Error::InvalidCron { expr, .. } if expr == expression),
            "{error:?}"
        );
        error.to_string()
    }

    #[test]
    fn invalid_cron_expressions_name_the_problem() {
        let cases = [
            ("61 * * * *", "minute 61 out of range 0-59"),
            ("0 24 * * *", "hour 24 out of range 0-23"),
            ("0 0 0 * *", "day of month 0 out of range 1-31"),
            ("0 0 * 13 *", "month 13 out of range 1-12"),
            ("0 0 * * 8", "day of week 8 out of range 0-7"),
            ("60 * * * * *", "second 60 out of range 0-59"),
            ("0 0 1-32 * *", "day of month 32 out of range 1-31"),
            (
                "* * *",
                "expected 5 fields (minute hour day month weekday) or 6 with leading seconds, found 3",
            ),
            (
                "foo",
                "expected 5 fields (minute hour day month weekday) or 6 with leading seconds, found 1",
            ),
            (
                "",
                "expected 5 fields (minute hour day month weekday) or 6 with leading seconds, found 0",
            ),
            (
                "@midnight",
                "unknown alias, expected one of @yearly, @annually, @monthly, @weekly, @daily, @hourly",
            ),
        ];
        for (expression, reason) in cases {
            assert_eq!(
                cron_error(expression),
                format!("invalid cron expression {expression:?}: {reason}")
            );
        }
        // What croner rejects is still a typed error quoting the expression.
        for expression in [
            "* * * * mon-xyz",
            "a b c d e",
            "*/0 * * * *",
            "0 0 * * fri#9",
        ] {
            let message = cron_error(expression);
            assert!(message.starts_with(&format!("invalid cron expression {expression:?}: ")));
        }
    }

    #[test]
    fn unknown_time_zones() {
        let error = Trigger::cron("0 9 * * *")
            .expect("valid")
            .timezone_name("Mars/Olympus_Mons")
            .expect_err("no such zone");
        assert!(matches!(&error, Error::UnknownTimeZone(name) if name == "Mars/Olympus_Mons"));
        assert_eq!(
            error.to_string(),
            "unknown time zone \"Mars/Olympus_Mons\": expected an IANA name such as \"Europe/Berlin\" or \"UTC\""
        );
        assert!(matches!(parse_timezone(""), Err(Error::UnknownTimeZone(_))));
        assert_eq!(parse_timezone(" Europe/Berlin ").expect("known"), Berlin);
        let t = Trigger::cron("0 9 * * *")
            .expect("valid")
            .timezone_name("Pacific/Chatham");
        assert_eq!(t.expect("known").zone(), Chatham);
    }

    #[test]
    fn invalid_date_strings() {
        for value in [
            "tomorrow",
            "2026-13-01 10:00:00",
            "2026-02-30",
            "2026-05-01 25:00",
            "",
        ] {
            let error = Trigger::date_str(value, Berlin).expect_err("invalid date");
            assert!(matches!(&error, Error::InvalidDateTime { value: v, .. } if v == value));
            assert_eq!(
                error.to_string(),
                format!(
                    "invalid date-time {value:?}: expected RFC 3339 or YYYY-MM-DD[ HH:MM[:SS]]"
                )
            );
        }
    }

    #[test]
    fn validate() {
        let zero = Trigger::interval(Duration::ZERO)
            .validate()
            .expect_err("zero");
        assert_eq!(
            zero.to_string(),
            "invalid interval: an interval of zero length would fire forever, back to back: \
             use a period of at least 1ns"
        );
        let reversed = Trigger::interval(Duration::from_secs(60))
            .start(utc("2026-02-01T00:00:00Z"))
            .end(utc("2026-01-01T00:00:00Z"))
            .validate()
            .expect_err("end before start");
        assert!(matches!(reversed, Error::EndBeforeStart { .. }));
        assert_eq!(
            reversed.to_string(),
            "end 2026-01-01 00:00:00 UTC lies before start 2026-02-01 00:00:00 UTC"
        );
        let empty_and = Trigger::and([]).validate().expect_err("empty");
        assert_eq!(
            empty_and.to_string(),
            "an and combination needs at least one trigger"
        );
        let empty_or = Trigger::or([]).validate().expect_err("empty");
        assert_eq!(
            empty_or.to_string(),
            "an or combination needs at least one trigger"
        );
        let nested = Trigger::or([cron("0 * * * *", Tz::UTC), Trigger::and([])]);
        assert!(matches!(
            nested.validate(),
            Err(Error::EmptyCombination("and"))
        ));
        let calendar = Trigger::calendar(CalendarInterval {
            years: 0,
            months: 0,
            weeks: 0,
            days: 0,
            at: NaiveTime::MIN,
            start_date: None,
        });
        assert!(matches!(
            calendar.validate(),
            Err(Error::InvalidInterval(_))
        ));
        // And what is valid passes, an instant-long window included.
        let instant = utc("2026-01-01T00:00:00Z");
        let ok = Trigger::or([cron("0 * * * *", Tz::UTC), Trigger::date(instant)])
            .start(instant)
            .end(instant);
        ok.validate().expect("valid");
    }

    #[test]
    fn invalid_cron_fields_name_the_field() {
        let error = CronFields::new()
            .day_of_week("7")
            .build()
            .expect_err("out of range");
        assert!(matches!(
            &error,
            Error::InvalidCronField { field: "day_of_week", value, .. } if value == "7"
        ));
        assert_eq!(
            error.to_string(),
            "invalid cron field day_of_week=\"7\": weekday 7 out of range 0-6 (0 = Monday)"
        );
        let error = CronFields::new()
            .hour("25")
            .build()
            .expect_err("out of range");
        assert_eq!(
            error.to_string(),
            "invalid cron field hour=\"25\": hour 25 out of range 0-23"
        );
        let error = CronFields::new()
            .hour("8")
            .minute("abc")
            .build()
            .expect_err("not a number");
        assert!(
            matches!(&error, Error::InvalidCronField { field: "minute", value, .. } if value == "abc"),
            "{error:?}"
        );
        let error = CronFields::new().month(" ").build().expect_err("empty");
        assert_eq!(
            error.to_string(),
            "invalid cron field month=\" \": empty value"
        );
    }
}

mod serde_form {
    use super::*;
    use serde_json::json;

    fn every_kind() -> Vec<Trigger> {
        let at = utc("2026-05-01T08:00:00Z");
        vec![
            Trigger::interval(Duration::from_millis(90_500))
                .start(at)
                .end(at + chrono::Duration::days(30))
                .jitter(Duration::from_secs(5)),
            cron("30 2 * * mon-fri", New_York),
            fields(CronFields::new().day("13").day_of_week("fri")).timezone(Berlin),
            Trigger::date(at),
            Trigger::calendar(CalendarInterval {
                years: 0,
                months: 1,
                weeks: 0,
                days: 2,
                at: "09:30:00".parse().expect("time"),
                start_date: "2026-01-31".parse().ok(),
            })
            .timezone(Lord_Howe),
            Trigger::and([cron("*/15 * * * *", Tz::UTC), cron("0 * * * *", Chatham)]),
            Trigger::or([
                Trigger::date(at),
                Trigger::and([cron("@daily", Santiago)]).end(at),
            ])
            .start(at - chrono::Duration::days(1)),
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        for trigger in every_kind() {
            let json = serde_json::to_string(&trigger).expect("serialises");
            let back: Trigger = serde_json::from_str(&json).expect("deserialises");
            assert_eq!(back, trigger, "{json}");
            let mut after = utc("2026-01-01T00:00:00Z");
            for _ in 0..5 {
                let next = trigger.next_after(after);
                assert_eq!(back.next_after(after), next, "{json}");
                let Some(next) = next else { break };
                after = next;
            }
        }
    }

    #[test]
    fn json_shape() {
        let cron = serde_json::to_value(cron("0 9 * * mon-fri", Berlin)).expect("json");
        assert_eq!(
            cron,
            json!({"type": "cron", "expression": "0 9 * * mon-fri", "timezone": "Europe/Berlin"})
        );
        // A zone that was never set is not stored (the scheduler's default may fill it).
        let built = serde_json::to_value(fields(CronFields::new().hour("8"))).expect("json");
        assert_eq!(
            built,
            json!({"type": "cron", "expression": "0 0 8 * * * *", "and_days": true})
        );
        let interval =
            serde_json::to_value(Trigger::interval(Duration::from_secs(3600))).expect("json");
        assert_eq!(
            interval,
            json!({"type": "interval", "every": {"secs": 3600, "nanos": 0}})
        );
        let utc_set = Trigger::interval(Duration::from_secs(3600)).timezone(Tz::UTC);
        let json = serde_json::to_value(&utc_set).expect("json");
        assert_eq!(
            json,
            json!({"type": "interval", "every": {"secs": 3600, "nanos": 0}, "timezone": "UTC"}),
            "UTC set by the user is kept as set"
        );
        let back: Trigger = serde_json::from_value(json).expect("deserialises");
        assert_eq!(
            back.timezone,
            Some(Tz::UTC),
            "rows stored before keep their zone"
        );
        let date: Trigger =
            serde_json::from_value(json!({"type": "date", "at": "2026-05-01T08:00:00Z"}))
                .expect("zone defaults");
        assert_eq!(date, Trigger::date(utc("2026-05-01T08:00:00Z")));
    }

    #[test]
    fn bad_json_is_an_error() {
        let unknown: Result<Trigger, _> =
            serde_json::from_value(json!({"type": "lunar", "timezone": "UTC"}));
        assert!(unknown
            .expect_err("unknown type")
            .to_string()
            .contains("lunar"));
        let bad_cron: Result<Trigger, _> =
            serde_json::from_value(json!({"type": "cron", "expression": "61 * * * *"}));
        let message = bad_cron.expect_err("bad cron").to_string();
        assert!(message.contains("invalid cron expression"), "{message}");
        let bad_zone: Result<Trigger, _> = serde_json::from_value(
            json!({"type": "date", "at": "2026-05-01T08:00:00Z", "timezone": "Mars/Base"}),
        );
        assert!(bad_zone.is_err());
        let missing: Result<Trigger, _> = serde_json::from_value(json!({"type": "interval"}));
        assert!(missing.is_err());
        let not_json: Result<Trigger, _> = serde_json::from_str("{\"type\": \"cron\", ");
        assert!(not_json.is_err());
    }
}

/// Random input: never a panic, never a loop, always forward, and the same answers as
/// a brute-force reading of the DST rules.
mod properties {
    use chrono::TimeZone;
    use croner::parser::{CronParser, Seconds};
    use proptest::prelude::*;

    use super::*;

    const ZONES: [Tz; 12] = [
        Tz::UTC,
        New_York,
        Berlin,
        Lord_Howe,
        Chatham,
        Sydney,
        Santiago,
        Troll,
        chrono_tz::Pacific::Apia,
        chrono_tz::Pacific::Kiritimati,
        chrono_tz::Asia::Kathmandu,
        chrono_tz::Africa::Casablanca,
    ];

    fn zone() -> impl Strategy<Value = Tz> {
        proptest::sample::select(ZONES.to_vec())
    }

    /// Mostly around today, sometimes anywhere chrono can represent, or at its edges
    /// (where an instant has no wall time in some zones).
    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        let near = (
            utc("1900-01-01T00:00:00Z").timestamp()..utc("2100-01-01T00:00:00Z").timestamp(),
            0..1_000_000_000u32,
        );
        let far = (
            DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(),
            Just(0u32),
        );
        let (min, max) = (
            DateTime::<Utc>::MIN_UTC.timestamp(),
            DateTime::<Utc>::MAX_UTC.timestamp(),
        );
        let edge = (
            prop_oneof![min..min + 2 * 86_400, max - 2 * 86_400..=max],
            Just(0u32),
        );
        prop_oneof![8 => near, 1 => far, 1 => edge]
            .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).expect("in range"))
    }

    fn pick(values: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
        proptest::sample::select(values)
    }

    /// Valid-looking crontab expressions, a few of them invalid or impossible.
    fn expression() -> impl Strategy<Value = String> {
        let second = pick(&["", "", "0 ", "*/20 ", "59 ", "61 "]);
        let minute = pick(&[
            "*", "0", "30", "*/15", "0,30", "5-10", "*/7", "59", "61", "x",
        ]);
        let hour = pick(&["*", "0", "1", "2", "3", "*/2", "1-3", "1,13", "23", "24"]);
        let day = pick(&[
            "*", "*", "1", "13", "29", "30", "31", "L", "15W", "LW", "*/10", "0",
        ]);
        let month = pick(&["*", "*", "2", "4", "jan,jul", "*/3", "12", "13"]);
        let dow = pick(&[
            "*", "*", "fri", "mon-fri", "5L", "fri#2", "0", "7", "sun", "8",
        ]);
        let alias = pick(&[
            "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@often",
        ]);
        let crontab = (second, minute, hour, day, month, dow)
            .prop_map(|(s, m, h, d, mo, w)| format!("{s}{m} {h} {d} {mo} {w}"));
        prop_oneof![10 => crontab, 1 => alias.prop_map(str::to_owned)]
    }

    fn builder() -> impl Strategy<Value = CronFields> {
        let opt = |values: &'static [&'static str]| proptest::option::of(pick(values));
        (
            opt(&["2020", "2026", "2027-2030", "*/4"]),
            opt(&["2", "6", "1-3", "*/5"]),
            opt(&["13", "29", "31", "L", "1-7"]),
            opt(&["fri", "0", "5-6", "*/2", "mon-fri", "6"]),
            opt(&["8", "2", "*/6", "0-3"]),
            opt(&["0", "30", "*/15"]),
            opt(&["0", "*/30"]),
        )
            .prop_map(|(year, month, day, dow, hour, minute, second)| {
                type Setter = fn(CronFields, String) -> CronFields;
                let setters: [(Option<&str>, Setter); 7] = [
                    (year, CronFields::year),
                    (month, CronFields::month),
                    (day, CronFields::day),
                    (dow, CronFields::day_of_week),
                    (hour, CronFields::hour),
                    (minute, CronFields::minute),
                    (second, CronFields::second),
                ];
                setters
                    .into_iter()
                    .fold(CronFields::new(), |f, (value, set)| match value {
                        Some(value) => set(f, value.to_owned()),
                        None => f,
                    })
            })
    }

    /// Walks a few fire times: each strictly after the one before.
    fn assert_forward(trigger: &Trigger, after: DateTime<Utc>) -> Result<(), TestCaseError> {
        let mut cursor = after;
        for _ in 0..6 {
            let Some(next) = trigger.next_after(cursor) else {
                break;
            };
            prop_assert!(next > cursor, "{trigger:?}: {next} after {cursor}");
            cursor = next;
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_crontabs_move_forward(expression in expression(), tz in zone(), after in instant()) {
            match Trigger::cron(&expression) {
                Ok(trigger) => assert_forward(&trigger.timezone(tz), after)?,
                Err(error) => prop_assert!(matches!(error, Error::InvalidCron { .. }), "{error:?}"),
            }
        }

        #[test]
        fn random_builders_move_forward(fields in builder(), tz in zone(), after in instant()) {
            match fields.build() {
                Ok(cron) => assert_forward(&Trigger::from(cron).timezone(tz), after)?,
                Err(error) => prop_assert!(false, "{fields:?}: {error}"),
            }
        }

        #[test]
        fn random_intervals_calendars_and_dates_move_forward(
            secs in 1u64..10_000_000,
            (years, months, weeks, days) in (0u32..3, 0u32..14, 0u32..3, 0u32..40),
            at in (0u32..24, 0u32..60),
            start in instant(),
            tz in zone(),
            after in instant(),
            jitter in proptest::option::of(1u64..100_000),
        ) {
            let jitter = Duration::from_secs(jitter.unwrap_or(0));
            let interval = Trigger::interval(Duration::from_secs(secs)).start(start).jitter(jitter);
            assert_forward(&interval, after)?;
            let calendar = Trigger::calendar(CalendarInterval {
                years,
                months,
                weeks,
                days: days.max(u32::from(years + months + weeks == 0)),
                at: NaiveTime::from_hms_opt(at.0, at.1, 0).expect("valid time"),
                start_date: Some(start.date_naive()),
            });
            assert_forward(&calendar.clone().timezone(tz).jitter(jitter), after)?;
            let mut unanchored = calendar;
            if let TriggerKind::CalendarInterval(c) = &mut unanchored.kind {
                c.start_date = None;
            }
            assert_forward(&unanchored.clone().timezone(tz), after)?;
            assert_forward(&unanchored.timezone(tz).anchored(start), after)?;
            assert_forward(&Trigger::date(start).jitter(jitter), after)?;
        }

        #[test]
        fn jitter_stays_below_the_jitter(
            expression in pick(&["0 * * * *", "*/5 * * * *", "0 9 * * *", "30 2 * * *"]),
            tz in zone(),
            jitter_secs in 1u64..7200,
            salt in any::<u64>(),
            after in instant(),
        ) {
            let base = cron(expression, tz);
            let jittered = base.clone().jitter(Duration::from_secs(jitter_secs));
            let jitter = chrono::Duration::seconds(i64::try_from(jitter_secs).expect("small"));
            if let Some(fire) = jittered.next_after_salted(after, salt) {
                prop_assert!(fire > after);
                prop_assert_eq!(jittered.next_after_salted(after, salt), Some(fire), "deterministic");
                // Some unjittered fire time lies in (fire - jitter, fire].
                let base_fire = base.next_after(fire - jitter);
                prop_assert!(base_fire.is_some_and(|b| b <= fire), "{fire} has no base");
            }
        }

        #[test]
        fn and_fires_only_when_every_child_does(
            a in pick(&["*/5 * * * *", "*/3 * * * *", "0 * * * *", "0,30 * * * *", "*/7 * * * *", "0 */2 * * *"]),
            b in pick(&["*/4 * * * *", "0 0 * * *", "*/20 0-12 * * *", "0 */3 * * *"]),
            tz in zone(),
            after in (utc("2000-01-01T00:00:00Z").timestamp()..utc("2040-01-01T00:00:00Z").timestamp()),
        ) {
            let after = DateTime::from_timestamp(after, 0).expect("in range");
            let (a, b) = (cron(a, tz), cron(b, tz));
            let both = Trigger::and([a.clone(), b.clone()]);
            let fire = both.next_after(after).expect("every pair meets at midnight");
            let just_before = fire - chrono::Duration::nanoseconds(1);
            prop_assert!(fire > after);
            prop_assert_eq!(a.next_after(just_before), Some(fire));
            prop_assert_eq!(b.next_after(just_before), Some(fire));
            let either = Trigger::or([a.clone(), b.clone()]).next_after(after);
            prop_assert_eq!(either, a.next_after(after).min(b.next_after(after)));
        }
    }

    /// 2026 transitions (the instant the offset changes) of the DST zones of this file,
    /// and the day Samoa skipped in 2011.
    const TRANSITIONS: [(Tz, &str); 15] = [
        (New_York, "2026-03-08T07:00:00Z"),
        (New_York, "2026-11-01T06:00:00Z"),
        (Berlin, "2026-03-29T01:00:00Z"),
        (Berlin, "2026-10-25T01:00:00Z"),
        (Lord_Howe, "2026-04-04T15:00:00Z"),
        (Lord_Howe, "2026-10-03T15:30:00Z"),
        (Chatham, "2026-04-04T14:00:00Z"),
        (Chatham, "2026-09-26T14:00:00Z"),
        (Sydney, "2026-04-04T16:00:00Z"),
        (Sydney, "2026-10-03T16:00:00Z"),
        (Santiago, "2026-04-05T03:00:00Z"),
        (Santiago, "2026-09-06T04:00:00Z"),
        (Troll, "2026-03-29T01:00:00Z"),
        (Troll, "2026-10-25T01:00:00Z"),
        (chrono_tz::Pacific::Apia, "2011-12-30T10:00:00Z"),
    ];

    /// Minute and hour fields, with whether they make a wildcard entry.
    const MINUTES: [(&str, bool); 8] = [
        ("0", false),
        ("30", false),
        ("15,45", false),
        ("0-59/20", false),
        ("*", true),
        ("*/30", true),
        ("*/20", true),
        ("59", false),
    ];
    const HOURS: [(&str, bool); 9] = [
        ("*", true),
        ("*/2", true),
        ("0", false),
        ("1", false),
        ("2", false),
        ("1-3", false),
        ("1,13", false),
        ("23", false),
        ("0-23", false),
    ];

    /// The fire times in `(after, until]` by the letter of docs/design.md: every minute of
    /// every local day whose wall time matches, mapped to instants by the rules.
    fn reference(
        expression: &str,
        wildcard: bool,
        tz: Tz,
        transition: DateTime<Utc>,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let pattern = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .build()
            .parse(expression)
            .expect("valid");
        let mut fires = BTreeSet::new();
        let first_day = (after - chrono::Duration::days(2)).date_naive();
        for day in first_day.iter_days().take(6) {
            for minute in 0..24 * 60 {
                let wall = day.and_time(NaiveTime::MIN) + chrono::Duration::minutes(minute);
                if !pattern.is_time_matching(&wall).expect("matching") {
                    continue;
                }
                match tz.from_local_datetime(&wall) {
                    chrono::LocalResult::Single(at) => {
                        fires.insert(at.with_timezone(&Utc));
                    }
                    chrono::LocalResult::Ambiguous(first, second) => {
                        fires.insert(first.with_timezone(&Utc));
                        if wildcard {
                            fires.insert(second.with_timezone(&Utc));
                        }
                    }
                    // The window holds one transition: a missing wall time is in its gap.
                    chrono::LocalResult::None => {
                        if !wildcard {
                            fires.insert(transition);
                        }
                    }
                }
            }
        }
        fires
            .into_iter()
            .filter(|at| *at > after && *at <= until)
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn crontabs_agree_with_a_brute_force_reading_of_the_dst_rules(
            (tz, transition) in proptest::sample::select(TRANSITIONS.to_vec()),
            (minute, minute_wild) in proptest::sample::select(MINUTES.to_vec()),
            (hour, hour_wild) in proptest::sample::select(HOURS.to_vec()),
            dow in pick(&["*", "*", "*", "sun", "sat,sun", "mon-fri"]),
            // Often within two hours of the transition, where the cases lie.
            offset_secs in prop_oneof![-30 * 3600i64..2 * 3600, -2 * 3600i64..2 * 3600],
            nanos in prop_oneof![Just(0u32), 0..1_000_000_000u32],
        ) {
            let transition = utc(transition);
            let expression = format!("{minute} {hour} * * {dow}");
            let wildcard = minute_wild || hour_wild;
            let trigger = cron(&expression, tz);
            prop_assert_eq!(
                CronTrigger::parse(&expression).expect("valid").is_fixed_time(),
                !wildcard
            );
            let after = transition + chrono::Duration::seconds(offset_secs) + chrono::Duration::nanoseconds(i64::from(nanos));
            let until = after + chrono::Duration::hours(36);
            let mut actual = Vec::new();
            let mut cursor = after;
            while let Some(next) = trigger.next_after(cursor).filter(|n| *n <= until) {
                actual.push(next);
                cursor = next;
            }
            let expected = reference(&expression, wildcard, tz, transition, after, until);
            let show = |v: &[DateTime<Utc>]| v.iter().map(|t| t.with_timezone(&tz).to_rfc3339()).collect::<Vec<_>>();
            prop_assert_eq!(show(&actual), show(&expected), "{} in {} after {}", expression, tz, after.with_timezone(&tz));
        }
    }
}

#[test]
fn interval_step_agrees_with_the_general_computation() {
    use super::{interval_general, interval_step};
    // A deterministic spread of starts (before and after the epoch), periods (1 ns to
    // 200 years) and instants after the start (on the grid, just off it, far later).
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let periods: [i128; 8] = [
        1,
        999,
        1_000_000_000,
        1_500_000_001,
        86_400_000_000_000,
        31_557_600_000_000_000,
        200 * 31_557_600_000_000_000,
        3_000_000_000_007,
    ];
    let mut stepped = 0;
    for _ in 0..20_000 {
        let period = periods[(next() % periods.len() as u64) as usize];
        let start_s = (next() % 8_000_000_000) as i64 - 4_000_000_000;
        let start = DateTime::<Utc>::from_timestamp(start_s, (next() % 1_000_000_000) as u32)
            .expect("in range");
        let periods_later = (next() % 1_000) as i128;
        let jitter = match next() % 3 {
            0 => 0,
            1 => (next() % 3) as i128 - 1,
            _ => (next() % (period as u64).max(1)) as i128,
        };
        let offset = (periods_later * period + jitter).max(0);
        let Ok(offset) = i64::try_from(offset) else {
            continue;
        };
        let Some(after) = start.checked_add_signed(chrono::Duration::nanoseconds(offset)) else {
            continue;
        };
        let general = interval_general(period, start, after);
        if let Some(fast) = interval_step(period, start, after) {
            stepped += 1;
            assert_eq!(
                Some(fast),
                general,
                "start {start} period {period} after {after}"
            );
        }
    }
    assert!(
        stepped > 15_000,
        "the common case takes the fast path: {stepped}"
    );
}

/// `Trigger::validate` measures the JSON depth of combinations only: every single
/// trigger, with every setting, is a few levels deep — far within the limit.
#[test]
fn a_single_trigger_is_far_within_the_json_depth_limit() {
    let at = |s: &str| s.parse::<DateTime<Utc>>().expect("instant");
    let singles = [
        Trigger::interval(Duration::from_secs(60)),
        Trigger::cron("*/5 * * * mon-fri").expect("cron"),
        Trigger::date(at("2026-06-01T00:00:00Z")),
        Trigger::calendar(crate::trigger::CalendarInterval {
            years: 0,
            months: 1,
            weeks: 0,
            days: 0,
            at: chrono::NaiveTime::from_hms_opt(8, 0, 0).expect("time"),
            start_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 31),
        }),
    ];
    for trigger in singles {
        let full = trigger
            .start(at("2026-01-01T00:00:00Z"))
            .end(at("2027-01-01T00:00:00Z"))
            .jitter(Duration::from_secs(5))
            .timezone(Berlin);
        let json = serde_json::to_value(&full).expect("serialises");
        let depth = crate::job::json_depth(&json);
        assert!(depth <= 8, "{json}: depth {depth}");
        assert!(full.validate().is_ok());
    }
    // A combination is still measured.
    let mut deep = Trigger::interval(Duration::from_secs(60));
    for _ in 0..crate::job::MAX_JSON_DEPTH {
        deep = Trigger::or([deep]);
    }
    assert!(matches!(
        deep.validate(),
        Err(crate::Error::NestedTooDeep { .. })
    ));
}
