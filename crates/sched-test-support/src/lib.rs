//! What sched's tests and benchmarks share: the Postgres to test against (or a loud
//! skip), a schema of its own for each test, and scheduler nodes that each run on a
//! thread and Tokio runtime of their own, so a test can stop one cleanly or kill it
//! the way a crashed process dies (no release, no more heartbeats).

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sched_tokio::Scheduler;
use tokio::sync::oneshot;

/// `DATABASE_URL`, the Postgres a test named `test` runs against.
///
/// Postgres tests are compiled `#[ignore]`d when neither `DATABASE_URL` nor
/// `SCHED_REQUIRE_POSTGRES=1` was set for the build (each package's `build.rs` sets
/// the `sched_postgres_tests` cfg), so a plain `cargo test` lists them as ignored, with
/// the command that runs them. A test that runs anyway needs the database:
///
/// # Panics
///
/// When `DATABASE_URL` is not set (a Postgres test run with `--ignored`, or a build
/// made with `DATABASE_URL` run without it).
pub fn database_url(test: &str) -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{test} needs Postgres: set DATABASE_URL, e.g. \
             DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --workspace \
             (`docker compose up -d` starts one)"
        ),
    }
}

/// A schema (or file) name no other test, and no other test process, uses:
/// `t_<prefix>_<process>_<n>_<nanos>`, within Postgres's and the stores' limits for
/// a short prefix.
pub fn unique_schema(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("t_{prefix}_{}_{n}_{nanos:x}", std::process::id())
}

/// Drops `schema` and everything in it (ignoring a database that cannot be reached).
pub async fn drop_schema(url: &str, schema: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(url).await {
        drop_on(&pool, schema).await;
        pool.close().await;
    }
}

/// Drops every schema this test process made with [`unique_schema`]`(prefix)`.
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
        drop_on(&pool, &schema).await;
    }
    pool.close().await;
}

async fn drop_on(pool: &sqlx::PgPool, schema: &str) {
    let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
    let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(pool).await;
}

/// A scheduler node on a thread and Tokio runtime (2 workers) of its own: what a
/// service replica is to the shared store.
#[derive(Debug)]
pub struct NodeThread {
    command: Option<oneshot::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<sched_tokio::Result<()>>>,
}

impl NodeThread {
    /// Runs `start` on the node's runtime — it builds the scheduler, registers its
    /// tasks and listeners, starts it — and returns once it has.
    ///
    /// # Panics
    ///
    /// If the node does not start within 30 s, or its runtime cannot be built.
    pub fn spawn<F, Fut>(start: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Scheduler>,
    {
        let (command, wait) = oneshot::channel::<bool>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("node runtime");
            let (kill, shutdown) = runtime.block_on(async move {
                let scheduler = start().await;
                let _ = ready_tx.send(());
                match wait.await {
                    Ok(false) => (false, scheduler.shutdown().await),
                    _ => (true, Ok(())),
                }
            });
            if kill {
                // Dropped without shutdown: no release, no more heartbeats.
                runtime.shutdown_background();
            }
            shutdown
        });
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("node started");
        Self {
            command: Some(command),
            thread: Some(thread),
        }
    }

    /// Shuts the node down cleanly (waits for its runs, releases its claims); what
    /// `Scheduler::shutdown` returned.
    ///
    /// # Panics
    ///
    /// If the node's thread panicked.
    pub fn stop(&mut self) -> sched_tokio::Result<()> {
        self.end(false)
    }

    /// Kills the node: its runtime is dropped mid-flight, as a crashed process stops
    /// (no shutdown, no release, no more heartbeats).
    ///
    /// # Panics
    ///
    /// If the node's thread panicked.
    pub fn kill(&mut self) {
        let _ = self.end(true);
    }

    fn end(&mut self, kill: bool) -> sched_tokio::Result<()> {
        if let Some(command) = self.command.take() {
            let _ = command.send(kill);
        }
        match self.thread.take() {
            Some(thread) => thread.join().expect("node thread"),
            None => Ok(()),
        }
    }
}

impl Drop for NodeThread {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = self.end(false);
        }
    }
}

/// Reads with `read` until `done` holds of what it read, or `limit` has passed (then
/// the last value read, for the test to assert on): what a test waits with for a
/// store's history to catch up with runs that ended (their ends are recorded in
/// batches).
pub async fn poll_until<T, F, Fut>(limit: Duration, read: F, done: impl Fn(&T) -> bool) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        let value = read().await;
        if done(&value) || std::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
