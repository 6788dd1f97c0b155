//! `schedctl`: the command line of sched, an operator's tool for its schedules and
//! stores.
//!
//! ```text
//! schedctl next '<EXPR>' [--tz ZONE] [--after RFC3339] [-n N]   preview a cron schedule
//! schedctl next --every 90m [--start RFC3339]                    … an interval
//! schedctl next --calendar 2w [--at 09:30] [--tz ZONE]           … a calendar interval
//! schedctl next --trigger '<JSON>' | --trigger @FILE             … any trigger (and/or too)
//! schedctl next --job ID --url URL                               … a stored job
//! schedctl jobs     --url URL [--schema S]                       list stored jobs
//! schedctl pause    ID --url URL [--schema S]                    pause a stored job
//! schedctl resume   ID --url URL [--schema S]                    resume it (next run from now)
//! schedctl run      ID --url URL [--schema S]                    make it due now
//! schedctl remove   ID --url URL [--schema S] [--force]          delete it (--force: even unreadable)
//! schedctl history [ID] --url URL [--schema S] [-n N]            recent runs
//! schedctl migrate  --url URL [--schema S]                       create / upgrade the tables
//! schedctl completions <bash|zsh|fish|elvish|powershell>         a shell completion script
//! ```
//!
//! Install it with `cargo install --path crates/schedctl`; `schedctl --help` and
//! `schedctl <command> --help` show examples.
//!
//! # Output
//!
//! `next` prints one RFC 3339 line per fire time, with the zone's offset, at most
//! 10,000 of them; `jobs` and `history` print a table (a header row, columns padded to
//! their widest cell, nothing at all when there are no rows); the other commands one
//! line saying what was done. With `--json` (anywhere on the line) every command prints
//! one JSON document instead: `next` an array of `{"at", "utc", "dst"?}` objects
//! (`dst` notes a daylight-saving change at or around the fire time), `jobs` an array
//! of jobs in the serde form stores keep, `history` an array of runs, and `pause`,
//! `resume`, `run`, `remove` and `migrate` an object naming the `action` and the job
//! as it now is. `completions` prints its script either way.
//!
//! # Schedules
//!
//! `next` takes one schedule: a cron expression, `--every DURATION` (an interval of
//! absolute time, `--start` its first fire), `--calendar PERIOD` (every N days, weeks,
//! months or years at `--at`, in `--tz`), `--trigger` with a trigger's JSON (the form
//! stores keep, so `and`/`or` combinations too), or `--job ID` with a store, whose
//! trigger, zone and next run time are read from it. Fire times come from sched-core's
//! trigger API, the scheduler's own.
//!
//! # Stores
//!
//! Store commands take `sqlite://…` or `postgres://…` URLs, from `--url` or
//! `SCHED_STORE_URL` (a SQLite file in use by a running scheduler is refused: SQLite
//! allows one process per file). Only `migrate` creates anything: every other command
//! opens an existing store and fails, naming it, if the schema (or file) does not hold
//! sched's tables. A Postgres store in `public` needs `--allow-public-schema`;
//! `--connect-timeout` (default 3s) bounds the wait for the database, and a refused
//! connection fails at once.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done (`--help` and `--version` too) |
//! | 1 | the store failed: it cannot be reached, a query failed, a row cannot be read; or stdout was closed |
//! | 2 | bad input: an argument, expression, zone, instant, count, duration, trigger, URL, schema name or job id, or a schema that does not exist; nothing was changed |
//!
//! Either failure is one line on stderr naming its cause (with `--json` too) and
//! nothing on stdout. A `next` whose search gives up (an `and` whose triggers never
//! coincide) prints the fire times it found, says so in one line on stderr and exits 0.

mod cli;
mod next;
mod output;
mod store;

use std::io::{self, Write};
use std::process::ExitCode;

use chrono::Utc;
use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command, NextArgs};
use crate::next::Source;
use crate::output::Report;

/// A command's failure: bad input (exit 2) or a failing store (exit 1).
#[derive(Debug)]
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
        Command::Completions { shell } => return completions(shell),
        Command::Next(args) => next(&args),
        Command::Serve {
            store,
            listen,
            read_only,
        } => {
            return match store::serve(&store, listen, read_only, cli.json) {
                Ok(()) => ExitCode::SUCCESS,
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
        other => store::run(other),
    };
    let report = match result {
        Ok(report) => report,
        Err(Failure::Usage(message)) => {
            eprintln!("schedctl: {}", one_line(&message));
            return ExitCode::from(2);
        }
        Err(Failure::Store(message)) => {
            eprintln!("schedctl: {}", one_line(&message));
            return ExitCode::FAILURE;
        }
    };
    let text = if cli.json {
        report.json()
    } else {
        report.text()
    };
    if print(text.as_bytes()).is_err() {
        return ExitCode::FAILURE; // stdout closed (e.g. piped to head)
    }
    if let Report::FireTimes(fired) = &report {
        match (fired.gave_up, fired.times.len()) {
            (Some(limit), 0) => eprintln!("schedctl: {limit}"),
            (Some(limit), n) => eprintln!("schedctl: after {n} fire times, {limit}"),
            (None, _) => {}
        }
    }
    ExitCode::SUCCESS
}

fn print(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// `next`: a trigger from the arguments, or a stored job.
fn next(args: &NextArgs) -> Result<Report, Failure> {
    let source = next::source(args)?;
    let after = args
        .after
        .as_deref()
        .map(|after| next::instant("--after", after))
        .transpose()?;
    let fired = match source {
        Source::Trigger(trigger) => {
            next::of_trigger(&trigger, after.unwrap_or_else(Utc::now), args.count)
        }
        Source::Job(id) => {
            let Some(url) = &args.url else {
                return Err(Failure::Usage(
                    "--job needs the store: give --url (or set SCHED_STORE_URL)".into(),
                ));
            };
            let job = store::job(url, &args.store, &id)?;
            next::of_job(&job, after, Utc::now(), args.count)
        }
    };
    Ok(Report::FireTimes(fired))
}

/// `completions`: the script clap_complete writes for `shell`.
fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "schedctl", &mut script);
    match print(&script) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
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
            "a command is required: next, jobs, pause, resume, run, remove, history, migrate or completions"
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
