//! Several schedulers (nodes) on one Postgres: every due run exactly once, dead nodes'
//! runs reported abandoned and recovered, leases renewed while a node lives.
//!
//! Needs `DATABASE_URL`; without it each test says loudly that it was skipped.

#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sched_store_sqlx::PostgresStore;
use sched_test_support::{database_url, drop_schema, unique_schema, NodeThread};
use sched_tokio::prelude::*;
use sched_tokio::sched_core::clock::Clock;

/// Wall time running `speed` times faster than real time, shared by all nodes, so
/// 20 s of schedule take a few real seconds.
#[derive(Clone, Debug)]
struct FastClock {
    start: DateTime<Utc>,
    real: Instant,
    speed: u32,
}

impl Clock for FastClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.real.elapsed() * self.speed;
        self.start + chrono::Duration::from_std(elapsed).expect("short test")
    }
}

/// (job id, scheduled time) -> (node, how many times it started).
type Ledger = Arc<Mutex<HashMap<(String, DateTime<Utc>), Vec<String>>>>;

struct Node {
    id: String,
    thread: NodeThread,
    events: Arc<Mutex<Vec<Event>>>,
}

#[derive(Clone)]
struct NodeConfig {
    url: String,
    schema: String,
    clock: Arc<dyn Fn() -> Box<dyn Clock> + Send + Sync>,
    lease: Duration,
    heartbeat: Duration,
    task_time: Duration,
    claim_ahead: Duration,
}

impl Node {
    fn spawn(id: &str, config: NodeConfig, ledger: Ledger) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&events);
        let node = id.to_owned();
        let thread = NodeThread::spawn(move || start_node(node, config, ledger, seen));
        Node {
            id: id.to_owned(),
            thread,
            events,
        }
    }

    fn stop(&mut self, kill: bool) {
        if kill {
            self.thread.kill();
        } else {
            self.thread.stop().expect("clean shutdown");
        }
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

/// Builds a node's store and scheduler, registers `tick` (recording each start in the
/// ledger) and starts it.
async fn start_node(
    node: String,
    config: NodeConfig,
    ledger: Ledger,
    seen: Arc<Mutex<Vec<Event>>>,
) -> Scheduler {
    let store = PostgresStore::builder()
        .schema(&config.schema)
        .poll_interval(Duration::from_millis(50))
        .max_connections(4)
        .connect(&config.url)
        .await
        .expect("node store");
    let clock = (config.clock)();
    let scheduler = Scheduler::builder()
        .store(Arc::new(store))
        .node_id(&node)
        .clock(ClockBox(clock))
        .lease(config.lease)
        .heartbeat_interval(config.heartbeat)
        .claim_ahead(config.claim_ahead)
        .event_capacity(1 << 16)
        .build()
        .expect("scheduler");
    let task_time = config.task_time;
    let me = node.clone();
    let task_clock = (config.clock)();
    scheduler.register_task("tick", move |ctx: JobContext| {
        // A run that starts before its time is marked in the ledger.
        let early = task_clock.now() < ctx.scheduled;
        ledger
            .lock()
            .unwrap()
            .entry((ctx.job_id.to_string(), ctx.scheduled))
            .or_default()
            .push(if early {
                format!("{me} (early)")
            } else {
                me.clone()
            });
        tokio::time::sleep(task_time)
    });
    let mut events = scheduler.subscribe();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            seen.lock().unwrap().push(event);
        }
    });
    scheduler.start().await.expect("start");
    scheduler
}

#[derive(Debug)]
struct ClockBox(Box<dyn Clock>);

impl Clock for ClockBox {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

async fn adder(url: &str, schema: &str) -> PostgresStore {
    PostgresStore::builder()
        .schema(schema)
        .listen(false)
        .connect(url)
        .await
        .expect("adder store")
}

fn tick_job(id: String, trigger: Trigger, options: JobOptions, now: DateTime<Utc>) -> Job {
    Job::new(id, "tick", trigger)
        .options(options)
        .schedule(now)
        .expect("valid job")
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_fire_every_due_run_exactly_once() {
    let url = database_url("four_nodes_fire_every_due_run_exactly_once");
    let schema = unique_schema("four");
    let speed = 5;
    let clock = FastClock {
        start: Utc::now(),
        real: Instant::now(),
        speed,
    };
    let shared = clock.clone();
    let config = NodeConfig {
        url: url.clone(),
        schema: schema.clone(),
        clock: Arc::new(move || Box::new(shared.clone())),
        lease: Duration::from_secs(10 * u64::from(speed)),
        heartbeat: Duration::from_millis(400),
        task_time: Duration::ZERO,
        claim_ahead: Duration::ZERO,
    };
    let store = adder(&url, &schema).await;
    let ledger: Ledger = Arc::default();
    let mut nodes: Vec<Node> = (0..4)
        .map(|i| Node::spawn(&format!("node-{i}"), config.clone(), Arc::clone(&ledger)))
        .collect();

    // 500 jobs every second, start times spread over one second, 20 fires each.
    let t0 = clock.now() + chrono::Duration::seconds(2);
    let options = JobOptions::default().coalesce(false).max_instances(100);
    for i in 0..500i64 {
        let start = t0 + chrono::Duration::milliseconds(i * 2);
        let trigger = Trigger::interval(Duration::from_secs(1))
            .start(start)
            .end(start + chrono::Duration::seconds(19));
        // Scheduled as of t0: a job inserted late still has all 20 runs (late, not lost).
        let job = tick_job(format!("job-{i:03}"), trigger, options.clone(), t0);
        store.add_job(job, false).await.expect("add");
    }
    // Scheduled time runs to t0 + 20 s; the nodes may lag behind it on a busy machine
    // (runs are late, never lost), so wait for the ledger rather than the clock.
    wait_until("every due run", Duration::from_secs(90), || {
        ledger.lock().unwrap().len() >= 500 * 20
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await; // room for a duplicate to show
    assert_nothing_skipped(&nodes);
    for node in &mut nodes {
        node.stop(false);
    }

    let ledger = ledger.lock().unwrap().clone();
    let doubled: Vec<_> = ledger
        .iter()
        .filter(|(_, nodes)| nodes.len() > 1)
        .take(5)
        .collect();
    assert!(
        doubled.is_empty(),
        "runs started more than once: {doubled:?}"
    );
    assert_eq!(
        ledger.len(),
        500 * 20,
        "every due run executed (none missed)"
    );
    for i in 0..500 {
        let runs = ledger
            .keys()
            .filter(|(job, _)| *job == format!("job-{i:03}"))
            .count();
        assert_eq!(runs, 20, "job-{i:03}");
    }
    let per_node: HashMap<&str, usize> = ledger.values().fold(HashMap::new(), |mut m, nodes| {
        *m.entry(nodes[0].as_str()).or_default() += 1;
        m
    });
    assert!(per_node.len() >= 2, "work spread over nodes: {per_node:?}");
    let statuses: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT status, count(*) FROM \"{schema}\".runs GROUP BY status ORDER BY status"
    )))
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(
        statuses,
        vec![("success".to_owned(), 500 * 20)],
        "runs by status"
    );
    drop_schema(&url, &schema).await;
}

/// No node reported a run missed, coalesced or skipped for `max_instances`.
/// The runs `node` skipped (missed, coalesced, at max instances).
fn skipped(node: &Node) -> impl Iterator<Item = Event> {
    node.events().into_iter().filter(|e| {
        matches!(
            e,
            Event::JobMissed(_) | Event::JobCoalesced(_) | Event::JobMaxInstances(_)
        )
    })
}

fn assert_nothing_skipped(nodes: &[Node]) {
    let skipped: Vec<Event> = nodes.iter().flat_map(skipped).collect();
    assert!(
        skipped.is_empty(),
        "nothing skipped: {:?}",
        &skipped[..skipped.len().min(3)]
    );
}

fn real_time_config(url: &str, schema: &str, task_time: Duration) -> NodeConfig {
    NodeConfig {
        url: url.to_owned(),
        schema: schema.to_owned(),
        clock: Arc::new(|| Box::new(SystemClock)),
        lease: Duration::from_millis(1500),
        heartbeat: Duration::from_millis(250),
        task_time,
        claim_ahead: Duration::ZERO,
    }
}

/// Two nodes claiming 300 ms ahead: every due run starts once, none early, none skipped.
#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_claiming_ahead_fire_every_run_once_and_never_early() {
    let url = database_url("nodes_claiming_ahead_fire_every_run_once_and_never_early");
    let schema = unique_schema("ahead");
    let mut config = real_time_config(&url, &schema, Duration::ZERO);
    config.lease = Duration::from_secs(10);
    config.claim_ahead = Duration::from_millis(300);
    let store = adder(&url, &schema).await;
    let ledger: Ledger = Arc::default();
    let mut nodes: Vec<Node> = (0..2)
        .map(|i| Node::spawn(&format!("node-{i}"), config.clone(), Arc::clone(&ledger)))
        .collect();
    // 200 jobs every second, spread over one second, 4 runs each. Lateness is not what
    // this test is about: on a loaded machine a claim can take a second or more, and a
    // run then comes due while the one before it is still recorded running. With the
    // defaults (max_instances 1, a 1-s grace, coalescing) it is then rightly skipped
    // (JobMaxInstances, JobMissed, JobCoalesced), found running four `cargo test`s
    // under two busy loops. So each run here has a long grace, no coalescing and room
    // for all four runs of its job: every run must still start once, never early.
    let t0 = Utc::now() + chrono::Duration::seconds(1);
    let options = JobOptions::default()
        .coalesce(false)
        .max_instances(4)
        .misfire_grace_time(Duration::from_secs(60));
    for i in 0..200i64 {
        let start = t0 + chrono::Duration::milliseconds(i * 5);
        let trigger = Trigger::interval(Duration::from_secs(1))
            .start(start)
            .end(start + chrono::Duration::seconds(3));
        let job = tick_job(format!("job-{i:03}"), trigger, options.clone(), t0);
        store.add_job(job, false).await.expect("add");
    }
    wait_until(
        "every due run (or a skipped one)",
        Duration::from_secs(60),
        || {
            ledger.lock().unwrap().len() >= 200 * 4
                || nodes.iter().any(|n| skipped(n).next().is_some())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await; // room for a duplicate to show
    assert_nothing_skipped(&nodes);
    for node in &mut nodes {
        node.stop(false);
    }
    let ledger = ledger.lock().unwrap().clone();
    let wrong: Vec<_> = ledger
        .iter()
        .filter(|(_, nodes)| nodes.len() != 1 || nodes[0].ends_with("(early)"))
        .take(5)
        .collect();
    assert!(wrong.is_empty(), "runs started twice or early: {wrong:?}");
    assert_eq!(
        ledger.len(),
        200 * 4,
        "every due run executed (none missed)"
    );
    // A run's `started_us` is its claim time: claimed ahead, it precedes the run's time.
    let claimed_ahead: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{schema}\".runs WHERE started_us < sched_s * 1000000 + sched_ns / 1000"
    )))
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(
        claimed_ahead > 200,
        "most runs claimed before their time: {claimed_ahead} of 800"
    );
    drop_schema(&url, &schema).await;
}

async fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_run_is_reported_abandoned_and_recovered_once() {
    let url = database_url("a_killed_nodes_run_is_reported_abandoned_and_recovered_once");
    let schema = unique_schema("kill");
    let store = adder(&url, &schema).await;
    let ledger: Ledger = Arc::default();
    // Only node A runs at first, so it claims the run; its task takes 5 s.
    let mut a = Node::spawn(
        "node-a",
        real_time_config(&url, &schema, Duration::from_secs(5)),
        Arc::clone(&ledger),
    );
    let at = Utc::now() + chrono::Duration::milliseconds(300);
    let options = JobOptions::default().recover_abandoned(true);
    store
        .add_job(
            tick_job("report".into(), Trigger::date(at), options, Utc::now()),
            false,
        )
        .await
        .unwrap();
    wait_until("node A starts the run", Duration::from_secs(10), || {
        ledger.lock().unwrap().len() == 1
    })
    .await;
    let killed_at = Instant::now();
    a.stop(true);
    let b = Node::spawn(
        "node-b",
        real_time_config(&url, &schema, Duration::from_millis(10)),
        Arc::clone(&ledger),
    );

    wait_until(
        "node B re-runs the occurrence",
        Duration::from_secs(15),
        || {
            ledger
                .lock()
                .unwrap()
                .values()
                .any(|nodes| nodes.len() == 2)
        },
    )
    .await;
    assert!(
        killed_at.elapsed() < Duration::from_secs(12),
        "took over within 12 s: {:?}",
        killed_at.elapsed()
    );
    let abandoned: Vec<_> = b
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::JobAbandoned(run) => Some(run),
            _ => None,
        })
        .collect();
    assert_eq!(abandoned.len(), 1, "{abandoned:?}");
    assert_eq!(
        (
            &*abandoned[0].job_id,
            abandoned[0].node.as_str(),
            abandoned[0].recovered
        ),
        ("report", "node-a", true)
    );
    assert_eq!(abandoned[0].scheduled, at);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ledger = ledger.lock().unwrap().clone();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        ledger[&("report".to_owned(), at)],
        vec!["node-a".to_owned(), "node-b".to_owned()]
    );
    let mut b = b;
    b.stop(false);
    drop_schema(&url, &schema).await;
}

/// A node killed and started again at once under the same node id (a Kubernetes pod, a
/// systemd unit with a fixed id) does not adopt the dead process's runs: their leases
/// run out, and the occurrence is reported abandoned and run again, once.
#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_under_the_same_id_recovers_its_dead_processs_run() {
    let url = database_url("a_node_restarted_under_the_same_id_recovers_its_dead_processs_run");
    let schema = unique_schema("same_id");
    let store = adder(&url, &schema).await;
    let ledger: Ledger = Arc::default();
    let mut first = Node::spawn(
        "pod-0",
        real_time_config(&url, &schema, Duration::from_secs(30)),
        Arc::clone(&ledger),
    );
    let at = Utc::now() + chrono::Duration::milliseconds(300);
    let options = JobOptions::default().recover_abandoned(true);
    store
        .add_job(
            tick_job("report".into(), Trigger::date(at), options, Utc::now()),
            false,
        )
        .await
        .unwrap();
    wait_until(
        "the first process starts the run",
        Duration::from_secs(10),
        || ledger.lock().unwrap().len() == 1,
    )
    .await;
    let killed_at = Instant::now();
    first.stop(true);
    // Started again at once, within the dead process's lease, under the same id.
    let second = Node::spawn(
        "pod-0",
        real_time_config(&url, &schema, Duration::from_millis(10)),
        Arc::clone(&ledger),
    );
    wait_until(
        "the restarted process re-runs the occurrence",
        Duration::from_secs(15),
        || {
            ledger
                .lock()
                .unwrap()
                .values()
                .any(|nodes| nodes.len() == 2)
        },
    )
    .await;
    assert!(
        killed_at.elapsed() < Duration::from_secs(5),
        "re-run within a lease (1.5 s) and a reap of the kill: {:?}",
        killed_at.elapsed()
    );
    let abandoned: Vec<_> = second
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::JobAbandoned(run) => Some(run),
            _ => None,
        })
        .collect();
    assert_eq!(abandoned.len(), 1, "{abandoned:?}");
    assert_eq!(
        (
            &*abandoned[0].job_id,
            abandoned[0].node.as_str(),
            abandoned[0].recovered
        ),
        ("report", "pod-0", true)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ledger.lock().unwrap()[&("report".to_owned(), at)],
        vec!["pod-0".to_owned(), "pod-0".to_owned()],
        "run once by the dead process, once again after it"
    );
    let mut second = second;
    second.stop(false);
    drop_schema(&url, &schema).await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_longer_than_the_lease_is_not_run_twice_while_its_node_lives() {
    let url = database_url("a_run_longer_than_the_lease_is_not_run_twice_while_its_node_lives");
    let schema = unique_schema("lease");
    let store = adder(&url, &schema).await;
    let ledger: Ledger = Arc::default();
    // The run takes 4 s; the lease is 1.5 s and renewed every 250 ms.
    let config = real_time_config(&url, &schema, Duration::from_secs(4));
    let mut nodes = [
        Node::spawn("node-a", config.clone(), Arc::clone(&ledger)),
        Node::spawn("node-b", config, Arc::clone(&ledger)),
    ];
    let at = Utc::now() + chrono::Duration::milliseconds(300);
    let options = JobOptions::default().recover_abandoned(true);
    store
        .add_job(
            tick_job("long".into(), Trigger::date(at), options, Utc::now()),
            false,
        )
        .await
        .unwrap();
    // The run lasts 4 s, well past the 1.5 s lease: wait until it has ended.
    wait_until("the long run ends", Duration::from_secs(20), || {
        nodes
            .iter()
            .flat_map(Node::events)
            .any(|e| matches!(e, Event::JobExecuted(run) if &*run.job_id == "long"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await; // room for a second start to show
    for node in &mut nodes {
        node.stop(false);
    }
    let ledger = ledger.lock().unwrap().clone();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        ledger.values().next().unwrap().len(),
        1,
        "ran once: {ledger:?}"
    );
    for node in &nodes {
        let abandoned = node
            .events()
            .iter()
            .filter(|e| matches!(e, Event::JobAbandoned(_)))
            .count();
        assert_eq!(
            abandoned, 0,
            "{}: nothing abandoned while nodes live",
            node.id
        );
    }
    drop_schema(&url, &schema).await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_never_blocks_a_job_with_max_instances_forever() {
    let url = database_url("a_crash_never_blocks_a_job_with_max_instances_forever");
    let schema = unique_schema("block");
    let store = adder(&url, &schema).await;
    let ledger: Ledger = Arc::default();
    // Every 500 ms, one instance at a time, not recovered. Node A hangs in its run.
    let mut a = Node::spawn(
        "node-a",
        real_time_config(&url, &schema, Duration::from_secs(60)),
        Arc::clone(&ledger),
    );
    let start = Utc::now() + chrono::Duration::milliseconds(200);
    let trigger = Trigger::interval(Duration::from_millis(500)).start(start);
    store
        .add_job(
            tick_job("pulse".into(), trigger, JobOptions::default(), Utc::now()),
            false,
        )
        .await
        .unwrap();
    wait_until("node A starts a run", Duration::from_secs(10), || {
        !ledger.lock().unwrap().is_empty()
    })
    .await;
    a.stop(true);
    let mut b = Node::spawn(
        "node-b",
        real_time_config(&url, &schema, Duration::from_millis(10)),
        Arc::clone(&ledger),
    );
    wait_until("node B runs the job again", Duration::from_secs(15), || {
        ledger
            .lock()
            .unwrap()
            .values()
            .any(|nodes| nodes == &["node-b".to_owned()])
    })
    .await;
    let events = b.events();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::JobAbandoned(r) if !r.recovered && r.node == "node-a")));
    b.stop(false);
    let doubled = ledger
        .lock()
        .unwrap()
        .values()
        .filter(|n| n.len() > 1)
        .count();
    assert_eq!(doubled, 0);
    drop_schema(&url, &schema).await;
}

/// A node shutting down keeps heartbeating while its running jobs drain: another node
/// must not see them as abandoned and run them again.
#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_draining_node_keeps_its_leases() {
    let url = database_url("a_draining_node_keeps_its_leases");
    let schema = unique_schema("drain");
    let connect = || {
        PostgresStore::builder()
            .schema(&schema)
            .poll_interval(Duration::from_millis(50))
            .connect(&url)
    };
    let (store_a, store_b) = (connect().await.unwrap(), connect().await.unwrap());
    let starts = Arc::new(AtomicU32::new(0));
    let node = |store: PostgresStore, id: &str| {
        // A lease of 1 s renewed every 100 ms: a heartbeat would have to be late by
        // nine of its intervals for the run to be taken (a 300 ms lease was not enough
        // on a loaded 2-core machine, where a heartbeat transaction can wait that long
        // for a CPU: the run was then rightly taken over, which is not this test).
        let scheduler = Scheduler::builder()
            .store(Arc::new(store))
            .node_id(id)
            .lease(Duration::from_secs(1))
            .heartbeat_interval(Duration::from_millis(100))
            .shutdown_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let starts = Arc::clone(&starts);
        scheduler.register_task("slow", move || {
            starts.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(3500))
        });
        scheduler
    };
    let a = node(store_a, "node-a");
    let options = JobOptions::default().recover_abandoned(true);
    a.add_named_job(JobSpec::date(Utc::now()).id("j").options(options), "slow")
        .await
        .unwrap();
    a.start().await.unwrap();
    wait_until("node A starts the run", Duration::from_secs(10), || {
        starts.load(Ordering::SeqCst) == 1
    })
    .await;
    let b = node(store_b, "node-b");
    let mut events = b.subscribe();
    b.start().await.unwrap();
    // A drains for ~3.5 s, over three leases long: only its heartbeats keep the run its
    // own.
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    let mut abandoned = 0;
    while let Ok(event) = events.try_recv() {
        abandoned += usize::from(matches!(event, Event::JobAbandoned(_)));
    }
    assert_eq!((abandoned, starts.load(Ordering::SeqCst)), (0, 1));
    drop_schema(&url, &schema).await;
}
