//! # sched-faults
//!
//! The process-level fault suite of sched (issue 11): several node processes of this
//! binary run one Postgres schema; a driver kills them with `kill -9` and restarts
//! them (under a new node id, and under the same one), and takes Postgres down
//! (`pg_ctlcluster stop`, a pause, `start`); a checker then reads what the nodes
//! recorded and prints a verdict.
//!
//! ```text
//! sched-faults short [--url URL] [--cluster 15/main] [--schema S] [--keep-schema] [--logs DIR]
//! sched-faults long  [same options]
//! sched-faults check --url URL --schema S                                            (judge a kept schema again)
//! sched-faults node  --url URL --schema S --node-id ID --lease-ms MS --epoch-ms MS   (spawned by the driver)
//! ```
//!
//! `short` (CI, about 2 minutes): 3 nodes, lease 5 s, three kills, an outage of 10 s
//! and a quick restart. `long` (about 10 minutes): 4 nodes, lease 5 s, a kill every
//! minute, an outage of 10 s or a quick restart every minute. The URL defaults to
//! `DATABASE_URL`; the cluster to the local one serving it (checked before anything
//! is stopped). The suite uses a schema of its own and drops it at the end; Postgres
//! is running again whatever happens. Exit code 0 when every target is met, 1 when one
//! is not, 2 when the suite itself could not run.
//!
//! The data flow: `plan` (which faults when) → `driver` (spawns `node` processes and
//! carries the plan out, recording a `timeline`) → the nodes write `side` tables (each
//! start, the explaining events) beside the scheduler's `runs` → `load` → `check` (pure:
//! the figures) → `report` (PASS/FAIL per target). `jobs` is the catalogue the nodes
//! register and the checker expects fire times of; `cluster` drives `pg_ctlcluster`.
//!
//! Must run as root (or the clusters' owner) on the machine of a local Debian-style
//! cluster. See docs/BENCHMARKS.md for the latest figures of the long form.

mod check;
mod cluster;
mod driver;
mod jobs;
mod load;
mod log;
mod node;
mod plan;
mod report;
mod side;
mod timeline;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// What can stop the suite from running (a missed target is a verdict, not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum Error {
    /// Postgres refused or failed a statement.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The scheduler or its store refused.
    #[error("scheduler: {0}")]
    Scheduler(#[from] sched_tokio::Error),
    /// sched-core refused (a store or job error).
    #[error("store: {0}")]
    Store(#[from] sched_core::Error),
    /// A command such as `pg_ctlcluster` failed.
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    /// An argument or a setting that cannot work.
    #[error("{0}")]
    Invalid(String),
    /// Spawning, waiting, a log file.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Ctrl-C or `SIGTERM` to the driver.
    #[error("interrupted")]
    Interrupted,
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Parser)]
#[command(
    name = "sched-faults",
    about = "Kill nodes, take Postgres down, and check that every run ran once"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The CI form: 3 nodes, lease 5 s, about 2 minutes.
    Short(driver::RunArgs),
    /// The long form: 4 nodes, lease 5 s, 10 minutes.
    Long(driver::RunArgs),
    /// Judge a schema kept by `--keep-schema` again (the report only).
    Check {
        /// Postgres URL.
        #[arg(long, env = "DATABASE_URL")]
        url: String,
        /// The kept schema.
        #[arg(long)]
        schema: String,
    },
    /// One node process (spawned by the driver).
    Node(node::NodeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sched-faults: cannot start a Tokio runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Short(args) => driver::run(args, &plan::short()).await,
            Command::Long(args) => driver::run(args, &plan::long()).await,
            Command::Check { url, schema } => driver::recheck(&url, &schema).await,
            Command::Node(args) => {
                log::init();
                node::run(args).await.map(|()| true)
            }
        }
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("sched-faults: {error}");
            ExitCode::from(2)
        }
    }
}
