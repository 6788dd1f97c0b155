//! `schedctl`: the command line of sched.
//!
//! ```text
//! schedctl next '<EXPR>' [--tz ZONE] [--after RFC3339] [-n N]   preview a cron schedule
//! schedctl jobs     --url URL [--schema S]                      list stored jobs
//! schedctl pause    ID --url URL [--schema S]                   pause a stored job
//! schedctl resume   ID --url URL [--schema S]                   resume it (next run from now)
//! schedctl run      ID --url URL [--schema S]                   make it due now
//! schedctl remove   ID --url URL [--schema S]                   delete it
//! schedctl history [ID] --url URL [--schema S] [-n N]           recent runs
//! schedctl migrate  --url URL [--schema S]                      create / upgrade the tables
//! ```
//! `next` prints one RFC 3339 line per fire time, with the zone's offset. Store commands
//! take `sqlite://…` or `postgres://…` URLs (a SQLite file in use by a running scheduler
//! is refused: SQLite allows one process per file). Bad input is one line on stderr and
//! exit code 2; a store failure, exit code 1.

mod store;

use std::io::{self, Write};
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Parser, Subcommand};
use sched_core::trigger::{parse_timezone, Trigger};

#[derive(Debug, Parser)]
#[command(
    name = "schedctl",
    version,
    about = "Preview and control sched schedules"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the jobs are.
#[derive(Debug, clap::Args)]
pub(crate) struct StoreArgs {
    /// `sqlite://jobs.sqlite` or `postgres://user@host/db`.
    #[arg(long, env = "SCHED_STORE_URL")]
    pub(crate) url: String,
    /// Postgres schema of the scheduler's tables.
    #[arg(long, default_value = "sched")]
    pub(crate) schema: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the next fire times of a cron expression.
    Next {
        /// Crontab expression: 5 fields, 6 with leading seconds, or an @alias.
        expr: String,
        /// IANA time zone the expression is read in.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// Print fire times strictly after this RFC 3339 instant (default: now).
        #[arg(long)]
        after: Option<String>,
        /// How many fire times to print.
        #[arg(short = 'n', default_value_t = 5)]
        count: usize,
    },
    /// List the stored jobs: id, name, task, next run, paused.
    Jobs(StoreArgs),
    /// Pause a stored job.
    Pause {
        /// The job's id.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Resume a paused job; its next run is computed from now.
    Resume {
        /// The job's id.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Make a job due now (a running scheduler starts it at its next look).
    Run {
        /// The job's id.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete a stored job.
    Remove {
        /// The job's id.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Recent runs, newest first.
    History {
        /// Only this job's runs.
        id: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
        /// How many runs.
        #[arg(short = 'n', default_value_t = 20)]
        count: usize,
    },
    /// Create or upgrade the store's tables.
    Migrate(StoreArgs),
}

/// A command's failure: bad input (exit 2) or a failing store (exit 1).
pub(crate) enum Failure {
    Usage(String),
    Store(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Next {
            expr,
            tz,
            after,
            count,
        } => next(&expr, &tz, after.as_deref(), count).map_err(Failure::Usage),
        other => store::run(other),
    };
    match result {
        Ok(lines) => {
            let mut out = io::stdout().lock();
            for line in lines {
                if writeln!(out, "{line}").is_err() {
                    return ExitCode::FAILURE; // stdout closed (e.g. piped to head)
                }
            }
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(message)) => {
            eprintln!("schedctl: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Store(message)) => {
            eprintln!("schedctl: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The next `count` fire times of `expr` in zone `tz` after `after`, formatted.
fn next(expr: &str, tz: &str, after: Option<&str>, count: usize) -> Result<Vec<String>, String> {
    let tz = parse_timezone(tz).map_err(|e| e.to_string())?;
    let trigger = Trigger::cron(expr).map_err(|e| e.to_string())?.timezone(tz);
    let mut cursor = match after {
        Some(after) => DateTime::parse_from_rfc3339(after)
            .map_err(|e| {
                format!("invalid --after {after:?}: {e} (expected RFC 3339, e.g. 2026-03-07T12:00:00-05:00)")
            })?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let mut lines = Vec::with_capacity(count);
    while lines.len() < count {
        let Some(at) = trigger.next_after(cursor) else {
            break;
        };
        lines.push(
            at.with_timezone(&tz)
                .to_rfc3339_opts(SecondsFormat::Secs, false),
        );
        cursor = at;
    }
    Ok(lines)
}
