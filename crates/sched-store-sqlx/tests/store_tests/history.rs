//! The run history stays bounded: successful runs beyond the newest
//! `keep_successful_runs` run ids go at the next prune, unsuccessful ones stay for the
//! retention, running ones stay whatever their age. On SQLite and on Postgres.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_core::clock::ManualClock;
use sched_core::job::Job;
use sched_core::store::{AcquireRequest, JobStore, Outcome, RunEnd, RunId, RunQuery, RunStatus};
use sched_core::trigger::Trigger;
use sched_store_sqlx::{PostgresStore, SqliteStore};

use crate::common::{database_url, drop_schemas, unique_schema};

const LEASE: Duration = Duration::from_secs(30);
const RETENTION: Duration = Duration::from_secs(3_600);

fn t0() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z"
        .parse()
        .expect("history test: store call or fixture")
}

async fn add_due(store: &dyn JobStore, jobs: usize) {
    let jobs = (0..jobs)
        .map(|i| {
            let trigger = Trigger::interval(Duration::from_secs(60)).start(t0());
            Job::new(format!("h-{i:05}"), "history_task", trigger)
                .schedule(t0())
                .expect("history test: store call or fixture")
                .into()
        })
        .collect();
    store
        .add_jobs(jobs)
        .await
        .expect("history test: store call or fixture");
}

/// Claims every due job at `t0` (in claims of 1,000): the runs, in claim order.
async fn claim_all(store: &dyn JobStore, jobs: usize) -> Vec<RunId> {
    let mut runs = Vec::new();
    while runs.len() < jobs {
        let claimed = store
            .acquire(AcquireRequest::new("n1", t0()).limit(1_000).lease(LEASE))
            .await
            .expect("history test: store call or fixture");
        assert!(!claimed.runs.is_empty(), "every due job is claimed");
        runs.extend(claimed.runs.iter().map(|run| run.run_id));
    }
    runs
}

/// Every run the history holds, by id: its status.
async fn history(store: &dyn JobStore) -> BTreeMap<i64, RunStatus> {
    let mut all = BTreeMap::new();
    let mut query = RunQuery::new().limit(1_000);
    loop {
        let page = store
            .query_runs(&query)
            .await
            .expect("history test: store call or fixture");
        let Some(last) = page.last() else {
            return all;
        };
        query.before = Some(last.run_id);
        all.extend(page.iter().map(|run| (run.run_id.0, run.status)));
    }
}

/// 30 runs: the first left running, every third of the others failed, the rest
/// succeeded; kept: 5 successful runs' worth of ids.
async fn keeps_the_newest_successes_and_every_failure(store: Arc<dyn JobStore>) {
    let clock = ManualClock::new(t0());
    add_due(&*store, 30).await;
    let runs = claim_all(&*store, 30).await;
    let finished = t0() + chrono::Duration::seconds(1);
    let ends = runs[1..]
        .iter()
        .enumerate()
        .map(|(i, &run)| {
            let outcome = if i % 3 == 0 {
                Outcome::Error("boom".into())
            } else {
                Outcome::Success
            };
            RunEnd::new(run, outcome, finished)
        })
        .collect();
    for result in store.complete_many(ends).await {
        result.expect("history test: store call or fixture");
    }
    let before = history(&*store).await;
    assert_eq!(before.len(), 30, "every run recorded: {before:?}");

    clock.set(t0() + chrono::Duration::seconds(2));
    store
        .heartbeat("n1", &clock, LEASE)
        .await
        .expect("history test: store call or fixture");
    let after = history(&*store).await;
    let newest = *before
        .keys()
        .max()
        .expect("history test: store call or fixture");
    let expected: BTreeMap<i64, RunStatus> = before
        .iter()
        .filter(|(&id, &status)| status != RunStatus::Success || id > newest - 5)
        .map(|(&id, &status)| (id, status))
        .collect();
    assert_eq!(
        after, expected,
        "kept: successes among the newest 5 run ids, every failure, the running run"
    );
    let successes =
        |h: &BTreeMap<i64, RunStatus>| h.values().filter(|&&s| s == RunStatus::Success).count();
    assert!(
        successes(&after) <= 5 && successes(&before) > 5,
        "{} successes before, {} after",
        successes(&before),
        successes(&after)
    );
    assert_eq!(after.get(&runs[0].0), Some(&RunStatus::Running));

    // Past the retention, every finished run goes; the running one stays.
    clock.set(
        finished
            + chrono::Duration::from_std(RETENTION).expect("history test: store call or fixture")
            + chrono::Duration::seconds(1),
    );
    store
        .heartbeat("n1", &clock, LEASE)
        .await
        .expect("history test: store call or fixture");
    let last = history(&*store).await;
    assert_eq!(
        last,
        BTreeMap::from([(runs[0].0, RunStatus::Running)]),
        "after the retention only the running run is left"
    );
}

fn temp_url() -> (String, tempdir::Dir) {
    let dir = tempdir::Dir::new("history");
    (
        format!(
            "sqlite://{}?mode=rwc",
            dir.path.join("jobs.sqlite").display()
        ),
        dir,
    )
}

/// A directory removed when dropped.
mod tempdir {
    use std::sync::atomic::{AtomicU32, Ordering};

    pub(super) struct Dir {
        pub(super) path: std::path::PathBuf,
    }

    impl Dir {
        pub(super) fn new(name: &str) -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "sched-sqlite-{}-{}-{name}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).expect("temp dir");
            Self { path }
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[tokio::test]
async fn sqlite_history_keeps_the_newest_successes_and_every_failure() {
    let (url, _dir) = temp_url();
    let store = SqliteStore::builder()
        .keep_successful_runs(Some(5))
        .run_retention(Some(RETENTION))
        .connect(&url)
        .await
        .expect("history test: store call or fixture");
    keeps_the_newest_successes_and_every_failure(Arc::new(store)).await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_history_keeps_the_newest_successes_and_every_failure() {
    let url = database_url("postgres_history_keeps_the_newest_successes_and_every_failure");
    let store = PostgresStore::builder()
        .schema(unique_schema("hist"))
        .keep_successful_runs(Some(5))
        .run_retention(Some(RETENTION))
        .max_connections(3)
        .connect(&url)
        .await
        .expect("history test: store call or fixture");
    keeps_the_newest_successes_and_every_failure(Arc::new(store)).await;
    drop_schemas(&url, "hist").await;
}

/// More successful runs past the bound than one pruning statement deletes (10,000):
/// one heartbeat still brings the history down to the bound.
#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_history_prunes_past_one_batch_in_one_heartbeat() {
    let url = database_url("postgres_history_prunes_past_one_batch_in_one_heartbeat");
    let schema = unique_schema("histbig");
    let store = PostgresStore::builder()
        .schema(&schema)
        .keep_successful_runs(Some(100))
        .max_connections(3)
        .connect(&url)
        .await
        .expect("history test: store call or fixture");
    let jobs = 12_500;
    add_due(&store, jobs).await;
    let runs = claim_all(&store, jobs).await;
    let finished = t0() + chrono::Duration::seconds(1);
    let ends = runs
        .iter()
        .map(|&run| RunEnd::new(run, Outcome::Success, finished))
        .collect();
    for result in store.complete_many(ends).await {
        result.expect("history test: store call or fixture");
    }
    let clock = ManualClock::new(finished);
    store
        .heartbeat("n1", &clock, LEASE)
        .await
        .expect("history test: store call or fixture");
    let kept: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM \"{schema}\".runs ORDER BY id"
    )))
    .fetch_all(store.pool())
    .await
    .expect("history test: store call or fixture");
    let newest = runs
        .iter()
        .map(|r| r.0)
        .max()
        .expect("history test: store call or fixture");
    assert_eq!(
        kept,
        ((newest - 99)..=newest).collect::<Vec<_>>(),
        "the newest 100 successful runs are left"
    );
    drop_schemas(&url, "histbig").await;
}
