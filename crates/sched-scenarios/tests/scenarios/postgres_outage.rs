//! Leases through a store outage, on a real Postgres: each node connects as a role of
//! its own, and "cutting a node off" is real — its role may no longer log in and its
//! connections are terminated — while the other nodes go on.
//!
//! What is pinned (docs/stores.md, "Leases"): a node that could not renew its leases
//! before they ran out reports its runs lost and stops claiming; its late completion
//! of a run another node took over is not recorded over the re-run; after its own
//! outage a node reaps nobody until the other nodes had a full lease to renew.
//!
//! Needs `DATABASE_URL`; without it each test says loudly that it was skipped.

#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_store_sqlx::PostgresStore;
use sched_test_support::{database_url, drop_schema, unique_schema, NodeThread};
use sched_tokio::prelude::*;
use sched_tokio::{AbandonedEvent, LeaseLostEvent};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// (job id, scheduled time) -> the nodes that started it, in order.
type Ledger = Arc<Mutex<HashMap<(String, DateTime<Utc>), Vec<String>>>>;

/// A Postgres role for one node, so that the node alone can be cut off.
struct Role {
    admin: String,
    name: String,
}

impl Role {
    async fn create(admin: &str, name: &str) -> Self {
        let mut conn = PgConnection::connect(admin).await.unwrap();
        sqlx::query(AssertSqlSafe(format!(
            "CREATE ROLE \"{name}\" LOGIN SUPERUSER"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        Role {
            admin: admin.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The database URL with this role as the user.
    fn url(&self) -> String {
        let rest = self
            .admin
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(&self.admin);
        let host = rest.split_once('@').map_or(rest, |(_, host)| host);
        format!("postgres://{}@{host}", self.name)
    }

    /// Cuts the node off: no new connection, the open ones terminated.
    async fn cut(&self) {
        let mut conn = PgConnection::connect(&self.admin).await.unwrap();
        sqlx::query(AssertSqlSafe(format!(
            "ALTER ROLE \"{}\" NOLOGIN",
            self.name
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
            .bind(&self.name)
            .execute(&mut conn)
            .await
            .unwrap();
    }

    /// Lets it connect again.
    async fn restore(&self) {
        let mut conn = PgConnection::connect(&self.admin).await.unwrap();
        sqlx::query(AssertSqlSafe(format!("ALTER ROLE \"{}\" LOGIN", self.name)))
            .execute(&mut conn)
            .await
            .unwrap();
    }

    async fn drop(self) {
        let mut conn = PgConnection::connect(&self.admin).await.unwrap();
        let _ = sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
        )
        .bind(&self.name)
        .execute(&mut conn)
        .await;
        let _ = sqlx::query(AssertSqlSafe(format!(
            "DROP ROLE IF EXISTS \"{}\"",
            self.name
        )))
        .execute(&mut conn)
        .await;
    }
}

struct Node {
    thread: NodeThread,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Node {
    /// A node `id` on `schema` as `role`: task "hold" records its start in `ledger`
    /// and, on the nodes named in `holders`, runs until `release` is set; task
    /// `only_<id>` records its start and ends.
    #[allow(clippy::too_many_arguments)]
    fn spawn(
        id: &str,
        url: String,
        schema: &str,
        lease: Duration,
        ledger: &Ledger,
        release: &Arc<AtomicBool>,
        holds: bool,
        limit: Option<usize>,
    ) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let (seen, node, schema) = (Arc::clone(&events), id.to_owned(), schema.to_owned());
        let (ledger, release) = (Arc::clone(ledger), Arc::clone(release));
        let thread = NodeThread::spawn(move || async move {
            let store = PostgresStore::builder()
                .schema(&schema)
                .poll_interval(Duration::from_millis(50))
                .max_connections(4)
                .connect(&url)
                .await
                .expect("node store");
            let mut builder = Scheduler::builder()
                .store(Arc::new(store))
                .node_id(&node)
                .lease(lease)
                .event_capacity(1 << 12);
            if let Some(limit) = limit {
                builder = builder.max_concurrency(limit);
            }
            let scheduler = builder.build().expect("scheduler");
            let (me, started) = (node.clone(), Arc::clone(&ledger));
            scheduler.register_task("hold", move |ctx: JobContext| {
                record(&started, &ctx, &me);
                let release = Arc::clone(&release);
                async move {
                    while holds && !release.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            });
            let (me, started) = (node.clone(), Arc::clone(&ledger));
            scheduler.register_task(&format!("only_{node}"), move |ctx: JobContext| {
                record(&started, &ctx, &me);
                async {}
            });
            let mut events = scheduler.subscribe();
            tokio::spawn(async move {
                while let Ok(event) = events.recv().await {
                    seen.lock().unwrap().push(event);
                }
            });
            scheduler.start().await.expect("start");
            scheduler
        });
        Node { thread, events }
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    fn lease_lost(&self) -> Vec<LeaseLostEvent> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::JobLeaseLost(lost) => Some(lost),
                _ => None,
            })
            .collect()
    }

    fn abandoned(&self) -> Vec<AbandonedEvent> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::JobAbandoned(run) => Some(run),
                _ => None,
            })
            .collect()
    }
}

fn record(ledger: &Ledger, ctx: &JobContext, node: &str) {
    ledger
        .lock()
        .unwrap()
        .entry((ctx.job_id.to_string(), ctx.scheduled))
        .or_default()
        .push(node.to_owned());
}

fn starts(ledger: &Ledger, job: &str) -> Vec<String> {
    ledger
        .lock()
        .unwrap()
        .iter()
        .filter(|((id, _), _)| id == job)
        .flat_map(|(_, nodes)| nodes.clone())
        .collect()
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// (node, status) of each run of `job`, oldest first.
async fn runs_of(url: &str, schema: &str, job: &str) -> Vec<(String, String)> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT node, status FROM \"{schema}\".runs WHERE job_id = $1 ORDER BY id"
    )))
    .bind(job)
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

async fn adder(url: &str, schema: &str) -> PostgresStore {
    PostgresStore::builder()
        .schema(schema)
        .listen(false)
        .connect(url)
        .await
        .expect("adder store")
}

async fn add(store: &PostgresStore, id: &str, task: &str, at: DateTime<Utc>) {
    let job = Job::new(id, task, Trigger::date(at))
        .options(JobOptions::default().recover_abandoned(true))
        .schedule(Utc::now())
        .expect("valid job");
    store.add_job(job, false).await.expect("add");
}

/// Two node roles "a" and "b" on a schema of their own, with a lease of 2 s.
struct Setup {
    url: String,
    schema: String,
    store: PostgresStore,
    a: Role,
    b: Role,
    lease: Duration,
    ledger: Ledger,
    release: Arc<AtomicBool>,
}

impl Setup {
    async fn new(url: String, prefix: &str) -> Self {
        let schema = unique_schema(prefix);
        let store = adder(&url, &schema).await;
        let (a, b) = (
            Role::create(&url, &format!("{schema}_a")).await,
            Role::create(&url, &format!("{schema}_b")).await,
        );
        Setup {
            url,
            schema,
            store,
            a,
            b,
            lease: Duration::from_secs(2),
            ledger: Arc::default(),
            release: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Node `id` ("a" or "b", connecting as its role); its "hold" runs wait for
    /// `release` if `holds`; at most `limit` runs at once.
    fn node(&self, id: &str, holds: bool, limit: Option<usize>) -> Node {
        let role = if id == "a" { &self.a } else { &self.b };
        Node::spawn(
            id,
            role.url(),
            &self.schema,
            self.lease,
            &self.ledger,
            &self.release,
            holds,
            limit,
        )
    }

    fn starts(&self, job: &str) -> Vec<String> {
        starts(&self.ledger, job)
    }

    async fn runs_of(&self, job: &str) -> Vec<(String, String)> {
        runs_of(&self.url, &self.schema, job).await
    }

    /// Stops the nodes cleanly, drops the roles and the schema.
    async fn end(self, nodes: [Node; 2]) {
        for mut node in nodes {
            node.thread.stop().unwrap();
        }
        self.a.drop().await;
        self.b.drop().await;
        drop_schema(&self.url, &self.schema).await;
    }
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_past_its_lease_reports_its_run_lost_and_its_late_end_is_not_recorded() {
    let test =
        "a_node_cut_off_past_its_lease_reports_its_run_lost_and_its_late_end_is_not_recorded";
    let url = database_url(test);
    let setup = Setup::new(url, "cutoff").await;
    let a = setup.node("a", true, None);
    let soon = || Utc::now() + chrono::Duration::milliseconds(200);
    add(&setup.store, "long", "hold", soon()).await;
    wait_until("node a starts the run", Duration::from_secs(10), || {
        setup.starts("long") == ["a"]
    })
    .await;
    let b = setup.node("b", false, None);

    setup.a.cut().await;
    wait_until(
        "node b runs the occurrence again",
        Duration::from_secs(15),
        || setup.starts("long") == ["a", "b"],
    )
    .await;
    wait_until(
        "node a reports its run lost",
        Duration::from_secs(5),
        || !a.lease_lost().is_empty(),
    )
    .await;
    let lost = a.lease_lost();
    assert_eq!(lost.len(), 1, "reported once: {lost:?}");
    assert_eq!((&*lost[0].job_id, lost[0].node.as_str()), ("long", "a"));
    assert!(
        lost[0].reason.contains("lease ran out"),
        "{}",
        lost[0].reason
    );
    let abandoned = b.abandoned();
    assert_eq!(abandoned.len(), 1, "{abandoned:?}");
    assert!(abandoned[0].recovered);

    // Back online, node a ends its run: the store keeps the re-run's record.
    setup.a.restore().await;
    setup.release.store(true, Ordering::SeqCst);
    // Claiming again: a job only node a can run is run.
    add(&setup.store, "after", "only_a", soon()).await;
    wait_until(
        "node a claims again once its heartbeat gets through",
        Duration::from_secs(10),
        || setup.starts("after") == ["a"],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        setup.runs_of("long").await,
        [
            ("a".to_owned(), "abandoned".to_owned()),
            ("b".to_owned(), "success".to_owned())
        ],
        "a's late end is not recorded over b's re-run"
    );
    assert_eq!(a.lease_lost().len(), 1, "{:?}", a.lease_lost());
    setup.end([a, b]).await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_outage_a_node_reaps_nobody_until_the_others_had_a_lease_to_renew() {
    let test = "after_an_outage_a_node_reaps_nobody_until_the_others_had_a_lease_to_renew";
    let url = database_url(test);
    let setup = Setup::new(url, "outage").await;
    let b = setup.node("b", true, None);
    let soon = Utc::now() + chrono::Duration::milliseconds(200);
    add(&setup.store, "long", "hold", soon).await;
    wait_until("node b starts the run", Duration::from_secs(10), || {
        setup.starts("long") == ["b"]
    })
    .await;
    let a = setup.node("a", true, None);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Both cut off for longer than the lease: every lease in the table runs out.
    setup.a.cut().await;
    setup.b.cut().await;
    tokio::time::sleep(setup.lease + Duration::from_millis(1500)).await;
    // Node a gets back first; node b a second later (within a lease of a).
    setup.a.restore().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    setup.b.restore().await;
    // Node a would have reaped b's run at once; it waits a lease, b renews meanwhile.
    tokio::time::sleep(setup.lease * 2).await;
    assert!(a.abandoned().is_empty(), "{:?}", a.abandoned());
    assert!(b.abandoned().is_empty(), "{:?}", b.abandoned());
    assert_eq!(setup.starts("long"), ["b"], "started once");
    setup.release.store(true, Ordering::SeqCst);
    let mut recorded = Vec::new();
    for _ in 0..100 {
        recorded = setup.runs_of("long").await;
        if recorded.iter().all(|(_, status)| status != "running") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        recorded,
        [("b".to_owned(), "success".to_owned())],
        "b's run, renewed once b got back, ended as its own"
    );
    setup.end([a, b]).await;
}

#[cfg_attr(
    not(sched_postgres_tests),
    ignore = "needs Postgres: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_lease_ran_out_before_it_started_never_starts() {
    let test = "a_run_whose_lease_ran_out_before_it_started_never_starts";
    let url = database_url(test);
    let setup = Setup::new(url, "unstarted").await;
    // One run at a time on node a: the second claimed run waits for the first.
    let a = setup.node("a", true, Some(1));
    let at = Utc::now() + chrono::Duration::milliseconds(200);
    add(&setup.store, "first", "hold", at).await;
    add(&setup.store, "second", "hold", at).await;
    wait_until(
        "node a starts one run, holding the other",
        Duration::from_secs(10),
        || setup.starts("first").len() + setup.starts("second").len() == 1,
    )
    .await;
    // The run that did not start waits for a's only slot.
    let (waiting, running) = if setup.starts("first").is_empty() {
        ("first", "second")
    } else {
        ("second", "first")
    };
    let b = setup.node("b", false, None);
    setup.a.cut().await;
    wait_until(
        "node b runs both occurrences",
        Duration::from_secs(15),
        || setup.starts(waiting) == ["b"] && setup.starts(running) == ["a", "b"],
    )
    .await;
    // Node a's running job ends: the run that waited for its slot gets it, too late.
    setup.release.store(true, Ordering::SeqCst);
    setup.a.restore().await;
    wait_until(
        "node a records the run that waited as not started",
        Duration::from_secs(10),
        || a.lease_lost().iter().any(|lost| &*lost.job_id == waiting),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        setup.starts(waiting),
        ["b"],
        "never started on a after its lease ran out"
    );
    assert_eq!(
        setup.runs_of(waiting).await,
        [
            ("a".to_owned(), "abandoned".to_owned()),
            ("b".to_owned(), "success".to_owned())
        ]
    );
    setup.end([a, b]).await;
}
