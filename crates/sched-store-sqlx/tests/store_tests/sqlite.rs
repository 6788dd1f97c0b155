//! `SqliteStore` against the contract, on a fresh file per store.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use sched_core::store::{contract, JobStore};
use sched_store_sqlx::SqliteStore;

fn temp_url(name: &str) -> (String, std::path::PathBuf) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sched-sqlite-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("jobs.sqlite");
    (format!("sqlite://{}?mode=rwc", path.display()), dir)
}

async fn fresh() -> Arc<dyn JobStore> {
    let (url, _dir) = temp_url("contract");
    Arc::new(
        SqliteStore::connect(&url)
            .await
            .expect("sqlite store opens"),
    )
}

#[tokio::test]
async fn sqlite_store_passes_the_contract() {
    contract::run_all(fresh).await;
}

#[tokio::test]
async fn sqlite_store_claims_ten_thousand_jobs_once_each() {
    contract::claims_each_due_job_once(fresh().await, 10_000).await;
}

#[tokio::test]
async fn a_second_process_on_the_same_file_is_refused() {
    let (url, _dir) = temp_url("locked");
    let first = SqliteStore::connect(&url).await.expect("first opens");
    let second = SqliteStore::connect(&url).await;
    let error = second.expect_err("second open must be refused").to_string();
    assert!(error.contains("in use by another process"), "{error}");
    first.close().await;
    SqliteStore::connect(&url)
        .await
        .expect("opens again once the first is closed");
}

#[tokio::test]
async fn run_history_records_outcomes_newest_first() {
    contract::run_history_records_outcomes(fresh().await).await;
}

/// A declared job whose stored row cannot be decoded is overwritten by `sync_jobs`,
/// and claimed again at once (no longer quarantined by the claim that reported it).
#[tokio::test]
async fn sync_jobs_repairs_a_declared_job_whose_row_does_not_decode() {
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use sched_core::job::Job;
    use sched_core::store::AcquireRequest;
    use sched_core::trigger::Trigger;

    let (url, _dir) = temp_url("sync_repair");
    let store = SqliteStore::connect(&url).await.expect("opens");
    let t0: DateTime<Utc> = "2026-03-02T09:00:00Z".parse().expect("instant");
    let every = || {
        Job::new(
            "report",
            "report",
            Trigger::interval(Duration::from_secs(60)),
        )
    };
    store
        .sync_jobs("deploy", vec![every()], t0)
        .await
        .expect("first sync");
    sqlx::query("UPDATE jobs SET options = 'not json' WHERE id = 'report'")
        .execute(store.pool())
        .await
        .expect("corrupts the row");
    let due = t0 + chrono::Duration::seconds(60);
    let claim = |at| AcquireRequest::new("n1", at).limit(10);
    let reported = store.acquire(claim(due)).await.expect("claim");
    assert!(reported.runs.is_empty(), "the corrupt row is not run");
    assert_eq!(
        reported.errors.len(),
        1,
        "it is reported: {:?}",
        reported.errors
    );
    let repaired = store
        .sync_jobs("deploy", vec![every()], due)
        .await
        .expect("sync over the corrupt row");
    assert_eq!(
        repaired.added.len() + repaired.updated.len(),
        1,
        "{repaired:?}"
    );
    let later = due + chrono::Duration::seconds(60);
    let runs = store.acquire(claim(later)).await.expect("claim").runs;
    assert_eq!(runs.len(), 1, "the repaired job runs again");
}

#[tokio::test]
async fn census_reads_ids_and_tasks_only_and_survives_a_bad_row() {
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use sched_core::job::Job;
    use sched_core::store::{AcquireRequest, Runnable};
    use sched_core::trigger::Trigger;

    let (url, _dir) = temp_url("census");
    let store = SqliteStore::connect(&url).await.expect("opens");
    let t0: DateTime<Utc> = "2026-03-02T09:00:00Z".parse().expect("instant");
    for (id, task) in [("a", "known"), ("b", "gone"), ("c", "gone"), ("d", "gone")] {
        let job = Job::new(id, task, Trigger::interval(Duration::from_secs(60)))
            .schedule(t0)
            .expect("job");
        store.add_job(job, false).await.expect("added");
    }
    // b's options no longer decode (the census does not read them); c's task is not
    // text at all (SQLite keeps any value in any column).
    for corrupt in [
        "UPDATE jobs SET options = 'not json' WHERE id = 'b'",
        "UPDATE jobs SET task = x'ff00' WHERE id = 'c'",
    ] {
        sqlx::query(corrupt)
            .execute(store.pool())
            .await
            .expect("corrupts a row");
    }
    let runnable = Runnable {
        names: vec!["known".to_owned()],
        prefixes: Vec::new(),
    };
    let census = store
        .census(&runnable)
        .await
        .expect("a census over bad rows");
    assert_eq!(census.jobs, 4, "every row is counted");
    let named: Vec<(&str, &str)> = census
        .unrunnable
        .iter()
        .map(|(id, task)| (id.as_str(), task.as_str()))
        .collect();
    assert_eq!(
        named,
        [("b", "gone"), ("d", "gone")],
        "c's task cannot be read"
    );
    // c is quarantined and reported by the next claim, and stays in the table.
    let claimed = store
        .acquire(AcquireRequest::new("n1", t0 + chrono::Duration::seconds(60)).limit(10))
        .await
        .expect("claim");
    let reported: Vec<String> = claimed
        .errors
        .iter()
        .map(|error| error.to_string())
        .collect();
    assert!(
        reported.iter().any(|error| error.contains("\"c\"")),
        "{reported:?}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(rows, 4, "no row deleted");
}
