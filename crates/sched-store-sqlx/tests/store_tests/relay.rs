//! Events from every node through `PostgresStore::event_relay`: two schedulers (nodes)
//! on one schema of a real Postgres, each with a store of its own. A test `LISTEN`s
//! on the relay's channel beside them, to see the notifications themselves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sched_store_sqlx::{PostgresEventRelay, PostgresStore};
use sched_tokio::prelude::*;
use sched_tokio::sched_core::relay::EventRelay;
use sched_tokio::sched_core::support::Mutex;
use sched_tokio::MissedEvents;
use sqlx::postgres::PgListener;

use crate::common::{database_url, drop_schema, unique_schema};

/// A scheduler on `schema`, relaying (or not) its events.
struct Node {
    scheduler: Scheduler,
    relay: Option<Arc<PostgresEventRelay>>,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Node {
    async fn start(url: &str, schema: &str, id: &str, relay: bool) -> Self {
        let store = PostgresStore::builder()
            .schema(schema)
            .max_connections(3)
            .connect(url)
            .await
            .expect("postgres store connects");
        let relay = relay.then(|| store.event_relay());
        let mut builder = Scheduler::builder().node_id(id).store(Arc::new(store));
        if let Some(relay) = &relay {
            builder = builder.event_relay(relay.clone());
        }
        let scheduler = builder.build().expect("valid builder");
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&events);
        let mut receiver = scheduler.subscribe();
        tokio::spawn(async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => seen.lock().push(event),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        panic!("test subscriber lagged by {n}")
                    }
                    Err(_) => return,
                }
            }
        });
        scheduler.start().await.expect("starts");
        Node {
            scheduler,
            relay,
            events,
        }
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().clone()
    }

    /// Waits (up to 30 s) until `done` holds for this node's events.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Event]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(&self.events()) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                self.events()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The notifications on `channel`, as a test sees them.
async fn sniff(url: &str, channel: &str) -> Arc<Mutex<Vec<String>>> {
    let mut listener = PgListener::connect(url).await.expect("listener connects");
    listener.listen(channel).await.expect("listens");
    let payloads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&payloads);
    tokio::spawn(async move {
        while let Ok(notification) = listener.recv().await {
            seen.lock().push(notification.payload().to_owned());
        }
    });
    payloads
}

fn executed_from<'a>(
    events: &'a [Event],
    node: &'a str,
) -> impl Iterator<Item = &'a sched_tokio::RunEvent> {
    events.iter().filter_map(move |e| match e {
        Event::JobExecuted(run) if run.node == node => Some(run),
        _ => None,
    })
}

/// Node b has heard of a run on node a: both relays are listening.
async fn warm_up(a: &Node, b: &Node) {
    a.scheduler
        .add_job(
            JobSpec::interval(Duration::from_millis(100)).id("warm"),
            || async {},
        )
        .await
        .expect("added");
    b.wait_for("a first run relayed", |e| {
        executed_from(e, "node-a").next().is_some()
    })
    .await;
    a.scheduler.remove_job("warm").await.expect("removed");
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_carries_runs_and_errors_to_the_other_node() {
    let url = database_url("postgres_relay_carries_runs_and_errors_to_the_other_node");
    let schema = unique_schema("relay_runs");
    let a = Node::start(&url, &schema, "node-a", true).await;
    let b = Node::start(&url, &schema, "node-b", true).await;
    let channel = a.relay.as_ref().expect("relays").channel().to_owned();
    assert_eq!(channel, format!("sched_{schema}_events"));
    let payloads = sniff(&url, &channel).await;
    warm_up(&a, &b).await;

    // An error text of 60,000 bytes (non-ASCII too) cannot go in one notification.
    let huge = format!("disk full: {}", "ü".repeat(30_000));
    let text = huge.clone();
    a.scheduler
        .add_job(
            JobSpec::interval(Duration::from_millis(300)).id("fails"),
            move || {
                let text = text.clone();
                async move { Err::<(), _>(std::io::Error::other(text)) }
            },
        )
        .await
        .expect("added");
    b.wait_for("the error relayed", |events| {
        events
            .iter()
            .any(|e| matches!(e, Event::JobError(run) if run.node == "node-a"))
    })
    .await;
    a.scheduler.shutdown().await.expect("clean");
    b.scheduler.shutdown().await.expect("clean");

    let on_b = b.events();
    let error = on_b
        .iter()
        .find_map(|e| match e {
            Event::JobError(run) if run.node == "node-a" => Some(run.clone()),
            _ => None,
        })
        .expect("relayed");
    assert_eq!(error.job_id.as_str(), "fails");
    let text = error.error.expect("error text");
    assert!(text.contains("disk full: üüü"), "{}", &text[..100]);
    assert!(
        text.ends_with(&format!("[... truncated from {} bytes]", huge.len())),
        "{}",
        &text[text.len() - 60..]
    );
    let warm = executed_from(&on_b, "node-a").next().expect("relayed");
    assert_eq!(warm.job_id.as_str(), "warm");
    assert!(on_b
        .iter()
        .any(|e| matches!(e, Event::JobAdded(j) if j.node == "node-a" && &*j.job_id == "fails")));
    assert!(
        !on_b.iter().any(|e| matches!(e, Event::EventsMissed(_))),
        "{on_b:?}"
    );
    // b's own events stay b's; a's do not come back to a as relayed copies.
    assert!(a
        .events()
        .iter()
        .filter_map(Event::node)
        .all(|n| n == "node-a"));
    let payloads = payloads.lock().clone();
    assert!(!payloads.is_empty());
    for payload in &payloads {
        assert!(
            payload.len() < 8000 && payload.is_ascii(),
            "{}",
            payload.len()
        );
    }
    drop_schema(&url, &schema).await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_sends_a_burst_in_few_notifications() {
    let url = database_url("postgres_relay_sends_a_burst_in_few_notifications");
    let schema = unique_schema("relay_burst");
    let a = Node::start(&url, &schema, "node-a", true).await;
    let b = Node::start(&url, &schema, "node-b", true).await;
    let channel = a.relay.as_ref().expect("relays").channel().to_owned();
    warm_up(&a, &b).await;
    let payloads = sniff(&url, &channel).await;
    let before = b.events().len();
    let due = a.scheduler.now() + chrono::Duration::seconds(1);
    for i in 0..200 {
        let spec = JobSpec::date(due).id(format!("burst-{i}"));
        a.scheduler.add_job(spec, || async {}).await.expect("added");
    }
    b.wait_for("200 runs relayed", |events| {
        events
            .iter()
            .filter(|e| matches!(e, Event::JobRemoved(j) if j.job_id.starts_with("burst-")))
            .count()
            == 200
    })
    .await;
    a.scheduler.shutdown().await.expect("clean");
    b.scheduler.shutdown().await.expect("clean");

    let on_b = b.events();
    let burst = &on_b[before..];
    let count = |kind: fn(&Event) -> bool| {
        burst
            .iter()
            .filter(|e| kind(e) && e.job_id().is_some_and(|j| j.starts_with("burst-")))
            .count()
    };
    assert_eq!(count(|e| matches!(e, Event::JobAdded(_))), 200);
    assert_eq!(count(|e| matches!(e, Event::JobSubmitted(_))), 200);
    assert_eq!(count(|e| matches!(e, Event::JobExecuted(_))), 200);
    assert_eq!(count(|e| matches!(e, Event::JobRemoved(_))), 200);
    assert!(
        !on_b.iter().any(|e| matches!(e, Event::EventsMissed(_))),
        "{on_b:?}"
    );
    let notifications = payloads.lock().len();
    assert!(
        notifications > 0 && notifications * 5 < 800,
        "{notifications} notifications for 800 events"
    );
    drop_schema(&url, &schema).await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_reports_what_a_node_missed() {
    let url = database_url("postgres_relay_reports_what_a_node_missed");
    let schema = unique_schema("relay_gaps");
    let a = Node::start(&url, &schema, "node-a", true).await;
    let b = Node::start(&url, &schema, "node-b", true).await;
    warm_up(&a, &b).await;
    // A sender whose events 1..=9 never arrived (through the real NOTIFY path).
    let batch = |seq: u64| {
        format!(
            r#"{{"v":1,"node":"node-x","inst":"1","seq":{seq},"events":[{{"k":"added","job":"x{seq}","at":"2026-01-01T00:00:00Z"}}]}}"#
        )
    };
    let relay = a.relay.as_ref().expect("relays");
    relay
        .publish(vec![batch(0), batch(10)])
        .await
        .expect("published");
    b.wait_for("the gap", |events| {
        events
            .iter()
            .any(|e| matches!(e, Event::JobAdded(j) if &*j.job_id == "x10"))
    })
    .await;
    let missed: Vec<MissedEvents> = b
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::EventsMissed(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!(
        (missed[0].node.as_deref(), missed[0].missed),
        (Some("node-x"), Some(9))
    );

    // The relays' listening connections are cut: each node is told, then listens again.
    let cut: Vec<i32> = sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE query = $1")
        .bind(format!("LISTEN \"sched_{schema}_events\""))
        .fetch_all(&sqlx::PgPool::connect(&url).await.expect("connects"))
        .await
        .expect("listed");
    assert_eq!(cut.len(), 2, "one listening connection per node");
    let pool = sqlx::PgPool::connect(&url).await.expect("connects");
    for pid in cut {
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&pool)
            .await
            .expect("terminated");
    }
    pool.close().await;
    b.wait_for("the interruption", |events| {
        events.iter().any(|e| {
            matches!(
                e,
                Event::EventsMissed(MissedEvents {
                    node: None,
                    missed: None,
                    ..
                })
            )
        })
    })
    .await;
    let runs_before = executed_from(&b.events(), "node-a").count();
    a.scheduler
        .add_job(
            JobSpec::interval(Duration::from_millis(100)).id("after"),
            || async {},
        )
        .await
        .expect("added");
    b.wait_for("runs relayed again", |events| {
        executed_from(events, "node-a").count() > runs_before
    })
    .await;
    a.scheduler.shutdown().await.expect("clean");
    b.scheduler.shutdown().await.expect("clean");
    drop_schema(&url, &schema).await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_is_opt_in() {
    let url = database_url("postgres_relay_is_opt_in");
    let schema = unique_schema("relay_off");
    let payloads = sniff(&url, &format!("sched_{schema}_events")).await;
    let a = Node::start(&url, &schema, "node-a", false).await;
    let b = Node::start(&url, &schema, "node-b", false).await;
    a.scheduler
        .add_job(
            JobSpec::interval(Duration::from_millis(100)).id("tick"),
            || async {},
        )
        .await
        .expect("added");
    a.wait_for("three runs", |e| executed_from(e, "node-a").count() >= 3)
        .await;
    a.scheduler.shutdown().await.expect("clean");
    b.scheduler.shutdown().await.expect("clean");
    // Anything sent would have arrived by now (the sniffer saw nothing in all that time).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(payloads.lock().is_empty());
    assert!(executed_from(&b.events(), "node-a").next().is_none());
    drop_schema(&url, &schema).await;
}
