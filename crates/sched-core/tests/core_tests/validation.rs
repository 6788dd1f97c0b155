//! Nothing accepted that cannot be kept: what `Job::validate`, `Job::schedule` and
//! `Trigger::validate` refuse (every store's `add_job` calls them), each with its typed
//! error and its message, the boundaries that are still accepted, and that no input,
//! however extreme, panics.
//!
//! A store keeps a job as JSON columns read back with `serde_json::from_str` (the SQL
//! stores' codec): `stored` below does the same, column by column.

#![allow(missing_docs)]

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveTime, Utc};
use sched_core::job::{Job, JobOptions, Nested, MAX_JSON_DEPTH};
use sched_core::trigger::{CalendarInterval, CronFields, SearchLimit, Trigger, TriggerKind};
use sched_core::Error;
use serde_json::{json, Value};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().expect("test instant")
}

fn now() -> DateTime<Utc> {
    utc("2026-01-01T12:00:00Z")
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn job(trigger: Trigger) -> Job {
    Job::new("sync", "sync", trigger)
}

/// The error's message, checked against the house style (lower-case, no period).
fn message(error: &Error) -> String {
    let message = error.to_string();
    assert!(
        message.starts_with(|c: char| !c.is_uppercase()),
        "{message}"
    );
    assert!(!message.ends_with('.'), "{message}");
    message
}

/// `[[[...]]]`: `depth` arrays (at least one), the innermost empty.
fn arrays(depth: usize) -> Value {
    (1..depth).fold(json!([]), |inner, _| json!([inner]))
}

/// `{"a": {"a": ... 1}}`: `depth` objects around a number.
fn objects(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!({ "a": inner }))
}

/// `and(and(... cron))`: `levels` combinations around a cron trigger.
fn nested_ands(levels: usize) -> Trigger {
    let leaf = Trigger::cron("0 * * * *").expect("valid cron");
    (0..levels).fold(leaf, |inner, _| Trigger::and([inner]))
}

/// The job as a SQL store writes and reads it: each column to JSON text and back.
fn stored(job: &Job) -> Result<Job, String> {
    let args = serde_json::to_string(&job.args).map_err(|e| e.to_string())?;
    let trigger = serde_json::to_string(&job.trigger).map_err(|e| e.to_string())?;
    let options = serde_json::to_string(&job.options).map_err(|e| e.to_string())?;
    let mut back = Job::new(
        job.id.clone(),
        job.task.clone(),
        serde_json::from_str(&trigger).map_err(|e| format!("trigger: {e}"))?,
    );
    back.name.clone_from(&job.name);
    back.args = serde_json::from_str(&args).map_err(|e| format!("args: {e}"))?;
    back.options = serde_json::from_str(&options).map_err(|e| format!("options: {e}"))?;
    back.next_run_time = job.next_run_time;
    back.paused = job.paused;
    Ok(back)
}

fn json_depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

mod nesting {
    use super::*;

    #[test]
    fn the_limit_is_what_serde_json_reads_back() {
        assert_eq!(MAX_JSON_DEPTH, 127);
        for value in [arrays(MAX_JSON_DEPTH), objects(MAX_JSON_DEPTH)] {
            assert_eq!(json_depth(&value), MAX_JSON_DEPTH);
            let text = serde_json::to_string(&value).expect("serialises");
            let back: Value = serde_json::from_str(&text).expect("the limit reads back");
            assert_eq!(back, value);
        }
        for value in [arrays(MAX_JSON_DEPTH + 1), objects(MAX_JSON_DEPTH + 1)] {
            let text = serde_json::to_string(&value).expect("serialises");
            let error = serde_json::from_str::<Value>(&text).expect_err("one level more");
            assert!(
                error.to_string().starts_with("recursion limit exceeded"),
                "{error}"
            );
        }
    }

    #[test]
    fn args_at_the_limit_are_kept_and_read_back() {
        for args in [arrays(MAX_JSON_DEPTH), objects(MAX_JSON_DEPTH)] {
            let job = job(Trigger::interval(secs(60)))
                .args(&args)
                .expect("serialisable")
                .schedule(now())
                .expect("the limit is accepted");
            assert_eq!(stored(&job), Ok(job.clone()), "read back as written");
        }
    }

    #[test]
    fn args_one_level_deeper_are_refused_naming_depth_and_limit() {
        for args in [arrays(MAX_JSON_DEPTH + 1), objects(MAX_JSON_DEPTH + 1)] {
            let job = job(Trigger::interval(secs(60)))
                .args(&args)
                .expect("serialisable");
            assert!(stored(&job).is_err(), "a store could not read it back");
            let error = job.validate().expect_err("too deep");
            assert!(
                matches!(
                    error,
                    Error::NestedTooDeep {
                        what: Nested::Args,
                        depth: 128,
                        limit: 127
                    }
                ),
                "{error:?}"
            );
            assert_eq!(
                message(&error),
                "too deeply nested job arguments: 128 levels of JSON arrays and objects, \
                 more than the 127 a store can read back; flatten them, or pass a key to \
                 data kept elsewhere"
            );
            assert!(matches!(
                job.schedule(now()),
                Err(Error::NestedTooDeep { .. })
            ));
        }
    }

    #[test]
    fn args_far_deeper_are_measured_without_overflowing_the_stack() {
        let job = job(Trigger::interval(secs(60))).args(&arrays(1_000));
        let error = job.expect("serialisable").validate().expect_err("too deep");
        assert!(
            matches!(
                error,
                Error::NestedTooDeep {
                    what: Nested::Args,
                    depth: 1_000,
                    ..
                }
            ),
            "{error:?}"
        );
        // Wide is not deep.
        let wide = json!({ "rows": vec![json!({ "id": 1, "tags": ["a", "b"] }); 10_000] });
        let job = job_with_args(wide);
        job.validate().expect("3 levels deep");
    }

    fn job_with_args(args: Value) -> Job {
        let mut job = job(Trigger::interval(secs(60)));
        job.args = args;
        job
    }

    #[test]
    fn a_trigger_at_the_limit_is_kept_and_read_back() {
        // Each `and` adds an object and its array of triggers; the cron leaf is one.
        let deepest = nested_ands((MAX_JSON_DEPTH - 1) / 2);
        let json = serde_json::to_value(&deepest).expect("serialises");
        assert_eq!(json_depth(&json), MAX_JSON_DEPTH);
        let job = job(deepest).schedule(now()).expect("the limit is accepted");
        assert_eq!(job.next_run_time, Some(utc("2026-01-01T12:00:00Z")));
        assert_eq!(stored(&job), Ok(job.clone()), "read back as written");
    }

    #[test]
    fn a_trigger_nested_deeper_is_refused_naming_depth_and_limit() {
        let too_deep = nested_ands((MAX_JSON_DEPTH - 1) / 2 + 1);
        let error = too_deep.validate().expect_err("too deep");
        assert!(
            matches!(
                error,
                Error::NestedTooDeep {
                    what: Nested::Trigger,
                    depth: 129,
                    limit: 127
                }
            ),
            "{error:?}"
        );
        assert_eq!(
            message(&error),
            "too deeply nested trigger: 129 levels of JSON arrays and objects, more than \
             the 127 a store can read back; nest fewer and/or combinations inside each other"
        );
        let job = job(too_deep);
        assert!(stored(&job).is_err(), "a store could not read it back");
        assert!(matches!(
            job.validate(),
            Err(Error::NestedTooDeep {
                what: Nested::Trigger,
                ..
            })
        ));
    }
}

mod intervals {
    use super::*;

    #[test]
    fn a_zero_interval_is_refused() {
        let error = job(Trigger::interval(Duration::ZERO))
            .schedule(now())
            .expect_err("zero");
        assert!(matches!(error, Error::InvalidInterval(_)), "{error:?}");
        assert_eq!(
            message(&error),
            "invalid interval: an interval of zero length would fire forever, back to back: \
             use a period of at least 1ns"
        );
        // Inside a combination too.
        let or = Trigger::or([Trigger::date(now()), Trigger::interval(Duration::ZERO)]);
        assert!(matches!(or.validate(), Err(Error::InvalidInterval(_))));
        job(Trigger::interval(Duration::from_nanos(1)))
            .schedule(now())
            .expect("1ns is an interval");
    }

    #[test]
    fn a_stored_zero_interval_does_not_decode() {
        // A row written by hand (or by a version that let it through): the trigger
        // column does not decode, so the store reports the row instead of firing it
        // back to back.
        let column = r#"{"type":"interval","every":{"secs":0,"nanos":0}}"#;
        let error = serde_json::from_str::<Trigger>(column).expect_err("zero");
        assert!(
            error
                .to_string()
                .starts_with("invalid interval: an interval of zero length would fire forever"),
            "{error}"
        );
        // Nested in a stored combination, and in a whole job.
        let column =
            r#"{"type":"or","triggers":[{"type":"interval","every":{"secs":0,"nanos":0}}]}"#;
        assert!(serde_json::from_str::<Trigger>(column).is_err());
        let row = json!({
            "id": "sync", "name": "sync", "task": "sync",
            "trigger": { "type": "interval", "every": { "secs": 0, "nanos": 0 } }
        });
        assert!(serde_json::from_value::<Job>(row).is_err());
        // A job built around the checks is refused by `validate` all the same.
        let mut job = job(Trigger::interval(secs(60)));
        job.trigger.kind = TriggerKind::Interval {
            every: Duration::ZERO,
        };
        assert!(matches!(job.validate(), Err(Error::InvalidInterval(_))));
        // What add_job accepts decodes.
        let column = r#"{"type":"interval","every":{"secs":0,"nanos":1}}"#;
        serde_json::from_str::<Trigger>(column).expect("1ns decodes");
    }

    #[test]
    fn an_interval_too_long_for_a_date_time_is_refused() {
        for every in [Duration::MAX, Duration::from_secs(u64::MAX)] {
            let error = job(Trigger::interval(every))
                .schedule(now())
                .expect_err("too long");
            assert!(matches!(error, Error::InvalidInterval(_)), "{error:?}");
            assert_eq!(
                message(&error),
                format!(
                    "invalid interval: {every:?} is longer than a date-time can hold \
                     (at most 9223372036854775.807s): use a shorter interval"
                )
            );
        }
    }

    #[test]
    fn an_interval_whose_first_run_lies_past_the_range_is_refused() {
        // Representable as a span (31.7 million years), but now plus it is not a date.
        let every = secs(1_000_000_000_000_000);
        job(Trigger::interval(every))
            .validate()
            .expect("a span chrono holds");
        let error = job(Trigger::interval(every))
            .schedule(now())
            .expect_err("no first run");
        assert!(matches!(error, Error::InvalidInterval(_)), "{error:?}");
        assert_eq!(
            message(&error),
            "invalid interval: with a period of 1000000000000000s the first run after \
             2026-01-01 12:00:00 UTC would lie past the last instant a date-time can hold \
             (+262142-12-31 23:59:59.999999999 UTC): use a shorter interval"
        );
        // Started in the past, the next run after now does not exist either.
        let started = Trigger::interval(every).start(utc("2020-01-01T00:00:00Z"));
        assert!(matches!(
            job(started).schedule(now()),
            Err(Error::InvalidInterval(_))
        ));
        // Rescheduling onto it is refused too, and changes nothing.
        let mut hourly = job(Trigger::interval(secs(3600)))
            .schedule(now())
            .expect("valid");
        let before = hourly.clone();
        assert!(matches!(
            hourly.reschedule(Trigger::interval(every), now()),
            Err(Error::InvalidInterval(_))
        ));
        assert_eq!(hourly, before);
        // The longest interval whose first run exists is taken, and runs there.
        let room = (DateTime::<Utc>::MAX_UTC - now())
            .to_std()
            .expect("positive");
        let last = job(Trigger::interval(room))
            .schedule(now())
            .expect("first run at the last instant");
        assert_eq!(last.next_run_time, Some(DateTime::<Utc>::MAX_UTC));
        assert_eq!(stored(&last), Ok(last.clone()));
        // An interval started at a time still gets its first run there.
        let anchored = job(Trigger::interval(every).start(utc("2030-01-01T00:00:00Z")))
            .schedule(now())
            .expect("first run at the start");
        assert_eq!(anchored.next_run_time, Some(utc("2030-01-01T00:00:00Z")));
    }

    #[test]
    fn bounds_in_the_wrong_order_are_refused() {
        let (start, end) = (utc("2026-02-01T00:00:00Z"), utc("2026-01-01T00:00:00Z"));
        let error = job(Trigger::interval(secs(60)).start(start).end(end))
            .schedule(now())
            .expect_err("inverted");
        assert!(
            matches!(error, Error::EndBeforeStart { start: s, end: e } if s == start && e == end)
        );
        assert_eq!(
            message(&error),
            "end 2026-01-01 00:00:00 UTC lies before start 2026-02-01 00:00:00 UTC"
        );
        // A stored trigger with inverted bounds does not decode.
        let column = r#"{"type":"date","at":"2026-01-15T00:00:00Z","start":"2026-02-01T00:00:00Z","end":"2026-01-01T00:00:00Z"}"#;
        assert!(serde_json::from_str::<Trigger>(column).is_err());
    }

    #[test]
    fn a_calendar_interval_of_nothing_is_refused() {
        let nothing = CalendarInterval {
            years: 0,
            months: 0,
            weeks: 0,
            days: 0,
            at: NaiveTime::MIN,
            start_date: None,
        };
        let error = Trigger::calendar(nothing).validate().expect_err("empty");
        assert!(matches!(error, Error::InvalidInterval(_)));
        assert_eq!(
            message(&error),
            "invalid interval: a calendar interval needs at least one of years, months, weeks \
             or days"
        );
        let column = r#"{"type":"calendar_interval","at":"08:00:00"}"#;
        assert!(serde_json::from_str::<Trigger>(column).is_err());
    }

    #[test]
    fn an_empty_combination_is_refused_and_does_not_decode() {
        let error = Trigger::or([]).validate().expect_err("empty");
        assert!(matches!(error, Error::EmptyCombination("or")));
        assert_eq!(
            message(&error),
            "an or combination needs at least one trigger"
        );
        assert!(serde_json::from_str::<Trigger>(r#"{"type":"and","triggers":[]}"#).is_err());
    }
}

mod jitter {
    use super::*;

    /// Every fire time of `trigger` in `[from, until]`.
    fn fires(trigger: &Trigger, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut at = from - chrono::Duration::nanoseconds(1);
        while let Some(next) = trigger.next_after(at).filter(|next| *next <= until) {
            out.push(next);
            at = next;
        }
        out
    }

    #[test]
    fn jitter_wider_than_the_interval_is_refused() {
        let start = now();
        let hour = start + chrono::Duration::hours(1);
        let wide = Trigger::interval(secs(1)).start(start).jitter(secs(10));
        // What it would do: runs overtake each other, and the overtaken are dropped.
        let dropped = fires(&wide, start, hour).len();
        assert!(dropped < 3_000, "{dropped} of 3601 fire times");
        let error = job(wide).schedule(now()).expect_err("wider");
        assert!(
            matches!(error, Error::InvalidJitter { jitter, .. } if jitter == secs(10)),
            "{error:?}"
        );
        assert_eq!(
            message(&error),
            "invalid jitter 10s: wider than the interval (1s), so a run moved late could fall \
             after the next one, which would then be dropped: use a jitter of at most the \
             interval"
        );
        // By a nanosecond, and inside a combination.
        let hair = Trigger::interval(secs(1)).jitter(secs(1) + Duration::from_nanos(1));
        assert!(matches!(hair.validate(), Err(Error::InvalidJitter { .. })));
        let inside = Trigger::or([Trigger::interval(secs(60)).jitter(secs(61))]);
        assert!(matches!(
            inside.validate(),
            Err(Error::InvalidJitter { .. })
        ));
        // Stored, it does not decode.
        let column = serde_json::to_string(&Trigger::interval(secs(1)).jitter(secs(10)))
            .expect("serialises");
        assert!(serde_json::from_str::<Trigger>(&column).is_err());
    }

    #[test]
    fn jitter_as_wide_as_the_interval_keeps_every_run_in_order() {
        let start = now();
        let hour = start + chrono::Duration::hours(1);
        for salt_id in ["a", "b", "sync", "db_sync"] {
            let trigger = Trigger::interval(secs(1))
                .start(start)
                .end(hour)
                .jitter(secs(1));
            let job = Job::new(salt_id, "sync", trigger)
                .schedule(now())
                .expect("jitter == interval is allowed");
            let mut fires = Vec::new();
            let mut next = job.next_run_time;
            while let Some(at) = next {
                fires.push(at);
                next = job.next_fire_after(at);
            }
            assert_eq!(fires.len(), 3_601, "one per second, both ends included");
            assert!(fires.windows(2).all(|w| w[0] < w[1]), "in order");
        }
    }

    #[test]
    fn jitter_longer_than_offsets_can_span_is_refused() {
        let cron = Trigger::cron("0 * * * *").expect("valid cron");
        let longest = Duration::from_nanos(u64::try_from(i64::MAX).expect("positive"));
        job(cron.clone().jitter(longest))
            .schedule(now())
            .expect("292 years of jitter is the longest");
        for jitter in [
            longest + Duration::from_nanos(1),
            secs(300_000 * 366 * 86_400),
            Duration::from_secs(u64::MAX),
            Duration::MAX,
        ] {
            let error = job(cron.clone().jitter(jitter))
                .schedule(now())
                .expect_err("too long");
            assert!(
                matches!(error, Error::InvalidJitter { jitter: j, .. } if j == jitter),
                "{error:?}"
            );
            assert_eq!(
                message(&error),
                format!(
                    "invalid jitter {jitter:?}: longer than the longest jitter \
                     (9223372036.854775807s, about 292 years: offsets are counted in 64-bit \
                     nanoseconds): use a shorter jitter"
                )
            );
        }
    }

    #[test]
    fn jitter_that_could_move_the_first_run_past_the_range_is_refused() {
        let last = DateTime::<Utc>::MAX_UTC - chrono::Duration::hours(1);
        let error = job(Trigger::date(last).jitter(secs(7_200)))
            .schedule(now())
            .expect_err("past the range");
        assert!(matches!(error, Error::InvalidJitter { .. }), "{error:?}");
        assert_eq!(
            message(&error),
            "invalid jitter 7200s: it could move the first run (+262142-12-31 \
             22:59:59.999999999 UTC) past the last instant a date-time can hold \
             (+262142-12-31 23:59:59.999999999 UTC): use a jitter of at most 3600s"
        );
        let fits = job(Trigger::date(last).jitter(secs(3_600)))
            .schedule(now())
            .expect("fits");
        assert!(fits.next_run_time.is_some_and(|at| at >= last));
    }

    #[test]
    fn a_search_through_a_jitter_far_wider_than_its_gaps_gives_up() {
        // Refused by `validate`, but a trigger value can be anything: its search walks at
        // most 100,000 fire times and gives up, instead of the 9.5 trillion seconds of
        // a 300,000-year window.
        let wide = Trigger::interval(secs(1)).jitter(secs(300_000 * 366 * 86_400));
        let started = std::time::Instant::now();
        assert_eq!(wide.next_checked(now()), Err(SearchLimit));
        assert_eq!(wide.next_after(now()), None);
        assert!(started.elapsed() < Duration::from_secs(30));
        // A cron every second with a century of jitter: accepted (cron gaps are not
        // checked), and its search answers or gives up, promptly.
        let every_second = Trigger::cron("* * * * * *")
            .expect("valid cron")
            .jitter(secs(100 * 366 * 86_400));
        every_second.validate().expect("not checked on cron");
        let started = std::time::Instant::now();
        let _ = every_second.next_checked(now());
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn jitter_on_cron_is_documented_not_checked() {
        // A jitter wider than the gap between fire times is accepted on a cron (its
        // gaps vary): each fire time is still moved by less than the jitter.
        let every_minute = Trigger::cron("* * * * *")
            .expect("valid cron")
            .jitter(secs(600));
        job(every_minute.clone())
            .schedule(now())
            .expect("not checked on cron");
        let first = every_minute.next_after(now()).expect("fires");
        assert!(first > now() && first < now() + chrono::Duration::minutes(11));
    }
}

mod options_and_dates {
    use super::*;

    #[test]
    fn stored_options_that_cannot_work_do_not_decode() {
        let error =
            serde_json::from_str::<JobOptions>(r#"{"max_instances":0}"#).expect_err("never runs");
        assert!(
            error
                .to_string()
                .starts_with("invalid job options: max_instances is 0"),
            "{error}"
        );
        let zero_timeout = r#"{"timeout":{"secs":0,"nanos":0}}"#;
        assert!(serde_json::from_str::<JobOptions>(zero_timeout).is_err());
        // Fields left out still take the defaults.
        let options: JobOptions = serde_json::from_str(r#"{"max_instances":4}"#).expect("ok");
        assert_eq!(options, JobOptions::default().max_instances(4));
        let options: JobOptions = serde_json::from_str("{}").expect("ok");
        assert_eq!(options, JobOptions::default());
    }

    #[test]
    fn a_zero_grace_is_allowed() {
        let options = JobOptions::default().misfire_grace_time(Duration::ZERO);
        let job = job(Trigger::interval(secs(60)))
            .options(options)
            .schedule(now())
            .expect("zero grace is allowed");
        let due = job.next_run_time.expect("scheduled");
        // Decided at its very time it runs; a nanosecond late it is missed.
        assert_eq!(job.decide(due, 0).expect("due").run, vec![due]);
        let late = job
            .decide(due + chrono::Duration::nanoseconds(1), 0)
            .expect("due");
        assert!(late.run.is_empty());
        assert_eq!(late.missed.map(|m| m.count), Some(1));
    }

    #[test]
    fn dates_across_the_whole_range_are_kept() {
        for at in [
            DateTime::<Utc>::MIN_UTC + chrono::Duration::nanoseconds(1),
            utc("0001-01-01T00:00:00Z"),
            utc("9999-12-31T23:59:59.999999999Z"),
            utc("+10000-01-01T00:00:00Z"),
            DateTime::<Utc>::MAX_UTC,
        ] {
            let job = job(Trigger::date(at)).schedule(now()).expect("a date");
            assert_eq!(job.next_run_time, Some(at));
            assert_eq!(stored(&job), Ok(job.clone()), "{at}");
        }
        // A fire time is the first strictly after an instant: none lies before the first.
        let error = Trigger::date(DateTime::<Utc>::MIN_UTC)
            .validate()
            .expect_err("never comes");
        assert!(matches!(error, Error::InvalidDateTime { .. }));
        assert_eq!(
            message(&error),
            "invalid date-time \"-262143-01-01 00:00:00 UTC\": the first instant a date-time \
             can hold never comes (nothing lies before it): use a later date"
        );
        let error = Trigger::date_str("+300000-01-01", chrono_tz::UTC).expect_err("no such date");
        assert!(matches!(error, Error::InvalidDateTime { .. }));
    }

    #[test]
    fn a_cron_year_beyond_the_range_is_refused() {
        // croner searches up to the year 5000 but stops when it gets there: the year
        // 5000 itself would never fire.
        for year in ["5000", "5001", "2030-5000"] {
            let error = CronFields::new()
                .year(year)
                .build()
                .expect_err("beyond 4999");
            assert!(matches!(
                error,
                Error::InvalidCronField { field: "year", .. }
            ));
            assert!(message(&error).ends_with("out of range 1-4999"), "{error}");
        }
        assert_eq!(
            message(
                &CronFields::new()
                    .year("5000")
                    .build()
                    .expect_err("beyond 4999")
            ),
            "invalid cron field year=\"5000\": year 5000 out of range 1-4999"
        );
        // The last year croner searches is kept, to its last hour.
        let last = CronFields::new()
            .year("4999")
            .month("12")
            .day("31")
            .hour("23")
            .build()
            .expect("in range");
        let job = job(Trigger::from(last)).schedule(now()).expect("fires");
        assert_eq!(job.next_run_time, Some(utc("4999-12-31T23:00:00Z")));
        assert_eq!(stored(&job), Ok(job.clone()));
    }
}

/// No input panics: extreme durations and instants through every entry point.
mod extremes {
    use super::*;

    fn durations() -> Vec<Duration> {
        let longest = chrono::Duration::MAX.to_std().expect("positive");
        vec![
            Duration::ZERO,
            Duration::from_nanos(1),
            secs(1),
            secs(3_600),
            secs(300_000 * 366 * 86_400),
            longest,
            longest + Duration::from_nanos(1),
            secs(u64::try_from(i64::MAX).expect("positive")),
            secs(u64::MAX),
            Duration::MAX,
        ]
    }

    fn instants() -> Vec<DateTime<Utc>> {
        vec![
            DateTime::<Utc>::MIN_UTC,
            now(),
            DateTime::<Utc>::MAX_UTC - chrono::Duration::seconds(1),
            DateTime::<Utc>::MAX_UTC,
        ]
    }

    fn triggers(d: Duration, at: DateTime<Utc>) -> Vec<Trigger> {
        let cron = Trigger::cron("*/5 * * * *").expect("valid cron");
        let daily = CalendarInterval {
            years: 0,
            months: 0,
            weeks: 0,
            days: 1,
            at: NaiveTime::MIN,
            start_date: None,
        };
        let mut triggers = vec![
            Trigger::interval(d),
            Trigger::interval(d).start(at),
            Trigger::interval(secs(1)).jitter(d),
            Trigger::interval(d).jitter(d),
            cron.clone().jitter(d),
            Trigger::date(at).jitter(d),
            Trigger::calendar(daily).jitter(d),
        ];
        triggers.push(Trigger::or([Trigger::interval(d), cron.clone()]));
        triggers.push(Trigger::and([
            Trigger::interval(d).start(at),
            Trigger::interval(d),
        ]));
        triggers
    }

    #[test]
    fn no_duration_or_instant_panics_and_what_is_accepted_runs() {
        for d in durations() {
            // A run decided late walks the fire times of the last millisecond: a
            // million for a nanosecond interval, seconds in a debug build.
            let late = d.is_zero() || d >= Duration::from_millis(1);
            for at in instants() {
                for trigger in triggers(d, at) {
                    for options in [
                        JobOptions::default(),
                        JobOptions::default().misfire_grace_time(d),
                        JobOptions::default().timeout(d),
                    ] {
                        check(&job(trigger.clone()).options(options), at, late);
                    }
                }
            }
        }
    }

    /// Whatever is asked, an answer and no panic; what is accepted has a first run time
    /// and reads back as written.
    fn check(job: &Job, now: DateTime<Utc>, late: bool) {
        let _ = job.trigger.next_after(now);
        let _ = job.trigger.next_checked(DateTime::<Utc>::MIN_UTC);
        let _ = job.validate();
        let Ok(scheduled) = job.clone().schedule(now) else {
            return;
        };
        let first = scheduled.next_run_time;
        // An `and` of two intervals may never coincide, a cron is done after the last
        // year croner searches, a calendar interval's next wall time may lie past the
        // end of chrono's range; an interval or a date accepted always runs.
        let may_be_done = match &job.trigger.kind {
            TriggerKind::And { .. } => true,
            TriggerKind::Interval { .. } | TriggerKind::Date { .. } => false,
            _ => now.year() >= 5000,
        };
        if !may_be_done {
            assert!(first.is_some(), "accepted but never runs: {job:?} at {now}");
        }
        assert_eq!(stored(&scheduled), Ok(scheduled.clone()), "{job:?}");
        if let Some(due) = first {
            let _ = scheduled.decide(due, 0);
            if late {
                let day_late = due
                    .checked_add_signed(chrono::Duration::days(1))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                let _ = scheduled.decide(day_late, 0);
            }
            let _ = scheduled.next_fire_after(due);
        }
    }
}
