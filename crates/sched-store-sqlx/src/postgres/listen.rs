//! `LISTEN` for other nodes' changes: one task per store wakes the schedulers using it.

use std::time::Duration;

use sched_core::Result;
use sqlx::postgres::PgListener;
use sqlx::Postgres;

use sched_core::store::RunId;

use crate::store::{CancelHook, JobHook, SqlStore, Waker};
use crate::store_error;

/// Starts listening on the store's channel.
pub(super) async fn spawn(store: &SqlStore<Postgres>) -> Result<()> {
    let inner = &store.inner;
    let mut listener = PgListener::connect_with(&inner.pool)
        .await
        .map_err(store_error)?;
    listener.listen(&inner.channel).await.map_err(store_error)?;
    let wakers = std::sync::Arc::clone(&inner.wakers);
    let hooks = std::sync::Arc::clone(&inner.cancel_hooks);
    let job_hooks = std::sync::Arc::clone(&inner.job_hooks);
    let holder = inner.holder.clone();
    let pool = inner.pool.clone();
    let task = tokio::spawn(async move {
        loop {
            match listener.recv().await {
                Ok(notice) => {
                    let payload = notice.payload();
                    if let Some(runs) = crate::store::parse_cancel_notice(payload) {
                        cancel_all(&hooks, &runs);
                        continue;
                    }
                    if let Some((from, job)) = crate::store::parse_job_notice(payload) {
                        // This store instance's own changes were handed to its
                        // schedulers when made (`jobs_changed`).
                        if from != holder {
                            changed_all(&job_hooks, job);
                        }
                    }
                    wake_all(&wakers);
                }
                // The store was closed: nothing more to listen for.
                Err(_) if pool.is_closed() => return,
                Err(error) => {
                    // PgListener reconnects on the next recv; what was sent in between
                    // is lost, so wake everyone to look for themselves.
                    tracing::warn!(%error, "postgres LISTEN connection lost; reconnecting");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    wake_all(&wakers);
                }
            }
        }
    });
    *inner.listener.lock() = Some(task);
    Ok(())
}

/// Hands each run of a cancel notice to the schedulers using this store (each cancels
/// it if it runs it).
fn cancel_all(hooks: &sched_core::support::Mutex<Vec<CancelHook>>, runs: &[RunId]) {
    let hooks = hooks.lock().clone();
    for &run in runs {
        for hook in &hooks {
            hook(run);
        }
    }
}

/// Hands a job another node changed (`None`: any) to the schedulers using this store
/// (each gives back its runs of it claimed ahead).
fn changed_all(hooks: &sched_core::support::Mutex<Vec<JobHook>>, job: Option<&str>) {
    let hooks = hooks.lock().clone();
    for hook in &hooks {
        hook(job);
    }
}

fn wake_all(wakers: &sched_core::support::Mutex<Vec<Waker>>) {
    for wake in wakers.lock().iter() {
        wake();
    }
}
