//! Nothing accepted that cannot be kept, through the real stores: arguments and
//! triggers nested as deep as a store reads back are stored and read back equal (also
//! by another store instance, as after a restart); one level deeper is refused at
//! `add_job` (`Error::NestedTooDeep`), and nothing is written.
//!
//! SQLite always; Postgres too when `DATABASE_URL` is set (skipped loudly otherwise).

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use sched_store_sqlx::{PostgresStore, SqliteStore};
use sched_test_support::{database_url, drop_schema, unique_schema};
use sched_tokio::prelude::*;
use sched_tokio::sched_core::job::MAX_JSON_DEPTH;
use serde_json::{json, Value};

fn objects(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!({ "a": inner }))
}

fn arrays(depth: usize) -> Value {
    (1..depth).fold(json!([]), |inner, _| json!([inner]))
}

/// `levels` `and`s around a cron trigger (each level is two JSON levels).
fn nested_ands(levels: usize) -> Trigger {
    let leaf = Trigger::cron("0 * * * *").unwrap();
    (0..levels).fold(leaf, |inner, _| Trigger::and([inner]))
}

fn job(id: &str, args: Value, trigger: Trigger) -> Job {
    let mut job = Job::new(id, "tick", trigger)
        .schedule(chrono::Utc::now())
        .unwrap();
    job.args = args;
    job
}

/// Writes through `store`, reads back through `again` (another instance on the data).
async fn kept_at_the_limit_refused_beyond(
    store: Arc<dyn JobStore>,
    again: impl std::future::Future<Output = Arc<dyn JobStore>>,
) {
    let minute = || Trigger::interval(Duration::from_secs(60));
    let kept = [
        job("objects", objects(MAX_JSON_DEPTH), minute()),
        job("arrays", arrays(MAX_JSON_DEPTH), minute()),
        job("ands", Value::Null, nested_ands((MAX_JSON_DEPTH - 1) / 2)),
    ];
    for job in &kept {
        store.add_job(job.clone(), false).await.unwrap();
    }
    let refused = [
        job("objects_deeper", objects(MAX_JSON_DEPTH + 1), minute()),
        job("arrays_deeper", arrays(MAX_JSON_DEPTH + 1), minute()),
        {
            // `schedule` refuses it already: set after, as a store may be handed it.
            let mut deeper = job("ands_deeper", Value::Null, minute());
            deeper.trigger = nested_ands((MAX_JSON_DEPTH - 1) / 2 + 1);
            deeper
        },
    ];
    for job in refused {
        let id = job.id.clone();
        let error = store.add_job(job, false).await.unwrap_err();
        assert!(
            matches!(error, sched_tokio::sched_core::Error::NestedTooDeep { .. }),
            "{id}: {error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains(&MAX_JSON_DEPTH.to_string()),
            "{id}: names the limit: {text}"
        );
    }
    let again = again.await;
    for job in &kept {
        assert_eq!(&again.get_job(&job.id).await.unwrap(), job, "{}", job.id);
    }
    let mut stored: Vec<String> = again
        .list_jobs()
        .await
        .unwrap()
        .into_iter()
        .map(|job| job.id.to_string())
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        ["ands", "arrays", "objects"],
        "nothing refused was written"
    );
}

#[tokio::test]
async fn sqlite_keeps_what_it_reads_back_and_refuses_deeper() {
    let dir = std::env::temp_dir().join(unique_schema("depth"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("jobs.sqlite").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    let closing = store.clone();
    let reopen = async {
        closing.close().await;
        Arc::new(SqliteStore::connect(&url).await.unwrap()) as Arc<dyn JobStore>
    };
    kept_at_the_limit_refused_beyond(Arc::new(store), reopen).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test]
async fn postgres_keeps_what_it_reads_back_and_refuses_deeper() {
    let url = database_url("postgres_keeps_what_it_reads_back_and_refuses_deeper");
    let schema = unique_schema("depth");
    let connect = || async {
        PostgresStore::builder()
            .schema(&schema)
            .listen(false)
            .connect(&url)
            .await
            .unwrap()
    };
    let store = connect().await;
    let reopen = async { Arc::new(connect().await) as Arc<dyn JobStore> };
    kept_at_the_limit_refused_beyond(Arc::new(store), reopen).await;
    drop_schema(&url, &schema).await;
}
