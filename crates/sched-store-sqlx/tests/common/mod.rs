//! Shared by the store tests: a fresh Postgres schema per store, or a loud skip.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU32, Ordering};

use sched_store_sqlx::PostgresStore;

/// `DATABASE_URL`, or `None` after saying loudly that the test is skipped. With
/// `SCHED_REQUIRE_POSTGRES=1` a missing database fails the test instead.
pub fn database_url(test: &str) -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var_os("SCHED_REQUIRE_POSTGRES").is_some_and(|v| v == "1") {
                panic!("{test}: SCHED_REQUIRE_POSTGRES=1 but DATABASE_URL is not set");
            }
            eprintln!("SKIPPED {test}: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run the Postgres tests");
            None
        }
    }
}

/// A schema name no other test (or test process) uses.
pub fn unique_schema(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("t_{prefix}_{}_{n}_{nanos:x}", std::process::id())
}

/// A store on a fresh schema.
pub async fn pg_store(url: &str, prefix: &str) -> PostgresStore {
    PostgresStore::builder()
        .schema(unique_schema(prefix))
        .max_connections(3)
        .connect(url)
        .await
        .expect("postgres store connects")
}

/// Drops every schema this test process created with `prefix`.
pub async fn drop_schemas(url: &str, prefix: &str) {
    let Ok(pool) = sqlx::PgPool::connect(url).await else {
        return;
    };
    let like = format!("t_{prefix}_{}_%", std::process::id());
    let schemas: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1")
            .bind(like)
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
    for schema in schemas {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA \"{schema}\" CASCADE"
        )))
        .execute(&pool)
        .await;
    }
}
