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
