//! A node on Postgres that runs the task `flaky` (its first attempt of an occurrence
//! fails, later ones succeed) until it is killed: what the retry fault test
//! (`tests/scenarios/postgres_retry.rs`) starts, then kills with SIGKILL during a retry
//! backoff. Usage: `retry_node <schema> <node id>`, with `DATABASE_URL` set. It prints
//! each attempt on a line.

use std::sync::Arc;
use std::time::Duration;

use sched_store_sqlx::PostgresStore;
use sched_tokio::prelude::*;
use sched_tokio::JobContext;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(schema), Some(node)) = (args.next(), args.next()) else {
        return Err("usage: retry_node <schema> <node id> (with DATABASE_URL)".into());
    };
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let store = PostgresStore::builder()
        .schema(&schema)
        .poll_interval(Duration::from_millis(100))
        .connect(&url)
        .await?;
    let scheduler = Scheduler::builder()
        .store(Arc::new(store))
        .node_id(&node)
        .lease(Duration::from_secs(3))
        .heartbeat_interval(Duration::from_millis(500))
        .build()?;
    let me = node.clone();
    scheduler.register_task("flaky", move |ctx: JobContext| {
        let me = me.clone();
        async move {
            println!("attempt {} of {} on {me}", ctx.attempt(), ctx.scheduled);
            if ctx.attempt() == 1 {
                return Err("the first attempt always fails".to_owned());
            }
            Ok(())
        }
    });
    scheduler.start().await?;
    println!("running");
    std::future::pending::<()>().await;
    Ok(())
}
