//! One node process: a scheduler on the suite's schema that runs the catalogue's jobs,
//! records each start and the explaining events in the side tables, and shuts down
//! cleanly on `SIGTERM` (a `kill -9` is the driver's other way to stop it).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_store_sqlx::PostgresStore;
use sched_tokio::prelude::*;
use tokio::sync::{broadcast, mpsc};

use crate::jobs::{catalog, JobDef};
use crate::side::{self, EventRow, Side};
use crate::Result;

/// What a node is told on its command line.
#[derive(Clone, Debug, clap::Args)]
pub(crate) struct NodeArgs {
    /// Postgres URL.
    #[arg(long)]
    pub(crate) url: String,
    /// The suite's schema (the scheduler's tables and the side tables).
    #[arg(long)]
    pub(crate) schema: String,
    /// The scheduler's node id.
    #[arg(long)]
    pub(crate) node_id: String,
    /// The lease, in milliseconds.
    #[arg(long)]
    pub(crate) lease_ms: u64,
    /// The jobs' first fire time, in Unix milliseconds.
    #[arg(long)]
    pub(crate) epoch_ms: i64,
}

/// Runs the node until `SIGTERM` (or Ctrl-C).
pub(crate) async fn run(args: NodeArgs) -> Result<()> {
    let lease = Duration::from_millis(args.lease_ms);
    let epoch = DateTime::<Utc>::from_timestamp_millis(args.epoch_ms)
        .ok_or_else(|| crate::Error::Invalid(format!("epoch {} ms", args.epoch_ms)))?;
    let side = Side::connect(&args.url, &args.schema, &args.node_id).await?;
    let store = PostgresStore::builder()
        .schema(&args.schema)
        .connect(&args.url)
        .await?;
    let scheduler = Scheduler::builder()
        .store(Arc::new(store))
        .node_id(&args.node_id)
        .lease(lease)
        .event_capacity(1 << 14)
        .build()?;
    let events = scheduler.subscribe();
    let (tx, rx) = mpsc::unbounded_channel();
    let forwarder = tokio::spawn(forward(events, tx));
    let writer = tokio::spawn(side::write_events(Arc::clone(&side), rx));
    let starts = Arc::clone(&side);
    scheduler.register_task("work", move |ctx: JobContext| {
        work(Arc::clone(&starts), ctx)
    });
    for job in catalog(lease) {
        scheduler.add_named_job(spec(&job, epoch)?, "work").await?;
    }
    scheduler.start().await?;
    eprintln!(
        "{} {}: started (pid {})",
        stamp(),
        args.node_id,
        std::process::id()
    );
    sched_tokio::shutdown_signal().await;
    eprintln!("{} {}: stopping", stamp(), args.node_id);
    let stopped = scheduler.shutdown().await;
    // The last events reach the forwarder, which then stops; the writer ends once its
    // queue is written.
    tokio::time::sleep(Duration::from_millis(200)).await;
    forwarder.abort();
    let _ = forwarder.await;
    let written = tokio::time::timeout(Duration::from_secs(30), writer).await;
    side.close().await;
    eprintln!("{} {}: stopped ({stopped:?})", stamp(), args.node_id);
    if written.is_err() {
        // The checker would miss them: this node did not stop cleanly.
        return Err(crate::Error::Invalid(
            "events not all written to fault_events within 30 s".to_owned(),
        ));
    }
    Ok(stopped?)
}

/// The time of day, as the log lines of `log.rs` show it.
pub(crate) fn stamp() -> String {
    Utc::now().format("%H:%M:%S%.3f").to_string()
}

/// The job as every node adds it: same trigger, same options, so `replace_existing`
/// keeps the stored schedule across restarts.
fn spec(job: &JobDef, epoch: DateTime<Utc>) -> Result<JobSpec> {
    let options = JobOptions::default()
        .coalesce(job.coalesce)
        .recover_abandoned(true)
        .misfire_grace_time(Duration::from_secs(3600))
        .max_instances(1);
    let ms = u64::try_from(job.run_for.as_millis()).unwrap_or(u64::MAX);
    Ok(JobSpec::new(job.trigger(epoch))
        .id(job.id.as_str())
        .args(&serde_json::json!({ "ms": ms }))?
        .options(options)
        .replace_existing(true))
}

/// The task: record the start (retried until written), then work for the job's time.
async fn work(side: Arc<Side>, ctx: JobContext) {
    let at = Utc::now();
    side.record_start(&ctx, at).await;
    let ms = ctx.raw_args()["ms"].as_u64().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Passes the events the checker reads to the writer, stamped with the time this node
/// saw them; a subscription that fell behind is logged as such (the checker fails it).
async fn forward(
    mut events: broadcast::Receiver<Event>,
    tx: mpsc::UnboundedSender<(EventRow, DateTime<Utc>)>,
) {
    loop {
        let row = match events.recv().await {
            Ok(event) => EventRow::of(&event),
            Err(broadcast::error::RecvError::Lagged(missed)) => Some(EventRow::lagged(missed)),
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if let Some(row) = row {
            let _ = tx.send((row, Utc::now()));
        }
    }
}
