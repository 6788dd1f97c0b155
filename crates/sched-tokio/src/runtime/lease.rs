//! Beside the loop, leases: heartbeats keep this node's claims alive, and the reaper
//! reports the runs of nodes that died.
//!
//! Runs on its own timer, so a busy loop never lets a lease expire. With a store only
//! this process uses, it looks once for runs a previous process left behind, then
//! ends: an idle scheduler makes no wake-ups.

use std::sync::{Arc, Weak};

use crate::event::{AbandonedEvent, Event};
use crate::scheduler::Inner;

pub(crate) async fn run(inner: Weak<Inner>) {
    // The reaper looks twice per heartbeat: a dead node's runs are reported at most
    // half a heartbeat after their lease ends (lease + 1 s with the defaults).
    let mut tick = 0u64;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let shared = strong.env.store.poll_interval().is_some();
        if shared && tick % 2 == 0 {
            let now = strong.env.clock.now();
            if let Err(error) = strong
                .env
                .store
                .heartbeat(&strong.config.node, now, strong.config.lease)
                .await
            {
                tracing::warn!(%error, "heartbeat failed; retrying");
                strong.events.emit(Event::StoreError {
                    error: error.to_string(),
                });
            }
        }
        reap(&strong).await;
        if !shared {
            return;
        }
        tick += 1;
        let every = strong.config.heartbeat / 2;
        drop(strong);
        tokio::time::sleep(every).await;
    }
}

async fn reap(inner: &Arc<Inner>) {
    match inner.env.store.reap_abandoned(inner.env.clock.now()).await {
        Ok(runs) => {
            let recovered = runs.iter().any(|run| run.recovered);
            for run in runs {
                tracing::warn!(job_id = %run.job_id, run_id = %run.run_id, node = %run.node,
                    recovered = run.recovered, "run abandoned by a node that stopped heartbeating");
                inner.events.emit(Event::JobAbandoned(AbandonedEvent {
                    job_id: run.job_id.clone(),
                    run_id: run.run_id,
                    scheduled: run.scheduled,
                    node: run.node,
                    recovered: run.recovered,
                }));
            }
            if recovered {
                inner.runtime.wake.notify_one();
            }
        }
        Err(error) => {
            tracing::warn!(%error, "looking for abandoned runs failed; retrying");
            inner.events.emit(Event::StoreError {
                error: error.to_string(),
            });
        }
    }
}
