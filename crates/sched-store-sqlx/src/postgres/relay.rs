//! `PostgresEventRelay`: events between the nodes on one schema, by `LISTEN/NOTIFY`
//! on a channel of their own (`sched_<schema>_events`).
//!
//! It has two connections of its own, never the store's pool: one sends (each
//! publish is one `SELECT pg_notify(..) FROM unnest(..)`, one round trip and one
//! commit for many payloads, never inside a claim transaction), one listens. A lost
//! listening connection is made again (with backoff) and reported to the subscribers
//! as [`RelayDelivery::Interrupted`]: what was sent meanwhile is gone (notifications
//! are not queued for a session that is not there).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sched_core::relay::{
    check_payloads, EventRelay, RelayDelivery, RelaySink, RelaySubscription, Sinks,
};
use sched_core::support::Mutex;
use sched_core::Result;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::Postgres;
use tokio::task::JoinHandle;

use crate::store::SqlStore;
use crate::store_error;

/// A `NOTIFY` payload must be shorter than 8000 bytes.
const MAX_PAYLOAD: usize = 7999;
/// The longest wait between two attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Carries sched-tokio's events between the nodes sharing a [`PostgresStore`]'s
/// schema, through `LISTEN/NOTIFY` on the channel `sched_<schema>_events`; from
/// [`PostgresStore::event_relay`], for `SchedulerBuilder::event_relay`.
///
/// [`PostgresStore`]: crate::PostgresStore
/// [`PostgresStore::event_relay`]: crate::SqlStore::event_relay
#[derive(Debug)]
pub struct PostgresEventRelay {
    channel: String,
    /// The store's pool: when it is closed, listening stops.
    store: PgPool,
    /// One connection, to send.
    sender: PgPool,
    /// One connection, to listen.
    listen: PgPool,
    sinks: Arc<Mutex<Sinks>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl SqlStore<Postgres> {
    /// A relay of events between the nodes on this store's schema (sched-tokio's
    /// `SchedulerBuilder::event_relay`), through `LISTEN/NOTIFY` on the channel
    /// `sched_<schema>_events`. It opens two connections of its own, when first used:
    /// one to send, one to listen.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use sched_store_sqlx::PostgresStore;
    /// use sched_tokio::prelude::*;
    ///
    /// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
    /// let scheduler = Scheduler::builder()
    ///     .event_relay(store.event_relay())
    ///     .store(Arc::new(store))
    ///     .build()?;
    /// let mut events = scheduler.subscribe();
    /// scheduler.start().await?;
    /// while let Ok(event) = events.recv().await {
    ///     match &event {
    ///         Event::JobExecuted(run) => println!("{} ran on {}", run.job_id, run.node),
    ///         Event::EventsMissed(missed) => println!("missed {:?} events from {:?}", missed.missed, missed.node),
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn event_relay(&self) -> Arc<PostgresEventRelay> {
        let pool = &self.inner.pool;
        let one = || {
            PgPoolOptions::new()
                .max_connections(1)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(5))
                .max_lifetime(None)
                .idle_timeout(None)
                .connect_lazy_with((*pool.connect_options()).clone())
        };
        Arc::new(PostgresEventRelay {
            channel: format!("{}_events", self.inner.channel),
            store: pool.clone(),
            sender: one(),
            listen: one(),
            sinks: Arc::default(),
            task: Arc::default(),
        })
    }
}

impl PostgresEventRelay {
    /// The channel it notifies and listens on: `sched_<schema>_events`.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

#[async_trait]
impl EventRelay for PostgresEventRelay {
    fn max_payload(&self) -> usize {
        MAX_PAYLOAD
    }

    async fn publish(&self, payloads: Vec<String>) -> Result<()> {
        check_payloads(&payloads, MAX_PAYLOAD)?;
        if payloads.is_empty() {
            return Ok(());
        }
        // One statement, one commit: the notifications are sent in the array's order
        // (a function scan), none is dropped as a duplicate (each payload is numbered).
        sqlx::query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
            .bind(&self.channel)
            .bind(payloads)
            .execute(&self.sender)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// Starts listening, on the current Tokio runtime, with the first subscription;
    /// stops with the last.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    fn subscribe(&self, sink: RelaySink) -> RelaySubscription {
        let task = Arc::clone(&self.task);
        let subscription = Sinks::add(&self.sinks, sink, move || {
            if let Some(task) = task.lock().take() {
                task.abort();
            }
        });
        let mut task = self.task.lock();
        if task.is_none() {
            let listening = Listening {
                channel: self.channel.clone(),
                store: self.store.clone(),
                listen: self.listen.clone(),
                sinks: Arc::clone(&self.sinks),
            };
            *task = Some(tokio::spawn(listening.run()));
        }
        subscription
    }
}

impl Drop for PostgresEventRelay {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
    }
}

/// The listening task.
struct Listening {
    channel: String,
    store: PgPool,
    listen: PgPool,
    sinks: Arc<Mutex<Sinks>>,
}

impl Listening {
    async fn run(self) {
        let mut backoff = Duration::from_millis(100);
        // One report per outage, however many attempts it takes to listen again.
        let mut reported = false;
        loop {
            let error = match self.connect().await {
                Ok(listener) => {
                    reported = false;
                    backoff = Duration::from_millis(100);
                    self.deliver(listener).await
                }
                Err(error) => error,
            };
            if self.store.is_closed() {
                return;
            }
            if reported {
                tracing::debug!(%error, "postgres event relay: still cannot listen");
            } else {
                tracing::warn!(%error, channel = %self.channel,
                    "postgres event relay: cannot listen; events sent meanwhile are lost; retrying");
                Sinks::deliver(&self.sinks, RelayDelivery::Interrupted);
                reported = true;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn connect(&self) -> std::result::Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.listen).await?;
        listener.listen(&self.channel).await?;
        Ok(listener)
    }

    /// Delivers what `listener` receives until its connection fails.
    async fn deliver(&self, mut listener: PgListener) -> sqlx::Error {
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let payload = notification.payload().to_owned();
                    Sinks::deliver(&self.sinks, RelayDelivery::Payload(payload));
                }
                // Lost and made again at once (sqlx listens again): tell the subscribers.
                Ok(None) => {
                    tracing::warn!(channel = %self.channel,
                        "postgres event relay: LISTEN connection lost and made again; events sent meanwhile are lost");
                    Sinks::deliver(&self.sinks, RelayDelivery::Interrupted);
                }
                // A fresh listener next time: one whose connection broke otherwise may
                // keep failing on it.
                Err(error) => return error,
            }
        }
    }
}
