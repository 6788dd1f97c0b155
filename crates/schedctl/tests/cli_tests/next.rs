//! `schedctl next` end to end: the real binary, its stdout, stderr and exit code.

use std::process::{Command, Output};

fn schedctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_schedctl"))
        .args(args)
        .output()
        .expect("schedctl runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 output")
}

#[test]
fn new_york_spring_forward() {
    let out = schedctl(&[
        "next",
        "30 2 * * *",
        "--tz",
        "America/New_York",
        "--after",
        "2026-03-07T12:00:00-05:00",
        "-n",
        "2",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out),
        "2026-03-08T03:00:00-04:00\n2026-03-09T02:30:00-04:00\n"
    );
}

#[test]
fn defaults_to_utc_and_five_lines() {
    let out = schedctl(&["next", "0 12 * * *", "--after", "2026-01-01T00:00:00Z"]);
    assert!(out.status.success(), "{out:?}");
    let expected: String = (1..=5)
        .map(|day| format!("2026-01-0{day}T12:00:00+00:00\n"))
        .collect();
    assert_eq!(stdout(&out), expected);
}

#[test]
fn fall_back_wildcard_fires_in_both_occurrences() {
    let out = schedctl(&[
        "next",
        "30 * * * *",
        "--tz",
        "America/New_York",
        "--after",
        "2026-11-01T00:45:00-04:00",
        "-n",
        "3",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out),
        "2026-11-01T01:30:00-04:00\n2026-11-01T01:30:00-05:00\n2026-11-01T02:30:00-05:00\n"
    );
}

#[test]
fn a_schedule_that_never_fires_prints_nothing() {
    let out = schedctl(&["next", "0 0 30 2 *", "--after", "2026-01-01T00:00:00Z"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "");
}

fn assert_usage_error(args: &[&str], needle: &str) {
    let out = schedctl(args);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err}");
    assert!(
        err.contains(needle),
        "stderr {err:?} should name {needle:?}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_expression_is_one_line_and_exit_2() {
    assert_usage_error(
        &["next", "61 * * * *"],
        "invalid cron expression \"61 * * * *\"",
    );
    assert_usage_error(&["next", "* * *"], "expected 5 fields");
}

#[test]
fn bad_zone_is_one_line_and_exit_2() {
    assert_usage_error(
        &["next", "* * * * *", "--tz", "Mars/Olympus"],
        "unknown time zone \"Mars/Olympus\"",
    );
}

#[test]
fn bad_after_is_one_line_and_exit_2() {
    assert_usage_error(
        &["next", "* * * * *", "--after", "yesterday"],
        "invalid --after \"yesterday\"",
    );
}

/// `args` succeed with nothing on stderr; their stdout.
#[track_caller]
fn ok(args: &[&str]) -> String {
    let out = schedctl(args);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{args:?}: {out:?}"
    );
    stdout(&out)
}

/// `args` with `--json`: their stdout, one JSON document on one line.
#[track_caller]
fn json(args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    let text = ok(&args);
    assert_eq!(text.lines().count(), 1, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

#[test]
fn an_interval_fires_from_its_start() {
    let args = [
        "next",
        "--every",
        "90m",
        "--start",
        "2026-01-05T09:00:00Z",
        "--after",
        "2026-01-05T10:00:00Z",
        "-n",
        "3",
    ];
    assert_eq!(
        ok(&args),
        "2026-01-05T10:30:00+00:00\n2026-01-05T12:00:00+00:00\n2026-01-05T13:30:00+00:00\n"
    );
    // Before its start, the start is the first fire.
    let early = ok(&[
        "next",
        "--every",
        "1h30m",
        "--start",
        "2026-01-05T09:00:00Z",
        "--after",
        "2026-01-01T00:00:00Z",
        "-n",
        "1",
    ]);
    assert_eq!(early, "2026-01-05T09:00:00+00:00\n");
}

/// An interval is absolute time: across the spring-forward change in New York, 6 h
/// apart stay 6 real hours apart (22:00 EST, then 05:00 EDT), shown in --tz.
#[test]
fn an_interval_without_start_counts_from_after_in_absolute_time() {
    let out = ok(&[
        "next",
        "--every",
        "6h",
        "--tz",
        "America/New_York",
        "--after",
        "2026-03-07T22:00:00-05:00",
        "-n",
        "3",
    ]);
    assert_eq!(
        out,
        "2026-03-08T05:00:00-04:00\n2026-03-08T11:00:00-04:00\n2026-03-08T17:00:00-04:00\n"
    );
    let half = ok(&[
        "next",
        "--every",
        "500ms",
        "--after",
        "2026-01-01T00:00:00Z",
        "-n",
        "2",
    ]);
    assert_eq!(
        half,
        "2026-01-01T00:00:00.500+00:00\n2026-01-01T00:00:01+00:00\n"
    );
}

/// A calendar interval keeps its wall time across DST, and a start on the 31st skips
/// the months without one.
#[test]
fn a_calendar_interval_keeps_its_wall_time() {
    let weekly = ok(&[
        "next",
        "--calendar",
        "1w",
        "--at",
        "09:30",
        "--tz",
        "Europe/Berlin",
        "--start",
        "2026-03-16T00:00:00+01:00",
        "--after",
        "2026-03-01T00:00:00Z",
        "-n",
        "3",
    ]);
    assert_eq!(
        weekly,
        "2026-03-16T09:30:00+01:00\n2026-03-23T09:30:00+01:00\n2026-03-30T09:30:00+02:00\n"
    );
    let monthly = ok(&[
        "next",
        "--calendar",
        "1mo",
        "--at",
        "08:00:30",
        "--start",
        "2026-01-31T00:00:00Z",
        "--after",
        "2026-01-01T00:00:00Z",
        "-n",
        "3",
    ]);
    assert_eq!(
        monthly,
        "2026-01-31T08:00:30+00:00\n2026-03-31T08:00:30+00:00\n2026-05-31T08:00:30+00:00\n"
    );
    // Without --start: from the day of --after, at midnight by default.
    let every_other_day = ok(&[
        "next",
        "--calendar",
        "2d",
        "--after",
        "2026-01-01T12:00:00Z",
        "-n",
        "2",
    ]);
    assert_eq!(
        every_other_day,
        "2026-01-03T00:00:00+00:00\n2026-01-05T00:00:00+00:00\n"
    );
}

const WEEKDAYS_AND_SATURDAY_NOON: &str = r#"{"type":"or","triggers":[
    {"type":"cron","expression":"0 9 * * mon-fri"},
    {"type":"cron","expression":"0 12 * * sat"}]}"#;

/// Any trigger as stores keep it: an `or` of two crons read in --tz (Friday 2 January
/// 2026 at 9, Saturday at noon, Monday at 9), from the command line or a file.
#[test]
fn a_combined_trigger_as_json() {
    let args = [
        "next",
        "--trigger",
        WEEKDAYS_AND_SATURDAY_NOON,
        "--tz",
        "Europe/Paris",
        "--after",
        "2026-01-01T12:00:00Z",
        "-n",
        "3",
    ];
    let expected =
        "2026-01-02T09:00:00+01:00\n2026-01-03T12:00:00+01:00\n2026-01-05T09:00:00+01:00\n";
    assert_eq!(ok(&args), expected);

    let dir = std::env::temp_dir().join(format!("schedctl-next-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("trigger.json");
    std::fs::write(&file, WEEKDAYS_AND_SATURDAY_NOON).expect("writes");
    let from_file = format!("@{}", file.display());
    let mut args = args;
    args[2] = &from_file;
    assert_eq!(ok(&args), expected);
    let _ = std::fs::remove_dir_all(&dir);

    // An `and`: noon on the first of a month that is a Monday.
    let and = r#"{"type":"and","triggers":[
        {"type":"cron","expression":"0 12 1 * *"},
        {"type":"cron","expression":"0 12 * * mon"}]}"#;
    let mondays = ok(&[
        "next",
        "--trigger",
        and,
        "--after",
        "2026-01-01T00:00:00Z",
        "-n",
        "2",
    ]);
    assert_eq!(
        mondays,
        "2026-06-01T12:00:00+00:00\n2027-02-01T12:00:00+00:00\n"
    );
}

/// --tz is the default zone of a trigger that names none; a zone it names is kept.
#[test]
fn a_json_trigger_keeps_its_own_zone() {
    let tokyo = r#"{"type":"cron","expression":"0 9 * * *","timezone":"Asia/Tokyo"}"#;
    let out = ok(&[
        "next",
        "--trigger",
        tokyo,
        "--tz",
        "Europe/Paris",
        "--after",
        "2025-12-31T23:00:00Z",
        "-n",
        "1",
    ]);
    assert_eq!(out, "2026-01-01T09:00:00+09:00\n");
    let interval =
        r#"{"type":"interval","every":{"secs":5400,"nanos":0},"start":"2026-01-05T09:00:00Z"}"#;
    let out = ok(&[
        "next",
        "--trigger",
        interval,
        "--after",
        "2026-01-05T09:00:00Z",
        "-n",
        "1",
    ]);
    assert_eq!(out, "2026-01-05T10:30:00+00:00\n");
}

/// `--json`: each fire time with its offset, in UTC, and a note where daylight saving
/// touches it (the clocks going forward at it, a wall time that occurs twice).
#[test]
fn fire_times_as_json_note_dst() {
    let spring = json(&[
        "next",
        "30 2 * * *",
        "--tz",
        "America/New_York",
        "--after",
        "2026-03-07T12:00:00-05:00",
        "-n",
        "2",
    ]);
    assert_eq!(spring[0]["at"], "2026-03-08T03:00:00-04:00");
    assert_eq!(spring[0]["utc"], "2026-03-08T07:00:00Z");
    let note = spring[0]["dst"].as_str().expect("a note");
    assert!(
        note.contains("clocks go forward") && note.contains("-05:00 to -04:00"),
        "{note}"
    );
    assert_eq!(spring[1]["at"], "2026-03-09T02:30:00-04:00");
    assert!(spring[1].get("dst").is_none(), "{spring}");
    assert_eq!(spring.as_array().map(Vec::len), Some(2));

    let fall = json(&[
        "next",
        "30 * * * *",
        "--tz",
        "America/New_York",
        "--after",
        "2026-11-01T00:45:00-04:00",
        "-n",
        "3",
    ]);
    let notes: Vec<Option<&str>> = (0..3).map(|i| fall[i]["dst"].as_str()).collect();
    assert!(notes[0].is_some_and(|n| n.contains("occurs twice") && n.ends_with("the first")));
    assert!(
        notes[1].is_some_and(|n| n.ends_with("the second")),
        "{fall}"
    );
    assert_eq!(notes[2], None);
    assert_eq!(fall[1]["utc"], "2026-11-01T06:30:00Z");

    assert_eq!(
        json(&["next", "0 0 30 2 *", "--after", "2026-01-01T00:00:00Z"]),
        serde_json::json!([])
    );
}

/// A search that gives up (an `and` whose triggers never coincide) prints what it
/// found, says so on stderr, and exits 0: the input was valid.
#[test]
fn a_search_that_gives_up_says_so() {
    let never = r#"{"type":"and","triggers":[
        {"type":"cron","expression":"0 0 * * mon"},
        {"type":"cron","expression":"0 0 * * tue"}]}"#;
    for json in [false, true] {
        let mut args = vec![
            "next",
            "--trigger",
            never,
            "--after",
            "2026-01-01T00:00:00Z",
        ];
        if json {
            args.push("--json");
        }
        let out = schedctl(&args);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(stdout(&out), if json { "[]\n" } else { "" });
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("within the search limit"), "{err}");
    }
}

#[test]
fn bad_schedules_are_one_line_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["next"], "a schedule is required: <EXPR>, --every"),
        (&["next", "--every", "0s"], "an interval of zero length"),
        (
            &["next", "--every", "1.5h"],
            "expected a duration such as 90m",
        ),
        (&["next", "--every", "90"], "expected a duration"),
        (&["next", "--calendar", "1m"], "expected a calendar period"),
        (
            &["next", "--calendar", "0d"],
            "at least one of years, months, weeks or days",
        ),
        (
            &["next", "--calendar", "1d", "--at", "25:00"],
            "expected a time of day",
        ),
        (&["next", "--at", "09:00"], "--calendar"),
        (
            &["next", "* * * * *", "--every", "1m"],
            "cannot be used with",
        ),
        (
            &["next", "--every", "1m", "--trigger", "{}"],
            "cannot be used with",
        ),
        (
            &["next", "--trigger", "{}", "--start", "2026-01-01T00:00:00Z"],
            "cannot be used with",
        ),
        (
            &["next", "--every", "1h", "--start", "monday"],
            "invalid --start \"monday\"",
        ),
        (
            &[
                "next",
                "--every",
                "1h",
                "--start",
                "2026-02-01T00:00:00Z",
                "--end",
                "2026-01-01T00:00:00Z",
            ],
            "end",
        ),
        (
            &["next", "--trigger", "{\"type\":\"cron\"", "--json"],
            "invalid --trigger",
        ),
        (
            &["next", "--trigger", "{\"type\":\"weekly\"}"],
            "unknown variant `weekly`",
        ),
        (
            &[
                "next",
                "--trigger",
                r#"{"type":"interval","every":{"secs":0,"nanos":0}}"#,
            ],
            "an interval of zero length",
        ),
        (
            &[
                "next",
                "--trigger",
                r#"{"type":"cron","expression":"61 * * * *"}"#,
            ],
            "invalid cron expression \"61 * * * *\"",
        ),
        (
            &["next", "--trigger", r#"{"type":"or","triggers":[]}"#],
            "or",
        ),
        (
            &["next", "--trigger", "@/no/such/trigger.json"],
            "cannot read the --trigger file",
        ),
        (
            &["next", "--every", "1h", "--tz", "Mars/Olympus"],
            "unknown time zone",
        ),
        (&["next", "61 * * * *", "--json"], "invalid cron expression"),
    ];
    for (args, needle) in cases {
        assert_usage_error(args, needle);
    }
    let deep = format!(
        "{}{{\"type\":\"date\",\"at\":\"2026-01-01T00:00:00Z\"}}{}",
        r#"{"type":"or","triggers":["#.repeat(200),
        "]}".repeat(200)
    );
    assert_usage_error(&["next", "--trigger", &deep], "invalid --trigger");
}
