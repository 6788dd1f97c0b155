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
