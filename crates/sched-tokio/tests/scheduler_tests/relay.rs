//! Events from every node, through an in-process relay (`MemoryRelay`), on Tokio's
//! paused clock: what one node does reaches the other's subscribers, with its node
//! id, batched; what a node missed is reported with its count. The Postgres relay has
//! its own tests in sched-store-sqlx.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sched_tokio::prelude::*;
use sched_tokio::sched_core::relay::{EventRelay, MemoryRelay, RelaySink, RelaySubscription};
use sched_tokio::MissedEvents;
use tokio::sync::{broadcast, Semaphore};

fn node(id: &str, relay: Arc<dyn EventRelay>, capacity: usize) -> Scheduler {
    Scheduler::builder()
        .node_id(id)
        .clock(TokioClock::new())
        .event_capacity(capacity)
        .event_relay(relay)
        .build()
        .expect("valid builder")
}

fn drain(events: &mut broadcast::Receiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(event) = events.try_recv() {
        out.push(event);
    }
    out
}

#[tokio::test(start_paused = true)]
async fn one_nodes_run_events_reach_the_other_with_its_node_id() {
    let relay = MemoryRelay::new();
    let a = node("node-a", Arc::new(relay.clone()), 4096);
    let b = node("node-b", Arc::new(relay.clone()), 4096);
    let mut on_a = a.subscribe();
    let mut on_b = b.subscribe();
    a.start().await.expect("starts");
    b.start().await.expect("starts");
    a.add_job(
        JobSpec::interval(Duration::from_secs(10)).id("ok"),
        || async {},
    )
    .await
    .expect("added");
    a.add_job(
        JobSpec::interval(Duration::from_secs(10)).id("fails"),
        || async { Err::<(), _>(std::io::Error::other("disk full")) },
    )
    .await
    .expect("added");
    tokio::time::sleep(Duration::from_secs(25)).await;
    a.shutdown().await.expect("clean");
    b.shutdown().await.expect("clean");

    let seen = drain(&mut on_b);
    let executed: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::JobExecuted(run) => Some((run.job_id.to_string(), run.node.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        executed,
        [
            ("ok".into(), "node-a".into()),
            ("ok".into(), "node-a".into())
        ]
    );
    let errors: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::JobError(run) => Some((run.error.clone(), run.node.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 2, "{seen:?}");
    assert!(errors[0]
        .0
        .as_deref()
        .is_some_and(|e| e.contains("disk full")));
    assert_eq!(errors[0].1, "node-a");
    assert!(seen
        .iter()
        .any(|e| matches!(e, Event::JobAdded(j) if j.node == "node-a")));
    assert_eq!(
        seen.iter()
            .filter(|e| matches!(e, Event::SchedulerStarted { .. }))
            .count(),
        1,
        "only b's own start: lifecycle events are not relayed"
    );
    assert!(
        !seen.iter().any(|e| matches!(e, Event::EventsMissed(_))),
        "{seen:?}"
    );
    // A sees its own events once, with its own id: nothing comes back from the relay.
    let own = drain(&mut on_a);
    let executed_on_a = own
        .iter()
        .filter(|e| matches!(e, Event::JobExecuted(_)))
        .count();
    assert_eq!(executed_on_a, 2);
    assert!(own.iter().filter_map(Event::node).all(|n| n == "node-a"));
}

#[tokio::test(start_paused = true)]
async fn a_burst_is_sent_in_few_payloads_and_arrives_whole() {
    let relay = MemoryRelay::new();
    let a = node("node-a", Arc::new(relay.clone()), 1 << 16);
    let b = node("node-b", Arc::new(relay.clone()), 1 << 16);
    let mut on_b = b.subscribe();
    a.start().await.expect("starts");
    b.start().await.expect("starts");
    for i in 0..300 {
        let spec = JobSpec::interval(Duration::from_secs(60)).id(format!("job-{i}"));
        a.add_job(spec, || async {}).await.expect("added");
    }
    tokio::time::sleep(Duration::from_secs(61)).await;
    a.shutdown().await.expect("clean");
    let seen = drain(&mut on_b);
    let executed = seen
        .iter()
        .filter(|e| matches!(e, Event::JobExecuted(_)))
        .count();
    let relayed = seen.iter().filter(|e| e.node() == Some("node-a")).count();
    assert_eq!(executed, 300);
    assert_eq!(relayed, 900, "300 added, submitted and executed");
    let payloads = relay.published();
    assert!(payloads < 100, "{payloads} payloads for 900 events");
    b.shutdown().await.expect("clean");
}

#[tokio::test(start_paused = true)]
async fn a_gap_in_a_nodes_numbers_is_reported_with_its_count() {
    let relay = MemoryRelay::new();
    let b = node("node-b", Arc::new(relay.clone()), 4096);
    let mut on_b = b.subscribe();
    b.start().await.expect("starts");
    let batch = |seq: u64| {
        format!(
            r#"{{"v":1,"node":"node-x","inst":"1","seq":{seq},"events":[{{"k":"added","job":"j{seq}","at":"2026-01-01T00:00:00Z"}}]}}"#
        )
    };
    relay
        .publish(vec![batch(0), batch(1), batch(7)])
        .await
        .expect("published");
    relay.interrupt();
    let seen = drain(&mut on_b);
    let ids: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::JobAdded(j) => Some(j.job_id.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, ["j0", "j1", "j7"]);
    let missed: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::EventsMissed(MissedEvents { node, missed, .. }) => Some((node.clone(), *missed)),
            _ => None,
        })
        .collect();
    assert_eq!(missed, [(Some("node-x".into()), Some(5)), (None, None)]);
    b.shutdown().await.expect("clean");
}

/// A relay whose publishes wait for a permit: a stuck database.
#[derive(Debug)]
struct Stuck {
    relay: MemoryRelay,
    gate: Arc<Semaphore>,
}

#[async_trait]
impl EventRelay for Stuck {
    fn max_payload(&self) -> usize {
        self.relay.max_payload()
    }
    async fn publish(&self, payloads: Vec<String>) -> sched_tokio::sched_core::Result<()> {
        self.gate.acquire().await.expect("open").forget();
        self.relay.publish(payloads).await
    }
    fn subscribe(&self, sink: RelaySink) -> RelaySubscription {
        self.relay.subscribe(sink)
    }
}

#[tokio::test(start_paused = true)]
async fn events_dropped_by_a_full_queue_are_counted_on_the_other_node() {
    let relay = MemoryRelay::new();
    // One publish goes through (so that B knows where A's numbers stand), then the
    // database is stuck.
    let gate = Arc::new(Semaphore::new(1));
    let stuck = Stuck {
        relay: relay.clone(),
        gate: Arc::clone(&gate),
    };
    // A queue of 8 events: while a publish hangs, what comes after the 8th is dropped.
    let a = node("node-a", Arc::new(stuck), 8);
    let b = node("node-b", Arc::new(relay.clone()), 4096);
    let mut on_b = b.subscribe();
    a.start().await.expect("starts");
    b.start().await.expect("starts");
    a.add_job(
        JobSpec::interval(Duration::from_secs(600)).id("first"),
        || async {},
    )
    .await
    .expect("added");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(relay.published(), 1);
    for i in 0..20 {
        let spec = JobSpec::interval(Duration::from_secs(60)).id(format!("job-{i}"));
        a.add_job(spec, || async {}).await.expect("added");
    }
    tokio::time::sleep(Duration::from_secs(61)).await; // 20 submitted, 20 executed
    gate.add_permits(1000);
    tokio::time::sleep(Duration::from_secs(1)).await; // the queue drains
                                                      // Something after the drops, to carry the gap.
    a.add_job(
        JobSpec::interval(Duration::from_secs(600)).id("last"),
        || async {},
    )
    .await
    .expect("added");
    tokio::time::sleep(Duration::from_secs(1)).await;
    a.shutdown().await.expect("clean");
    b.shutdown().await.expect("clean");
    let seen = drain(&mut on_b);
    let received = seen
        .iter()
        .filter(|e| e.node() == Some("node-a") && !matches!(e, Event::EventsMissed(_)))
        .count() as u64;
    let missed: u64 = seen
        .iter()
        .filter_map(|e| match e {
            Event::EventsMissed(m) => {
                assert_eq!(m.node.as_deref(), Some("node-a"));
                m.missed
            }
            _ => None,
        })
        .sum();
    assert!(missed > 0 && received > 2, "{seen:?}");
    assert_eq!(
        received + missed,
        62,
        "22 added + 20 submitted + 20 executed"
    );
    assert!(seen
        .iter()
        .any(|e| matches!(e, Event::JobAdded(j) if &*j.job_id == "last")));
}

#[test]
fn a_relay_too_small_for_events_is_refused() {
    let error = Scheduler::builder()
        .event_relay(Arc::new(MemoryRelay::with_max_payload(100)))
        .build()
        .expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("a relay whose payloads hold at least 1024 bytes"),
        "{error}"
    );
    let error = Scheduler::builder()
        .node_id("n".repeat(5000))
        .event_relay(Arc::new(MemoryRelay::new()))
        .build()
        .expect_err("refused");
    assert!(
        error
            .to_string()
            .starts_with("invalid configuration: node_id = 5000 bytes"),
        "{error}"
    );
}
