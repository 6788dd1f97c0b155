//! The store commands: open the store a URL names, act on it, print lines.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use sched_core::job::Job;
use sched_core::store::JobStore;
use sched_store_sqlx::{PostgresStore, SqliteStore};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::Connection;

use crate::{Command, Failure, StoreArgs};

/// How a command opens its store: only `migrate` creates or changes tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    /// The schema (or file) must hold sched's tables already; nothing is created.
    Existing,
    /// Create the schema if needed and run the migrations.
    Migrate,
}

/// Runs a store command on a small Tokio runtime.
pub(crate) fn run(command: Command) -> Result<Vec<String>, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Store(format!("cannot start a runtime: {e}")))?;
    runtime.block_on(dispatch(command))
}

async fn dispatch(command: Command) -> Result<Vec<String>, Failure> {
    match command {
        Command::Jobs(args) => {
            let jobs = open(&args, Open::Existing)
                .await?
                .list_jobs()
                .await
                .map_err(store_failure)?;
            Ok(jobs.iter().map(job_line).collect())
        }
        Command::Pause { id, store: args } => change(&args, &id, Job::pause).await,
        Command::Resume { id, store: args } => {
            change(&args, &id, |job| job.resume(Utc::now())).await
        }
        Command::Run { id, store: args } => change(&args, &id, |job| job.run_now(Utc::now())).await,
        Command::Remove {
            id,
            force: false,
            store: args,
        } => {
            let job = open(&args, Open::Existing)
                .await?
                .remove_job(&id)
                .await
                .map_err(usage)?;
            Ok(vec![format!("removed {}", job.id)])
        }
        Command::Remove {
            id,
            force: true,
            store: args,
        } => {
            let purged = open(&args, Open::Existing)
                .await?
                .purge_job(&id)
                .await
                .map_err(store_failure)?;
            if !purged {
                return Err(usage(sched_core::Error::JobNotFound(id.as_str().into())));
            }
            Ok(vec![format!("removed {id}")])
        }
        Command::History {
            id,
            store: args,
            count,
        } => {
            let runs = open(&args, Open::Existing)
                .await?
                .run_history(id.as_deref(), count)
                .await
                .map_err(store_failure)?;
            Ok(runs
                .iter()
                .map(|r| {
                    let finished = r.finished.map(rfc3339).unwrap_or_else(|| "-".into());
                    let error = r.error.as_deref().unwrap_or("");
                    format!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{error}",
                        r.run_id,
                        r.job_id,
                        rfc3339(r.scheduled),
                        finished,
                        r.node,
                        r.status
                    )
                })
                .collect())
        }
        Command::Migrate(args) => {
            open(&args, Open::Migrate).await?;
            Ok(vec![format!("migrated {}", redact(&args.url))])
        }
        Command::Next { .. } => Err(Failure::Usage("`next` needs no store".into())),
    }
}

/// Applies `change` to the stored job `id` (the same state changes as the scheduler's
/// `pause_job`, `resume_job` and `run_job_now`) and prints it.
async fn change(
    args: &StoreArgs,
    id: &str,
    change: impl FnOnce(&mut Job),
) -> Result<Vec<String>, Failure> {
    let store = open(args, Open::Existing).await?;
    let mut job = store.get_job(id).await.map_err(usage)?;
    change(&mut job);
    store.update_job(job.clone()).await.map_err(store_failure)?;
    Ok(vec![job_line(&job)])
}

/// Opens the store the URL names: with `Open::Existing`, as it is (creating nothing).
async fn open(args: &StoreArgs, how: Open) -> Result<Arc<dyn JobStore>, Failure> {
    if args.url.starts_with("sqlite:") {
        Ok(Arc::new(open_sqlite(&args.url, how).await?))
    } else if args.url.starts_with("postgres:") || args.url.starts_with("postgresql:") {
        Ok(Arc::new(open_postgres(args, how).await?))
    } else {
        Err(Failure::Usage(format!(
            "unsupported store URL {:?}: expected sqlite://… or postgres://…",
            redact(&args.url)
        )))
    }
}

async fn open_sqlite(url: &str, how: Open) -> Result<SqliteStore, Failure> {
    let (opened, migrate) = match how {
        Open::Migrate => (url.to_owned(), true),
        // `mode=rwc` would create a missing file: open it only if it is there.
        Open::Existing => (without_create(url), false),
    };
    let error = match SqliteStore::builder()
        .migrate(migrate)
        .connect(&opened)
        .await
    {
        Ok(store) => return Ok(store),
        Err(error) => error,
    };
    let missing = if migrate {
        None
    } else if sqlite_path(url).is_some_and(|path| !path.exists()) {
        Some("does not exist")
    } else if error.to_string().contains("no such table") {
        Some("holds no sched tables")
    } else {
        None
    };
    Err(match missing {
        Some(missing) => Failure::Usage(format!(
            "sqlite database {} {missing}; nothing was created (check the path, or create \
             it with `schedctl migrate --url …?mode=rwc`)",
            redact(url)
        )),
        None => store_failure(error),
    })
}

/// The file a SQLite URL names (`sqlite://path?query`, `sqlite:path`), unless it is an
/// in-memory database.
fn sqlite_path(url: &str) -> Option<&std::path::Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| std::path::Path::new(path))
}

/// A SQLite URL whose `mode=rwc` (create if missing) is `mode=rw`.
fn without_create(url: &str) -> String {
    match url.split_once('?') {
        Some((path, query)) => {
            let query: Vec<&str> = query
                .split('&')
                .map(|pair| if pair == "mode=rwc" { "mode=rw" } else { pair })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => url.to_owned(),
    }
}

async fn open_postgres(args: &StoreArgs, how: Open) -> Result<PostgresStore, Failure> {
    let shown = redact(&args.url);
    let options = PgConnectOptions::from_str(&args.url)
        .map_err(|e| Failure::Usage(format!("invalid store URL {shown:?}: {e}")))?;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        // Longer than `reach` waits, so that a database that does not answer is
        // reported by `reach` (with the timeout to change) rather than by the pool.
        .acquire_timeout(args.connect_timeout + Duration::from_secs(1))
        .connect_lazy_with(options.clone());
    let mut builder = PostgresStore::builder()
        .schema(&args.schema)
        .listen(false)
        .max_connections(2)
        .migrate(how == Open::Migrate);
    if args.allow_public_schema {
        builder = builder.allow_public_schema();
    }
    // The pool retries a refused connection until its timeout, then says only that it
    // timed out: one connection of our own, made alongside, fails at once with the
    // cause. `build` is polled first, so a bad schema name (checked before any I/O) is
    // reported as such even when the database cannot be reached.
    tokio::select! {
        biased;
        built = builder.build(pool) => built.map_err(usage),
        Err(failure) = reach(&options, &shown, args.connect_timeout) => Err(failure),
    }
}

/// One connection to the database, or why there is none.
async fn reach(options: &PgConnectOptions, shown: &str, timeout: Duration) -> Result<(), Failure> {
    match tokio::time::timeout(timeout, sqlx::PgConnection::connect_with(options)).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(sqlx::Error::Io(error))) => Err(Failure::Store(format!(
            "cannot connect to {shown}: {}",
            lower_first(&error.to_string())
        ))),
        Ok(Err(error)) => Err(Failure::Store(format!(
            "cannot connect to {shown}: {error}"
        ))),
        Err(_) => Err(Failure::Store(format!(
            "cannot connect to {shown}: no answer within {timeout:?} (--connect-timeout)"
        ))),
    }
}

/// `Connection refused (os error 111)` as the rest of a message.
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn job_line(job: &Job) -> String {
    let next = job.next_run_time.map(rfc3339).unwrap_or_else(|| "-".into());
    let paused = if job.paused { "paused" } else { "active" };
    format!("{}\t{}\t{}\t{next}\t{paused}", job.id, job.name, job.task)
}

fn rfc3339(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..scheme + 3 + colon], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// A job id or a schema that does not exist, and a setting out of its range (a schema
/// name), are the user's input; anything else is the store's.
fn usage(error: sched_core::Error) -> Failure {
    match error {
        sched_core::Error::JobNotFound(_)
        | sched_core::Error::SchemaNotFound { .. }
        | sched_core::Error::InvalidConfiguration { .. } => Failure::Usage(error.to_string()),
        other => store_failure(other),
    }
}

fn store_failure(error: sched_core::Error) -> Failure {
    Failure::Store(error.to_string())
}
