//! The live view's feed: Server-Sent Events at `api/events`, one JSON object per
//! event. Inside a scheduler, its events (with a relay, those of every node); for a
//! store alone, the store's newest runs, polled every second.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::stream::{self, Stream, StreamExt};
use sched_core::store::{RunQuery, RunRecord, RunStatus};
use sched_tokio::Event;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use crate::api::instant;
use crate::Shared;

/// How often a store alone is polled for new runs.
const POLL: Duration = Duration::from_secs(1);

/// One item of the feed.
#[derive(Debug, Default, Serialize, PartialEq)]
pub(crate) struct LiveEvent {
    /// `submitted`, `executed`, `error`, `missed`, `coalesced`, `max_instances`,
    /// `abandoned`, `lease_lost`, `added`, `modified`, `removed`, `missed_events`, or
    /// `run` (a store alone: a run new or changed since the last poll).
    pub(crate) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) job_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) run_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) node: Option<String>,
    /// Running, or how it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) scheduled: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) duration_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// Skipped runs, or events this view missed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) count: Option<u64>,
    /// Which attempt of its occurrence a run is (1: the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) attempt: Option<u32>,
    /// What the run returned, as JSON text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) result: Option<String>,
}

/// The feed for one event of the scheduler (`None`: not shown live).
pub(crate) fn of_event(event: &Event) -> Option<LiveEvent> {
    let node = event.node().map(str::to_owned);
    let live = match event {
        Event::JobSubmitted(run) | Event::JobExecuted(run) | Event::JobError(run) => {
            let (kind, status) = match event {
                Event::JobSubmitted(_) => ("submitted", RunStatus::Running),
                Event::JobExecuted(_) => ("executed", RunStatus::Success),
                // The runtime's own texts tell the failures apart.
                _ => match run.error.as_deref().unwrap_or("") {
                    e if e.starts_with("cancelled") => ("error", RunStatus::Cancelled),
                    "timed out" => ("error", RunStatus::TimedOut),
                    e if e.starts_with("panicked: ") => ("error", RunStatus::Panicked),
                    _ => ("error", RunStatus::Error),
                },
            };
            LiveEvent {
                kind,
                job_id: Some(run.job_id.to_string()),
                run_id: Some(run.run_id.0),
                status: Some(status.as_str()),
                scheduled: Some(instant(run.scheduled)),
                duration_seconds: run.duration.map(|d| d.as_secs_f64()),
                error: run.error.clone(),
                attempt: Some(run.attempt),
                result: run.result.as_deref().map(str::to_owned),
                ..LiveEvent::default()
            }
        }
        Event::JobMissed(skip) | Event::JobCoalesced(skip) | Event::JobMaxInstances(skip) => {
            let kind = match event {
                Event::JobMissed(_) => "missed",
                Event::JobCoalesced(_) => "coalesced",
                _ => "max_instances",
            };
            LiveEvent {
                kind,
                job_id: Some(skip.job_id.to_string()),
                count: Some(skip.runs.count),
                ..LiveEvent::default()
            }
        }
        Event::JobAbandoned(run) => LiveEvent {
            kind: "abandoned",
            job_id: Some(run.job_id.to_string()),
            run_id: Some(run.run_id.0),
            status: Some(RunStatus::Abandoned.as_str()),
            scheduled: Some(instant(run.scheduled)),
            ..LiveEvent::default()
        },
        Event::JobLeaseLost(run) => LiveEvent {
            kind: "lease_lost",
            job_id: Some(run.job_id.to_string()),
            run_id: Some(run.run_id.0),
            error: Some(run.reason.clone()),
            ..LiveEvent::default()
        },
        Event::JobAdded(job) | Event::JobModified(job) | Event::JobRemoved(job) => {
            let kind = match event {
                Event::JobAdded(_) => "added",
                Event::JobModified(_) => "modified",
                _ => "removed",
            };
            LiveEvent {
                kind,
                job_id: Some(job.job_id.to_string()),
                ..LiveEvent::default()
            }
        }
        Event::EventsMissed(missed) => LiveEvent {
            kind: "missed_events",
            count: missed.missed,
            node: missed.node.clone(),
            ..LiveEvent::default()
        },
        _ => return None,
    };
    Some(LiveEvent {
        node: live.node.or(node),
        ..live
    })
}

fn of_run(run: &RunRecord) -> LiveEvent {
    LiveEvent {
        kind: "run",
        job_id: Some(run.job_id.to_string()),
        run_id: Some(run.run_id.0),
        node: Some(run.node.clone()),
        status: Some(run.status.as_str()),
        scheduled: Some(instant(run.scheduled)),
        duration_seconds: run
            .finished
            .and_then(|end| (end - run.started).to_std().ok())
            .map(|d| d.as_secs_f64()),
        error: run.error.clone(),
        count: None,
        attempt: Some(run.attempt),
        result: run.result.clone(),
    }
}

fn sse(live: &LiveEvent) -> SseEvent {
    SseEvent::default()
        .event(live.kind)
        .data(serde_json::to_string(live).unwrap_or_else(|_| "{}".to_owned()))
}

/// `GET api/events`.
pub(crate) async fn events(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stream: futures::stream::BoxStream<'static, SseEvent> = match shared.source.subscribe() {
        Some(receiver) => stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => {
                        if let Some(live) = of_event(&event) {
                            return Some((sse(&live), receiver));
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        let live = LiveEvent {
                            kind: "missed_events",
                            count: Some(missed),
                            ..LiveEvent::default()
                        };
                        return Some((sse(&live), receiver));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        })
        .boxed(),
        None => poll_store(shared).boxed(),
    };
    Sse::new(stream.map(Ok)).keep_alive(KeepAlive::default())
}

/// A store alone: the newest runs every [`POLL`], those new or changed since the
/// previous poll (the first poll only sets what is known).
fn poll_store(shared: Arc<Shared>) -> impl Stream<Item = SseEvent> {
    let seen: Option<HashMap<i64, RunStatus>> = None;
    stream::unfold(
        (shared, seen, Vec::<SseEvent>::new()),
        |(shared, mut seen, mut queue)| async move {
            loop {
                if let Some(next) = queue.pop() {
                    return Some((next, (shared, seen, queue)));
                }
                if seen.is_some() {
                    tokio::time::sleep(POLL).await;
                }
                let runs = match shared.source.runs(&RunQuery::new().limit(200)).await {
                    Ok(runs) => runs,
                    Err(error) => {
                        tracing::warn!(message = %error.message, "live view: the store could not be read");
                        seen.get_or_insert_with(HashMap::new);
                        continue;
                    }
                };
                let known = seen.get_or_insert_with(HashMap::new);
                let first = known.is_empty() && queue.is_empty();
                let mut fresh = Vec::new();
                for run in &runs {
                    if known.get(&run.run_id.0) != Some(&run.status) {
                        known.insert(run.run_id.0, run.status);
                        if !first {
                            fresh.push(sse(&of_run(run)));
                        }
                    }
                }
                // Oldest first out of `pop`: the newest runs come first in `runs`.
                queue = fresh;
                if known.len() > 10_000 {
                    let keep: std::collections::HashSet<i64> =
                        runs.iter().map(|r| r.run_id.0).collect();
                    known.retain(|id, _| keep.contains(id));
                }
            }
        },
    )
}
