//! SqliteStore and Tokio's paused clock (`start_paused`): sqlx runs SQLite on a thread
//! Tokio does not see, so paused time skips ahead during every query. Opening the store
//! there fails with a message that says so, not with a bare timeout.

#![allow(missing_docs, clippy::unwrap_used)]

use sched_store_sqlx::SqliteStore;

#[tokio::test(start_paused = true)]
async fn sqlite_store_on_tokios_paused_clock_says_why_it_cannot_run() {
    let dir = std::env::temp_dir().join(sched_test_support::unique_schema("paused"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("jobs.sqlite").display());
    let error = SqliteStore::connect(&url).await.expect_err("paused time");
    let message = error.to_string();
    assert!(
        message.contains("SqliteStore cannot run on Tokio's paused clock")
            && message.contains("MemoryStore on paused time"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn sqlite_store_opens_on_the_real_clock() {
    let dir = std::env::temp_dir().join(sched_test_support::unique_schema("real"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("jobs.sqlite").display());
    let store = SqliteStore::connect(&url).await.expect("real time");
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
