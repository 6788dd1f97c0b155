//! `schedctl`: the command line of sched.
//!
//! ```text
//! schedctl next '<EXPR>' [--tz ZONE] [--after RFC3339] [-n N]
//! ```
//! prints the next N fire times of a cron expression, one RFC 3339 line each, with the
//! zone's offset. A bad expression, zone or instant is one line on stderr and exit code 2.

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Next {
            expr,
            tz,
            after,
            count,
        } => match next(&expr, &tz, after.as_deref(), count) {
            Ok(lines) => {
                let mut out = io::stdout().lock();
                for line in lines {
                    if writeln!(out, "{line}").is_err() {
                        return ExitCode::FAILURE; // stdout closed (e.g. piped to head)
                    }
                }
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("schedctl: {message}");
                ExitCode::from(2)
            }
        },
    }
}

/// The next `count` fire times of `expr` in zone `tz` after `after`, formatted.
fn next(expr: &str, tz: &str, after: Option<&str>, count: usize) -> Result<Vec<String>, String> {
    let tz = parse_timezone(tz).map_err(|e| e.to_string())?;
    let trigger = Trigger::cron(expr).map_err(|e| e.to_string())?.timezone(tz);
    let mut cursor = match after {
        Some(after) => DateTime::parse_from_rfc3339(after)
            .map_err(|e| format!("invalid --after {after:?}: {e} (expected RFC 3339, e.g. 2026-03-07T12:00:00-05:00)"))?
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
