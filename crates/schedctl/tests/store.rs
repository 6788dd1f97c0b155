//! `schedctl` store commands end to end on a SQLite file.

use std::process::{Command, Output};
use std::time::Duration;

use sched_core::job::Job;
use sched_core::store::JobStore;
use sched_core::trigger::Trigger;
use sched_store_sqlx::SqliteStore;

fn schedctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_schedctl"))
        .args(args)
        .output()
        .expect("schedctl runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn seeded_file(name: &str) -> (String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("schedctl-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("jobs.sqlite");
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = SqliteStore::connect(&url).await.expect("opens");
    let now = chrono::Utc::now();
    for id in ["alpha", "beta"] {
        let job = Job::new(id, "sync", Trigger::interval(Duration::from_secs(3600)))
            .schedule(now)
            .expect("valid");
        store.add_job(job, false).await.expect("add");
    }
    store.close().await;
    (url, dir)
}

#[tokio::test]
async fn lists_pauses_resumes_runs_and_removes_jobs() {
    let (url, _dir) = seeded_file("control").await;
    let listed = schedctl(&["jobs", "--url", &url]);
    assert!(listed.status.success(), "{listed:?}");
    let lines: Vec<String> = stdout(&listed).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("alpha\tsync\tsync\t") && lines[0].ends_with("\tactive"));

    let paused = schedctl(&["pause", "beta", "--url", &url]);
    assert!(stdout(&paused).ends_with("\tpaused\n"), "{paused:?}");
    let listed = stdout(&schedctl(&["jobs", "--url", &url]));
    assert!(listed
        .lines()
        .any(|l| l.starts_with("beta\t") && l.ends_with("\tpaused")));
    let resumed = schedctl(&["resume", "beta", "--url", &url]);
    assert!(stdout(&resumed).ends_with("\tactive\n"), "{resumed:?}");

    let before = chrono::Utc::now();
    let run = schedctl(&["run", "alpha", "--url", &url]);
    assert!(run.status.success(), "{run:?}");
    let next = stdout(&run)
        .split('\t')
        .nth(3)
        .expect("next run column")
        .to_owned();
    let next = chrono::DateTime::parse_from_rfc3339(&next).expect("rfc3339");
    assert!(next <= chrono::Utc::now() && next >= before - chrono::Duration::seconds(1));

    let removed = schedctl(&["remove", "alpha", "--url", &url]);
    assert_eq!(stdout(&removed), "removed alpha\n");
    let listed = stdout(&schedctl(&["jobs", "--url", &url]));
    assert_eq!(listed.lines().count(), 1);
    let history = schedctl(&["history", "--url", &url]);
    assert!(
        history.status.success() && stdout(&history).is_empty(),
        "{history:?}"
    );
}

#[tokio::test]
async fn unknown_job_and_bad_url_are_usage_errors() {
    let (url, _dir) = seeded_file("errors").await;
    let missing = schedctl(&["pause", "nope", "--url", &url]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no job with id \"nope\""));
    let bad = schedctl(&["jobs", "--url", "mysql://x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unsupported store URL"));
}

#[tokio::test]
async fn a_file_in_use_by_a_scheduler_is_refused() {
    let (url, _dir) = seeded_file("locked").await;
    let holder = SqliteStore::connect(&url).await.expect("opens");
    let refused = schedctl(&["jobs", "--url", &url]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("in use by another process"));
    holder.close().await;
}
