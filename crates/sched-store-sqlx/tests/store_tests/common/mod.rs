//! Shared by the store tests: a Postgres store on a schema of its own.

#![allow(dead_code, unreachable_pub)]

pub mod node;

use sched_store_sqlx::PostgresStore;
pub use sched_test_support::{database_url, drop_schema, drop_schemas, unique_schema};

/// A store on a fresh schema.
pub async fn pg_store(url: &str, prefix: &str) -> PostgresStore {
    PostgresStore::builder()
        .schema(unique_schema(prefix))
        .max_connections(3)
        .connect(url)
        .await
        .expect("postgres store connects")
}
