//! The fault plans: when to kill which node, how to restart it, when to take Postgres
//! down and for how long. Pure data; the driver carries a plan out.

use std::time::Duration;

/// How a killed node comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Restart {
    /// At once, under the killed process's node id (a pod restarted under its name:
    /// the case of commit 84387cd).
    SameId,
    /// After a pause, under a new node id (a replacement replica).
    NewId { after: Duration },
}

/// One fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// `kill -9` the node holding the most runs `running` at that instant (so a kill
    /// always leaves work to take over: nodes claim due jobs in batches, so one node
    /// often holds a whole second's runs), then restart it.
    Kill { restart: Restart },
    /// Stop Postgres, wait this long, start it again.
    Outage { length: Duration },
    /// Stop Postgres and start it again at once (`pg_ctlcluster restart`, with the
    /// instant it was down known to the driver).
    Restart,
}

/// A fault at a time after the start of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) at: Duration,
    pub(crate) fault: Fault,
}

/// A whole run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) name: &'static str,
    pub(crate) nodes: usize,
    pub(crate) lease: Duration,
    /// From the start of the run (the nodes are spawned) to the jobs' first fire time.
    pub(crate) warmup: Duration,
    pub(crate) steps: Vec<Step>,
    /// After the last fault: time for the last takeover and catch-up before the end.
    pub(crate) settle: Duration,
}

/// Kills land this far past a whole second, where the jobs fire, so they do not always
/// hit a claim.
const OFF_SECOND: Duration = Duration::from_millis(150);
/// Outages start half a second past a whole second: after the claims of that second
/// (so the runs it started, the long ones too, execute through the outage).
const HALF: Duration = Duration::from_millis(500);

const LEASE: Duration = Duration::from_secs(5);

fn at(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

fn kill(seconds: u64, restart: Restart) -> Step {
    Step {
        at: at(seconds) + OFF_SECOND,
        fault: Fault::Kill { restart },
    }
}

fn settle(lease: Duration) -> Duration {
    lease * 2 + Duration::from_secs(5)
}

/// The CI form (about 2 minutes): 3 nodes, lease 5 s; three kills (one restarted under
/// its own id), one outage of twice the lease, one quick restart of Postgres.
pub(crate) fn short() -> Plan {
    let new_id = Restart::NewId { after: at(2) };
    Plan {
        name: "short",
        nodes: 3,
        lease: LEASE,
        warmup: at(5),
        steps: vec![
            kill(20, Restart::SameId),
            kill(38, new_id),
            Step {
                at: at(55) + HALF,
                fault: Fault::Outage { length: LEASE * 2 },
            },
            kill(85, new_id),
            Step {
                at: at(102) + HALF,
                fault: Fault::Restart,
            },
        ],
        settle: settle(LEASE),
    }
}

/// The long form (10 minutes): 4 nodes, lease 5 s; a kill every minute (every third
/// restarted under its own id), and 25 s later in each minute Postgres goes down: for
/// twice the lease in odd minutes, a quick restart in even ones.
pub(crate) fn long() -> Plan {
    let mut steps = Vec::new();
    for minute in 0..10u64 {
        let restart = if minute % 3 == 0 {
            Restart::SameId
        } else {
            Restart::NewId { after: at(2) }
        };
        steps.push(kill(minute * 60 + 20, restart));
        steps.push(Step {
            at: at(minute * 60 + 45) + HALF,
            fault: if minute % 2 == 1 {
                Fault::Outage { length: LEASE * 2 }
            } else {
                Fault::Restart
            },
        });
    }
    Plan {
        name: "long",
        nodes: 4,
        lease: LEASE,
        warmup: at(5),
        steps,
        settle: settle(LEASE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Faults never overlap: a kill is followed by a lease and a margin of quiet (its
    /// takeover is measured alone), an outage ends a lease and a margin before the next
    /// kill (so the reapers have waited out their lease after reconnecting).
    fn assert_spaced(plan: &Plan) {
        let quiet = plan.lease * 2 + Duration::from_secs(3);
        for pair in plan.steps.windows(2) {
            let busy = match pair[0].fault {
                Fault::Outage { length } => length + Duration::from_secs(3),
                Fault::Kill { .. } | Fault::Restart => Duration::from_secs(3),
            };
            assert!(
                pair[1].at >= pair[0].at + busy + quiet,
                "{}: {:?} too close to {:?}",
                plan.name,
                pair[1],
                pair[0]
            );
        }
        assert!(plan.steps.iter().all(|s| s.at > plan.warmup + plan.lease));
    }

    #[test]
    fn short_form_fits_ci_and_has_each_fault() {
        let plan = short();
        assert_spaced(&plan);
        let last = plan.steps.last().expect("steps").at;
        assert!(last + plan.settle + Duration::from_secs(20) <= Duration::from_secs(150));
        assert!(plan.steps.iter().any(|s| matches!(
            s.fault,
            Fault::Kill {
                restart: Restart::SameId,
                ..
            }
        )));
        assert!(plan
            .steps
            .iter()
            .any(|s| matches!(s.fault, Fault::Outage { length } if length > plan.lease)));
    }

    #[test]
    fn long_form_kills_every_minute_for_ten_minutes() {
        let plan = long();
        assert_spaced(&plan);
        let kills: Vec<_> = plan
            .steps
            .iter()
            .filter(|s| matches!(s.fault, Fault::Kill { .. }))
            .collect();
        assert_eq!(kills.len(), 10);
        assert!(kills
            .windows(2)
            .all(|k| k[1].at - k[0].at == Duration::from_secs(60)));
        assert_eq!(
            plan.steps
                .iter()
                .filter(|s| s.fault
                    == Fault::Outage {
                        length: Duration::from_secs(10)
                    })
                .count(),
            5
        );
    }
}
