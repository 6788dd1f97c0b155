//! Cost of "next fire time strictly after t" for typical triggers.
//!
//! `cargo bench -p sched-bench --features benches --bench next_fire`

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use sched_core::trigger::{CronFields, Trigger};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("bench instant")
        .with_timezone(&Utc)
}

fn bench(c: &mut Criterion) {
    let after = at("2026-06-15T10:17:23Z");
    let cases: Vec<(&str, Trigger)> = vec![
        (
            "cron `*/5 * * * *` UTC",
            Trigger::cron("*/5 * * * *").expect("valid"),
        ),
        (
            "cron `0 8 * * mon-fri` UTC",
            Trigger::cron("0 8 * * mon-fri").expect("valid"),
        ),
        (
            "cron `30 2 * * *` America/New_York",
            Trigger::cron("30 2 * * *")
                .expect("valid")
                .timezone(chrono_tz::America::New_York),
        ),
        (
            "cron fields hour=8 day_of_week=mon-fri Australia/Sydney",
            Trigger::from(
                CronFields::new()
                    .hour("8")
                    .day_of_week("mon-fri")
                    .build()
                    .expect("valid"),
            )
            .timezone(chrono_tz::Australia::Sydney),
        ),
        (
            "cron `0 0 30 2 *` (never)",
            Trigger::cron("0 0 30 2 *").expect("valid"),
        ),
        (
            "interval 10 s",
            Trigger::interval(Duration::from_secs(10)).start(at("2026-01-01T00:00:00Z")),
        ),
        (
            "or(cron hourly, interval 7 min)",
            Trigger::or([
                Trigger::cron("0 * * * *").expect("valid"),
                Trigger::interval(Duration::from_secs(420)).start(at("2026-01-01T00:00:00Z")),
            ]),
        ),
        (
            "and(cron */15, cron `0 9-17 * * *`)",
            Trigger::and([
                Trigger::cron("*/15 * * * *").expect("valid"),
                Trigger::cron("0 9-17 * * *").expect("valid"),
            ]),
        ),
    ];
    let mut group = c.benchmark_group("next_after");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for (name, trigger) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(trigger).next_after(black_box(after)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
