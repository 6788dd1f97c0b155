//! A scheduler node on a schema of a real Postgres, with the events it emitted: the
//! multi-node tests start two or more on one schema.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sched_store_sqlx::PostgresStore;
use sched_tokio::prelude::*;
use sched_tokio::sched_core::store::RunId;
use sched_tokio::sched_core::support::Mutex;
use sched_tokio::RunEvent;

pub struct Node {
    pub scheduler: Scheduler,
    pub events: Arc<Mutex<Vec<Event>>>,
}

impl Node {
    /// Node `id` on `schema`, heartbeating every `heartbeat`, its tasks registered by
    /// `register` before it starts.
    pub async fn start(
        url: &str,
        schema: &str,
        id: &str,
        heartbeat: Duration,
        register: impl FnOnce(&Scheduler),
    ) -> Self {
        let store = PostgresStore::builder()
            .schema(schema)
            .poll_interval(Duration::from_millis(100))
            .max_connections(4)
            .connect(url)
            .await
            .expect("postgres store connects");
        let scheduler = Scheduler::builder()
            .node_id(id)
            .store(Arc::new(store))
            .lease(Duration::from_secs(60))
            .heartbeat_interval(heartbeat)
            .build()
            .expect("valid builder");
        register(&scheduler);
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let mut receiver = scheduler.subscribe();
        tokio::spawn(async move {
            while let Ok(event) = receiver.recv().await {
                sink.lock().push(event);
            }
        });
        scheduler.start().await.expect("starts");
        Node { scheduler, events }
    }

    /// Waits (up to 30 s) until `pick` finds something in this node's events.
    pub async fn wait_for<T>(&self, what: &str, pick: impl Fn(&[Event]) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(found) = pick(&self.events.lock()) {
                return found;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The ids of the runs of `job` that started here, once there are `count`.
    pub async fn started(&self, job: &str, count: usize) -> Vec<RunId> {
        self.wait_for("runs to start", |events| {
            let ids = submitted(events, job);
            (ids.len() >= count).then(|| ids.into_iter().map(|(id, _)| id).collect())
        })
        .await
    }

    /// Waits for `count` runs of `job` to be reported cancelled here.
    pub async fn cancelled(&self, job: &str, count: usize) {
        self.wait_for("runs reported cancelled", |events| {
            (cancelled(events, job).len() >= count).then_some(())
        })
        .await;
    }
}

/// The runs of `job` that started, with their scheduled times, in order.
pub fn submitted(events: &[Event], job: &str) -> Vec<(RunId, chrono::DateTime<chrono::Utc>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::JobSubmitted(RunEvent {
                job_id,
                run_id,
                scheduled,
                ..
            }) if &**job_id == job => Some((*run_id, *scheduled)),
            _ => None,
        })
        .collect()
}

/// The runs of `job` reported cancelled.
pub fn cancelled(events: &[Event], job: &str) -> Vec<RunId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::JobError(run)
                if &*run.job_id == job && run.error.as_deref() == Some("cancelled") =>
            {
                Some(run.run_id)
            }
            _ => None,
        })
        .collect()
}
