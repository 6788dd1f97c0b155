//! `schedctl`: the command line of sched.
//!
//! ```text
//! schedctl next '<EXPR>' [--tz ZONE] [--after RFC3339] [-n N]   preview a cron schedule
//! schedctl jobs     --url URL [--schema S]                      list stored jobs
//! schedctl pause    ID --url URL [--schema S]                   pause a stored job
//! schedctl resume   ID --url URL [--schema S]                   resume it (next run from now)
//! schedctl run      ID --url URL [--schema S]                   make it due now
//! schedctl remove   ID --url URL [--schema S] [--force]         delete it (--force: even unreadable)
//! schedctl history [ID] --url URL [--schema S] [-n N]           recent runs
//! schedctl migrate  --url URL [--schema S]                      create / upgrade the tables
//! ```
//! `next` prints one RFC 3339 line per fire time, with the zone's offset, at most
//! 10,000 of them. Store commands take `sqlite://…` or `postgres://…` URLs (a SQLite
//! file in use by a running scheduler is refused: SQLite allows one process per file).
//! Only `migrate` creates anything: every other command opens an existing store and
//! fails, naming it, if the schema (or file) does not hold sched's tables. A Postgres
//! store in `public` needs `--allow-public-schema`; `--connect-timeout` (default 3s)
//! bounds the wait for the database, and a refused connection fails at once.
//!
//! Bad input (an expression, zone, instant, count, duration, URL, schema name or job
//! id, or a schema that does not exist) is one line on stderr and exit code 2; a store
//! failure, one line naming its cause and exit code 1.

mod store;

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

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
    /// Postgres schema of the scheduler's tables (lower-case letters, digits and _).
    #[arg(long, default_value = "sched")]
    pub(crate) schema: String,
    /// Accept `--schema public` (refused otherwise: sched's tables would sit among the
    /// database's own).
    #[arg(long)]
    pub(crate) allow_public_schema: bool,
    /// How long to wait for Postgres to answer (e.g. 500ms, 3s, 1m).
    #[arg(long, default_value = "3s", value_parser = duration, value_name = "DURATION")]
    pub(crate) connect_timeout: Duration,
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
        /// How many fire times to print (1 to 10000).
        #[arg(short = 'n', default_value_t = 5, value_parser = count)]
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
        /// Delete the row even if it cannot be read (a corrupt row, one written by a
        /// newer version), which a plain `remove` refuses, deleting nothing.
        #[arg(long)]
        force: bool,
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return parse_error(&error),
    };
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
            eprintln!("schedctl: {}", one_line(&message));
            ExitCode::from(2)
        }
        Err(Failure::Store(message)) => {
            eprintln!("schedctl: {}", one_line(&message));
            ExitCode::FAILURE
        }
    }
}

/// A message as one line (a database's error text may hold several).
fn one_line(message: &str) -> String {
    message
        .split('\n')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A command line clap refuses, as one line and exit code 2: clap's first paragraph
/// and the usage it prints below (not its tips and help). `--help` and `--version`
/// print what was asked for.
fn parse_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if !error.use_stderr() {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    let text = error.render().to_string();
    let message = match error.kind() {
        // Only the whole help would follow: say what is missing instead.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            "a command is required: next, jobs, pause, resume, run, remove, history or migrate"
                .to_owned()
        }
        _ => {
            let first = text
                .split("\n\n")
                .map(str::trim)
                .find(|paragraph| !paragraph.is_empty())
                .unwrap_or("invalid arguments");
            let first = one_line(first);
            first.strip_prefix("error: ").unwrap_or(&first).to_owned()
        }
    };
    match text.lines().find_map(|line| line.strip_prefix("Usage: ")) {
        Some(usage) => eprintln!("schedctl: {message} (usage: {})", usage.trim()),
        None => eprintln!("schedctl: {message} (see schedctl --help)"),
    }
    ExitCode::from(2)
}

/// The most fire times `next` prints: a preview, and a bound on what it holds.
const MAX_COUNT: usize = 10_000;

/// `-n` of `next`: 1 to [`MAX_COUNT`].
fn count(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(count) if (1..=MAX_COUNT).contains(&count) => Ok(count),
        Ok(0) => Err(format!("at least 1 fire time (1 to {MAX_COUNT})")),
        Ok(_) => Err(format!("at most {MAX_COUNT} fire times")),
        Err(_) if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() => {
            Err(format!("at most {MAX_COUNT} fire times"))
        }
        Err(_) => Err(format!(
            "expected a number of fire times from 1 to {MAX_COUNT}"
        )),
    }
}

/// The longest `--connect-timeout`.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// `--connect-timeout`: a whole number of `ms`, `s` or `m`, from 1ms to 10m.
fn duration(value: &str) -> Result<Duration, String> {
    let expected = || "expected a duration such as 500ms, 3s or 1m (1ms to 10m)".to_owned();
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = value.split_at(digits);
    let number: u64 = number.parse().map_err(|_| expected())?;
    let millis = match unit {
        "ms" => Some(number),
        "s" => number.checked_mul(1_000),
        "m" => number.checked_mul(60_000),
        _ => return Err(expected()),
    };
    match millis.map(Duration::from_millis) {
        Some(timeout) if !timeout.is_zero() && timeout <= MAX_TIMEOUT => Ok(timeout),
        _ => Err(expected()),
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
