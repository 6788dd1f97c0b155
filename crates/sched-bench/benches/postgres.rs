//! Postgres store benchmark: several sched nodes on one local Postgres.
//!
//! ```sh
//! cargo bench -p sched-bench --bench postgres                  # everything (~6 min)
//! cargo bench -p sched-bench --bench postgres -- --what drain  # one case
//! cargo bench -p sched-bench --bench postgres -- --help
//! ```
//!
//! Cases, each in a fresh schema that is dropped afterwards:
//!
//! - `pgbench`: the database's own write limit here (4 clients, one single-row
//!   `UPDATE` per transaction), in a database of its own;
//! - `drain`: a backlog of jobs all due at once, drained by 1 node and by 4 nodes
//!   (each a thread with its own runtime and its own pool, as in
//!   `crates/sched-scenarios/tests/scenarios/postgres_nodes.rs`); firings per second and duplicates;
//! - `firing`: 10,000 jobs every second on one node (start times spread over the
//!   second, or all at one instant); delay = wall clock in the job body minus
//!   `JobContext::scheduled`;
//! - `kill`: a node dies holding runs (lease 10 s, heartbeat 2 s); time until the
//!   survivors report them abandoned and run those jobs again;
//! - `restart`: Postgres restarts under two nodes; time until every job fires again;
//! - `explain`: `EXPLAIN (ANALYZE, BUFFERS)` of the claim query on 1,000,000 jobs;
//! - `profile`: the claim transaction's statements replayed by hand and timed one by
//!   one on a backlog, with the completion of each run (and a batched variant);
//! - `cancel`: two nodes; a run on node a that waits for its cancellation token is
//!   cancelled from node b (`cancel_run`: the store's `UPDATE` and `NOTIFY`), then from
//!   a itself; the time of the call, and until a reports the run cancelled;
//! - `retry`: the store's side of a retry, timed call by call on one store (recording a
//!   failed run's end with its pending retry, and claiming the retry, against the same
//!   calls for a run without one), then end to end on a node: from a failed attempt's
//!   `JobError` to its retry's `JobSubmitted` (a zero backoff);
//! - `soak` (not in `all`: it takes `--soak-minutes`, an hour by default): one node
//!   fires `--soak-rate` runs a second out of `--soak-jobs` stored jobs; every minute
//!   the sizes of the runs and jobs tables, and for each window the delay percentiles
//!   and the database time spent claiming, completing and pruning.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sched_bench::{machine, Histogram};
use sched_store_sqlx::PostgresStore;
use sched_test_support::{unique_schema, NodeThread};
use sched_tokio::prelude::*;
use sched_tokio::AbandonedEvent;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Row};

const HELP: &str = "\
postgres: PostgresStore throughput, latency and failure handling

options:
  --url URL               database (default $DATABASE_URL or postgres://postgres@127.0.0.1:5432/test)
  --what LIST             comma list of pgbench,drain,firing,kill,restart,explain,profile,cancel,retry,
                          bulk (default all)
  --bulk-jobs N           bulk: jobs added by one add_jobs call, into MemoryStore and into
                          Postgres (default 1000000)
  --cancels N             cancel: runs cancelled from each node (default 200)
  --retries N             retry: runs retried, and runs not retried (default 200)
  --drain-jobs N          backlog size (default 20000)
  --drain-nodes LIST      node counts for the backlog (default 1,4)
  --drain-trigger interval|date   backlog jobs: interval 1 h (rescheduled) or one-off (deleted)
  --firing-jobs LIST      jobs every second (default 10000)
  --claim-ahead LIST      firing: the nodes' claim_ahead in ms, or `default` (the store's,
                          500 ms), one case each (default: default,0)
  --firing-heartbeat S    firing: the node's heartbeat interval in s, its lease 2 s + 5 times
                          that (default 2: lease 10 s); a long one renews no lease in the window
  --seconds S             firing window (default 10)
  --pgbench-seconds S     pgbench duration (default 15)
  --explain-rows N        stored jobs for explain (default 1000000)
  --cluster VER/NAME      cluster to restart (default: the only one in /etc/postgresql, main)
  --soak-jobs N           soak: stored jobs (default 1000000)
  --soak-rate N           soak: firings a second (default 10000); each job fires every
                          soak-jobs / soak-rate seconds
  --soak-minutes M        soak: length (default 60)
  --soak-window M         soak: minutes per window of delay percentiles (default 10)
";

#[derive(Clone, Debug)]
struct Args {
    url: String,
    what: Vec<String>,
    drain_jobs: usize,
    drain_nodes: Vec<usize>,
    drain_date: bool,
    firing_jobs: Vec<usize>,
    /// `None`: the store's default.
    claim_ahead: Vec<Option<u64>>,
    /// The firing node's heartbeat interval (its lease: 2 s + 5 times it).
    firing_heartbeat: u64,
    seconds: u64,
    pgbench_seconds: u64,
    explain_rows: i64,
    cluster: Option<(String, String)>,
    cancels: usize,
    retries: usize,
    bulk_jobs: usize,
    soak_jobs: usize,
    soak_rate: usize,
    soak_minutes: u64,
    soak_window: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into()),
        what: "pgbench,drain,firing,kill,restart,explain,profile,cancel,retry,bulk"
            .split(',')
            .map(str::to_owned)
            .collect(),
        drain_jobs: 20_000,
        drain_nodes: vec![1, 4],
        drain_date: false,
        firing_jobs: vec![10_000],
        claim_ahead: vec![None, Some(0)],
        firing_heartbeat: 2,
        seconds: 10,
        pgbench_seconds: 15,
        explain_rows: 1_000_000,
        cluster: None,
        cancels: 200,
        retries: 200,
        bulk_jobs: 1_000_000,
        soak_jobs: 1_000_000,
        soak_rate: 10_000,
        soak_minutes: 60,
        soak_window: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| {
            v.replace('_', "")
                .parse::<u64>()
                .map_err(|e| format!("{v:?}: {e}"))
        };
        match flag.as_str() {
            "--bench" => {}
            "--help" | "-h" => return Err(String::new()),
            "--url" => args.url = value()?,
            "--what" => args.what = value()?.split(',').map(str::to_owned).collect(),
            "--drain-jobs" => args.drain_jobs = number(value()?)? as usize,
            "--drain-nodes" => {
                args.drain_nodes = value()?
                    .split(',')
                    .map(|n| n.parse::<usize>().map_err(|e| e.to_string()))
                    .collect::<Result<_, _>>()?
            }
            "--drain-trigger" => args.drain_date = value()? == "date",
            "--firing-jobs" => {
                args.firing_jobs = value()?
                    .split(',')
                    .map(|n| {
                        n.replace('_', "")
                            .parse::<usize>()
                            .map_err(|e| e.to_string())
                    })
                    .collect::<Result<_, _>>()?
            }
            "--firing-heartbeat" => args.firing_heartbeat = number(value()?)?,
            "--claim-ahead" => {
                args.claim_ahead = value()?
                    .split(',')
                    .map(|n| match n {
                        "default" => Ok(None),
                        n => n.parse::<u64>().map(Some).map_err(|e| e.to_string()),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--seconds" => args.seconds = number(value()?)?,
            "--bulk-jobs" => args.bulk_jobs = number(value()?)? as usize,
            "--pgbench-seconds" => args.pgbench_seconds = number(value()?)?,
            "--explain-rows" => args.explain_rows = number(value()?)? as i64,
            "--cancels" => args.cancels = number(value()?)? as usize,
            "--retries" => args.retries = number(value()?)? as usize,
            "--soak-jobs" => args.soak_jobs = number(value()?)? as usize,
            "--soak-rate" => args.soak_rate = number(value()?)? as usize,
            "--soak-minutes" => args.soak_minutes = number(value()?)?,
            "--soak-window" => args.soak_window = number(value()?)?.max(1),
            "--cluster" => {
                let v = value()?;
                let (ver, name) = v.split_once('/').ok_or("--cluster VER/NAME")?;
                args.cluster = Some((ver.to_owned(), name.to_owned()));
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            if !error.is_empty() {
                eprintln!("error: {error}\n");
            }
            eprint!("{HELP}");
            std::process::exit(if error.is_empty() { 0 } else { 2 });
        }
    };
    println!("# sched Postgres benchmark");
    println!(
        "machine: {}; date: {}; postgres: {}",
        machine(),
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        args.url
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("bench runtime");
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let admin = PgPoolOptions::new()
        .max_connections(4)
        .connect(&args.url)
        .await
        .expect("connect to Postgres (is it running? see --help)");
    let server: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&admin)
        .await
        .expect("version");
    let settings: Vec<String> = sqlx::query_scalar(
        "SELECT name || '=' || setting FROM pg_settings WHERE name IN \
         ('fsync','synchronous_commit','shared_buffers','max_connections','wal_level','autovacuum') ORDER BY name",
    )
    .fetch_all(&admin)
    .await
    .expect("settings");
    println!("server: PostgreSQL {server}; {}", settings.join(", "));
    if settings.iter().any(|s| s == "autovacuum=off") {
        println!(
            "  !! autovacuum is off on this server: dead rows are never reclaimed, so tables \
             grow whatever the store does (the soak needs it on: ALTER SYSTEM SET autovacuum = on)"
        );
    }
    let wants = |case: &str| args.what.iter().any(|w| w == case || w == "all");
    let mut tps = None;
    if wants("pgbench") {
        tps = pgbench(&args);
    }
    if wants("drain") {
        for &nodes in &args.drain_nodes {
            drain(&args, &admin, nodes, tps).await;
        }
    }
    if wants("firing") {
        for &n in &args.firing_jobs {
            for &ahead in &args.claim_ahead {
                firing(&args, &admin, n, false, ahead).await;
                firing(&args, &admin, n, true, ahead).await;
            }
        }
    }
    if wants("retry") {
        retry(&args, &admin).await;
    }
    if wants("bulk") {
        bulk(&args).await;
    }
    if args.what.iter().any(|w| w == "soak") {
        soak(&args, &admin).await;
    }
    if wants("cancel") {
        cancel(&args, &admin).await;
    }
    if wants("kill") {
        kill(&args, &admin).await;
    }
    if wants("restart") {
        admin.close().await;
        restart(&args).await;
    }
    if wants("explain") || wants("profile") {
        let admin = PgPoolOptions::new()
            .max_connections(8)
            .connect(&args.url)
            .await
            .expect("reconnect");
        if wants("explain") {
            explain(&args, &admin).await;
        }
        if wants("profile") {
            profile(&args, &admin).await;
        }
    }
}

// ---------------------------------------------------------------------------------
// pgbench

fn pgbench(args: &Args) -> Option<f64> {
    let (host, user) = ("127.0.0.1", "postgres");
    let db = "sched_pgbench";
    let sh = |cmd: &str| {
        println!("$ {cmd}");
        let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            println!("  (exit {}) {}", out.status, text.trim());
        }
        text
    };
    sh(&format!("dropdb --if-exists -h {host} -U {user} {db}"));
    sh(&format!("createdb -h {host} -U {user} {db}"));
    sh(&format!("pgbench -h {host} -U {user} -i -s 1 -q {db}"));
    let script = std::env::temp_dir().join("sched_pgbench_update.sql");
    std::fs::write(
        &script,
        "\\set aid random(1, 100000 * :scale)\n\
         UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n",
    )
    .expect("script");
    let t = args.pgbench_seconds;
    let update = sh(&format!(
        "pgbench -h {host} -U {user} -n -c 4 -j 2 -T {t} -f {} {db}",
        script.display()
    ));
    let simple = sh(&format!(
        "pgbench -h {host} -U {user} -n -c 4 -j 2 -T {t} -N {db}"
    ));
    sh(&format!("dropdb -h {host} -U {user} {db}"));
    let parse = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("tps = "))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let (update, simple) = (parse(&update), parse(&simple));
    println!("\n## pgbench (4 clients, {t} s)");
    println!("single-row UPDATE: {update:.0?} tps; -N (simple-update, 3 writes + select per tx): {simple:.0?} tps");
    update
}

// ---------------------------------------------------------------------------------
// Shared harness: a probe in the job body, nodes on threads of their own.

/// What the job bodies saw: one per case, shared by every node.
struct Probe {
    fired: AtomicU64,
    per_job: Vec<AtomicU32>,
    by_node: Vec<AtomicU64>,
    last_us: AtomicI64,
    /// Firings at or after this instant (µs since the epoch) set `first_after`.
    mark_us: AtomicI64,
    first_after: Vec<AtomicI64>,
    window: (AtomicI64, AtomicI64),
    delays: Histogram,
    /// Runs that started before their scheduled time.
    early: AtomicU64,
    /// Delays by window of scheduled time (the soak's): from `split.0` (µs since the
    /// epoch), `split.1` µs each.
    windows: Vec<Histogram>,
    split: (AtomicI64, AtomicI64),
    /// The soak's: each job's latest scheduled time fired, and firings of a scheduled
    /// time not later than it (an occurrence fired twice).
    last_scheduled: Vec<AtomicI64>,
    repeated: AtomicU64,
}

impl Probe {
    fn new(jobs: usize) -> Arc<Self> {
        Self::with_windows(jobs, 0)
    }

    fn with_windows(jobs: usize, windows: usize) -> Arc<Self> {
        Arc::new(Self {
            fired: AtomicU64::new(0),
            per_job: (0..jobs).map(|_| AtomicU32::new(0)).collect(),
            by_node: (0..8).map(|_| AtomicU64::new(0)).collect(),
            last_us: AtomicI64::new(0),
            mark_us: AtomicI64::new(i64::MAX),
            early: AtomicU64::new(0),
            first_after: (0..jobs).map(|_| AtomicI64::new(0)).collect(),
            window: (AtomicI64::new(i64::MAX), AtomicI64::new(i64::MAX)),
            delays: Histogram::new(),
            windows: (0..windows).map(|_| Histogram::new()).collect(),
            split: (AtomicI64::new(i64::MAX), AtomicI64::new(1)),
            last_scheduled: (0..if windows > 0 { jobs } else { 0 })
                .map(|_| AtomicI64::new(i64::MIN))
                .collect(),
            repeated: AtomicU64::new(0),
        })
    }

    fn fire(&self, ctx: &JobContext, node: usize) {
        let now = Utc::now().timestamp_micros();
        let scheduled = ctx.scheduled.timestamp_micros();
        let (from, to) = (
            self.window.0.load(Ordering::Relaxed),
            self.window.1.load(Ordering::Relaxed),
        );
        if scheduled >= from && scheduled < to {
            self.delays.record_micros(now - scheduled);
        }
        if now < scheduled {
            self.early.fetch_add(1, Ordering::Relaxed);
        }
        let split_from = self.split.0.load(Ordering::Relaxed);
        if scheduled >= split_from {
            let slot = (scheduled - split_from) / self.split.1.load(Ordering::Relaxed);
            if let Some(h) = usize::try_from(slot).ok().and_then(|s| self.windows.get(s)) {
                h.record_micros(now - scheduled);
            }
        }
        let index = job_index(&ctx.job_id);
        self.per_job[index].fetch_add(1, Ordering::Relaxed);
        if let Some(last) = self.last_scheduled.get(index) {
            if last.fetch_max(scheduled, Ordering::Relaxed) >= scheduled {
                self.repeated.fetch_add(1, Ordering::Relaxed);
            }
        }
        if now >= self.mark_us.load(Ordering::Relaxed) {
            let _ = self.first_after[index].compare_exchange(
                0,
                now,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        self.by_node[node].fetch_add(1, Ordering::Relaxed);
        self.last_us.fetch_max(now, Ordering::Relaxed);
        self.fired.fetch_add(1, Ordering::Relaxed);
    }

    fn duplicates(&self) -> u64 {
        self.per_job
            .iter()
            .map(|c| u64::from(c.load(Ordering::Relaxed).saturating_sub(1)))
            .sum()
    }
}

fn job_index(id: &str) -> usize {
    id.trim_start_matches("j-").parse().expect("bench job id")
}

/// Events a node saw that the cases look at (the busy ones are only counted).
#[derive(Default)]
struct EventLog {
    abandoned: Mutex<Vec<(i64, AbandonedEvent)>>,
    store_errors: AtomicU64,
    store_error_first_us: AtomicI64,
    store_error_last_us: AtomicI64,
    last_error: Mutex<String>,
    missed: AtomicU64,
    coalesced: AtomicU64,
    max_instances: AtomicU64,
    lagged: AtomicU64,
}

#[derive(Clone)]
struct NodeOpts {
    url: String,
    schema: String,
    index: usize,
    lease: Duration,
    heartbeat: Duration,
    task_time: Duration,
    /// `None`: the store's default.
    claim_ahead: Option<Duration>,
}

impl NodeOpts {
    fn new(url: &str, schema: &str) -> Self {
        Self {
            url: url.to_owned(),
            schema: schema.to_owned(),
            index: 0,
            lease: Duration::from_secs(10),
            heartbeat: Duration::from_secs(2),
            task_time: Duration::ZERO,
            claim_ahead: None,
        }
    }
}

struct Node {
    thread: NodeThread,
    log: Arc<EventLog>,
}

impl Node {
    /// A scheduler on a thread and runtime (2 workers) of its own, with its own pool
    /// (the store's defaults: 8 connections, poll every 1 s, LISTEN on).
    fn spawn(opts: NodeOpts, probe: Arc<Probe>) -> Self {
        let log = Arc::new(EventLog::default());
        let seen = Arc::clone(&log);
        let thread = NodeThread::spawn(move || start_node(opts, probe, seen));
        Node { thread, log }
    }

    fn stop(&mut self, kill: bool) {
        if kill {
            self.thread.kill();
        } else {
            // A run still going after the bench's 5 s shutdown timeout is aborted: fine.
            let _ = self.thread.stop();
        }
    }
}

async fn start_node(opts: NodeOpts, probe: Arc<Probe>, log: Arc<EventLog>) -> Scheduler {
    let store = PostgresStore::builder()
        .schema(&opts.schema)
        .connect(&opts.url)
        .await
        .expect("node store");
    let mut builder = Scheduler::builder()
        .store(Arc::new(store))
        .node_id(format!("node-{}", opts.index))
        .lease(opts.lease)
        .heartbeat_interval(opts.heartbeat)
        .shutdown_timeout(Duration::from_secs(5))
        .event_capacity(1 << 16);
    if let Some(ahead) = opts.claim_ahead {
        builder = builder.claim_ahead(ahead);
    }
    let scheduler = builder.build().expect("scheduler");
    let (node, task_time) = (opts.index, opts.task_time);
    scheduler.register_task("tick", move |ctx: JobContext| {
        probe.fire(&ctx, node);
        async move {
            if !task_time.is_zero() {
                tokio::time::sleep(task_time).await;
            }
        }
    });
    let mut events = scheduler.subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => note(&log, event),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    log.lagged.fetch_add(n, Ordering::Relaxed);
                }
                Err(_) => break,
            }
        }
    });
    scheduler.start().await.expect("start");
    scheduler
}

fn note(log: &EventLog, event: Event) {
    let now = Utc::now().timestamp_micros();
    match event {
        Event::JobAbandoned(run) => log.abandoned.lock().expect("log").push((now, run)),
        Event::StoreError { error } => {
            if log.store_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                log.store_error_first_us.store(now, Ordering::Relaxed);
            }
            log.store_error_last_us.store(now, Ordering::Relaxed);
            *log.last_error.lock().expect("log") = error;
        }
        Event::JobMissed(_) => drop(log.missed.fetch_add(1, Ordering::Relaxed)),
        Event::JobCoalesced(_) => drop(log.coalesced.fetch_add(1, Ordering::Relaxed)),
        Event::JobMaxInstances(_) => drop(log.max_instances.fetch_add(1, Ordering::Relaxed)),
        _ => {}
    }
}

/// Creates the schema (migrations) through a store that does not listen.
async fn create_schema(url: &str, schema: &str) {
    let store = PostgresStore::builder()
        .schema(schema)
        .listen(false)
        .max_connections(2)
        .connect(url)
        .await
        .expect("migrate bench schema");
    store.pool().close().await;
}

async fn drop_schema(admin: &PgPool, schema: &str) {
    sqlx::query(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(admin)
    .await
    .expect("drop bench schema");
}

/// Bulk-inserts jobs (as the store encodes them) in one transaction, then wakes the
/// nodes with the store's own channel.
async fn insert_jobs(admin: &PgPool, schema: &str, jobs: &[Job]) -> Duration {
    let started = Instant::now();
    let mut tx = admin.begin().await.expect("begin");
    for chunk in jobs.chunks(5_000) {
        let mut cols: (Vec<&str>, Vec<&str>, Vec<&str>) = Default::default();
        let mut json: (Vec<String>, Vec<String>, Vec<String>) = Default::default();
        let (mut secs, mut nanos, mut paused) = (Vec::new(), Vec::new(), Vec::new());
        for job in chunk {
            cols.0.push(&job.id);
            cols.1.push(&job.name);
            cols.2.push(&job.task);
            json.0.push(job.args.to_string());
            json.1
                .push(serde_json::to_string(&job.trigger).expect("trigger json"));
            json.2
                .push(serde_json::to_string(&job.options).expect("options json"));
            let next = job.next_run_time.expect("scheduled bench job");
            secs.push(next.timestamp());
            nanos.push(next.timestamp_subsec_nanos() as i32);
            paused.push(job.paused);
        }
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO \"{schema}\".jobs ({COLUMNS}) SELECT * FROM UNNEST($1::text[], $2::text[], \
             $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::int4[], $9::bool[])"
        )))
        .bind(cols.0)
        .bind(cols.1)
        .bind(cols.2)
        .bind(json.0)
        .bind(json.1)
        .bind(json.2)
        .bind(secs)
        .bind(nanos)
        .bind(paused)
        .execute(&mut *tx)
        .await
        .expect("insert jobs");
    }
    tx.commit().await.expect("commit jobs");
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(format!("sched_{schema}"))
        .execute(admin)
        .await
        .expect("notify");
    started.elapsed()
}

fn bench_job(i: usize, trigger: Trigger, next: DateTime<Utc>, options: JobOptions) -> Job {
    let args = serde_json::json!({
        "tenant_id": i % 500, "user_id": i, "report": "weekly-digest",
        "channels": ["email", "slack"], "locale": "en-GB"
    });
    let mut job = Job::new(format!("j-{i}"), "tick", trigger)
        .name(format!("digest for user {i}"))
        .args(&args)
        .expect("args")
        .options(options);
    job.next_run_time = Some(next);
    job
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            println!("  !! timed out after {limit:?} waiting for {what}");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

async fn scalar(admin: &PgPool, sql: String) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(sql))
        .fetch_one(admin)
        .await
        .expect("scalar query")
}

/// Busy share of all CPUs from `/proc/stat` (cumulative ticks: busy, total).
fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

fn busy_since(start: (u64, u64)) -> f64 {
    let now = cpu_ticks();
    100.0 * (now.0 - start.0) as f64 / (now.1 - start.1).max(1) as f64
}

/// Committed + rolled-back transactions of this database so far.
async fn xacts(admin: &PgPool) -> i64 {
    scalar(
        admin,
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
            .to_owned(),
    )
    .await
}

/// Samples what the other backends of this database are doing every 10 ms until
/// `stop` is set: (statement, state / wait event) -> samples. A cheap profile of
/// where the database's time goes, by statement of the store.
fn sample_backends(
    admin: PgPool,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<(u64, HashMap<String, u64>)> {
    tokio::spawn(async move {
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut samples = 0;
        while !stop.load(Ordering::Relaxed) {
            let rows = sqlx::query(
                "SELECT query, state, coalesce(wait_event_type || ':' || wait_event, 'CPU') \
                 FROM pg_stat_activity WHERE datname = current_database() \
                 AND backend_type = 'client backend' AND pid <> pg_backend_pid() \
                 AND state IN ('active', 'idle in transaction')",
            )
            .fetch_all(&admin)
            .await
            .unwrap_or_default();
            samples += 1;
            for row in rows {
                let (query, state, wait): (String, String, String) =
                    (row.get(0), row.get(1), row.get(2));
                let what = if state == "active" { wait } else { state };
                *seen
                    .entry(format!("{:<30} {what}", statement_kind(&query)))
                    .or_default() += 1;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (samples, seen)
    })
}

fn statement_kind(query: &str) -> &'static str {
    let q = query.trim_start();
    if q.contains("GREATEST(lease_us") {
        "heartbeat: renew"
    } else if q.contains("SET status = 'abandoned'") {
        "heartbeat / reap"
    } else if q.contains("FOR UPDATE SKIP LOCKED") {
        "claim: select due"
    } else if q.contains("count(*) FROM") && q.contains("ANY($1) GROUP BY") {
        "claim: running counts"
    } else if q.starts_with("UPDATE") && q.contains(".jobs AS j") {
        "claim: reschedule"
    } else if q.starts_with("INSERT") && q.contains(".runs") {
        "claim: record runs"
    } else if q.starts_with("DELETE") && q.contains("jobs WHERE id = ANY") {
        "claim: finish"
    } else if q.starts_with("SELECT next_run_s") {
        "next_run_time"
    } else if q.starts_with("UPDATE") && q.contains(".runs AS r SET status") {
        "complete: update runs (batch)"
    } else if q.starts_with("DELETE") && q.contains("j.id = ANY($1) AND j.next_run_s IS NULL") {
        "complete: unpark (batch)"
    } else if q.starts_with("UPDATE") && q.contains("runs SET status = $2") {
        "complete: update run"
    } else if q.starts_with("DELETE") && q.contains("jobs j WHERE j.id = $1") {
        "complete: unpark"
    } else if q.contains("CROSS JOIN LATERAL") || q.contains("status = 'running' AND job_id = ANY")
    {
        "claim: running runs"
    } else if q.starts_with("DELETE") && (q.contains("finished_us <") || q.contains("'success'")) {
        "prune"
    } else if q.eq_ignore_ascii_case("COMMIT") {
        "COMMIT"
    } else if q.eq_ignore_ascii_case("BEGIN") {
        "BEGIN"
    } else if q.contains("nodes") || q.contains("lease_us = $2") || q.contains("abandoned") {
        "heartbeat / reap"
    } else {
        "other"
    }
}

fn print_samples(label: &str, samples: u64, seen: &HashMap<String, u64>) {
    let mut rows: Vec<_> = seen.iter().collect();
    rows.sort_by_key(|(_, n)| std::cmp::Reverse(**n));
    let total: u64 = seen.values().sum();
    println!(
        "{label}: {samples} samples of pg_stat_activity, {:.1} busy backends on average",
        total as f64 / samples.max(1) as f64
    );
    for (what, n) in rows.iter().take(12) {
        println!(
            "  {:>5.1} %  {what}",
            100.0 * **n as f64 / total.max(1) as f64
        );
    }
}

// ---------------------------------------------------------------------------------
// Backlog drain

async fn drain(args: &Args, admin: &PgPool, nodes: usize, tps: Option<f64>) {
    let n = args.drain_jobs;
    let schema = unique_schema("drain");
    create_schema(&args.url, &schema).await;
    let probe = Probe::new(n);
    let mut running: Vec<Node> = (0..nodes)
        .map(|i| {
            let mut opts = NodeOpts::new(&args.url, &schema);
            opts.index = i;
            Node::spawn(opts, Arc::clone(&probe))
        })
        .collect();
    let due = Utc::now() - TimeDelta::seconds(1);
    let jobs: Vec<Job> = (0..n)
        .map(|i| {
            let trigger = if args.drain_date {
                Trigger::date(due)
            } else {
                Trigger::interval(Duration::from_secs(3600)).start(due)
            };
            bench_job(i, trigger, due, JobOptions::default())
        })
        .collect();
    let tx_before = xacts(admin).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = sample_backends(admin.clone(), Arc::clone(&stop));
    let insert = insert_jobs(admin, &schema, &jobs).await;
    let start = Instant::now();
    let cpu = cpu_ticks();
    wait_for("every backlog run", Duration::from_secs(600), || {
        probe.fired.load(Ordering::Relaxed) >= n as u64
    })
    .await;
    let fired_in = start.elapsed();
    let busy = busy_since(cpu);
    stop.store(true, Ordering::Relaxed);
    let (samples, seen) = sampler.await.expect("sampler");
    let tx_during = xacts(admin).await - tx_before;
    let completed = format!("SELECT count(*) FROM \"{schema}\".runs WHERE status = 'success'");
    let deadline = Instant::now() + Duration::from_secs(120);
    while scalar(admin, completed.clone()).await < n as i64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done_in = start.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await; // room for a duplicate to show
    let db_dups = scalar(
        admin,
        format!(
            "SELECT count(*) - count(DISTINCT (job_id, sched_s, sched_ns)) FROM \"{schema}\".runs"
        ),
    )
    .await;
    let runs = scalar(admin, format!("SELECT count(*) FROM \"{schema}\".runs")).await;
    for node in &mut running {
        node.stop(false);
    }
    let rate = n as f64 / fired_in.as_secs_f64();
    let per_node: Vec<u64> = (0..nodes)
        .map(|i| probe.by_node[i].load(Ordering::Relaxed))
        .collect();
    println!(
        "\n## drain: {n} {} jobs all due, {nodes} node(s), claim batch 2048 (the default)",
        if args.drain_date { "date" } else { "interval" }
    );
    println!(
        "insert {:.2} s; all started in {:.2} s = {rate:.0} firings/s; all recorded complete in {:.2} s = {:.0}/s; \
         machine CPU busy {busy:.0} %",
        insert.as_secs_f64(),
        fired_in.as_secs_f64(),
        done_in.as_secs_f64(),
        n as f64 / done_in.as_secs_f64()
    );
    println!(
        "per node {per_node:?}; runs rows {runs}; duplicates: runs table {db_dups}, job bodies {}; \
         store errors {}",
        probe.duplicates(),
        running
            .iter()
            .map(|x| x.log.store_errors.load(Ordering::Relaxed))
            .sum::<u64>()
    );
    if let Some(tps) = tps {
        println!("ratio to pgbench single-row UPDATE tps: {:.2}×", rate / tps);
    }
    println!(
        "database transactions until all started: {tx_during} ({:.2} per firing, incl. the sampler's)",
        tx_during as f64 / n as f64
    );
    print_samples("where the backends were", samples, &seen);
    drop_schema(admin, &schema).await;
}

// ---------------------------------------------------------------------------------
// Bulk adds

/// `n` specs of interval jobs (every hour, start times spread over it) running `task`.
fn bulk_specs(n: usize) -> impl Iterator<Item = (JobSpec, &'static str)> {
    let start = Utc::now() + TimeDelta::hours(1);
    (0..n).map(move |i| {
        let offset = TimeDelta::milliseconds((i as i64 * 3_600_000) / n.max(1) as i64);
        let spec = JobSpec::interval(Duration::from_secs(3600))
            .id(format!("bulk-{i:08}"))
            .start(start + offset);
        (spec, "tick")
    })
}

// ---------------------------------------------------------------------------------
// Soak: a steady rate for an hour on a million stored jobs

/// The sizes the soak follows, read from the statistics views (cheap at any size).
struct Sizes {
    runs_rows: i64,
    runs_dead: i64,
    runs_heap: i64,
    runs_indexes: i64,
    jobs_total: i64,
    database: i64,
    /// Autovacuum passes over the runs and jobs tables so far.
    vacuums: (i64, i64),
}

async fn sizes(admin: &PgPool, schema: &str) -> Sizes {
    let row = sqlx::query(
        "SELECT (SELECT n_live_tup FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'runs'), \
                (SELECT n_dead_tup FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'runs'), \
                pg_table_size(format('%I.runs', $1)::regclass), \
                pg_indexes_size(format('%I.runs', $1)::regclass), \
                pg_total_relation_size(format('%I.jobs', $1)::regclass), \
                pg_database_size(current_database()), \
                (SELECT autovacuum_count FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'runs'), \
                (SELECT autovacuum_count FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'jobs')",
    )
    .bind(schema)
    .fetch_one(admin)
    .await
    .expect("sizes");
    Sizes {
        runs_rows: row.get::<Option<i64>, _>(0).unwrap_or(0),
        runs_dead: row.get::<Option<i64>, _>(1).unwrap_or(0),
        runs_heap: row.get(2),
        runs_indexes: row.get(3),
        jobs_total: row.get(4),
        database: row.get(5),
        vacuums: (
            row.get::<Option<i64>, _>(6).unwrap_or(0),
            row.get::<Option<i64>, _>(7).unwrap_or(0),
        ),
    }
}

/// `--soak-jobs` jobs on one node, each every `soak-jobs / soak-rate` seconds (start
/// times spread evenly), for `--soak-minutes`: a line a minute with the tables' sizes,
/// and a line a window with the delay percentiles and where the database's time went.
async fn soak(args: &Args, admin: &PgPool) {
    let (n, rate) = (args.soak_jobs, args.soak_rate.max(1));
    let period_us = (n as i64 * 1_000_000) / rate as i64;
    let windows = args.soak_minutes.div_ceil(args.soak_window) as usize;
    let schema = unique_schema("soak");
    create_schema(&args.url, &schema).await;
    let probe = Probe::with_windows(n, windows);
    let mut node = Node::spawn(NodeOpts::new(&args.url, &schema), Arc::clone(&probe));
    let base = (Utc::now() + TimeDelta::seconds(40))
        .duration_trunc(TimeDelta::seconds(1))
        .expect("trunc");
    let options = JobOptions::default();
    let mut jobs = Vec::with_capacity(n);
    for i in 0..n {
        let start = base + TimeDelta::microseconds(i as i64 * period_us / n as i64);
        let every = Duration::from_micros(period_us as u64);
        jobs.push(bench_job(
            i,
            Trigger::interval(every).start(start),
            start,
            options.clone(),
        ));
    }
    let insert = insert_jobs(admin, &schema, &jobs).await;
    drop(jobs);
    println!(
        "\n## soak: {n} stored jobs, {rate} firings/s (each job every {:.1} s), one node, \
         defaults (claim-ahead, retention), {} min in windows of {} min",
        period_us as f64 / 1e6,
        args.soak_minutes,
        args.soak_window
    );
    println!("jobs inserted in {:.1} s", insert.as_secs_f64());
    // The first period is the warm-up: every job's first run, from a cold table.
    let from = base + TimeDelta::microseconds(period_us);
    let window_us = args.soak_window as i64 * 60_000_000;
    probe.split.1.store(window_us, Ordering::Relaxed);
    probe
        .split
        .0
        .store(from.timestamp_micros(), Ordering::Relaxed);
    let wait = |at: DateTime<Utc>| (at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait(from)).await;
    let mb = |b: i64| b as f64 / (1 << 20) as f64;
    println!(
        "{:>5} {:>9} {:>11} {:>10} {:>10} {:>10} {:>10} {:>10} {:>11}",
        "min",
        "fired/s",
        "runs rows",
        "dead",
        "runs MB",
        "idx MB",
        "jobs MB",
        "db MB",
        "vacuums r/j"
    );
    let mut fired = probe.fired.load(Ordering::Relaxed);
    let mut summaries = Vec::new();
    for w in 0..windows {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = sample_backends(admin.clone(), Arc::clone(&stop));
        let cpu = cpu_ticks();
        let window_end = from + TimeDelta::microseconds(window_us * (w as i64 + 1));
        let mut minute = 0;
        loop {
            let at = from
                + TimeDelta::microseconds(window_us * w as i64)
                + TimeDelta::minutes(minute + 1);
            if at > window_end || at > from + TimeDelta::minutes(args.soak_minutes as i64) {
                break;
            }
            tokio::time::sleep(wait(at)).await;
            minute += 1;
            let now_fired = probe.fired.load(Ordering::Relaxed);
            let size = sizes(admin, &schema).await;
            println!(
                "{:>5} {:>9.0} {:>11} {:>10} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>5}/{:<5}",
                w as i64 * args.soak_window as i64 + minute,
                (now_fired - fired) as f64 / 60.0,
                size.runs_rows,
                size.runs_dead,
                mb(size.runs_heap),
                mb(size.runs_indexes),
                mb(size.jobs_total),
                mb(size.database),
                size.vacuums.0,
                size.vacuums.1
            );
            fired = now_fired;
        }
        let busy = busy_since(cpu);
        stop.store(true, Ordering::Relaxed);
        let (samples, seen) = sampler.await.expect("sampler");
        // Backends busy in a kind of statement, on average: database seconds a second.
        let share = |kinds: &[&str]| {
            let hits: u64 = seen
                .iter()
                .filter(|(k, _)| kinds.iter().any(|kind| k.starts_with(kind)))
                .map(|(_, n)| *n)
                .sum();
            hits as f64 / samples.max(1) as f64
        };
        let line = format!(
            "{:>3}–{:<3} {:>10} {:>8.1} {:>8.1} {:>8.1} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>6.0}",
            w as u64 * args.soak_window,
            (w as u64 + 1) * args.soak_window,
            probe.windows[w].count(),
            probe.windows[w].percentile(0.50).as_secs_f64() * 1e3,
            probe.windows[w].percentile(0.99).as_secs_f64() * 1e3,
            probe.windows[w].max().as_secs_f64() * 1e3,
            share(&["claim:"]),
            share(&["complete:"]),
            share(&["prune"]),
            share(&["heartbeat"]),
            busy,
        );
        println!("window {w}: {line}");
        summaries.push(line);
        print_samples(
            &format!("window {w}: where the backends were"),
            samples,
            &seen,
        );
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    node.stop(false);
    println!(
        "\nper window (runs by scheduled time; database columns: backends busy in that kind \
         of statement, on average, from pg_stat_activity every 10 ms)"
    );
    println!(
        "{:>7} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "minutes",
        "runs",
        "p50 ms",
        "p99 ms",
        "max ms",
        "claim",
        "complete",
        "prune",
        "heartbt",
        "CPU %"
    );
    for line in summaries {
        println!("{line}");
    }
    println!(
        "occurrences fired twice {}; started early {}; skipped: missed {}, coalesced {}, max-instances {}; store errors {}",
        probe.repeated.load(Ordering::Relaxed),
        probe.early.load(Ordering::Relaxed),
        node.log.missed.load(Ordering::Relaxed),
        node.log.coalesced.load(Ordering::Relaxed),
        node.log.max_instances.load(Ordering::Relaxed),
        node.log.store_errors.load(Ordering::Relaxed),
    );
    if node.log.store_errors.load(Ordering::Relaxed) > 0 {
        println!(
            "last store error: {}",
            node.log.last_error.lock().expect("log")
        );
    }
    drop_schema(admin, &schema).await;
}

/// One `add_jobs` call of `--bulk-jobs` jobs into `MemoryStore`, then into Postgres (one
/// transaction), with the Postgres table's size after.
async fn bulk(args: &Args) {
    let n = args.bulk_jobs;
    println!("\n## bulk: one add_jobs call of {n} interval jobs");
    let memory = Scheduler::builder().build().expect("scheduler");
    memory.register_task("tick", || async {});
    let rss_before = sched_bench::rss_bytes();
    let specs: Vec<_> = bulk_specs(n).collect();
    let began = Instant::now();
    let ids = memory.add_jobs(specs).await.expect("add_jobs into memory");
    let took = began.elapsed();
    assert_eq!(ids.len(), n);
    // Everything the jobs hold (their strings came with the specs), and the ids'
    // vector; the specs' own vector is gone.
    let per_job = rss_before
        .zip(sched_bench::rss_bytes())
        .map(|(before, after)| after.saturating_sub(before) as f64 / n.max(1) as f64);
    println!(
        "MemoryStore: {:.3} s ({:.0} jobs/s; the specs built beforehand), RSS {} B per job \
         (start times spread over an hour: ~1 ms buckets of one job each)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        per_job.map_or_else(|| "?".to_owned(), |b| format!("{b:.0}"))
    );
    drop(memory);
    // The store's share: `MemoryStore::add_jobs` of jobs built and scheduled beforehand.
    let now = Utc::now();
    let jobs: Vec<Arc<Job>> = (0..n)
        .map(|i| {
            let trigger = Trigger::interval(Duration::from_secs(3600)).start(now);
            Arc::new(
                Job::new(format!("bulk-{i:08}"), "tick", trigger)
                    .schedule(now)
                    .expect("job"),
            )
        })
        .collect();
    let store = sched_tokio::sched_core::store::MemoryStore::new();
    let began = Instant::now();
    store.add_jobs(jobs).await.expect("store add_jobs");
    println!(
        "  of which MemoryStore::add_jobs of jobs built beforehand: {:.3} s",
        began.elapsed().as_secs_f64()
    );
    // These jobs are all due at one instant: one bucket of the due index. Pausing a
    // tenth of them one by one changes it in its middle; removing them all takes it
    // from its front.
    let began = Instant::now();
    for i in (0..n).step_by(10) {
        let mut job = store.get_job(&format!("bulk-{i:08}")).await.expect("get");
        job.paused = true;
        store.update_job(job).await.expect("pause");
    }
    let paused = began.elapsed();
    let began = Instant::now();
    let removed = store.remove_all_jobs().await.expect("remove all");
    assert_eq!(removed, n as u64);
    println!(
        "  due at one instant: pausing every tenth job one by one {:.3} s, removing all {:.3} s",
        paused.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    drop(store);
    let schema = unique_schema("bulk");
    let store = PostgresStore::builder()
        .schema(&schema)
        .connect(&args.url)
        .await
        .expect("store");
    let store = Arc::new(store);
    let node = Scheduler::builder()
        .store(Arc::clone(&store) as Arc<dyn JobStore>)
        .build()
        .expect("scheduler");
    node.register_task("tick", || async {});
    let specs: Vec<_> = bulk_specs(n).collect();
    let began = Instant::now();
    let ids = node.add_jobs(specs).await.expect("add_jobs into postgres");
    let took = began.elapsed();
    assert_eq!(ids.len(), n);
    let admin = PgPool::connect(&args.url).await.expect("admin");
    let count = scalar(&admin, format!("SELECT count(*) FROM \"{schema}\".jobs")).await;
    let size: String = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT pg_size_pretty(pg_total_relation_size('\"{schema}\".jobs'))"
    )))
    .fetch_one(&admin)
    .await
    .expect("size");
    println!(
        "PostgresStore: {:.1} s ({:.0} jobs/s, one transaction); {count} rows stored, {size} table+indexes",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    // What a node starting on these jobs reads to report the unrunnable ones: the
    // census (ids and tasks of those only), and what it was before (every job).
    let runnable = sched_tokio::sched_core::store::Runnable {
        names: vec!["tick".to_owned()],
        prefixes: Vec::new(),
    };
    let rss = sched_bench::rss_bytes();
    let began = Instant::now();
    let census = store.census(&runnable).await.expect("census");
    let census_took = began.elapsed();
    let census_rss = sched_bench::rss_bytes()
        .zip(rss)
        .map(|(a, b)| a.saturating_sub(b));
    assert_eq!((census.jobs, census.unrunnable.len()), (n, 0));
    let began = Instant::now();
    let jobs = store.list_jobs().await.expect("list_jobs");
    let list_took = began.elapsed();
    let list_rss = sched_bench::rss_bytes()
        .zip(rss)
        .map(|(a, b)| a.saturating_sub(b));
    assert_eq!(jobs.len(), n);
    drop(jobs);
    let mib = |bytes: Option<u64>| {
        bytes.map_or_else(
            || "?".to_owned(),
            |b| format!("{:.0}", b as f64 / 1_048_576.0),
        )
    };
    println!(
        "  at start-up, census of {n} jobs: {:.3} s, +{} MiB RSS; reading every job (list_jobs, the census before): {:.3} s, +{} MiB RSS",
        census_took.as_secs_f64(),
        mib(census_rss),
        list_took.as_secs_f64(),
        mib(list_rss)
    );
    drop(node);
    drop_schema(&admin, &schema).await;
}

// ---------------------------------------------------------------------------------
// Jobs every second on one node

async fn firing(args: &Args, admin: &PgPool, n: usize, same: bool, ahead_ms: Option<u64>) {
    let schema = unique_schema("firing");
    create_schema(&args.url, &schema).await;
    let probe = Probe::new(n);
    let mut opts = NodeOpts::new(&args.url, &schema);
    opts.claim_ahead = ahead_ms.map(Duration::from_millis);
    opts.heartbeat = Duration::from_secs(args.firing_heartbeat.max(1));
    opts.lease = Duration::from_secs(2 + 5 * args.firing_heartbeat.max(1));
    let mut node = Node::spawn(opts, Arc::clone(&probe));
    let base = (Utc::now() + TimeDelta::seconds(3))
        .duration_trunc(TimeDelta::seconds(1))
        .expect("trunc");
    let options = JobOptions::default();
    let jobs: Vec<Job> = (0..n)
        .map(|i| {
            let offset = if same {
                TimeDelta::zero()
            } else {
                TimeDelta::nanoseconds((i as i64) * 1_000_000_000 / n as i64)
            };
            let start = base + offset;
            let trigger = Trigger::interval(Duration::from_secs(1)).start(start);
            bench_job(i, trigger, start, options.clone())
        })
        .collect();
    insert_jobs(admin, &schema, &jobs).await;
    let warmup = 2;
    let from = base + TimeDelta::seconds(warmup);
    let to = from + TimeDelta::seconds(args.seconds as i64);
    probe
        .window
        .0
        .store(from.timestamp_micros(), Ordering::Relaxed);
    probe
        .window
        .1
        .store(to.timestamp_micros(), Ordering::Relaxed);
    let wait = |at: DateTime<Utc>| (at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait(from)).await;
    let cpu = cpu_ticks();
    let tx_before = xacts(admin).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = sample_backends(admin.clone(), Arc::clone(&stop));
    tokio::time::sleep(wait(to)).await;
    let busy = busy_since(cpu);
    let tx_rate = (xacts(admin).await - tx_before) as f64 / args.seconds as f64;
    stop.store(true, Ordering::Relaxed);
    let (samples, seen) = sampler.await.expect("sampler");
    tokio::time::sleep(Duration::from_secs(3)).await;
    node.stop(false);
    let expected = (n as u64) * args.seconds;
    let h = &probe.delays;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "\n## firing: {n} jobs every 1 s, {}, one node, claim_ahead {}, {} s window",
        if same {
            "all at the same instant"
        } else {
            "start times spread over the second"
        },
        ahead_ms.map_or("default (the store's: 500 ms)".to_owned(), |ms| format!(
            "{ms} ms"
        )),
        args.seconds
    );
    println!(
        "fired {:.2} % ({} of {expected}); delay p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         machine CPU busy {busy:.0} %; started early {}; skipped: missed {}, coalesced {}, max-instances {}; store errors {}",
        100.0 * h.count() as f64 / expected as f64,
        h.count(),
        ms(h.percentile(0.50)),
        ms(h.percentile(0.99)),
        ms(h.max()),
        probe.early.load(Ordering::Relaxed),
        node.log.missed.load(Ordering::Relaxed),
        node.log.coalesced.load(Ordering::Relaxed),
        node.log.max_instances.load(Ordering::Relaxed),
        node.log.store_errors.load(Ordering::Relaxed),
    );
    println!("database transactions: {tx_rate:.0}/s in the window (incl. the sampler's ~100/s)");
    if node.log.store_errors.load(Ordering::Relaxed) > 0 {
        println!(
            "last store error: {}",
            node.log.last_error.lock().expect("log")
        );
    }
    print_samples("where the backends were", samples, &seen);
    drop_schema(admin, &schema).await;
}

// ---------------------------------------------------------------------------------
// A node killed mid-run

async fn kill(args: &Args, admin: &PgPool) {
    let n = 300;
    let schema = unique_schema("kill");
    create_schema(&args.url, &schema).await;
    let probe = Probe::new(n);
    let mut opts = NodeOpts::new(&args.url, &schema);
    opts.task_time = Duration::from_secs(300); // in flight when it dies
    let mut victim = Node::spawn(opts.clone(), Arc::clone(&probe));
    let start = Utc::now() + TimeDelta::milliseconds(500);
    let options = JobOptions::default().recover_abandoned(true);
    let jobs: Vec<Job> = (0..n)
        .map(|i| {
            let at = start + TimeDelta::microseconds((i as i64) * 1_000_000 / n as i64);
            let trigger = Trigger::interval(Duration::from_secs(1)).start(at);
            bench_job(i, trigger, at, options.clone())
        })
        .collect();
    insert_jobs(admin, &schema, &jobs).await;
    wait_for(
        "the victim to start every job",
        Duration::from_secs(20),
        || probe.per_job.iter().all(|c| c.load(Ordering::Relaxed) > 0),
    )
    .await;
    let mut survivors: Vec<Node> = (1..3)
        .map(|i| {
            let mut o = opts.clone();
            o.index = i;
            o.task_time = Duration::from_millis(10);
            Node::spawn(o, Arc::clone(&probe))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let in_flight = scalar(
        admin,
        format!(
            "SELECT count(*) FROM \"{schema}\".runs WHERE node = 'node-0' AND status = 'running'"
        ),
    )
    .await;
    let killed = Utc::now().timestamp_micros();
    probe.mark_us.store(killed, Ordering::Relaxed);
    victim.stop(true);
    let last_beat: i64 = scalar(
        admin,
        format!("SELECT seen_us FROM \"{schema}\".nodes WHERE id = 'node-0'"),
    )
    .await;
    wait_for(
        "survivors to run every job again",
        Duration::from_secs(40),
        || {
            probe
                .first_after
                .iter()
                .all(|t| t.load(Ordering::Relaxed) > 0)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let abandoned: Vec<i64> = survivors
        .iter()
        .flat_map(|s| {
            s.log
                .abandoned
                .lock()
                .expect("log")
                .iter()
                .map(|(t, _)| *t)
                .collect::<Vec<_>>()
        })
        .collect();
    let recovered = survivors
        .iter()
        .map(|s| {
            s.log
                .abandoned
                .lock()
                .expect("log")
                .iter()
                .filter(|(_, e)| e.recovered && e.node == "node-0")
                .count()
        })
        .sum::<usize>();
    let mut takeover: Vec<i64> = probe
        .first_after
        .iter()
        .map(|t| t.load(Ordering::Relaxed))
        .filter(|t| *t > 0)
        .map(|t| t - killed)
        .collect();
    takeover.sort_unstable();
    let db_dups = scalar(
        admin,
        format!(
            "SELECT count(*) - count(DISTINCT (job_id, sched_s, sched_ns)) FROM \"{schema}\".runs \
             WHERE status <> 'abandoned'"
        ),
    )
    .await;
    for s in &mut survivors {
        s.stop(false);
    }
    let secs = |us: i64| us as f64 / 1e6;
    println!(
        "\n## kill: 3 nodes, lease 10 s, heartbeat 2 s; {n} jobs every 1 s (recover_abandoned)"
    );
    println!(
        "victim's runs in flight at kill: {in_flight}; its last heartbeat {:.2} s before the kill",
        secs(killed - last_beat)
    );
    println!(
        "JobAbandoned events on survivors: {} ({} recovered), first {:.2} s, last {:.2} s after the kill",
        abandoned.len(),
        recovered,
        secs(abandoned.iter().min().copied().unwrap_or(killed) - killed),
        secs(abandoned.iter().max().copied().unwrap_or(killed) - killed)
    );
    if !takeover.is_empty() {
        println!(
            "every job fired again by a survivor: {} of {n}; first {:.2} s, median {:.2} s, last {:.2} s after the kill; \
             duplicates (non-abandoned) {db_dups}",
            takeover.len(),
            secs(takeover[0]),
            secs(takeover[takeover.len() / 2]),
            secs(takeover[takeover.len() - 1])
        );
    }
    drop_schema(admin, &schema).await;
}

// ---------------------------------------------------------------------------------
// Postgres restarted under running nodes

fn cluster(args: &Args) -> (String, String) {
    args.cluster.clone().unwrap_or_else(|| {
        let version = std::fs::read_dir("/etc/postgresql")
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .unwrap_or_else(|| "15".into());
        (version, "main".into())
    })
}

async fn restart(args: &Args) {
    let n = 200;
    let schema = unique_schema("restart");
    create_schema(&args.url, &schema).await;
    let probe = Probe::new(n);
    let mut nodes: Vec<Node> = (0..2)
        .map(|i| {
            let mut o = NodeOpts::new(&args.url, &schema);
            o.index = i;
            o.task_time = Duration::from_millis(10);
            Node::spawn(o, Arc::clone(&probe))
        })
        .collect();
    let admin = PgPoolOptions::new()
        .max_connections(2)
        .connect(&args.url)
        .await
        .expect("admin");
    let start = Utc::now() + TimeDelta::milliseconds(500);
    let jobs: Vec<Job> = (0..n)
        .map(|i| {
            let at = start + TimeDelta::microseconds((i as i64) * 1_000_000 / n as i64);
            let trigger = Trigger::interval(Duration::from_secs(1)).start(at);
            bench_job(i, trigger, at, JobOptions::default())
        })
        .collect();
    insert_jobs(&admin, &schema, &jobs).await;
    admin.close().await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (version, name) = cluster(args);
    let cmd = format!("pg_ctlcluster --skip-systemctl-redirect {version} {name} restart");
    println!("\n$ {cmd}");
    let began = Instant::now();
    let began_us = Utc::now().timestamp_micros();
    let status =
        tokio::task::spawn_blocking(move || Command::new("sh").arg("-c").arg(&cmd).status())
            .await
            .expect("join")
            .expect("pg_ctlcluster");
    let up_us = Utc::now().timestamp_micros();
    let restart_took = began.elapsed();
    probe.mark_us.store(up_us, Ordering::Relaxed);
    let all = wait_for("every job to fire again", Duration::from_secs(60), || {
        probe
            .first_after
            .iter()
            .all(|t| t.load(Ordering::Relaxed) > 0)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut after: Vec<i64> = probe
        .first_after
        .iter()
        .map(|t| t.load(Ordering::Relaxed))
        .filter(|t| *t > 0)
        .map(|t| t - up_us)
        .collect();
    after.sort_unstable();
    let admin = PgPoolOptions::new()
        .max_connections(2)
        .connect(&args.url)
        .await
        .expect("admin after restart");
    let stuck = scalar(
        &admin,
        format!("SELECT count(DISTINCT job_id) FROM \"{schema}\".runs WHERE status = 'running' AND started_us < {up_us}"),
    )
    .await;
    let last_fired = probe.last_us.load(Ordering::Relaxed);
    for node in &mut nodes {
        node.stop(false);
    }
    let secs = |us: i64| us as f64 / 1e6;
    println!("## restart: 2 nodes, {n} jobs every 1 s (10 ms body), Postgres restarted");
    println!(
        "pg_ctlcluster restart: {status}, took {:.2} s (Postgres accepting connections when it returns)",
        restart_took.as_secs_f64()
    );
    let errors: Vec<String> = nodes
        .iter()
        .map(|x| {
            if x.log.store_errors.load(Ordering::Relaxed) == 0 {
                return "0".to_owned();
            }
            format!(
                "{} ({:.2}–{:.2} s after the restart began; last: {})",
                x.log.store_errors.load(Ordering::Relaxed),
                secs(x.log.store_error_first_us.load(Ordering::Relaxed) - began_us),
                secs(x.log.store_error_last_us.load(Ordering::Relaxed) - began_us),
                x.log.last_error.lock().expect("log")
            )
        })
        .collect();
    println!("store errors per node: {errors:?}");
    if !after.is_empty() {
        println!(
            "after Postgres was back: first firing {:.2} s, every job fired again: {} of {n} (all: {all}), \
             last job {:.2} s; coalesced {}; last firing {:.2} s after it was back",
            secs(after[0]),
            after.len(),
            secs(after[after.len() - 1]),
            nodes.iter().map(|x| x.log.coalesced.load(Ordering::Relaxed)).sum::<u64>(),
            secs(last_fired - up_us),
        );
    } else {
        println!("!! no job fired after Postgres was back");
    }
    println!("jobs with a run left 'running' from before the restart: {stuck}");
    let silent: Vec<String> = probe
        .first_after
        .iter()
        .enumerate()
        .filter(|(_, t)| t.load(Ordering::Relaxed) == 0)
        .map(|(i, _)| format!("j-{i}"))
        .collect();
    if !silent.is_empty() {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT r.job_id, r.status, r.node, (r.started_us - {began_us}) / 1000, \
             (r.lease_us - {up_us}) / 1000, coalesce(r.error, '') FROM \"{schema}\".runs r \
             WHERE r.job_id = ANY($1) ORDER BY r.id DESC LIMIT 10"
        )))
        .bind(&silent)
        .fetch_all(&admin)
        .await
        .expect("silent jobs");
        println!("jobs that never fired again: {silent:?}; their latest runs:");
        for row in rows {
            println!(
                "  {} {} on {}: started {} ms after the restart began, lease until {} ms after it was back {}",
                row.get::<String, _>(0),
                row.get::<String, _>(1),
                row.get::<String, _>(2),
                row.get::<i64, _>(3),
                row.get::<i64, _>(4),
                row.get::<String, _>(5)
            );
        }
    }
    drop_schema(&admin, &schema).await;
}

// ---------------------------------------------------------------------------------
// EXPLAIN of the claim on a large table

/// Fills `jobs` with `rows` jobs, `due` of them due now, the rest mostly in the
/// future (1 % paused, 1 % done and kept for recovery); realistic JSON columns.
async fn fill(admin: &PgPool, schema: &str, rows: i64, due: i64, now_s: i64) -> Duration {
    let started = Instant::now();
    let interval =
        serde_json::to_string(&Trigger::interval(Duration::from_secs(3600)).start(Utc::now()))
            .expect("json");
    let cron = serde_json::to_string(
        &Trigger::cron("0 8 * * mon-fri")
            .and_then(|t| t.timezone_name("Europe/London"))
            .expect("cron"),
    )
    .expect("json");
    let options = serde_json::to_string(&JobOptions::default()).expect("json");
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO \"{schema}\".jobs ({COLUMNS}) \
         SELECT 'j-' || g, 'digest for user ' || g, 'send_digest', \
           json_build_object('tenant_id', g % 500, 'user_id', g, 'report', 'weekly-digest', \
             'channels', json_build_array('email', 'slack'), 'locale', 'en-GB')::text, \
           CASE WHEN g % 2 = 0 THEN $1 ELSE $2 END, $3, \
           CASE WHEN g <= $5 THEN $6 - 1 - g % 60 \
                WHEN g % 100 = 1 THEN NULL ELSE $6 + 60 + (g * 7919) % 604800 END, \
           CASE WHEN g % 100 = 1 AND g > $5 THEN NULL ELSE ((g * 104729) % 1000000000)::int4 END, \
           g % 100 = 2 AND g > $5 \
         FROM generate_series(1, $4::int8) AS g"
    )))
    .bind(interval)
    .bind(cron)
    .bind(options)
    .bind(rows)
    .bind(due)
    .bind(now_s)
    .execute(admin)
    .await
    .expect("fill jobs");
    sqlx::query(AssertSqlSafe(format!("VACUUM ANALYZE \"{schema}\".jobs")))
        .execute(admin)
        .await
        .expect("analyze");
    started.elapsed()
}

/// The jobs table's columns, in the order the bench inserts them.
const COLUMNS: &str = "id, name, task, args, trigger, options, next_run_s, next_run_ns, paused";

/// The store's own claim statement (what EXPLAIN looks at).
fn claim_sql(schema: &str) -> String {
    sched_store_sqlx::__postgres_claim_sql(schema)
}

async fn explain(args: &Args, admin: &PgPool) {
    let schema = unique_schema("explain");
    create_schema(&args.url, &schema).await;
    let now_s = Utc::now().timestamp();
    let took = fill(admin, &schema, args.explain_rows, 1_000, now_s).await;
    let size: String = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT pg_size_pretty(pg_total_relation_size('\"{schema}\".jobs')) || ' table+indexes, jobs_due ' || \
         pg_size_pretty(pg_relation_size('\"{schema}\".jobs_due'))"
    )))
    .fetch_one(admin)
    .await
    .expect("size");
    let due = scalar(
        admin,
        format!(
            "SELECT count(*) FROM \"{schema}\".jobs WHERE NOT paused AND next_run_s IS NOT NULL \
             AND next_run_s <= {now_s}"
        ),
    )
    .await;
    println!(
        "\n## explain: {} jobs ({due} due), filled + VACUUM ANALYZE in {:.1} s; {size}",
        args.explain_rows,
        took.as_secs_f64()
    );
    let claim = claim_sql(&schema);
    let mut conn = admin.acquire().await.expect("conn");
    // As the store runs it: a prepared statement, parameters bound. The first five
    // executions get custom plans, later ones may get the generic plan; show both.
    let literal = claim
        .replace("($1, $2)", &format!("({now_s}, 999999999)"))
        .replace("$1", &now_s.to_string())
        .replace("$3", "'{}'::text[]")
        .replace("$4", "1024")
        .replace("$5::text[]", "'{send_digest,tick}'::text[]")
        .replace("$5", "'{send_digest,tick}'::text[]")
        .replace("$6::text[]", "'{closure:node-0:}'::text[]");
    for (label, setup, statement) in [
        ("custom plan (values inlined)", None, literal),
        (
            "generic plan (PREPARE, plan_cache_mode = force_generic_plan)",
            Some(format!(
                "PREPARE bench_claim(int8, int4, text[], int8, text[], text[]) AS {claim}"
            )),
            format!(
                "EXECUTE bench_claim({now_s}, 999999999, '{{}}', 1024, \
                 '{{send_digest,tick}}', '{{closure:node-0:}}')"
            ),
        ),
        (
            "generic plan with jit = off (as PostgresStore::connect's connections run it)",
            Some(format!(
                "SET LOCAL jit = off; DEALLOCATE bench_claim; \
                 PREPARE bench_claim(int8, int4, text[], int8, text[], text[]) AS {claim}"
            )),
            format!(
                "EXECUTE bench_claim({now_s}, 999999999, '{{}}', 1024, \
                 '{{send_digest,tick}}', '{{closure:node-0:}}')"
            ),
        ),
    ] {
        sqlx::raw_sql(AssertSqlSafe(
            "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan",
        ))
        .execute(&mut *conn)
        .await
        .expect("begin");
        if let Some(setup) = setup {
            sqlx::raw_sql(AssertSqlSafe(setup))
                .execute(&mut *conn)
                .await
                .expect("prepare");
        }
        let plan: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, BUFFERS) {statement}"
        )))
        .fetch_all(&mut *conn)
        .await
        .expect("explain");
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut *conn)
            .await
            .expect("rollback");
        println!("\n### {label}\n```\n{}\n```", plan.join("\n"));
    }
    let _ = sqlx::raw_sql("DEALLOCATE bench_claim")
        .execute(&mut *conn)
        .await;
    drop(conn);
    drop_schema(admin, &schema).await;
}

// ---------------------------------------------------------------------------------
// The claim transaction, statement by statement

/// Replays the store's claim transaction by hand on a backlog of `drain_jobs` due
/// jobs (in a table of `explain_rows` / 10 jobs), batch 1024, timing each statement;
/// then completes the runs as the runtime does (one `UPDATE` + one `DELETE` per run,
/// 8 at a time), and as one batched statement per claim.
async fn profile(args: &Args, admin: &PgPool) {
    let schema = unique_schema("profile");
    create_schema(&args.url, &schema).await;
    let now_s = Utc::now().timestamp();
    let due = args.drain_jobs as i64;
    fill(
        admin,
        &schema,
        (args.explain_rows / 10).max(due * 2),
        due,
        now_s,
    )
    .await;
    let s = format!("\"{schema}\"");
    let claim = claim_sql(&schema);
    let running_counts = format!(
        "SELECT job_id, count(*) FROM {s}.runs WHERE status = 'running' AND job_id = ANY($1) GROUP BY job_id"
    );
    let reschedule = format!(
        "UPDATE {s}.jobs AS j SET next_run_s = u.s, next_run_ns = u.ns \
         FROM UNNEST($1::text[], $2::int8[], $3::int4[]) AS u(id, s, ns) WHERE j.id = u.id"
    );
    let record = format!(
        "INSERT INTO {s}.runs (job_id, sched_s, sched_ns, node, status, started_us, lease_us) \
         SELECT u.job_id, u.s, u.ns, $4, 'running', $5, $6 \
         FROM UNNEST($1::text[], $2::int8[], $3::int4[]) AS u(job_id, s, ns) \
         ON CONFLICT (job_id, sched_s, sched_ns) WHERE status <> 'abandoned' DO NOTHING \
         RETURNING id, job_id, sched_s, sched_ns"
    );
    let next_run = format!(
        "SELECT next_run_s, next_run_ns FROM {s}.jobs \
         WHERE NOT paused AND next_run_s IS NOT NULL AND id <> ALL($1) \
         ORDER BY next_run_s, next_run_ns LIMIT 1"
    );
    let mut t: HashMap<&str, Duration> = HashMap::new();
    let mut add = |k: &'static str, since: Instant| *t.entry(k).or_default() += since.elapsed();
    let mut run_ids: Vec<Vec<i64>> = Vec::new();
    let total = Instant::now();
    loop {
        let mut at = Instant::now();
        let mut tx = admin.begin().await.expect("begin");
        add("begin", at);
        at = Instant::now();
        let rows = sqlx::query(AssertSqlSafe(claim.as_str()))
            .bind(now_s + 1)
            .bind(0i32)
            .bind(Vec::<String>::new())
            .bind(1024i64)
            .bind(Some(vec!["send_digest".to_owned(), "tick".to_owned()]))
            .bind(Some(vec!["closure:node-0:".to_owned()]))
            .fetch_all(&mut *tx)
            .await
            .expect("claim");
        add("select due FOR UPDATE SKIP LOCKED", at);
        if rows.is_empty() {
            tx.rollback().await.expect("rollback");
            break;
        }
        at = Instant::now();
        let ids: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
        // What plan_claim does per row: decode the JSON columns.
        for row in &rows {
            for col in 3..6 {
                let text: String = row.get(col);
                let _: serde_json::Value = serde_json::from_str(&text).expect("json");
            }
        }
        add("decode rows (client)", at);
        at = Instant::now();
        sqlx::query(AssertSqlSafe(running_counts.as_str()))
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await
            .expect("running");
        add("running counts", at);
        at = Instant::now();
        let secs = vec![now_s + 3600; ids.len()];
        let nanos = vec![0i32; ids.len()];
        sqlx::query(AssertSqlSafe(reschedule.as_str()))
            .bind(&ids)
            .bind(&secs)
            .bind(&nanos)
            .execute(&mut *tx)
            .await
            .expect("reschedule");
        add("reschedule (UPDATE FROM UNNEST)", at);
        at = Instant::now();
        let scheds: Vec<i64> = rows.iter().map(|r| r.get::<i64, _>(6)).collect();
        let sched_ns: Vec<i32> = rows.iter().map(|r| r.get::<i32, _>(7)).collect();
        let recorded = sqlx::query(AssertSqlSafe(record.as_str()))
            .bind(&ids)
            .bind(&scheds)
            .bind(&sched_ns)
            .bind("profile-node")
            .bind(now_s * 1_000_000)
            .bind(now_s * 1_000_000 + 10_000_000)
            .fetch_all(&mut *tx)
            .await
            .expect("record");
        add("record runs (INSERT .. ON CONFLICT)", at);
        at = Instant::now();
        tx.commit().await.expect("commit");
        add("commit", at);
        at = Instant::now();
        sqlx::query(AssertSqlSafe(next_run.as_str()))
            .bind(Vec::<String>::new())
            .fetch_optional(admin)
            .await
            .expect("next run");
        add("next_run_time (after the claim)", at);
        run_ids.push(recorded.iter().map(|r| r.get::<i64, _>(0)).collect());
    }
    let claim_total = total.elapsed();
    let batches = run_ids.len();
    let runs: usize = run_ids.iter().map(Vec::len).sum();
    println!(
        "\n## profile: claim transaction replayed on {due} due jobs ({batches} batches of ≤ 1024)"
    );
    let mut keys: Vec<_> = t.iter().collect();
    keys.sort_by_key(|(_, d)| std::cmp::Reverse(**d));
    for (k, d) in keys {
        println!(
            "  {k:<40} {:>8.1} ms total, {:>6.2} ms / batch, {:>5.1} µs / run",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() * 1e3 / batches as f64,
            d.as_secs_f64() * 1e6 / runs as f64
        );
    }
    println!(
        "  claiming alone: {:.2} s = {:.0} runs/s",
        claim_total.as_secs_f64(),
        runs as f64 / claim_total.as_secs_f64()
    );
    complete_each(admin, &s, &run_ids[..batches / 2]).await;
    complete_batched(admin, &s, &run_ids[batches / 2..]).await;
    drop_schema(admin, &schema).await;
}

/// As the runtime does: each run task, on its own, `complete` then `unpark`.
async fn complete_each(admin: &PgPool, s: &str, batches: &[Vec<i64>]) {
    let complete = Arc::new(format!(
        "UPDATE {s}.runs SET status = $2, finished_us = $3, error = $4 WHERE id = $1 AND status = 'running' \
         RETURNING job_id"
    ));
    let unpark = Arc::new(format!(
        "DELETE FROM {s}.jobs j WHERE j.id = $1 AND j.next_run_s IS NULL \
         AND j.options::jsonb ->> 'recover_abandoned' = 'true' \
         AND NOT EXISTS (SELECT 1 FROM {s}.runs r WHERE r.job_id = $1 AND r.status = 'running')"
    ));
    let ids: Vec<i64> = batches.iter().flatten().copied().collect();
    let started = Instant::now();
    let (mut t_update, mut t_delete) = (Duration::ZERO, Duration::ZERO);
    for chunk in ids.chunks(8) {
        let mut tasks = Vec::new();
        for &id in chunk {
            let (admin, complete, unpark) =
                (admin.clone(), Arc::clone(&complete), Arc::clone(&unpark));
            tasks.push(tokio::spawn(async move {
                let at = Instant::now();
                let job: String = sqlx::query_scalar(AssertSqlSafe(complete.as_str()))
                    .bind(id)
                    .bind("success")
                    .bind(Utc::now().timestamp_micros())
                    .bind(None::<String>)
                    .fetch_one(&admin)
                    .await
                    .expect("complete");
                let update = at.elapsed();
                let at = Instant::now();
                sqlx::query(AssertSqlSafe(unpark.as_str()))
                    .bind(job)
                    .execute(&admin)
                    .await
                    .expect("unpark");
                (update, at.elapsed())
            }));
        }
        for task in tasks {
            let (u, d) = task.await.expect("join");
            t_update += u;
            t_delete += d;
        }
    }
    let took = started.elapsed();
    println!(
        "  complete per run (UPDATE runs + DELETE unpark, 8 concurrent), {} runs: {:.2} s = {:.0} runs/s; \
         mean latency UPDATE {:.2} ms, DELETE {:.2} ms",
        ids.len(),
        took.as_secs_f64(),
        ids.len() as f64 / took.as_secs_f64(),
        t_update.as_secs_f64() * 1e3 / ids.len() as f64,
        t_delete.as_secs_f64() * 1e3 / ids.len() as f64
    );
}

/// The suggested alternative: one statement completes a claim's worth of runs.
async fn complete_batched(admin: &PgPool, s: &str, batches: &[Vec<i64>]) {
    let sql = format!(
        "UPDATE {s}.runs SET status = 'success', finished_us = $2 WHERE id = ANY($1) AND status = 'running'"
    );
    let started = Instant::now();
    let mut n = 0;
    for ids in batches {
        sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(ids)
            .bind(Utc::now().timestamp_micros())
            .execute(admin)
            .await
            .expect("batched complete");
        n += ids.len();
    }
    let took = started.elapsed();
    println!(
        "  complete batched (one UPDATE .. WHERE id = ANY per claim), {n} runs: {:.3} s = {:.0} runs/s",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------
// cancel

/// A node of the cancel case; with `hold`, it runs task `hold` (waits for its token).
async fn cancel_node(url: &str, schema: &str, id: &str, hold: bool) -> Scheduler {
    let store = PostgresStore::builder()
        .schema(schema)
        .poll_interval(Duration::from_millis(100))
        .max_connections(4)
        .connect(url)
        .await
        .expect("cancel node store");
    let scheduler = Scheduler::builder()
        .node_id(id)
        .store(Arc::new(store))
        .event_capacity(1 << 16)
        .build()
        .expect("cancel node");
    if hold {
        scheduler.register_task("hold", |ctx: JobContext| async move {
            ctx.cancelled().await;
        });
    }
    scheduler.start().await.expect("cancel node starts");
    scheduler
}

/// Waits for the first event `pick` accepts.
async fn next_event<T>(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(error) => panic!("events: {error}"),
            }
        }
    })
    .await
    .expect("the event came")
}

async fn cancel(args: &Args, admin: &PgPool) {
    let schema = unique_schema("bench_cancel");
    create_schema(&args.url, &schema).await;
    let a = cancel_node(&args.url, &schema, "node-a", true).await;
    let b = cancel_node(&args.url, &schema, "node-b", false).await;
    let mut events = a.subscribe();
    println!(
        "\n## cancel: a run on node a, waiting for its token, cancelled from b, then from a\n"
    );
    println!("| cancelled from | runs | cancel_run returns p50 | p99 | run reported cancelled p50 | p99 | max |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (from, label) in [
        (&b, "node b (store UPDATE + NOTIFY)"),
        (&a, "node a (its own run)"),
    ] {
        let (call, ended) = (Histogram::new(), Histogram::new());
        for i in 0..args.cancels {
            let id = format!("c-{label:.6}-{i}");
            a.add_named_job(JobSpec::date(a.now()).id(id.as_str()), "hold")
                .await
                .expect("job added");
            let run = next_event(&mut events, |e| match e {
                Event::JobSubmitted(run) if *run.job_id == *id => Some(run.run_id),
                _ => None,
            })
            .await;
            let began = Instant::now();
            assert!(
                from.cancel_run(run).await.expect("cancel_run"),
                "it was running"
            );
            call.record_micros(began.elapsed().as_micros() as i64);
            next_event(&mut events, |e| match e {
                Event::JobError(ended) if ended.run_id == run => Some(()),
                _ => None,
            })
            .await;
            ended.record_micros(began.elapsed().as_micros() as i64);
        }
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} |",
            call.count(),
            ms(call.percentile(0.50)),
            ms(call.percentile(0.99)),
            ms(ended.percentile(0.50)),
            ms(ended.percentile(0.99)),
            ms(ended.max()),
        );
    }
    a.shutdown().await.expect("a stops");
    b.shutdown().await.expect("b stops");
    drop_schema(admin, &schema).await;
}

// ---------------------------------------------------------------------------------
// retry

/// The store's side of a retry, call by call, then a retry end to end on a node.
async fn retry(args: &Args, admin: &PgPool) {
    use sched_tokio::sched_core::store::{AcquireRequest, Outcome, RunEnd};

    let schema = unique_schema("bench_retry");
    create_schema(&args.url, &schema).await;
    let store = PostgresStore::builder()
        .schema(&schema)
        .listen(false)
        .max_connections(4)
        .connect(&args.url)
        .await
        .expect("retry store");
    println!(
        "\n## retry: the store's calls, one run each ({} runs each way)\n",
        args.retries
    );
    println!("| call | without a retry p50 | p99 | with a retry p50 | p99 |");
    println!("|---|---:|---:|---:|---:|");
    let policy = RetryPolicy::new(2).fixed(Duration::ZERO);
    let (plain_end, retry_end) = (Histogram::new(), Histogram::new());
    let (plain_claim, retry_claim) = (Histogram::new(), Histogram::new());
    for i in 0..args.retries {
        for retried in [false, true] {
            let now = Utc::now();
            let options = if retried {
                JobOptions::default().retry(policy)
            } else {
                JobOptions::default()
            };
            let id = format!("r-{retried}-{i}");
            let hourly = Trigger::interval(Duration::from_secs(3600)).start(now);
            let job = Job::new(id.as_str(), "t", hourly)
                .options(options)
                .schedule(now)
                .expect("job");
            store.add_job(job, false).await.expect("added");
            // The claim of its first run (both: a due job).
            let began = Instant::now();
            let first = store
                .acquire(AcquireRequest::new("bench", Utc::now()).limit(10))
                .await
                .expect("claimed");
            let claim_took = began.elapsed();
            let run = first.runs.first().expect("a run").run_id;
            let failed = Outcome::Error("boom".into());
            let end = RunEnd::new(run, failed, Utc::now()).with_retry_at(retried.then(Utc::now));
            let began = Instant::now();
            let done = store.complete_many(vec![end]).await;
            assert!(done[0].is_ok(), "{done:?}");
            let end_took = began.elapsed();
            if retried {
                retry_end.record_micros(end_took.as_micros() as i64);
                // The claim that starts the retry.
                let began = Instant::now();
                let again = store
                    .acquire(AcquireRequest::new("bench", Utc::now()).limit(10))
                    .await
                    .expect("claimed");
                retry_claim.record_micros(began.elapsed().as_micros() as i64);
                let run = again.runs.first().expect("the retry");
                assert_eq!(run.attempt, 2);
                store
                    .complete(run.run_id, Outcome::Success, Utc::now())
                    .await
                    .expect("done");
            } else {
                plain_end.record_micros(end_took.as_micros() as i64);
                plain_claim.record_micros(claim_took.as_micros() as i64);
            }
            store.remove_job(&id).await.expect("removed");
        }
    }
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    println!(
        "| record the failed run's end (`complete_many`) | {} | {} | {} | {} |",
        ms(plain_end.percentile(0.50)),
        ms(plain_end.percentile(0.99)),
        ms(retry_end.percentile(0.50)),
        ms(retry_end.percentile(0.99)),
    );
    println!(
        "| the claim that starts it (`acquire`: a due job / the due retry) | {} | {} | {} | {} |",
        ms(plain_claim.percentile(0.50)),
        ms(plain_claim.percentile(0.99)),
        ms(retry_claim.percentile(0.50)),
        ms(retry_claim.percentile(0.99)),
    );
    drop(store);

    // End to end on one node: a failed attempt's JobError to its retry's JobSubmitted.
    let node = cancel_node(&args.url, &schema, "node-r", false).await;
    node.register_task("flaky", |ctx: JobContext| async move {
        if ctx.attempt() == 1 {
            return Err("first attempt".to_owned());
        }
        Ok(())
    });
    let mut events = node.subscribe();
    let latency = Histogram::new();
    for i in 0..args.retries {
        let id = format!("e2e-{i}");
        let spec = JobSpec::date(node.now())
            .id(id.as_str())
            .options(JobOptions::default().retry(policy));
        node.add_named_job(spec, "flaky").await.expect("job added");
        let failed = next_event(&mut events, |e| match e {
            Event::JobError(run) if *run.job_id == *id => Some(run.run_id),
            _ => None,
        })
        .await;
        let began = Instant::now();
        next_event(&mut events, |e| match e {
            Event::JobSubmitted(run) if *run.job_id == *id && run.attempt == 2 => Some(()),
            _ => None,
        })
        .await;
        latency.record_micros(began.elapsed().as_micros() as i64);
        let _ = failed;
    }
    println!(
        "\nend to end, one node, zero backoff: a failed attempt's JobError to its retry's JobSubmitted, {} retries: p50 {}, p99 {}, max {}",
        latency.count(),
        ms(latency.percentile(0.50)),
        ms(latency.percentile(0.99)),
        ms(latency.max()),
    );
    node.shutdown().await.expect("node stops");
    drop_schema(admin, &schema).await;
}
