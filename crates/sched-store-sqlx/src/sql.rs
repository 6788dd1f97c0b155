//! The statements of a store: one table, filled in by each dialect (`postgres/sql.rs`,
//! `sqlite/sql.rs`) with the same parameters in the same order, so that the store code
//! (`store.rs`, `claim.rs`) binds them once for both.
//!
//! Lists are bound with [`Dialect::bind_list`](crate::dialect::Dialect::bind_list):
//! arrays in Postgres, JSON arrays in SQLite. Parameters are listed as `$n` below.

use std::sync::Arc;

/// Every statement of one store.
#[derive(Debug)]
pub(crate) struct Sql {
    /// Opens the claim transaction (SQLite takes its write lock at once).
    pub(crate) begin: &'static str,
    /// `$1..$9`: a job's columns, in [`COLUMNS`] order.
    pub(crate) insert: Arc<str>,
    /// Lists of `COLUMNS`, one item per job: inserts them all (`add_jobs`). `None`
    /// (SQLite, in process): `insert` row by row in one transaction is as fast.
    pub(crate) insert_many: Option<Arc<str>>,
    /// `$1` ids: those the store holds (`id`).
    pub(crate) held_ids: Arc<str>,
    /// As `insert`, overwriting a job with the same id.
    pub(crate) upsert: Arc<str>,
    /// As `insert`, for an existing job (`$1` the id). Pausing drops its waiting run.
    pub(crate) update: Arc<str>,
    /// `$1` id: deletes the job's row (decodable or not).
    pub(crate) delete: Arc<str>,
    pub(crate) delete_all: Arc<str>,
    /// `$1` id; the job's columns.
    pub(crate) get: Arc<str>,
    /// Every job's columns, in `list_jobs` order.
    pub(crate) list: Arc<str>,
    /// `$1` task names, `$2` task prefixes: `id, task` of the jobs whose task is
    /// neither (the census's unrunnable jobs), by id.
    pub(crate) unrunnable: Arc<str>,
    /// `$1` quarantined ids, `$2` task names (or `NULL`: any), `$3` task prefixes;
    /// the `id, next_run_s, next_run_ns` of the unpaused job due first, or of the job
    /// of the pending retry due first if that is earlier.
    pub(crate) next_due: Arc<str>,
    /// `$1, $2` horizon (s, ns), `$3` quarantined ids, `$4` limit, `$5` task names (or
    /// `NULL`), `$6` task prefixes; due jobs' columns and `waiting_s, waiting_ns`, in
    /// next-run order, locked.
    pub(crate) claim: Arc<str>,
    /// `$1` job ids; `id, job_id, sched_s, sched_ns` of their running runs.
    pub(crate) running_times: Arc<str>,
    /// `$1` job ids, `$2` seconds, `$3` nanoseconds: new next run times.
    pub(crate) reschedule: Arc<str>,
    /// `$1` job ids: jobs whose trigger is done.
    pub(crate) finish: Arc<str>,
    /// `$1` job ids: unscheduled, kept while their last run may be recovered.
    pub(crate) park: Arc<str>,
    /// `$1` job ids, `$2` seconds, `$3` nanoseconds, `$4` node, `$5` started (µs), `$6`
    /// lease end (µs); returns `id, job_id, sched_s, sched_ns` of each run recorded (an
    /// occurrence recorded before is not).
    pub(crate) record_runs: Arc<str>,
    /// `$1` run ids, `$2` statuses, `$3` finish times (µs), `$4` error texts, `$5`
    /// results (JSON text); returns
    /// `id, job_id` of each run that was running.
    pub(crate) complete_many: Arc<str>,
    /// `$1` job ids: removes parked jobs whose last run ended; returns the `id` of each.
    pub(crate) unpark_many: Arc<str>,
    /// `$1` run ids: deletes those still running (runs claimed ahead, given back before
    /// they started); returns `id, job_id, sched_s, sched_ns` of each.
    pub(crate) unclaim: Arc<str>,
    /// `$1` node, `$2` now (µs): its running runs are cancelled.
    pub(crate) release: Arc<str>,
    /// `$1` node.
    pub(crate) forget_node: Arc<str>,
    /// `$1` job id; `count` of its running runs.
    pub(crate) running: Arc<str>,
    /// `$1` node, `$2` now (µs), `$3` lease end (µs; never moves backwards).
    pub(crate) heartbeat: Arc<str>,
    /// `$1` node, `$2` lease end (µs), `$3` holder: renews the running runs this store
    /// instance claimed (a lease never moves backwards); returns the `id` and
    /// `cancel_requested` of each.
    pub(crate) renew: Arc<str>,
    /// `$1` run id: asks for the run's cancel if it is running; returns its `node`.
    pub(crate) cancel_run: Arc<str>,
    /// `$1` run id; `count` of runs with that id (0 or 1).
    pub(crate) run_exists: Arc<str>,
    /// `$1` job id: asks for the cancel of its running runs; returns the `id` of each.
    pub(crate) cancel_job: Arc<str>,
    /// `$1` horizon (µs), `$2` at most this many: drops history finished before it.
    pub(crate) prune: Arc<str>,
    /// `$1` successful runs kept, `$2` at most this many: drops the successful runs
    /// whose id is not among the newest `$1` run ids (the oldest first).
    pub(crate) prune_successes: Arc<str>,
    /// `$1` now (µs), `$2` leases ending before this are abandoned (µs), `$3` error
    /// text; returns `id, job_id, sched_s, sched_ns, node` of each.
    pub(crate) abandon: Arc<str>,
    /// `$1` job ids; their columns, locked.
    pub(crate) lock_jobs: Arc<str>,
    /// `$1` job ids; the columns and `waiting_s, waiting_ns` of those with a waiting
    /// run, locked.
    pub(crate) lock_waiting: Arc<str>,
    /// `$1` job id, `$2, $3` the waiting run's scheduled time (s, ns; `NULL`: none).
    pub(crate) set_waiting: Arc<str>,
    /// `$1` job id, `$2, $3` a run's scheduled time (s, ns): asks for the cancel of that
    /// run if it is running; returns its `id`.
    pub(crate) supersede: Arc<str>,
    /// `$1` job id, `$2` limit, `$3` status, `$4` node, `$5` below this run id (each
    /// `NULL`: any); the history, newest first.
    pub(crate) history: Arc<str>,
    /// `$1` search text (`NULL`: all; in the id, name or task, any case), `$2` limit,
    /// `$3` offset; jobs' columns in `list` order.
    pub(crate) job_page: Arc<str>,
    /// `$1` search text as in `job_page`; `count` of the jobs it matches.
    pub(crate) job_count: Arc<str>,
    /// `id, seen_us, lease_us, running` of every node, by id.
    pub(crate) nodes: Arc<str>,
    /// `$1` set: holds the set's sync lock until the transaction ends (`None`: the
    /// transaction's own lock serialises syncs).
    pub(crate) set_lock: Option<Arc<str>>,
    /// `$1` set: `id, job_set` of its jobs, by id (locked on Postgres).
    pub(crate) set_members: Arc<str>,
    /// `$1` job ids: `id, job_set` of those stored.
    pub(crate) set_owners: Arc<str>,
    /// `$1` job id, `$2` set: puts the job in the set.
    pub(crate) set_assign: Arc<str>,
    /// `$1` run ids, `$2` due times (µs), `$3` attempt step (1: the next attempt; 0:
    /// the same one again, for an abandoned retry): records a pending retry of each
    /// run's occurrence whose job is still stored (an attempt recorded before is not).
    pub(crate) retry: Arc<str>,
    /// `$1` now (µs), `$2` quarantined ids, `$3` limit, `$4` task names (or `NULL`),
    /// `$5` task prefixes: the pending retries due, with their job's columns (jobs not
    /// paused), in due order, locked; `run_id, attempt, sched_s, sched_ns` and the job's
    /// columns.
    pub(crate) claim_retries: Arc<str>,
    /// `$1` job ids, `$2` now (µs): their pending retries due by then (whether or not
    /// they were put off for want of an instance), with the job's columns as in
    /// `claim_retries`, oldest first, locked (lock the job rows first).
    pub(crate) due_retries: Arc<str>,
    /// `$1` quarantined ids, `$2` task names (or `NULL`), `$3` task prefixes: when
    /// (µs) a claim next looks at a pending retry of a job not paused that this node
    /// can run, as `count` (no row: none).
    pub(crate) first_retry: Arc<str>,
    /// `$1` run ids, `$2` node, `$3` started (µs), `$4` lease end (µs), `$5` holder:
    /// starts those pending retries; returns the `id` of each.
    pub(crate) start_retries: Arc<str>,
    /// `$1` run ids, `$2` when (µs): pending retries whose job had no instance free are
    /// looked at again then.
    pub(crate) defer_retries: Arc<str>,
    /// `$1` job ids (`NULL`: every job), `$2` now (µs), `$3` error text: their pending
    /// retries are recorded cancelled; returns the `id` of each.
    pub(crate) drop_retries: Arc<str>,
    /// `$1` run id, `$2` now (µs): the pending retry is recorded cancelled; returns its
    /// `id` (none: not a pending retry).
    pub(crate) cancel_retry: Arc<str>,
    /// `$1` channel: tells other nodes that jobs changed (`None`: no other nodes).
    pub(crate) notify: Option<Arc<str>>,
    /// `$1` channel, `$2` payload: tells other nodes something (a cancel).
    pub(crate) notify_with: Option<Arc<str>>,
}

/// A job's columns, in the order `insert` binds them.
pub(crate) const COLUMNS: &str =
    "id, name, task, args, trigger, options, next_run_s, next_run_ns, paused";
