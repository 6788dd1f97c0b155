//! `schedctl` store commands end to end on a SQLite file: tables, JSON, and `next --job`.

use std::process::{Command, Output};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_core::job::Job;
use sched_core::store::{AcquireRequest, JobStore, Outcome};
use sched_core::trigger::Trigger;
use sched_store_sqlx::SqliteStore;
use serde_json::Value;

fn schedctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_schedctl"))
        .args(args)
        .env_remove("SCHED_STORE_URL")
        .output()
        .expect("schedctl runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `args` succeed, saying nothing on stderr; their stdout.
#[track_caller]
fn ok(args: &[&str]) -> String {
    let out = schedctl(args);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{args:?}: {out:?}"
    );
    stdout(&out)
}

/// `args` with `--json` succeed; their stdout as JSON (one document, one line).
#[track_caller]
fn json(args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let text = ok(&args);
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

fn utc(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("test instant")
        .with_timezone(&Utc)
}

struct Seeded {
    url: String,
    dir: std::path::PathBuf,
}

impl Drop for Seeded {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A migrated SQLite file holding `jobs`, closed again (SQLite allows one process).
async fn seeded(name: &str, jobs: Vec<Job>) -> Seeded {
    let dir = std::env::temp_dir().join(format!("schedctl-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("jobs.sqlite");
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = SqliteStore::connect(&url).await.expect("opens");
    for job in jobs {
        store.add_job(job, false).await.expect("add");
    }
    store.close().await;
    Seeded { url, dir }
}

fn hourly(id: &str, now: DateTime<Utc>) -> Job {
    Job::new(id, "sync", Trigger::interval(Duration::from_secs(3600)))
        .schedule(now)
        .expect("valid")
}

/// The column at which `header`'s `name` starts, in chars.
fn column(header: &str, name: &str) -> usize {
    let byte = header.find(name).expect("a column");
    header[..byte].chars().count()
}

/// The cell of `line` that starts at char `at` (up to the next two spaces).
fn cell_at(line: &str, at: usize) -> String {
    let rest: String = line.chars().skip(at).collect();
    rest.split("  ").next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn lists_pauses_resumes_runs_and_removes_jobs() {
    let now = Utc::now();
    let store = seeded("control", vec![hourly("alpha", now), hourly("beta", now)]).await;
    let url = store.url.as_str();
    let listed = ok(&["jobs", "--url", url]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two rows: {listed}");
    assert!(
        lines[0].starts_with("ID     NAME  TASK  TRIGGER   NEXT RUN"),
        "{listed}"
    );
    assert!(
        lines[1].starts_with("alpha  sync  sync  every 1h  "),
        "{listed}"
    );
    assert!(lines[1].ends_with("  active"), "{listed}");

    let paused = ok(&["pause", "beta", "--url", url]);
    assert!(paused.starts_with("paused beta (next run "), "{paused}");
    let listed = ok(&["jobs", "--url", url]);
    assert!(listed
        .lines()
        .any(|l| l.starts_with("beta ") && l.ends_with("  paused")));
    let resumed = ok(&["resume", "beta", "--url", url]);
    assert!(resumed.starts_with("resumed beta (next run "), "{resumed}");
    let listed = ok(&["jobs", "--url", url]);
    assert!(listed
        .lines()
        .any(|l| l.starts_with("beta ") && l.ends_with("  active")));

    let before = Utc::now();
    let run = ok(&["run", "alpha", "--url", url]);
    assert!(run.starts_with("made alpha due now ("), "{run}");
    let next = run
        .split(['(', ')'])
        .nth(1)
        .expect("the next run time in parentheses");
    let next = utc(next);
    assert!(next <= Utc::now() && next >= before - chrono::Duration::seconds(1));

    assert_eq!(ok(&["remove", "alpha", "--url", url]), "removed alpha\n");
    assert_eq!(ok(&["jobs", "--url", url]).lines().count(), 2);
    assert_eq!(ok(&["history", "--url", url]), "", "no runs: no table");
}

/// Every column of `jobs` starts where its header does, however wide its cells are,
/// non-ASCII ones included (counted in chars).
#[tokio::test]
async fn jobs_are_an_aligned_table() {
    let now = utc("2026-01-05T10:00:00Z");
    let berlin = chrono_tz::Europe::Berlin;
    let jobs = vec![
        hourly("a", now).name("Zürich → Ωmega backup"),
        Job::new(
            "a-much-longer-id",
            "report",
            Trigger::cron("0 9 * * mon-fri")
                .expect("cron")
                .timezone(berlin),
        )
        .schedule(now)
        .expect("valid"),
    ];
    let store = seeded("aligned", jobs).await;
    let listed = ok(&["jobs", "--url", &store.url]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 3, "{listed}");
    let header = lines[0];
    let expected = [
        ("ID", ["a", "a-much-longer-id"]),
        ("NAME", ["Zürich → Ωmega backup", "report"]),
        ("TASK", ["sync", "report"]),
        (
            "TRIGGER",
            ["every 1h", "cron \"0 9 * * mon-fri\" in Europe/Berlin"],
        ),
        ("NEXT RUN", ["2026-01-05T11:00:00Z", "2026-01-06T08:00:00Z"]),
        ("STATE", ["active", "active"]),
    ];
    for (name, cells) in expected {
        let at = column(header, name);
        for (line, cell) in lines[1..].iter().zip(cells) {
            assert_eq!(cell_at(line, at), cell, "column {name}:\n{listed}");
        }
    }
    assert!(
        lines.iter().all(|l| !l.ends_with(' ')),
        "no trailing blanks"
    );
}

/// A history with runs: a table whose columns line up (an error's newline escaped, a
/// node name in any script), and the same runs as JSON.
#[tokio::test]
async fn history_is_a_table_and_json() {
    let now = utc("2026-01-05T10:00:00Z");
    let store = seeded("history", vec![hourly("alpha", now), hourly("beta", now)]).await;
    let sqlite = SqliteStore::connect(&store.url).await.expect("opens");
    let started = utc("2026-01-05T10:30:00Z");
    for (id, node, outcome) in [
        ("alpha", "nœud-1", Outcome::Success),
        ("beta", "n2", Outcome::Error("boom\nsecond line".into())),
    ] {
        let claimed = sqlite
            .claim_now(id, AcquireRequest::new(node, started))
            .await
            .expect("claims");
        let run = claimed.runs.first().expect("a run").run_id;
        sqlite
            .complete(run, outcome, started + chrono::Duration::seconds(2))
            .await
            .expect("completes");
    }
    sqlite.close().await;
    let listed = ok(&["history", "--url", &store.url]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 3, "{listed}");
    let header = lines[0];
    assert!(header.starts_with("RUN  JOB    SCHEDULED"), "{listed}");
    let status = column(header, "STATUS");
    let node = column(header, "NODE");
    let error = column(header, "ERROR");
    let beta = lines
        .iter()
        .find(|l| l.contains("beta"))
        .expect("beta's run");
    let alpha = lines
        .iter()
        .find(|l| l.contains("alpha"))
        .expect("alpha's run");
    assert_eq!(cell_at(beta, status), "error");
    assert_eq!(cell_at(alpha, status), "success");
    assert_eq!(cell_at(alpha, node), "nœud-1");
    assert_eq!(cell_at(beta, error), "boom\\nsecond line", "{listed}");
    assert_eq!(
        cell_at(alpha, column(header, "FINISHED")),
        "2026-01-05T10:30:02Z"
    );

    let runs = json(&["history", "--url", &store.url]);
    let runs = runs.as_array().expect("an array");
    assert_eq!(runs.len(), 2);
    let beta = runs
        .iter()
        .find(|r| r["job_id"] == "beta")
        .expect("beta's run");
    assert_eq!(beta["status"], "error");
    assert_eq!(beta["error"], "boom\nsecond line");
    assert_eq!(beta["node"], "n2");
    assert_eq!(beta["started"], "2026-01-05T10:30:00Z");
    assert_eq!(beta["finished"], "2026-01-05T10:30:02Z");
    assert!(beta["run_id"].is_i64() && beta["scheduled"].is_string());
    let only = json(&["history", "alpha", "-n", "5", "--url", &store.url]);
    assert_eq!(only.as_array().map(Vec::len), Some(1));
    assert_eq!(only[0]["job_id"], "alpha");
}

/// `jobs --json` is the stored jobs in their serde form (it reads back as a `Job`);
/// each action says what it did and how the job now is.
#[tokio::test]
async fn jobs_and_actions_as_json() {
    let now = utc("2026-01-05T10:00:00Z");
    let store = seeded("json", vec![hourly("alpha", now), hourly("beta", now)]).await;
    let url = store.url.as_str();
    let jobs = json(&["jobs", "--url", url]);
    let jobs: Vec<Job> = serde_json::from_value(jobs).expect("the jobs' serde form");
    assert_eq!(jobs, vec![hourly("alpha", now), hourly("beta", now)]);
    assert_eq!(
        json(&["--json", "jobs", "--url", url])
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let paused = json(&["pause", "beta", "--url", url]);
    assert_eq!(paused["action"], "pause");
    assert_eq!(paused["id"], "beta");
    assert_eq!(paused["job"]["paused"], true);
    let resumed = json(&["resume", "beta", "--url", url]);
    assert_eq!(
        (resumed["action"].as_str(), &resumed["job"]["paused"]),
        (Some("resume"), &Value::Bool(false))
    );
    let resumed_next = utc(resumed["job"]["next_run_time"]
        .as_str()
        .expect("a next run"));
    assert!(
        resumed_next >= Utc::now() - chrono::Duration::seconds(5),
        "from now"
    );
    let before = Utc::now();
    let run = json(&["run", "alpha", "--url", url]);
    assert_eq!(run["action"], "run");
    let due = utc(run["job"]["next_run_time"].as_str().expect("due"));
    assert!(due >= before - chrono::Duration::seconds(1) && due <= Utc::now());

    let removed = json(&["remove", "alpha", "--url", url]);
    assert_eq!(removed["action"], "remove");
    assert_eq!(
        (removed["id"].as_str(), &removed["forced"]),
        (Some("alpha"), &Value::Bool(false))
    );
    assert_eq!(removed["job"]["task"], "sync");
    let forced = json(&["remove", "beta", "--force", "--url", url]);
    assert_eq!(
        (forced["forced"].clone(), forced["job"].clone()),
        (Value::Bool(true), Value::Null)
    );
    assert_eq!(json(&["jobs", "--url", url]), Value::Array(vec![]));
    assert_eq!(json(&["history", "--url", url]), Value::Array(vec![]));

    let migrated = json(&["migrate", "--url", url]);
    assert_eq!(migrated["action"], "migrate");
    assert_eq!(migrated["store"], url);
    assert_eq!(migrated["schema"], Value::Null, "SQLite has no schema");
}

/// `next --job`: the stored next run time first, then the job's own fire times (its
/// zone, its jitter), as sched-core computes them for that job.
#[tokio::test]
async fn next_of_a_stored_job() {
    let now = utc("2026-03-05T10:00:00Z");
    let ny = chrono_tz::America::New_York;
    let daily = Job::new(
        "daily",
        "report",
        Trigger::cron("30 2 * * *").expect("cron").timezone(ny),
    )
    .schedule(now)
    .expect("valid");
    let jittered = Job::new(
        "jittered",
        "sync",
        Trigger::interval(Duration::from_secs(3600)).jitter(Duration::from_secs(600)),
    )
    .schedule(now)
    .expect("valid");
    let store = seeded("next-job", vec![daily.clone(), jittered.clone()]).await;
    let url = store.url.as_str();

    assert_eq!(
        ok(&["next", "--job", "daily", "--url", url, "-n", "4"]),
        "2026-03-06T02:30:00-05:00\n2026-03-07T02:30:00-05:00\n\
         2026-03-08T03:00:00-04:00\n2026-03-09T02:30:00-04:00\n"
    );
    // SCHED_STORE_URL serves as --url, as for the other store commands.
    let out = Command::new(env!("CARGO_BIN_EXE_schedctl"))
        .args(["next", "--job", "daily", "-n", "1"])
        .env("SCHED_STORE_URL", url)
        .output()
        .expect("runs");
    assert_eq!(stdout(&out), "2026-03-06T02:30:00-05:00\n", "{out:?}");
    let after = ok(&[
        "next",
        "--job",
        "daily",
        "--url",
        url,
        "--after",
        "2026-03-08T00:00:00-05:00",
        "-n",
        "1",
    ]);
    assert_eq!(after, "2026-03-08T03:00:00-04:00\n");
    let fired = json(&["next", "--job", "daily", "--url", url, "-n", "3"]);
    assert_eq!(fired[2]["at"], "2026-03-08T03:00:00-04:00");
    assert_eq!(fired[2]["utc"], "2026-03-08T07:00:00Z");
    assert!(fired[2]["dst"]
        .as_str()
        .is_some_and(|n| n.contains("forward")));
    assert!(fired[0].get("dst").is_none(), "{fired}");

    // The jitter is the job's own: what sched-core gives this job, not any trigger.
    let mut expected = vec![jittered.next_run_time.expect("scheduled")];
    while expected.len() < 5 {
        let last = *expected.last().expect("one");
        expected.push(jittered.next_fire_after(last).expect("fires"));
    }
    let shown: Vec<DateTime<Utc>> = ok(&["next", "--job", "jittered", "--url", url])
        .lines()
        .map(utc)
        .collect();
    assert_eq!(shown, expected);
    let unsalted = jittered.trigger.next_after(expected[0]).expect("fires");
    assert_ne!(
        unsalted, expected[1],
        "the salt matters here, so the test tells"
    );
}

#[tokio::test]
async fn next_of_a_stored_job_refuses_bad_input() {
    let store = seeded("next-job-errors", vec![hourly("alpha", Utc::now())]).await;
    for (args, needle) in [
        (
            &["next", "--job", "nope", "--url", &store.url][..],
            "no job with id \"nope\"",
        ),
        (
            &["next", "--job", "alpha"],
            "--job needs the store: give --url",
        ),
        (
            &["next", "--job", "alpha", "--url", &store.url, "--tz", "UTC"],
            "cannot be used with",
        ),
        (
            &["next", "--job", "alpha", "--url", "mysql://x"],
            "unsupported store URL",
        ),
    ] {
        let out = schedctl(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err:?} should say {needle:?}");
        assert!(out.stdout.is_empty());
    }
}

#[tokio::test]
async fn unknown_job_and_bad_url_are_usage_errors() {
    let store = seeded("errors", vec![hourly("alpha", Utc::now())]).await;
    for args in [
        &["pause", "nope", "--url", &store.url][..],
        &["pause", "nope", "--url", &store.url, "--json"],
    ] {
        let missing = schedctl(args);
        assert_eq!(missing.status.code(), Some(2));
        let err = String::from_utf8_lossy(&missing.stderr);
        assert!(err.contains("no job with id \"nope\"") && err.lines().count() == 1);
        assert!(missing.stdout.is_empty(), "{missing:?}");
    }
    let bad = schedctl(&["jobs", "--url", "mysql://x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unsupported store URL"));
}

#[tokio::test]
async fn a_file_in_use_by_a_scheduler_is_refused() {
    let store = seeded("locked", vec![hourly("alpha", Utc::now())]).await;
    let holder = SqliteStore::connect(&store.url).await.expect("opens");
    for args in [
        &["jobs", "--url", &store.url][..],
        &["jobs", "--json", "--url", &store.url],
    ] {
        let refused = schedctl(args);
        assert_eq!(refused.status.code(), Some(1), "{refused:?}");
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains("in use by another process") && err.lines().count() == 1);
        assert!(refused.stdout.is_empty());
    }
    holder.close().await;
}

/// One HTTP/1.1 request to `address`; the status line's code and the body.
fn http(address: &str, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connects");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("request sent");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("reply");
    let code = reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (code, body)
}

/// `serve`: the dashboard of a store, with no scheduler: it lists the stored jobs,
/// its actions change them, `--read-only` refuses them, and SIGTERM stops it cleanly.
#[tokio::test]
async fn serve_shows_and_changes_a_store_and_stops_on_sigterm() {
    use std::io::BufRead;
    let now = Utc::now();
    let store = seeded("serve", vec![hourly("alpha", now)]).await;
    for read_only in [false, true] {
        let mut args = vec![
            "serve",
            "--url",
            store.url.as_str(),
            "--listen",
            "127.0.0.1:0",
            "--json",
        ];
        if read_only {
            args.push("--read-only");
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_schedctl"))
            .args(&args)
            .env_remove("SCHED_STORE_URL")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("schedctl serve starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the first line");
        let first: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(first["read_only"], read_only);
        let url = first["listening"].as_str().expect("listening").to_owned();
        let address = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();

        let (code, body) = http(&address, "GET", "/api/jobs");
        assert_eq!(code, 200, "{body}");
        let jobs: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(jobs["jobs"][0]["id"], "alpha");
        let (code, page) = http(&address, "GET", "/");
        assert_eq!(code, 200);
        assert!(
            page.contains("store only") && page.contains("alpha"),
            "{page}"
        );
        let (code, body) = http(&address, "POST", "/api/jobs/alpha/pause");
        if read_only {
            assert_eq!(code, 403, "{body}");
        } else {
            assert_eq!(code, 200, "{body}");
            let (_, body) = http(&address, "GET", "/api/jobs/alpha");
            assert!(body.contains("\"paused\":true"), "{body}");
            let (code, _) = http(&address, "POST", "/api/jobs/alpha/resume");
            assert_eq!(code, 200);
        }
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let status = child.wait().expect("exits");
        assert!(status.success(), "a clean stop on SIGTERM: {status:?}");
    }
}
