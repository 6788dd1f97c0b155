//! `PostgresStore` against a real Postgres (`DATABASE_URL`), each store in its own
//! schema so tests run in parallel.

use std::sync::Arc;

use sched_core::store::{contract, JobStore};

use crate::common::{database_url, drop_schemas, pg_store};

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_passes_the_contract() {
    let url = database_url("postgres_store_passes_the_contract");
    contract::run_all(|| async { Arc::new(pg_store(&url, "contract").await) as Arc<dyn JobStore> })
        .await;
    drop_schemas(&url, "contract").await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_claims_ten_thousand_jobs_once_each() {
    let url = database_url("postgres_store_claims_ten_thousand_jobs_once_each");
    contract::claims_each_due_job_once(Arc::new(pg_store(&url, "tenk").await), 10_000).await;
    drop_schemas(&url, "tenk").await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_keeps_run_history() {
    let url = database_url("postgres_store_keeps_run_history");
    contract::run_history_records_outcomes(Arc::new(pg_store(&url, "history").await)).await;
    drop_schemas(&url, "history").await;
}

/// The nodes that heartbeat, with the runs they hold (the dashboard's nodes page).
#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_lists_its_nodes() {
    let url = database_url("postgres_store_lists_its_nodes");
    contract::nodes_report_heartbeats(Arc::new(pg_store(&url, "nodes").await)).await;
    drop_schemas(&url, "nodes").await;
}

/// A heartbeat that read its clock before a claim (it waited for a connection) does
/// not shorten that claim's lease.
#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_never_moves_a_lease_backwards() {
    let url = database_url("postgres_store_never_moves_a_lease_backwards");
    contract::a_lease_never_moves_backwards(Arc::new(pg_store(&url, "backwards").await)).await;
    drop_schemas(&url, "backwards").await;
}

/// Two processes on one schema with the same node id: the second (started after the
/// first died) does not adopt the first one's runs.
#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_keeps_only_its_own_claims_alive() {
    let url = database_url("postgres_store_keeps_only_its_own_claims_alive");
    let schema = crate::common::unique_schema("holder");
    let connect = || {
        sched_store_sqlx::PostgresStore::builder()
            .schema(&schema)
            .max_connections(3)
            .connect(&url)
    };
    let first = connect().await.expect("a store on the schema");
    let second = connect().await.expect("a second store on the schema");
    contract::only_the_claiming_instance_keeps_a_run(Arc::new(first), Arc::new(second)).await;
    drop_schemas(&url, "holder").await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_closes_cleanly() {
    let url = database_url("postgres_store_closes_cleanly");
    let store = pg_store(&url, "close").await;
    let closing = tokio::time::timeout(std::time::Duration::from_secs(5), store.close()).await;
    assert!(
        closing.is_ok(),
        "close() returned while the store was alive"
    );
    assert!(store.pool().is_closed());
    drop_schemas(&url, "close").await;
}

/// Settings out of range are refused with the setting and the rule, before any
/// connection is made (nothing is clamped silently).
#[tokio::test]
async fn postgres_builder_refuses_settings_out_of_range() {
    use sched_store_sqlx::PostgresStore;
    use std::time::Duration;

    // Nothing listens there: a refused setting must fail before connecting.
    let url = "postgres://nobody@127.0.0.1:1/none";
    let refused = |result: sched_core::Result<PostgresStore>| match result {
        Err(error @ sched_core::Error::InvalidConfiguration { .. }) => error.to_string(),
        other => panic!("expected an invalid configuration, got {other:?}"),
    };
    assert_eq!(
        refused(PostgresStore::builder().max_connections(1).connect(url).await),
        "invalid configuration: max_connections = 1: at least 2 (a claim and a heartbeat run side by side)"
    );
    assert_eq!(
        refused(
            PostgresStore::builder()
                .poll_interval(Duration::from_millis(5))
                .connect(url)
                .await
        ),
        "invalid configuration: poll_interval = 5ms: at least 10ms"
    );
    assert_eq!(
        refused(PostgresStore::builder().schema("1 drop").connect(url).await),
        "invalid configuration: schema = \"1 drop\": letters, digits and _ (at most 48, not starting with a digit)"
    );
}

/// `connect` turns JIT off on the store's connections: at millions of jobs the claim's
/// generic plan crosses `jit_above_cost`, and compiling it cost more than the claim.
#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_connections_have_jit_off() {
    let url = database_url("postgres_store_connections_have_jit_off");
    let store = pg_store(&url, "jit").await;
    for _ in 0..3 {
        let jit: String = sqlx::query_scalar("SHOW jit")
            .fetch_one(store.pool())
            .await
            .expect("show jit");
        assert_eq!(jit, "off");
    }
    drop_schemas(&url, "jit").await;
}
