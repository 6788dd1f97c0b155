//! The driver: spawns the node processes, carries out a plan's faults on time, stops
//! everything cleanly, then has the checker judge the tables and prints the report.
//!
//! Whatever happens (a failed step, Ctrl-C), the clean-up runs: every node process is
//! stopped, Postgres is running again, and the suite's schema is dropped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use tokio::process::{Child, Command};

use crate::cluster::Cluster;
use crate::jobs::catalog;
use crate::plan::{Fault, Plan, Restart};
use crate::report::{self, Targets};
use crate::timeline::{Kill, Outage, Proc, Timeline};
use crate::{check, load, side, Error, Result};

/// Where the suite runs: the command line of `short` and `long`.
#[derive(Clone, Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Postgres URL of the cluster the suite may restart.
    #[arg(long, env = "DATABASE_URL")]
    pub(crate) url: String,
    /// The local cluster serving the URL, as `<version>/<name>` (`15/main`); by default
    /// the one `pg_lsclusters` shows with the server's data directory. Checked either
    /// way before anything is stopped.
    #[arg(long)]
    pub(crate) cluster: Option<String>,
    /// The suite's schema (default `faults_<unix time>`); dropped at the end.
    #[arg(long)]
    pub(crate) schema: Option<String>,
    /// Keep the schema (to look at the tables after a failure).
    #[arg(long)]
    pub(crate) keep_schema: bool,
    /// Where the node logs go (default `target/sched-faults/<schema>`).
    #[arg(long)]
    pub(crate) logs: Option<PathBuf>,
}

/// How long a node may take to stop on `SIGTERM` (its runs finish first).
const STOP_WITHIN: Duration = Duration::from_secs(45);

/// A live node process.
#[derive(Debug)]
struct Node {
    child: Child,
    /// Index into the timeline's processes.
    proc: usize,
}

/// The run in progress.
#[derive(Debug)]
struct Driver {
    args: RunArgs,
    schema: String,
    lease: Duration,
    logs: PathBuf,
    cluster: Cluster,
    timeline: Timeline,
    /// By slot.
    nodes: Vec<Option<Node>>,
    spawned: usize,
}

/// Runs `plan`; `Ok(true)` when every target was met.
pub(crate) async fn run(args: RunArgs, plan: &Plan) -> Result<bool> {
    let cluster = Cluster::resolve(args.cluster.as_deref(), &args.url).await?;
    let schema = args
        .schema
        .clone()
        .unwrap_or_else(|| format!("faults_{}", Utc::now().timestamp()));
    check_schema(&schema)?;
    let logs = args
        .logs
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/sched-faults").join(&schema));
    std::fs::create_dir_all(&logs)?;
    let pool = side::pool(&args.url, &schema, 2).await?;
    side::create(&pool, &schema).await?;
    let title = format!(
        "sched-faults {} form: {} nodes, lease {} s, cluster {}, schema {}, node logs in {}",
        plan.name,
        plan.nodes,
        plan.lease.as_secs_f64(),
        cluster.label(),
        schema,
        logs.display()
    );
    let last = plan.steps.last().map_or(Duration::ZERO, |s| s.at);
    println!(
        "{title}: running, about {} s",
        (last + plan.settle + Duration::from_secs(10)).as_secs()
    );
    let mut driver = Driver {
        args,
        schema: schema.clone(),
        lease: plan.lease,
        logs,
        cluster,
        timeline: Timeline::default(),
        nodes: (0..plan.nodes).map(|_| None).collect(),
        spawned: 0,
    };
    let outcome = tokio::select! {
        outcome = driver.execute(plan, &pool) => outcome,
        () = sched_tokio::shutdown_signal() => Err(Error::Interrupted),
    };
    let cleaned = driver.clean_up().await;
    driver.timeline.plan = plan.name.to_owned();
    driver.timeline.lease_ms = u64::try_from(plan.lease.as_millis()).unwrap_or(u64::MAX);
    let verdict = match (outcome, cleaned) {
        (Ok(()), Ok(())) => match side::save_timeline(&pool, &driver.timeline).await {
            Ok(()) => judge(&pool, &driver.timeline, &title).await,
            Err(error) => Err(error),
        },
        (Err(error), _) | (Ok(()), Err(error)) => Err(error),
    };
    if driver.args.keep_schema {
        println!("schema {schema} kept");
    } else {
        let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        if let Err(error) = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&pool)
            .await
        {
            eprintln!("sched-faults: could not drop schema {schema}: {error}");
        }
    }
    pool.close().await;
    verdict
}

/// Loads the tables, checks them against `timeline`, prints the report.
pub(crate) async fn judge(pool: &sqlx::PgPool, timeline: &Timeline, title: &str) -> Result<bool> {
    let lease = Duration::from_millis(timeline.lease_ms);
    let tables = load::tables(pool).await?;
    let findings = check::check(&catalog(lease), timeline, &tables);
    let (text, pass) = report::render(title, timeline, &findings, Targets::for_lease(lease));
    println!("{text}");
    Ok(pass)
}

/// `check`: judges a schema a run kept (`--keep-schema`) again.
pub(crate) async fn recheck(url: &str, schema: &str) -> Result<bool> {
    let pool = side::pool(url, schema, 2).await?;
    let timeline = side::load_timeline(&pool).await?;
    let title = format!(
        "sched-faults {} form, schema {schema} (checked again)",
        timeline.plan
    );
    let verdict = judge(&pool, &timeline, &title).await;
    pool.close().await;
    verdict
}

impl Driver {
    async fn execute(&mut self, plan: &Plan, pool: &sqlx::PgPool) -> Result<()> {
        // Whole seconds: the jobs fire on them, the kills land 0.15 s after.
        let start = Utc::now().trunc_subsecs(0) + TimeDelta::seconds(1);
        sleep_until(start).await;
        self.timeline.start = start;
        self.timeline.epoch = start + delta(plan.warmup);
        for slot in 0..plan.nodes {
            let id = format!("n{slot}");
            self.spawn(slot, &id)?;
        }
        let mut last = start;
        for step in &plan.steps {
            sleep_until(start + delta(step.at)).await;
            match step.fault {
                Fault::Kill { restart } => {
                    let slot = self.busiest(pool).await;
                    self.kill(slot, restart).await?;
                }
                Fault::Outage { length } => {
                    self.outage(&format!("outage {} s", length.as_secs()), length)
                        .await?;
                }
                Fault::Restart => self.outage("restart", Duration::ZERO).await?,
            }
            last = Utc::now();
        }
        let end = last + delta(plan.settle);
        sleep_until(end).await;
        // A fire time up to 2 s before the end has started by then (runs start as they
        // are claimed; the longest catch-up after the last fault is a few seconds).
        self.timeline.window_end = end - TimeDelta::seconds(2);
        Ok(())
    }

    /// The slot whose node holds the most runs `running` now; ties (and a failed look)
    /// go round the slots from one kill to the next.
    async fn busiest(&self, pool: &sqlx::PgPool) -> usize {
        let counts: Vec<(String, i64)> = sqlx::query_as(
            "SELECT node, count(*) FROM runs WHERE status = 'running' GROUP BY node",
        )
        .fetch_all(pool)
        .await
        .unwrap_or_default();
        let held = |slot: usize| {
            self.nodes[slot]
                .as_ref()
                .map(|n| &self.timeline.procs[n.proc].node)
                .and_then(|node| counts.iter().find(|(n, _)| n == node))
                .map_or(0, |(_, count)| *count)
        };
        let slots = self.nodes.len();
        let first = self.timeline.kills.len() % slots;
        (0..slots)
            .map(|i| (first + i) % slots)
            .filter(|slot| self.nodes[*slot].is_some())
            .fold(None, |best: Option<usize>, slot| match best {
                Some(b) if held(b) >= held(slot) => Some(b),
                _ => Some(slot),
            })
            .unwrap_or(first)
    }

    fn spawn(&mut self, slot: usize, id: &str) -> Result<()> {
        self.spawned += 1;
        let log = self.logs.join(format!("{:02}-{id}.log", self.spawned));
        let file = std::fs::File::create(&log)?;
        let child = Command::new(std::env::current_exe()?)
            .arg("node")
            .args(["--url", &self.args.url, "--schema", &self.schema])
            .args(["--node-id", id])
            .args(["--lease-ms", &self.lease.as_millis().to_string()])
            .args([
                "--epoch-ms",
                &self.timeline.epoch.timestamp_millis().to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            // Not in the driver's process group: a Ctrl-C at the terminal reaches the
            // driver alone, which stops the nodes itself.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().unwrap_or(0);
        self.timeline.procs.push(Proc {
            node: id.to_owned(),
            pid,
            spawned: Utc::now(),
            died: None,
        });
        self.nodes[slot] = Some(Node {
            child,
            proc: self.timeline.procs.len() - 1,
        });
        Ok(())
    }

    async fn kill(&mut self, slot: usize, restart: Restart) -> Result<()> {
        let Some(mut node) = self.nodes[slot].take() else {
            return Err(Error::Invalid(format!("no node in slot {slot} to kill")));
        };
        let at = Utc::now();
        node.child.start_kill()?;
        node.child.wait().await?;
        self.timeline.procs[node.proc].died = Some(Utc::now());
        let old = self.timeline.procs[node.proc].node.clone();
        let (id, said) = match restart {
            Restart::SameId => (old.clone(), "the same id".to_owned()),
            Restart::NewId { after } => {
                tokio::time::sleep(after).await;
                let id = format!("n{slot}-{}", self.spawned + 1);
                let said = format!("new id {id} after {} s", after.as_secs());
                (id, said)
            }
        };
        self.timeline.kills.push(Kill {
            proc: node.proc,
            at,
            restart: said,
        });
        self.spawn(slot, &id)
    }

    /// Stops Postgres, waits `length`, starts it again.
    async fn outage(&mut self, kind: &str, length: Duration) -> Result<()> {
        let stopping = Utc::now();
        self.cluster.stop().await?;
        let down = Utc::now();
        tokio::time::sleep(length).await;
        let accepted = self.cluster.start().await?;
        self.timeline.outages.push(Outage {
            kind: kind.to_owned(),
            stopping,
            down,
            accepted,
        });
        Ok(())
    }

    /// Every node stopped (`SIGTERM`, then `kill -9` past the time allowed), Postgres
    /// running.
    async fn clean_up(&mut self) -> Result<()> {
        let running = self.cluster.ensure_running().await;
        let mut nodes: Vec<Node> = self.nodes.iter_mut().filter_map(Option::take).collect();
        let mut asked = Vec::new();
        for mut node in nodes.drain(..) {
            // A node that exited before it was asked to has crashed.
            if let Ok(Some(status)) = node.child.try_wait() {
                self.unclean(&node, &format!("exited on its own: {status}"));
                continue;
            }
            if let Some(pid) = node.child.id().and_then(|p| i32::try_from(p).ok()) {
                // SAFETY: `kill` has no memory effects; the pid is our own child's,
                // not yet waited for, so it cannot have been reused.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            asked.push(node);
        }
        for mut node in asked {
            match tokio::time::timeout(STOP_WITHIN, node.child.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                stopped => {
                    let _ = node.child.start_kill();
                    let _ = node.child.wait().await;
                    self.unclean(&node, &format!("on SIGTERM: {stopped:?}"));
                }
            }
            self.timeline.procs[node.proc].died = Some(Utc::now());
        }
        running
    }

    fn unclean(&mut self, node: &Node, what: &str) {
        let p = &self.timeline.procs[node.proc];
        let line = format!("{} (pid {}) {what}", p.node, p.pid);
        eprintln!("sched-faults: node {line}");
        self.timeline.unclean_stops.push(line);
    }
}

/// A schema the stores accept (and safe to splice into SQL): lower-case letters,
/// digits and `_`, at most 48, not starting with a digit.
fn check_schema(schema: &str) -> Result<()> {
    let plain = !schema.is_empty()
        && schema.len() <= 48
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain && schema != "public" {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "schema {schema:?}: use lower-case letters, digits and _ (at most 48, not starting with a digit, not public)"
        )))
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

async fn sleep_until(at: DateTime<Utc>) {
    if let Ok(wait) = (at - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::check_schema;

    #[test]
    fn only_plain_lower_case_schemas_are_used() {
        assert!(check_schema("faults_1796178378").is_ok());
        for bad in ["", "Faults", "1faults", "public", "a;drop", &"x".repeat(49)] {
            assert!(check_schema(bad).is_err(), "{bad:?}");
        }
    }
}
