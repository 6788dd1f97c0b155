//! The jobs every node registers, and the fire times the checker expects of them: one
//! catalogue, so the nodes and the checker cannot disagree.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sched_core::trigger::Trigger;

/// How many jobs of each kind (issue 11: ~20 coalescing every second, ~5 catching up
/// every run every 2 s; two longer than the lease, so renewals are exercised).
const FAST: usize = 20;
const ORDERED: usize = 5;
const LONG: usize = 2;

/// One job of the catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JobDef {
    pub(crate) id: String,
    pub(crate) every: Duration,
    /// How long a run works after recording its start.
    pub(crate) run_for: Duration,
    pub(crate) coalesce: bool,
}

impl JobDef {
    /// The trigger, the same on every node (its start is the suite's epoch), so a node
    /// restarted with `replace_existing` keeps the stored schedule.
    pub(crate) fn trigger(&self, epoch: DateTime<Utc>) -> Trigger {
        Trigger::interval(self.every).start(epoch)
    }

    /// Its fire times from `epoch` up to and including `until`.
    pub(crate) fn fire_times(
        &self,
        epoch: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let trigger = self.trigger(epoch);
        let mut times = Vec::new();
        let mut after = epoch - chrono::Duration::nanoseconds(1);
        while let Some(next) = trigger.next_after(after).filter(|t| *t <= until) {
            times.push(next);
            after = next;
        }
        times
    }
}

/// The catalogue for a given lease: the long jobs run 3 s longer than the lease and
/// fire every two leases (one that an outage starts just after outlives its lease).
pub(crate) fn catalog(lease: Duration) -> Vec<JobDef> {
    let fast = (0..FAST).map(|i| JobDef {
        id: format!("fast_{i:02}"),
        every: Duration::from_secs(1),
        // 150..650 ms: most are still running 0.15 s after their second, when a kill
        // lands, so a killed node always leaves runs to take over.
        run_for: Duration::from_millis(150 + (i as u64 * 97) % 500),
        coalesce: true,
    });
    let ordered = (0..ORDERED).map(|i| JobDef {
        id: format!("ordered_{i}"),
        every: Duration::from_secs(2),
        run_for: Duration::from_millis(100 + i as u64 * 150),
        coalesce: false,
    });
    let long = (0..LONG).map(|i| JobDef {
        id: format!("long_{i}"),
        every: lease * 2,
        run_for: lease + Duration::from_secs(3),
        coalesce: true,
    });
    fast.chain(ordered).chain(long).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    #[test]
    fn fire_times_start_at_the_epoch_and_step_by_the_interval() {
        let job = &catalog(Duration::from_secs(5))[FAST];
        assert_eq!(job.id, "ordered_0");
        let times = job.fire_times(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:05Z"));
        assert_eq!(
            times,
            [
                at("2026-01-01T00:00:00Z"),
                at("2026-01-01T00:00:02Z"),
                at("2026-01-01T00:00:04Z")
            ]
        );
    }

    #[test]
    fn ids_are_unique_and_long_jobs_outlive_the_lease() {
        let lease = Duration::from_secs(5);
        let jobs = catalog(lease);
        let mut ids: Vec<_> = jobs.iter().map(|j| j.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), FAST + ORDERED + LONG);
        assert!(jobs
            .iter()
            .filter(|j| j.id.starts_with("long"))
            .all(|j| j.run_for > lease && j.run_for < j.every));
        assert!(jobs.iter().all(|j| j.run_for < j.every));
    }
}
