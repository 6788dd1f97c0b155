//! `PostgresStore` against a real Postgres (`DATABASE_URL`), each store in its own
//! schema so tests run in parallel.

mod common;

use std::sync::Arc;

use sched_core::store::{contract, JobStore};

use common::{database_url, drop_schemas, pg_store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_passes_the_contract() {
    let Some(url) = database_url("postgres_store_passes_the_contract") else {
        return;
    };
    contract::run_all(|| async { Arc::new(pg_store(&url, "contract").await) as Arc<dyn JobStore> })
        .await;
    drop_schemas(&url, "contract").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_claims_ten_thousand_jobs_once_each() {
    let Some(url) = database_url("postgres_store_claims_ten_thousand_jobs_once_each") else {
        return;
    };
    contract::claims_each_due_job_once(Arc::new(pg_store(&url, "tenk").await), 10_000).await;
    drop_schemas(&url, "tenk").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_keeps_run_history() {
    let Some(url) = database_url("postgres_store_keeps_run_history") else {
        return;
    };
    contract::run_history_records_outcomes(Arc::new(pg_store(&url, "history").await)).await;
    drop_schemas(&url, "history").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_closes_cleanly() {
    let Some(url) = database_url("postgres_store_closes_cleanly") else {
        return;
    };
    let store = pg_store(&url, "close").await;
    let closing = tokio::time::timeout(std::time::Duration::from_secs(5), store.close()).await;
    assert!(
        closing.is_ok(),
        "close() returned while the store was alive"
    );
    assert!(store.pool().is_closed());
    drop_schemas(&url, "close").await;
}
