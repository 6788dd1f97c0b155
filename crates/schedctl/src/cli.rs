//! The command line as clap reads it: commands, flags, their help and value parsers.

use std::time::Duration;

use chrono::NaiveTime;
use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

// Help texts are macros, not constants, so that `concat!` can join them at compile time.

/// What every subcommand's help ends with.
macro_rules! exit_codes_line {
    () => {
        "\n\nExit codes: 0 done, 1 store failure, 2 bad input (see schedctl --help)."
    };
}

/// The exit codes in full, as `schedctl --help` ends.
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0  done
  1  the store failed (cannot connect, a query failed, a row cannot be read), or
     stdout was closed
  2  bad input: arguments, an expression, zone, instant, duration, trigger, URL,
     schema, or a job that does not exist (nothing was changed)"
    };
}

/// A subcommand's help epilogue: its examples, then the exit codes.
macro_rules! page {
    ($($line:literal),+ ; $note:literal) => {
        concat!("Examples:", $("\n  ", $line,)+ "\n\n", $note, exit_codes_line!())
    };
    ($($line:literal),+ $(,)?) => {
        concat!("Examples:", $("\n  ", $line,)+ exit_codes_line!())
    };
}

#[derive(Debug, Parser)]
#[command(
    name = "schedctl",
    version,
    about = "Preview and control sched schedules",
    long_about = "Preview and control sched schedules: the fire times of any trigger or \
                  stored job, the jobs and runs of a SQLite or Postgres store, pausing, \
                  resuming, running and removing jobs, and the store's migrations.",
    after_help = concat!(
        "Examples:\n",
        "  schedctl next '30 2 * * *' --tz America/New_York -n 3\n",
        "  schedctl jobs --url sqlite://jobs.sqlite\n",
        "\n",
        "Exit codes: 0 done, 1 store failure, 2 bad input (more with --help)."
    ),
    after_long_help = concat!(
        "Examples:\n",
        "  schedctl next '30 2 * * *' --tz America/New_York -n 3\n",
        "  schedctl next --every 90m --start 2026-01-05T09:00:00Z\n",
        "  schedctl next --calendar 2w --at 09:30 --tz Europe/Berlin\n",
        "  schedctl next --trigger @trigger.json --json\n",
        "  schedctl migrate --url 'sqlite://jobs.sqlite?mode=rwc'\n",
        "  schedctl jobs --url postgres://sched@db.internal/app --schema billing\n",
        "  schedctl next --job nightly-report --url sqlite://jobs.sqlite\n",
        "  schedctl pause nightly-report --url sqlite://jobs.sqlite --json\n",
        "  schedctl completions bash > ~/.local/share/bash-completion/completions/schedctl\n",
        "\n",
        "Store commands read --url from SCHED_STORE_URL when it is not given.\n",
        "Errors are one line on stderr, with --json too.\n",
        "\n",
        exit_codes!()
    )
)]
pub(crate) struct Cli {
    /// Print JSON instead of lines and tables (errors stay one line on stderr).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How to reach a store, but its URL.
#[derive(Debug, Clone, Args)]
pub(crate) struct StoreOptions {
    /// Postgres schema of the scheduler's tables (lower-case letters, digits and _).
    #[arg(long, default_value = "sched")]
    pub(crate) schema: String,
    /// Accept `--schema public` (refused otherwise: sched's tables would sit among the
    /// database's own).
    #[arg(long)]
    pub(crate) allow_public_schema: bool,
    /// How long to wait for Postgres to answer (e.g. 500ms, 3s, 1m).
    #[arg(long, default_value = "3s", value_parser = connect_timeout, value_name = "DURATION")]
    pub(crate) connect_timeout: Duration,
}

/// Where the jobs are.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// `sqlite://jobs.sqlite` or `postgres://user@host/db`.
    #[arg(long, env = "SCHED_STORE_URL")]
    pub(crate) url: String,
    #[command(flatten)]
    pub(crate) options: StoreOptions,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the next fire times of a cron expression, an interval, a calendar
    /// interval, any trigger as JSON, or a stored job.
    #[command(after_help = page!(
        "schedctl next '30 2 * * *' --tz America/New_York --after 2026-03-07T12:00:00-05:00 -n 2",
        "schedctl next @hourly -n 3 --json",
        "schedctl next --every 90m --start 2026-01-05T09:00:00Z --after 2026-01-05T00:00:00Z",
        "schedctl next --calendar 1mo --at 08:00 --start 2026-01-31T00:00:00Z --after 2026-01-01T00:00:00Z",
        r#"schedctl next --trigger '{"type":"or","triggers":[{"type":"cron","expression":"0 9 * * mon-fri"},{"type":"cron","expression":"0 12 * * sat"}]}' --tz Europe/Paris --after 2026-01-01T00:00:00Z"#,
        "schedctl next --trigger @trigger.json",
        "schedctl next --job nightly-report --url sqlite://jobs.sqlite -n 10";
        "Give one schedule: a cron EXPR, --every, --calendar, --trigger or --job. Fire times
are strictly after --after (default: now), one RFC 3339 line each in the trigger's
zone. With --json, an array of objects: \"at\" (with the zone's offset), \"utc\", and
\"dst\" where a daylight-saving change touches the fire time. --trigger takes the
JSON form stores keep (\"type\": interval, cron, date, calendar_interval, and, or); a
jittered trigger is shown with the offsets of an unnamed job, --job with the job's
own. --job starts at the job's stored next run time (none: from now) unless --after
is given. A search that gives up (an `and` whose triggers never coincide) ends the
list with a note on stderr, exit code 0."
    ))]
    Next(NextArgs),
    /// List the stored jobs: id, name, task, trigger, next run, state.
    #[command(after_help = page!(
        "schedctl jobs --url sqlite://jobs.sqlite",
        "schedctl jobs --url postgres://sched@db.internal/app --schema billing --json"
    ))]
    Jobs(StoreArgs),
    /// Pause a stored job.
    #[command(after_help = page!(
        "schedctl pause nightly-report --url sqlite://jobs.sqlite",
        "schedctl pause nightly-report --url postgres://sched@db.internal/app --json"
    ))]
    Pause {
        /// The job's id.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Resume a paused job; its next run is computed from now.
    #[command(after_help = page!("schedctl resume nightly-report --url sqlite://jobs.sqlite"))]
    Resume {
        /// The job's id.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Make a job due now (a running scheduler starts it at its next look).
    #[command(after_help = page!(
        "schedctl run nightly-report --url sqlite://jobs.sqlite";
        "A paused job stays paused: no run starts while it is."
    ))]
    Run {
        /// The job's id.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete a stored job.
    #[command(after_help = page!(
        "schedctl remove nightly-report --url sqlite://jobs.sqlite",
        "schedctl remove broken-row --force --url sqlite://jobs.sqlite"
    ))]
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
    #[command(after_help = page!(
        "schedctl history --url sqlite://jobs.sqlite",
        "schedctl history nightly-report -n 5 --url sqlite://jobs.sqlite --json"
    ))]
    History {
        /// Only this job's runs.
        id: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
        /// How many runs.
        #[arg(short = 'n', default_value_t = 20)]
        count: usize,
    },
    /// Serve the dashboard of a store (jobs, history, live runs, nodes, and the JSON
    /// API) without running any job.
    #[command(after_help = page!(
        "schedctl serve --url sqlite://jobs.sqlite",
        "schedctl serve --url postgres://sched@db.internal/app --listen 127.0.0.1:8080 --read-only";
        "Actions change the stored jobs, which the nodes running them pick up (a run now
makes the job due now). There is no authentication: listen on a loopback address,
or put a proxy with authentication in front. Stops on Ctrl-C or SIGTERM. With
--json, the first line is {\"listening\": URL}."
    ))]
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Show the jobs, change none (no buttons; state-changing requests get 403).
        #[arg(long)]
        read_only: bool,
    },
    /// Create or upgrade the store's tables.
    #[command(after_help = page!(
        "schedctl migrate --url 'sqlite://jobs.sqlite?mode=rwc'",
        "schedctl migrate --url postgres://sched@db.internal/app --schema billing"
    ))]
    Migrate(StoreArgs),
    /// Print a shell completion script.
    #[command(after_help = page!(
        "schedctl completions bash > ~/.local/share/bash-completion/completions/schedctl",
        "schedctl completions zsh > ~/.zfunc/_schedctl",
        "schedctl completions fish > ~/.config/fish/completions/schedctl.fish";
        "The script goes to stdout (--json does not change it)."
    ))]
    Completions {
        /// The shell to complete in.
        shell: Shell,
    },
}

/// `next`: one schedule, where to start, how many.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("schedule").multiple(false))]
pub(crate) struct NextArgs {
    /// Crontab expression: 5 fields, 6 with leading seconds, or an @alias.
    #[arg(group = "schedule")]
    pub(crate) expr: Option<String>,
    /// An interval of absolute time: 90m, 1h30m, 45s, 500ms, 2d, 1w.
    #[arg(long, value_name = "DURATION", value_parser = every, group = "schedule")]
    pub(crate) every: Option<Duration>,
    /// A calendar interval: every N days, weeks, months, years (2w, 1mo, 1y6mo, 10d)
    /// at --at, read in --tz.
    #[arg(long, value_name = "PERIOD", value_parser = calendar_period, group = "schedule")]
    pub(crate) calendar: Option<CalendarPeriod>,
    /// Time of day of a calendar interval (HH:MM or HH:MM:SS; default 00:00).
    #[arg(long, value_name = "TIME", value_parser = time_of_day, requires = "calendar")]
    pub(crate) at: Option<NaiveTime>,
    /// Any trigger in the JSON form stores keep, or @FILE to read it from a file.
    #[arg(long, value_name = "JSON|@FILE", group = "schedule")]
    pub(crate) trigger: Option<String>,
    /// A stored job: its trigger, zone and next run time (needs --url).
    #[arg(long, value_name = "ID", group = "schedule")]
    pub(crate) job: Option<String>,
    /// No fire time before this RFC 3339 instant; an interval's first fire, a calendar
    /// interval's first day (cron, --every, --calendar).
    #[arg(long, value_name = "RFC3339", conflicts_with_all = ["trigger", "job"])]
    pub(crate) start: Option<String>,
    /// No fire time after this RFC 3339 instant (cron, --every, --calendar).
    #[arg(long, value_name = "RFC3339", conflicts_with_all = ["trigger", "job"])]
    pub(crate) end: Option<String>,
    /// IANA time zone fire times are shown in, and a cron expression or calendar
    /// interval read in (default UTC); for --trigger, the zone of a trigger that names
    /// none, as a scheduler's default zone.
    #[arg(long, value_name = "ZONE", conflicts_with = "job")]
    pub(crate) tz: Option<String>,
    /// Print fire times strictly after this RFC 3339 instant (default: now; with
    /// --job, the job's next run time).
    #[arg(long, value_name = "RFC3339")]
    pub(crate) after: Option<String>,
    /// How many fire times to print (1 to 10000).
    #[arg(short = 'n', default_value_t = 5, value_parser = count)]
    pub(crate) count: usize,
    /// The store of --job: `sqlite://jobs.sqlite` or `postgres://user@host/db`.
    #[arg(long, env = "SCHED_STORE_URL", help_heading = "Store (with --job)")]
    pub(crate) url: Option<String>,
    #[command(flatten, next_help_heading = "Store (with --job)")]
    pub(crate) store: StoreOptions,
}

/// A calendar interval's period, as `--calendar` gives it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CalendarPeriod {
    pub(crate) years: u32,
    pub(crate) months: u32,
    pub(crate) weeks: u32,
    pub(crate) days: u32,
}

/// The most fire times `next` prints: a preview, and a bound on what it holds.
pub(crate) const MAX_COUNT: usize = 10_000;

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
fn connect_timeout(value: &str) -> Result<Duration, String> {
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

/// `VALUE` as whole numbers, each followed by a unit: `1h30m` is `[(1, "h"), (30, "m")]`.
/// `None`: empty, a number without a unit (or the reverse), or a number past `u64`.
fn amounts(value: &str) -> Option<Vec<(u64, &str)>> {
    let mut rest = value;
    let mut parts = Vec::new();
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let letters = rest[digits..]
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        if digits == 0 || letters == 0 {
            return None;
        }
        let number = rest[..digits].parse().ok()?;
        parts.push((number, &rest[digits..digits + letters]));
        rest = &rest[digits + letters..];
    }
    (!parts.is_empty()).then_some(parts)
}

/// `--every`: amounts of `w`, `d`, `h`, `m`, `s` and `ms`, added (`1h30m`). Zero is
/// left for the trigger's own check to refuse, with its reason.
fn every(value: &str) -> Result<Duration, String> {
    let expected = || {
        format!(
            "expected a duration such as 90m, 1h30m, 45s, 500ms, 2d or 1w \
             (whole numbers of w, d, h, m, s, ms), not {value:?}"
        )
    };
    let mut total = Duration::ZERO;
    for (number, unit) in amounts(value.trim()).ok_or_else(expected)? {
        let seconds_per = match unit {
            "w" => 7 * 86_400,
            "d" => 86_400,
            "h" => 3_600,
            "m" => 60,
            "s" => 1,
            "ms" => 0,
            _ => return Err(expected()),
        };
        let part = if unit == "ms" {
            Some(Duration::from_millis(number))
        } else {
            number.checked_mul(seconds_per).map(Duration::from_secs)
        };
        total = part
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| format!("{value:?} is longer than a duration can hold"))?;
    }
    Ok(total)
}

/// `--calendar`: amounts of `y`, `mo`, `w` and `d`, added (`1y6mo`).
fn calendar_period(value: &str) -> Result<CalendarPeriod, String> {
    let expected = || {
        format!(
            "expected a calendar period such as 1d, 2w, 1mo, 1y or 1y6mo \
             (whole numbers of y, mo, w, d), not {value:?}"
        )
    };
    let too_long = || format!("{value:?}: at most {} of each unit", u32::MAX);
    let mut period = CalendarPeriod::default();
    for (number, unit) in amounts(value.trim()).ok_or_else(expected)? {
        let number = u32::try_from(number).map_err(|_| too_long())?;
        let field = match unit {
            "y" => &mut period.years,
            "mo" => &mut period.months,
            "w" => &mut period.weeks,
            "d" => &mut period.days,
            _ => return Err(expected()),
        };
        *field = field.checked_add(number).ok_or_else(too_long)?;
    }
    Ok(period)
}

/// `--at`: `HH:MM` or `HH:MM:SS`.
fn time_of_day(value: &str) -> Result<NaiveTime, String> {
    let trimmed = value.trim();
    NaiveTime::parse_from_str(trimmed, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(trimmed, "%H:%M"))
        .map_err(|_| format!("expected a time of day such as 09:30 or 23:59:30, not {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_adds_its_amounts() {
        assert_eq!(every("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(every("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(every("1w1d"), Ok(Duration::from_secs(8 * 86_400)));
        assert_eq!(every("1s500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(every("0s"), Ok(Duration::ZERO));
        for bad in ["", "90", "m", "1.5h", "1h 30m", "-1h", "3x", "h1"] {
            assert!(every(bad).is_err(), "{bad:?}");
        }
        let huge = every("18446744073709551615w").expect_err("overflows");
        assert!(huge.contains("longer than a duration can hold"), "{huge}");
    }

    #[test]
    fn calendar_periods_name_their_units() {
        let period = calendar_period("1y6mo").expect("valid");
        assert_eq!(
            (period.years, period.months, period.weeks, period.days),
            (1, 6, 0, 0)
        );
        assert_eq!(calendar_period("2w").map(|p| p.weeks), Ok(2));
        assert_eq!(calendar_period("3d2d").map(|p| p.days), Ok(5));
        for bad in ["", "1m", "2", "1h", "w", "4294967296d"] {
            assert!(calendar_period(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_of_day() {
        assert_eq!(
            time_of_day("09:30"),
            NaiveTime::from_hms_opt(9, 30, 0).ok_or(String::new())
        );
        assert_eq!(
            time_of_day("23:59:30"),
            NaiveTime::from_hms_opt(23, 59, 30).ok_or(String::new())
        );
        for bad in ["24:00", "9h", "", "12:60"] {
            assert!(time_of_day(bad).is_err(), "{bad:?}");
        }
    }
}
