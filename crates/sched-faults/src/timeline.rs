//! What the driver did and when, on the wall clock the nodes use too: each node
//! process's life, each kill, each outage. The checker judges the tables against it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One node process, from spawn to death.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Proc {
    pub(crate) node: String,
    pub(crate) pid: u32,
    pub(crate) spawned: DateTime<Utc>,
    /// When its exit was seen (`None`: still running).
    pub(crate) died: Option<DateTime<Utc>>,
}

impl Proc {
    /// The process was alive at `t`.
    pub(crate) fn alive_at(&self, t: DateTime<Utc>) -> bool {
        self.spawned <= t && self.died.is_none_or(|died| t < died)
    }
}

/// A `kill -9`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Kill {
    /// Index into [`Timeline::procs`].
    pub(crate) proc: usize,
    /// Just before the signal was sent.
    pub(crate) at: DateTime<Utc>,
    /// How it came back: "same id" or "new id <id>".
    pub(crate) restart: String,
}

/// Postgres down and up again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Outage {
    /// "outage 10 s" or "restart".
    pub(crate) kind: String,
    /// The stop was asked for.
    pub(crate) stopping: DateTime<Utc>,
    /// The stop returned: the server is down.
    pub(crate) down: DateTime<Utc>,
    /// The first new connection was accepted and answered a query.
    pub(crate) accepted: DateTime<Utc>,
}

/// The whole run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Timeline {
    /// The plan's name and lease, so a kept schema can be judged again (`check`).
    pub(crate) plan: String,
    pub(crate) lease_ms: u64,
    pub(crate) start: DateTime<Utc>,
    /// The jobs' first fire time.
    pub(crate) epoch: DateTime<Utc>,
    /// Every fire time up to this one must be accounted for.
    pub(crate) window_end: DateTime<Utc>,
    pub(crate) procs: Vec<Proc>,
    pub(crate) kills: Vec<Kill>,
    pub(crate) outages: Vec<Outage>,
    /// Nodes that did not exit on `SIGTERM` within the time allowed.
    pub(crate) unclean_stops: Vec<String>,
}

impl Timeline {
    /// The process that wrote as (`node`, `pid`).
    pub(crate) fn proc(&self, node: &str, pid: u32) -> Option<&Proc> {
        self.procs.iter().find(|p| p.node == node && p.pid == pid)
    }
}
