//! The store commands: open the store a URL names, act on it, report what it holds or
//! what was done.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sched_core::job::Job;
use sched_core::store::JobStore;
use sched_store_sqlx::{PostgresStore, SqliteStore};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::Connection;

use crate::cli::{Command, StoreArgs, StoreOptions};
use crate::output::{Action, Report};
use crate::Failure;

/// How a command opens its store: only `migrate` creates or changes tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    /// The schema (or file) must hold sched's tables already; nothing is created.
    Existing,
    /// Create the schema if needed and run the migrations.
    Migrate,
}

/// Runs a store command on a small Tokio runtime.
pub(crate) fn run(command: Command) -> Result<Report, Failure> {
    block_on(dispatch(command))
}

/// The stored job `id`, for `next --job`.
pub(crate) fn job(url: &str, options: &StoreOptions, id: &str) -> Result<Job, Failure> {
    block_on(async {
        open(url, options, Open::Existing)
            .await?
            .get_job(id)
            .await
            .map_err(usage)
    })
}

/// `serve`: the dashboard of the store at `args.url` on `listen`, until Ctrl-C or
/// SIGTERM. Prints where it listens (a sentence, or with `json` a JSON line).
pub(crate) fn serve(
    args: &StoreArgs,
    listen: std::net::SocketAddr,
    read_only: bool,
    json: bool,
) -> Result<(), Failure> {
    block_on(async {
        let store = open_args(args, Open::Existing).await?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Failure::Store(format!("cannot listen on {listen}: {e}")))?;
        let address = listener
            .local_addr()
            .map_err(|e| Failure::Store(format!("cannot listen on {listen}: {e}")))?;
        let url = format!("http://{address}/");
        let router = sched_web::Admin::for_store(store)
            .read_only(read_only)
            .title(format!("sched · {}", redact(&args.url)))
            .router();
        let line = if json {
            serde_json::json!({ "listening": url, "store": redact(&args.url), "read_only": read_only })
                .to_string()
        } else {
            format!(
                "serving the dashboard of {} on {url}{} (Ctrl-C to stop)",
                redact(&args.url),
                if read_only { ", read-only" } else { "" }
            )
        };
        println!("{line}");
        axum::serve(listener, router)
            .with_graceful_shutdown(sched_tokio::shutdown_signal())
            .await
            .map_err(|e| Failure::Store(format!("serving failed: {e}")))
    })
}

fn block_on<T>(work: impl std::future::Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Store(format!("cannot start a runtime: {e}")))?;
    runtime.block_on(work)
}

async fn dispatch(command: Command) -> Result<Report, Failure> {
    match command {
        Command::Jobs(args) => {
            let jobs = open_args(&args, Open::Existing)
                .await?
                .list_jobs()
                .await
                .map_err(store_failure)?;
            Ok(Report::Jobs(jobs))
        }
        Command::Pause { id, store: args } => {
            let job = change(&args, &id, Job::pause).await?;
            Ok(Report::Done(Box::new(Action::Paused(job))))
        }
        Command::Resume { id, store: args } => {
            let job = change(&args, &id, |job| job.resume(Utc::now())).await?;
            Ok(Report::Done(Box::new(Action::Resumed(job))))
        }
        Command::Run { id, store: args } => {
            let job = change(&args, &id, |job| job.run_now(Utc::now())).await?;
            Ok(Report::Done(Box::new(Action::MadeDue(job))))
        }
        Command::Remove {
            id,
            force: false,
            store: args,
        } => {
            let job = open_args(&args, Open::Existing)
                .await?
                .remove_job(&id)
                .await
                .map_err(usage)?;
            Ok(Report::Done(Box::new(Action::Removed {
                id,
                job: Some(job),
            })))
        }
        Command::Remove {
            id,
            force: true,
            store: args,
        } => {
            let purged = open_args(&args, Open::Existing)
                .await?
                .purge_job(&id)
                .await
                .map_err(store_failure)?;
            if !purged {
                return Err(usage(sched_core::Error::JobNotFound(id.as_str().into())));
            }
            Ok(Report::Done(Box::new(Action::Removed { id, job: None })))
        }
        Command::History {
            id,
            store: args,
            count,
        } => {
            let runs = open_args(&args, Open::Existing)
                .await?
                .run_history(id.as_deref(), count)
                .await
                .map_err(store_failure)?;
            Ok(Report::Runs(runs))
        }
        Command::Migrate(args) => {
            open_args(&args, Open::Migrate).await?;
            let schema = (!args.url.starts_with("sqlite:")).then(|| args.options.schema.clone());
            Ok(Report::Done(Box::new(Action::Migrated {
                store: redact(&args.url),
                schema,
            })))
        }
        Command::Next(_) | Command::Completions { .. } | Command::Serve { .. } => {
            Err(Failure::Usage("this command needs no store".into()))
        }
    }
}

/// Applies `change` to the stored job `id` (the same state changes as the scheduler's
/// `pause_job`, `resume_job` and `run_job_now`) and returns it as stored.
async fn change(args: &StoreArgs, id: &str, change: impl FnOnce(&mut Job)) -> Result<Job, Failure> {
    let store = open_args(args, Open::Existing).await?;
    let mut job = store.get_job(id).await.map_err(usage)?;
    change(&mut job);
    store.update_job(job.clone()).await.map_err(store_failure)?;
    Ok(job)
}

async fn open_args(args: &StoreArgs, how: Open) -> Result<Arc<dyn JobStore>, Failure> {
    open(&args.url, &args.options, how).await
}

/// Opens the store the URL names: with `Open::Existing`, as it is (creating nothing).
async fn open(url: &str, options: &StoreOptions, how: Open) -> Result<Arc<dyn JobStore>, Failure> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(open_sqlite(url, how).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(open_postgres(url, options, how).await?))
    } else {
        Err(Failure::Usage(format!(
            "unsupported store URL {:?}: expected sqlite://… or postgres://…",
            redact(url)
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

async fn open_postgres(
    url: &str,
    args: &StoreOptions,
    how: Open,
) -> Result<PostgresStore, Failure> {
    let shown = redact(url);
    let options = PgConnectOptions::from_str(url)
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
