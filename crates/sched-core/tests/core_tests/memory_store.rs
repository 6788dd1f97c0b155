//! `MemoryStore` against the `JobStore` contract, as a store crate runs it.
//!
//! Needs the `contract-tests` feature (sched-core's dev-dependency on itself turns it
//! on); without it this file compiles to nothing.
#![cfg(feature = "contract-tests")]

use std::sync::Arc;

use sched_core::store::{contract, JobStore, MemoryStore};

fn fresh() -> Arc<dyn JobStore> {
    Arc::new(MemoryStore::new())
}

#[tokio::test]
async fn memory_store_passes_the_contract() {
    contract::run_all(|| async { fresh() }).await;
}

#[tokio::test]
async fn memory_store_claims_ten_thousand_jobs_once_each() {
    contract::claims_each_due_job_once(fresh(), 10_000).await;
}
