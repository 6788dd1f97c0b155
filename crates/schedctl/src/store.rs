//! The store commands: open the store a URL names, act on it, print lines.

use std::sync::Arc;

use chrono::{SecondsFormat, Utc};
use sched_core::job::Job;
use sched_core::store::JobStore;
use sched_store_sqlx::{PostgresStore, SqliteStore};

use crate::{Command, Failure, StoreArgs};

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
            let jobs = open(&args)
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
        Command::Remove { id, store: args } => {
            let job = open(&args).await?.remove_job(&id).await.map_err(usage)?;
            Ok(vec![format!("removed {}", job.id)])
        }
        Command::History {
            id,
            store: args,
            count,
        } => {
            let runs = open(&args)
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
            open(&args).await?;
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
    let store = open(args).await?;
    let mut job = store.get_job(id).await.map_err(usage)?;
    change(&mut job);
    store.update_job(job.clone()).await.map_err(store_failure)?;
    Ok(vec![job_line(&job)])
}

/// Opens the store the URL names (running its migrations).
async fn open(args: &StoreArgs) -> Result<Arc<dyn JobStore>, Failure> {
    if args.url.starts_with("sqlite:") {
        Ok(Arc::new(
            SqliteStore::connect(&args.url)
                .await
                .map_err(store_failure)?,
        ))
    } else if args.url.starts_with("postgres:") || args.url.starts_with("postgresql:") {
        let store = PostgresStore::builder()
            .schema(&args.schema)
            .listen(false)
            .max_connections(2)
            .connect(&args.url)
            .await
            .map_err(store_failure)?;
        Ok(Arc::new(store))
    } else {
        Err(Failure::Usage(format!(
            "unsupported store URL {:?}: expected sqlite://… or postgres://…",
            redact(&args.url)
        )))
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

/// A job id that does not exist is the user's input; anything else is the store's.
fn usage(error: sched_core::Error) -> Failure {
    match error {
        sched_core::Error::JobNotFound(_) => Failure::Usage(error.to_string()),
        other => store_failure(other),
    }
}

fn store_failure(error: sched_core::Error) -> Failure {
    Failure::Store(error.to_string())
}
