//! The `JobStore` contract as a test suite: every store (memory, SQLite, Postgres)
//! runs these same checks, so they agree on what the runtime may rely on.
//!
//! Call [`run_all`] with a factory of fresh, empty stores (in a store crate's
//! `#[tokio::test]`, or `#[sqlx::test]` for a database per test), or call single checks
//! from a store's own tests to see which part of the contract fails:
//!
//! ```
//! use std::sync::Arc;
//! use sched_core::store::{contract, JobStore, MemoryStore};
//!
//! # let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
//! # runtime.block_on(async {
//! contract::run_all(|| async { Arc::new(MemoryStore::new()) as Arc<dyn JobStore> }).await;
//! contract::claims_each_due_job_once(Arc::new(MemoryStore::new()), 1_000).await;
//! # });
//! ```
//!
//! The checks use only the trait's async methods: the calling test supplies the
//! runtime. Instants are explicit (never the wall clock), and every check starts from
//! an empty store. A check panics with a message naming the broken promise.
//!
//! What the checks pin down beyond the trait's docs:
//! - instants round-trip to the nanosecond, from before 1970 to year 2999 (jitter and
//!   `schedule(now)` produce nanoseconds; a store that truncates them can run an
//!   occurrence twice);
//! - ids compare byte-wise (Rust's `str` order, `COLLATE "C"` in SQL);
//! - `list_jobs` puts paused and unscheduled jobs last, ordered among themselves by
//!   next run time (unscheduled after scheduled), then id;
//! - a claim never starts an occurrence (job id, scheduled time) that is still
//!   running, even if a stale `update_job` wrote its time back.

// Test code: a failed expectation is a panic with a message, by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use serde_json::json;

use super::{
    AcquireRequest, Acquired, CancelRequest, ClaimedRun, JobPage, JobQuery, JobStore, Outcome,
    RunEnd, RunId, RunQuery, RunStatus, Runnable, SkipReason, SkippedRuns, RETRY_RECHECK,
};
use crate::clock::ManualClock;
use crate::error::{Error, Result};
use crate::job::{Job, JobId, JobOptions};
use crate::policy::Skipped;
use crate::trigger::{CalendarInterval, CronFields, Trigger};

/// The task name of the jobs the suite creates.
const TASK: &str = "contract_task";
/// The lease every claim asks for (no check depends on it expiring).
const LEASE: Duration = Duration::from_secs(30);

/// For stores that keep run history (not part of [`run_all`]: `MemoryStore` keeps
/// none): outcomes recorded by `complete` come back from `run_history`, newest first,
/// filtered by job, with their scheduled time, node, status and error text.
pub async fn run_history_records_outcomes(store: Arc<dyn JobStore>) {
    let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let job = Job::new(
        "sync",
        TASK,
        Trigger::interval(Duration::from_secs(60)).start(t0),
    )
    .schedule(t0)
    .unwrap();
    store.add_job(job, false).await.unwrap();
    let claim = |now: DateTime<Utc>| AcquireRequest {
        node: "n1".into(),
        now,
        limit: 10,
        lease: LEASE,
        runnable: None,
        ahead: Duration::ZERO,
    };
    let first = store.acquire(claim(t0)).await.unwrap().runs;
    let done = t0 + chrono::Duration::seconds(1);
    store
        .complete(first[0].run_id, Outcome::Success, done)
        .await
        .unwrap();
    let later = t0 + chrono::Duration::seconds(60);
    let second = store.acquire(claim(later)).await.unwrap().runs;
    let failed = Outcome::Error("boom".into());
    store
        .complete(second[0].run_id, failed, later)
        .await
        .unwrap();
    let history = store.run_history(Some("sync"), 10).await.unwrap();
    let seen: Vec<(&str, Option<&str>)> = history
        .iter()
        .map(|r| (r.status.as_str(), r.error.as_deref()))
        .collect();
    assert_eq!(
        seen,
        vec![("error", Some("boom")), ("success", None)],
        "history, newest first"
    );
    assert_eq!((history[1].scheduled, history[1].node.as_str()), (t0, "n1"));
    assert_eq!(history[1].finished, Some(done), "finish time recorded");
    let other = store.run_history(Some("other"), 10).await.unwrap();
    assert!(other.is_empty(), "history filtered by job");
    assert_eq!(
        store.run_history(None, 1).await.unwrap().len(),
        1,
        "limit applies"
    );
    assert!(store.keeps_history(), "a store with a history says so");
    let errors = store
        .query_runs(&RunQuery::new().status(RunStatus::Error))
        .await
        .unwrap();
    assert_eq!(errors.len(), 1, "filtered by status: {errors:?}");
    assert_eq!(errors[0].error.as_deref(), Some("boom"));
    let older = store
        .query_runs(&RunQuery::new().job("sync").before(errors[0].run_id))
        .await
        .unwrap();
    assert_eq!(
        older.iter().map(|r| r.status).collect::<Vec<_>>(),
        [RunStatus::Success],
        "the next page: runs older than the last one shown"
    );
    let by_node = |node: &'static str| {
        let store = store.clone();
        async move {
            store
                .query_runs(&RunQuery::new().node(node))
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        (by_node("n1").await, by_node("n2").await),
        (2, 0),
        "filtered by node"
    );
}

/// `query_jobs` pages `list_jobs`' order, searching ids, names and tasks in any case,
/// and counts every match.
pub async fn query_jobs_pages_and_searches(store: Arc<dyn JobStore>) {
    let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    for i in 0..25u32 {
        let trigger = Trigger::interval(Duration::from_secs(60))
            .start(t0 + chrono::Duration::seconds(i.into()));
        let name = if i % 5 == 0 { "Nightly-Report" } else { "sync" };
        let job = Job::new(format!("job-{i:02}"), TASK, trigger)
            .name(name)
            .schedule(t0)
            .unwrap();
        store.add_job(job, false).await.unwrap();
    }
    let ids = |page: &JobPage| {
        page.jobs
            .iter()
            .map(|j| j.id.to_string())
            .collect::<Vec<_>>()
    };
    let first = store.query_jobs(&JobQuery::new().limit(10)).await.unwrap();
    assert_eq!(first.total, 25);
    assert_eq!(ids(&first).first().map(String::as_str), Some("job-00"));
    assert_eq!(first.jobs.len(), 10);
    let last = store
        .query_jobs(&JobQuery::new().offset(20).limit(10))
        .await
        .unwrap();
    assert_eq!(
        ids(&last),
        ["job-20", "job-21", "job-22", "job-23", "job-24"],
        "the last page, in next-run order"
    );
    let found = store
        .query_jobs(&JobQuery::new().search("nightly"))
        .await
        .unwrap();
    assert_eq!(found.total, 5, "search in names, any case");
    assert_eq!(
        ids(&found),
        ["job-00", "job-05", "job-10", "job-15", "job-20"]
    );
    let by_id = store
        .query_jobs(&JobQuery::new().search("JOB-1"))
        .await
        .unwrap();
    assert_eq!(by_id.total, 10, "search in ids");
    let by_task = store
        .query_jobs(&JobQuery::new().search("contract_"))
        .await
        .unwrap();
    assert_eq!(by_task.total, 25, "search in tasks");
    let none = store
        .query_jobs(&JobQuery::new().search("%"))
        .await
        .unwrap();
    assert_eq!(none.total, 0, "search text is literal, not a pattern");
    let beyond = store
        .query_jobs(&JobQuery::new().offset(100))
        .await
        .unwrap();
    assert_eq!((beyond.jobs.len(), beyond.total), (0, 25));
}

/// Runs every check of the contract, each on a fresh store from `make_store`.
///
/// `make_store` must return an empty store each time (a new database or schema, as
/// `#[sqlx::test]` gives). Panics at the first broken promise.
pub async fn run_all<F, Fut>(make_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn JobStore>>,
{
    add_and_get(make_store().await).await;
    add_jobs_adds_all_or_none(make_store().await).await;
    duplicate_id_rejected(make_store().await).await;
    replace_existing_overwrites(make_store().await).await;
    update_job_overwrites(make_store().await).await;
    remove_job_returns_job(make_store().await).await;
    purge_job_removes_a_row(make_store().await).await;
    remove_all_jobs_counts(make_store().await).await;
    list_jobs_order(make_store().await).await;
    query_jobs_pages_and_searches(make_store().await).await;
    round_trip_triggers(make_store().await).await;
    round_trip_args_and_options(make_store().await).await;
    round_trip_ids(make_store().await).await;
    round_trip_instants(make_store().await).await;
    next_run_time_earliest_unpaused(make_store().await).await;
    acquire_only_due(make_store().await).await;
    acquire_limit_earliest_first(make_store().await).await;
    acquire_skips_paused(make_store().await).await;
    acquire_advances_next_run_time(make_store().await).await;
    occurrence_claimed_once(make_store().await).await;
    stale_update_no_duplicate_run(make_store().await).await;
    max_instances_across_nodes(make_store().await).await;
    misfire_grace_missed(make_store().await).await;
    coalesce_runs_newest(make_store().await).await;
    no_coalesce_runs_each_in_order(make_store().await).await;
    date_trigger_finishes(make_store().await).await;
    a_trigger_whose_search_gives_up_keeps_its_job(make_store().await).await;
    claim_now_runs_once_whatever_the_schedule(make_store().await).await;
    complete_unknown_run(make_store().await).await;
    release_frees_node_runs(make_store().await).await;
    running_counts(make_store().await).await;
    complete_many_reports_each(make_store().await).await;
    acquire_only_runnable_tasks(make_store().await).await;
    runnable_filter_follows_changes(make_store().await).await;
    census_counts_jobs_and_names_the_unrunnable(make_store().await).await;
    claimed_runs_outlive_job(make_store().await).await;
    batched_claims(make_store().await).await;
    concurrent_claims(make_store().await).await;
    claims_ahead(make_store().await).await;
    claims_ahead_one_occurrence_per_job(make_store().await).await;
    claimed_occurrence_made_due_again_is_not_decided_twice(make_store().await).await;
    unclaim_gives_a_run_claimed_ahead_back(make_store().await).await;
    cancel_requests_reach_the_holder(make_store().await).await;
    sync_jobs_makes_the_set_exactly_the_declared_jobs(make_store().await).await;
    queue_one_keeps_one_run_waiting_until_an_instance_frees(make_store().await).await;
    cancel_previous_asks_the_running_run_to_stop(make_store().await).await;
    a_retry_is_a_stored_attempt_of_the_same_occurrence(make_store().await).await;
    a_retry_waits_for_an_instance_and_goes_with_its_job(make_store().await).await;
    a_runs_result_is_kept_with_it(make_store().await).await;
    backfill_claims_each_past_occurrence_once_as_one_backlog(make_store().await).await;
    a_done_job_is_kept_while_a_retry_of_it_is_pending(make_store().await).await;
}

/// A job whose trigger is done while a retry of an earlier occurrence is pending or
/// running — its last occurrence skipped at the limit — is kept (unscheduled) until
/// that retry's last attempt ended; then the store removes it and says so
/// (`take_removed`). Nothing of it is lost, nothing left behind.
pub async fn a_done_job_is_kept_while_a_retry_of_it_is_pending(store: Arc<dyn JobStore>) {
    let ends = Job::new(
        "e",
        TASK,
        Trigger::interval(Duration::from_secs(60))
            .start(t(0))
            .end(t(60)),
    )
    .options(retrying())
    .schedule(t(0))
    .expect("valid");
    add(&store, &ends).await;
    let first = claim(&store, "n1", t(0), 10).await;
    fail(&store, find_run(&first, "e").run_id, t(1), t(55)).await;
    let retry = claim(&store, "n1", t(55), 10).await;
    assert_eq!(find_run(&retry, "e").attempt, 2);
    // Its last occurrence comes due while the retry runs: skipped at the limit.
    let last = claim(&store, "n1", t(60), 10).await;
    assert_eq!(
        skipped(&last, "e", SkipReason::MaxInstances),
        Some(single(t(60)))
    );
    assert!(last.finished.is_empty(), "kept: a retry of it runs");
    let kept = get(&store, "e").await;
    assert_eq!(kept.next_run_time, None, "its trigger is done");
    let _ = store.take_removed();
    fail(&store, retry.runs[0].run_id, t(61), t(66)).await;
    assert!(
        store.get_job("e").await.is_ok(),
        "kept: attempt 3 is pending"
    );
    let third = claim(&store, "n2", t(66), 10).await;
    assert_eq!(
        (
            find_run(&third, "e").scheduled,
            find_run(&third, "e").attempt
        ),
        (t(0), 3)
    );
    complete(&store, third.runs[0].run_id).await;
    expect_job_not_found(store.get_job("e").await, "e", "gone after the last attempt");
    assert_eq!(
        store.take_removed(),
        vec![JobId::from("e")],
        "the store says it removed it"
    );
    assert!(store.take_removed().is_empty(), "once");
}

/// `claim_backfill` records a run for each past occurrence given, as one backlog in
/// order (`catch_up` = the instances free, `backfill` set), leaving the schedule and the
/// paused flag alone; an occurrence running, or recorded before (a history's runs, or
/// a backfill's), is passed over; a job with no instance free gets a skip.
pub async fn backfill_claims_each_past_occurrence_once_as_one_backlog(store: Arc<dyn JobStore>) {
    let two = JobOptions::default().max_instances(2);
    add(&store, &paused(every("b", 60, t(0), two))).await;
    let times = [t(0), t(60), t(120)];
    let first = store
        .claim_backfill("b", &times, request("n1", t(600)))
        .await
        .expect("claim_backfill");
    let claimed: Vec<(DateTime<Utc>, Option<u32>, bool)> = first
        .runs
        .iter()
        .map(|r| (r.scheduled, r.catch_up, r.backfill))
        .collect();
    assert_eq!(
        claimed,
        times
            .iter()
            .map(|at| (*at, Some(2), true))
            .collect::<Vec<_>>(),
        "every occurrence, in order, two at a time"
    );
    let job = get(&store, "b").await;
    assert!(job.paused, "the paused flag stays");
    assert_eq!(job.next_run_time, Some(t(0)), "the schedule stays");
    assert_eq!(running(&store, "b").await, 3);
    for run in &first.runs[..2] {
        complete(&store, run.run_id).await;
    }
    // t(0), t(60) ran; t(120) still runs: only t(180) is new.
    let again = store
        .claim_backfill("b", &[t(0), t(60), t(120), t(180)], request("n2", t(601)))
        .await
        .expect("claim_backfill again");
    assert_eq!(run_times(&again, "b"), vec![t(180)], "each occurrence once");
    assert!(again.skipped.is_empty());
    // Two running (t(120), t(180)): no instance free.
    let full = store
        .claim_backfill("b", &[t(240)], request("n1", t(602)))
        .await
        .expect("claim_backfill at the limit");
    assert!(full.runs.is_empty());
    assert_eq!(
        skipped(&full, "b", SkipReason::MaxInstances).map(|s| s.count),
        Some(1)
    );
    expect_job_not_found(
        store
            .claim_backfill("nope", &[t(0)], request("n1", t(603)))
            .await,
        "nope",
        "an unknown job",
    );
}

/// A run's result (`RunEnd::result`, JSON text) is recorded with its end: a store that
/// keeps history returns it, exactly, with the run; a run without one has none.
pub async fn a_runs_result_is_kept_with_it(store: Arc<dyn JobStore>) {
    add(&store, &hourly("with", t(0))).await;
    add(&store, &hourly("without", t(0))).await;
    let claimed = claim(&store, "n1", t(0), 10).await;
    let value = r#"{"rows":1200,"note":"ünïcødé \"q\" ✓","nested":[1,{"a":null}]}"#;
    let ends = vec![
        RunEnd::new(find_run(&claimed, "with").run_id, Outcome::Success, t(1))
            .with_result(Some(value.to_owned())),
        RunEnd::new(find_run(&claimed, "without").run_id, Outcome::Success, t(1)),
    ];
    let results = store.complete_many(ends).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    if store.keeps_history() {
        let with = store.run_history(Some("with"), 5).await.expect("history");
        assert_eq!(
            with[0].result.as_deref(),
            Some(value),
            "the result, exactly"
        );
        let decoded: serde_json::Value = with[0].result_as().expect("JSON").expect("a result");
        assert_eq!(decoded["rows"], 1200);
        let without = store
            .run_history(Some("without"), 5)
            .await
            .expect("history");
        assert_eq!(without[0].result, None);
    }
}

/// Records that run `run_id` failed at `at`, retried at `retry_at`.
async fn fail(
    store: &Arc<dyn JobStore>,
    run_id: RunId,
    at: DateTime<Utc>,
    retry_at: DateTime<Utc>,
) {
    let end = RunEnd::new(run_id, Outcome::Error("flaky".into()), at).with_retry_at(Some(retry_at));
    let results = store.complete_many(vec![end]).await;
    assert!(
        matches!(results[..], [Ok(())]),
        "recording a failed run: {results:?}"
    );
}

fn retrying() -> JobOptions {
    JobOptions::default().retry(crate::job::RetryPolicy::new(5).fixed(Duration::from_secs(5)))
}

/// A run ended with `retry_at` leaves its next attempt stored: due then (the store's
/// next due time says so), claimed once by any node, as the same occurrence (its
/// scheduled time) with the next attempt number; the job's schedule does not move. A
/// one-off job is kept while its run may still retry, and goes after its last attempt.
pub async fn a_retry_is_a_stored_attempt_of_the_same_occurrence(store: Arc<dyn JobStore>) {
    add(&store, &every("r", 60, t(0), retrying())).await;
    let first = claim(&store, "n1", t(0), 10).await;
    assert_eq!(find_run(&first, "r").attempt, 1, "a first run is attempt 1");
    fail(&store, first.runs[0].run_id, t(1), t(6)).await;
    assert_eq!(
        store.next_due(None).await.expect("next_due"),
        Some(t(6)),
        "the pending retry is what is due first"
    );
    assert_eq!(
        get(&store, "r").await.next_run_time,
        Some(t(60)),
        "the schedule stays"
    );
    assert_nothing(&claim(&store, "n2", t(5), 10).await, "not due yet");
    let retry = claim(&store, "n2", t(6), 10).await;
    let run = find_run(&retry, "r");
    assert_eq!(
        (run.scheduled, run.attempt),
        (t(0), 2),
        "attempt 2 of the t(0) occurrence"
    );
    assert_eq!(
        running(&store, "r").await,
        1,
        "a retry counts as a running instance"
    );
    assert_nothing(
        &claim(&store, "n1", t(7), 10).await,
        "an attempt is claimed once",
    );
    fail(&store, run.run_id, t(8), t(13)).await;
    let third = claim(&store, "n1", t(13), 10).await;
    assert_eq!(find_run(&third, "r").attempt, 3);
    complete(&store, third.runs[0].run_id).await;
    assert_eq!(store.next_due(None).await.expect("next_due"), Some(t(60)));
    if store.keeps_history() {
        let history = store.run_history(Some("r"), 10).await.expect("history");
        let attempts: Vec<(u32, RunStatus)> =
            history.iter().map(|r| (r.attempt, r.status)).collect();
        assert_eq!(
            attempts,
            [
                (3, RunStatus::Success),
                (2, RunStatus::Error),
                (1, RunStatus::Error)
            ],
            "every attempt in the history, with its number"
        );
        assert!(history.iter().all(|r| r.scheduled == t(0)));
    }
    // A one-off job whose run may retry is kept until its last attempt ended.
    let mut once_job = once("o", t(100));
    once_job.options = retrying();
    add(&store, &once_job).await;
    let only = claim(&store, "n1", t(100), 10).await;
    assert!(only.finished.is_empty(), "kept: its run may be retried");
    fail(&store, find_run(&only, "o").run_id, t(101), t(106)).await;
    assert!(
        store.get_job("o").await.is_ok(),
        "kept while a retry is pending"
    );
    let again = claim(&store, "n2", t(106), 10).await;
    let run = find_run(&again, "o");
    assert_eq!((run.scheduled, run.attempt), (t(100), 2));
    complete(&store, run.run_id).await;
    expect_job_not_found(store.get_job("o").await, "o", "gone after its last attempt");
}

/// A retry due while its job has no instance free waits for one: claims look at it
/// again `RETRY_RECHECK` later (no node spins on it, none waits on one node's notice),
/// and `claim_waiting` starts it as soon as a run of the job ends. A paused job's retry
/// waits for the resume; a removed job's is dropped.
pub async fn a_retry_waits_for_an_instance_and_goes_with_its_job(store: Arc<dyn JobStore>) {
    add(&store, &every("w", 60, t(0), retrying())).await;
    let first = claim(&store, "n1", t(0), 10).await;
    fail(&store, first.runs[0].run_id, t(1), t(6)).await;
    let busy = store
        .claim_now("w", request("n1", t(2)))
        .await
        .expect("claim_now");
    assert_eq!(busy.runs.len(), 1);
    assert_nothing(
        &claim(&store, "n2", t(6), 10).await,
        "at its limit: the retry waits",
    );
    assert_eq!(
        store.next_due(None).await.expect("next_due"),
        Some(t(6) + RETRY_RECHECK),
        "a retry that came due at the limit is looked at again a moment later"
    );
    assert_nothing(
        &claim(&store, "n2", t(6) + RETRY_RECHECK, 10).await,
        "still at its limit: it waits on",
    );
    complete(&store, busy.runs[0].run_id).await;
    let started = store
        .claim_waiting(&["w".into()], request("n2", t(7)))
        .await
        .expect("claim_waiting");
    let run = find_run(&started, "w");
    assert_eq!((run.scheduled, run.attempt), (t(0), 2));
    // Paused: a due retry stays pending, not claimed, not due.
    fail(&store, run.run_id, t(8), t(13)).await;
    update(&store, &paused(get(&store, "w").await)).await;
    assert_nothing(
        &claim(&store, "n1", t(13), 10).await,
        "paused: no retry starts",
    );
    assert_eq!(store.next_due(None).await.expect("next_due"), None);
    let mut resumed = get(&store, "w").await;
    resumed.paused = false;
    update(&store, &resumed).await;
    let after = claim(&store, "n1", t(14), 10).await;
    assert_eq!(find_run(&after, "w").attempt, 3, "resumed: the retry runs");
    // Removed: its pending retry goes with it, and a job added again under its id does
    // not inherit it.
    fail(&store, after.runs[0].run_id, t(15), t(20)).await;
    store.remove_job("w").await.expect("removed");
    add(&store, &every("w", 60, t(600), retrying())).await;
    assert_nothing(
        &claim(&store, "n1", t(30), 10).await,
        "the retry went with its job",
    );
    assert_eq!(store.next_due(None).await.expect("next_due"), Some(t(600)));
}

/// `Overlap::QueueOne`: a run due while the job is at `max_instances` waits (no run,
/// no report); a later one due meanwhile is skipped; when the running run ends,
/// `claim_waiting` starts the waiting one — once, at its own scheduled time, from any
/// node. Pausing the job drops a waiting run.
pub async fn queue_one_keeps_one_run_waiting_until_an_instance_frees(store: Arc<dyn JobStore>) {
    let queue = JobOptions::default().overlap(crate::job::Overlap::QueueOne);
    add(&store, &every("q", 60, t(0), queue.clone())).await;
    let first = claim(&store, "n1", t(0), 10).await;
    assert_eq!(run_times(&first, "q"), vec![t(0)]);
    let at_limit = claim(&store, "n2", t(60), 10).await;
    assert_nothing(&at_limit, "due at the limit: it waits, unreported");
    assert_eq!(
        get(&store, "q").await.next_run_time,
        Some(t(120)),
        "the schedule goes on"
    );
    let again = claim(&store, "n2", t(120), 10).await;
    assert!(again.runs.is_empty(), "one waits at most");
    assert_eq!(
        skipped(&again, "q", SkipReason::MaxInstances),
        Some(single(t(120))),
        "the next one due meanwhile is skipped"
    );
    let none = store
        .claim_waiting(&["q".into()], request("n2", t(121)))
        .await
        .expect("claim_waiting");
    assert!(none.runs.is_empty(), "no instance free yet: still waiting");
    complete(&store, first.runs[0].run_id).await;
    let started = store
        .claim_waiting(&["q".into(), "unknown".into()], request("n2", t(122)))
        .await
        .expect("claim_waiting");
    assert_eq!(
        run_times(&started, "q"),
        vec![t(60)],
        "the waiting run, at its own time"
    );
    assert_eq!(running(&store, "q").await, 1);
    let twice = store
        .claim_waiting(&["q".into()], request("n1", t(122)))
        .await
        .expect("claim_waiting again");
    assert!(twice.runs.is_empty(), "a waiting run starts once");
    complete(&store, started.runs[0].run_id).await;
    // A claim with an instance free starts a waiting run first, before what is due.
    let busy = claim(&store, "n1", t(180), 10).await;
    assert_eq!(run_times(&busy, "q"), vec![t(180)]);
    assert_nothing(&claim(&store, "n1", t(240), 10).await, "waits again");
    complete(&store, busy.runs[0].run_id).await;
    let both = claim(&store, "n1", t(300), 10).await;
    assert_eq!(run_times(&both, "q"), vec![t(240)], "the waiting run first");
    assert!(
        both.skipped.is_empty(),
        "the run due now waits behind it (one instance): {:?}",
        both.skipped
    );
    // Paused, the waiting run is dropped.
    update(&store, &paused(get(&store, "q").await)).await;
    complete(&store, both.runs[0].run_id).await;
    let dropped = store
        .claim_waiting(&["q".into()], request("n1", t(301)))
        .await
        .expect("claim_waiting of a paused job");
    assert!(
        dropped.runs.is_empty(),
        "a paused job starts no waiting run"
    );
    let mut resumed = get(&store, "q").await;
    resumed.paused = false;
    update(&store, &resumed).await;
    let after = claim(&store, "n1", t(360), 10).await;
    assert_eq!(
        run_times(&after, "q"),
        vec![t(360)],
        "nothing waited through the pause"
    );
}

/// `Overlap::CancelPrevious`: a run due at the limit asks the oldest running run to
/// stop (its id in `Acquired::cancel`, the request recorded as `request_cancel` records
/// one) and waits for its instance; a newer one due meanwhile takes its place (the older
/// is skipped). When the cancelled run ends, the newest starts.
pub async fn cancel_previous_asks_the_running_run_to_stop(store: Arc<dyn JobStore>) {
    let options = JobOptions::default().overlap(crate::job::Overlap::CancelPrevious);
    add(&store, &every("c", 60, t(0), options)).await;
    let first = claim(&store, "n1", t(0), 10).await;
    let old = first.runs[0].run_id;
    let second = claim(&store, "n2", t(60), 10).await;
    assert!(
        second.runs.is_empty() && second.skipped.is_empty(),
        "{second:?}"
    );
    assert_eq!(second.cancel, vec![old], "the running run is asked to stop");
    let renewal = store
        .heartbeat("n1", &ManualClock::new(t(61)), LEASE)
        .await
        .expect("heartbeat");
    if !renewal.runs.is_empty() {
        assert_eq!(renewal.cancelled, vec![old], "its holder hears of it");
    }
    let third = claim(&store, "n2", t(120), 10).await;
    assert!(third.runs.is_empty());
    assert_eq!(
        skipped(&third, "c", SkipReason::MaxInstances),
        Some(single(t(60))),
        "the newer run waits in place of the older"
    );
    store
        .complete(old, Outcome::Cancelled, t(121))
        .await
        .expect("complete");
    let started = store
        .claim_waiting(&["c".into()], request("n2", t(121)))
        .await
        .expect("claim_waiting");
    assert_eq!(run_times(&started, "c"), vec![t(120)]);
}

/// A claim request of `node` at `now` (for `claim_waiting`).
fn request(node: &str, now: DateTime<Utc>) -> AcquireRequest {
    AcquireRequest::new(node, now).lease(LEASE)
}

/// `sync_jobs`: after it, the set's jobs are exactly the declared ones — added
/// (scheduled from now), updated (the schedule kept for an unchanged trigger, restarted
/// for a changed one; an operator's pause kept), removed — and jobs outside the set are
/// untouched. A declaration naming a job outside the set, or an id twice, changes nothing.
pub async fn sync_jobs_makes_the_set_exactly_the_declared_jobs(store: Arc<dyn JobStore>) {
    let every =
        |id: &str, secs: u64| Job::new(id, "report", Trigger::interval(Duration::from_secs(secs)));
    let next = |store: &Arc<dyn JobStore>, id: &'static str| {
        let store = Arc::clone(store);
        async move {
            store
                .get_job(id)
                .await
                .unwrap_or_else(|e| panic!("{id}: {e}"))
        }
    };
    add(&store, &every("loose", 60).schedule(t(0)).expect("valid")).await;
    let first = store
        .sync_jobs("deploy", vec![every("a", 60), every("b", 60)], t(0))
        .await
        .expect("first sync");
    assert_eq!(first.added, ["a", "b"]);
    assert!(first.updated.is_empty() && first.unchanged.is_empty() && first.removed.is_empty());
    assert_eq!(next(&store, "a").await.next_run_time, Some(t(60)));

    // An operator pauses b; the same declaration later changes nothing, b stays paused.
    let mut paused = next(&store, "b").await;
    paused.pause();
    store.update_job(paused).await.expect("pause b");
    let again = store
        .sync_jobs("deploy", vec![every("a", 60), every("b", 60)], t(30))
        .await
        .expect("same declaration");
    assert_eq!(again.unchanged, ["a", "b"], "{again:?}");
    assert!(!again.changed());
    assert_eq!(
        next(&store, "a").await.next_run_time,
        Some(t(60)),
        "schedule kept"
    );
    assert!(
        next(&store, "b").await.paused,
        "an operator's pause survives a deploy"
    );

    // A deploy drops a, changes b's trigger, adds c.
    let deploy = store
        .sync_jobs("deploy", vec![every("b", 120), every("c", 60)], t(30))
        .await
        .expect("changed declaration");
    assert_eq!(
        (
            deploy.added.as_slice(),
            deploy.updated.as_slice(),
            deploy.removed.as_slice()
        ),
        (&["c".into()][..], &["b".into()][..], &["a".into()][..]),
        "{deploy:?}"
    );
    assert!(matches!(
        store.get_job("a").await,
        Err(Error::JobNotFound(_))
    ));
    let b = next(&store, "b").await;
    assert_eq!(
        b.next_run_time,
        Some(t(150)),
        "a changed trigger restarts from now"
    );
    assert!(b.paused);
    assert_eq!(next(&store, "c").await.next_run_time, Some(t(90)));
    assert_eq!(
        next(&store, "loose").await.next_run_time,
        Some(t(60)),
        "outside: untouched"
    );

    // Refused declarations change nothing.
    match store
        .sync_jobs("deploy", vec![every("b", 120), every("loose", 60)], t(40))
        .await
    {
        Err(Error::JobOutsideSet { job_id, set, owner }) => {
            assert_eq!(
                (job_id.as_str(), set.as_str(), owner),
                ("loose", "deploy", None)
            );
        }
        other => panic!("a job outside the set: {other:?}"),
    }
    match store.sync_jobs("other", vec![every("c", 5)], t(40)).await {
        Err(Error::JobOutsideSet { owner, .. }) => assert_eq!(owner.as_deref(), Some("deploy")),
        other => panic!("a job of another set: {other:?}"),
    }
    assert!(matches!(
        store
            .sync_jobs("deploy", vec![every("d", 60), every("d", 30)], t(40))
            .await,
        Err(Error::DuplicateJobId(id)) if id.as_str() == "d"
    ));
    assert!(matches!(
        store.get_job("d").await,
        Err(Error::JobNotFound(_))
    ));
    assert_eq!(next(&store, "c").await.next_run_time, Some(t(90)));

    // An empty declaration empties the set, and only the set.
    let emptied = store
        .sync_jobs("deploy", Vec::new(), t(50))
        .await
        .expect("empty declaration");
    assert_eq!(emptied.removed, ["b", "c"]);
    let left: Vec<String> = store
        .list_jobs()
        .await
        .expect("list")
        .into_iter()
        .map(|job| job.id.to_string())
        .collect();
    assert_eq!(left, ["loose"]);
}

/// `request_cancel` names the node running a run, and the holder's heartbeat reports
/// the request (a store that renews runs); a run that ended is `Ended`, an id the
/// store never issued is `RunNotFound`; `request_cancel_job` returns a job's running
/// runs. Nothing about the run changes but the request: it still runs, and completes.
pub async fn cancel_requests_reach_the_holder(store: Arc<dyn JobStore>) {
    add(&store, &every("x", 60, t(0), JobOptions::default())).await;
    add(&store, &every("idle", 60, t(1_000), JobOptions::default())).await;
    let claimed = claim(&store, "n1", t(0), 10).await;
    assert_eq!(run_ids_of(&claimed), vec!["x"]);
    let run = claimed.runs[0].run_id;
    assert_eq!(
        store.request_cancel(run).await.expect("request_cancel"),
        CancelRequest::Running { node: "n1".into() },
        "a running run: its node is asked"
    );
    assert_eq!(running(&store, "x").await, 1, "asking does not end it");
    let renewal = store
        .heartbeat("n1", &ManualClock::new(t(1)), LEASE)
        .await
        .expect("heartbeat");
    if !renewal.runs.is_empty() {
        assert_eq!(renewal.runs, vec![run]);
        assert_eq!(
            renewal.cancelled,
            vec![run],
            "the holder's heartbeat reports it"
        );
    }
    assert_eq!(
        store
            .request_cancel_job("x")
            .await
            .expect("request_cancel_job"),
        vec![run]
    );
    assert!(
        store
            .request_cancel_job("idle")
            .await
            .expect("idle job")
            .is_empty(),
        "a job with no run running"
    );
    assert!(store
        .request_cancel_job("missing")
        .await
        .expect("unknown job")
        .is_empty());
    store
        .complete(run, Outcome::Cancelled, t(2))
        .await
        .expect("a run asked to stop completes");
    assert_eq!(
        store.request_cancel(run).await.expect("an ended run"),
        CancelRequest::Ended
    );
    assert!(
        matches!(
            store.request_cancel(RunId(i64::MAX)).await,
            Err(Error::RunNotFound(id)) if id == i64::MAX
        ),
        "an id never issued"
    );
}

/// With `ahead`, a claim also takes the next run of jobs due up to `now + ahead`: one
/// occurrence each, at its own time (never coalesced, never missed), and only for a job
/// with a free instance. A job at its limit is left as it was (decided when due), and
/// jobs beyond the horizon are not touched.
pub async fn claims_ahead(store: Arc<dyn JobStore>) {
    let ms = chrono::Duration::milliseconds;
    let now = t(100);
    let options = JobOptions::default;
    add(&store, &every("busy", 2, t(99), options())).await;
    let busy_run = claim(&store, "n1", t(99), 10).await.runs;
    assert_eq!(busy_run.len(), 1, "busy runs from t(99)");
    add(&store, &every("due", 10, now, options())).await;
    add(&store, &every("soon", 10, t(101), options())).await;
    // Every second from t(100.5): two occurrences inside the horizon, one claimed.
    add(&store, &every("fast", 1, now + ms(500), options())).await;
    add(&store, &every("far", 10, t(103), options())).await;

    let ahead = |now| ahead_request(now, Duration::from_secs(2));
    let acquired = store.acquire(ahead(now)).await.unwrap();
    let runs: Vec<(&str, DateTime<Utc>)> = acquired
        .runs
        .iter()
        .map(|r| (r.job.id.as_str(), r.scheduled))
        .collect();
    assert_eq!(
        runs,
        vec![("due", now), ("fast", now + ms(500)), ("soon", t(101))],
        "claimed ahead: one run per job in the horizon, at its own time, earliest first"
    );
    assert!(
        acquired.skipped.is_empty(),
        "nothing coalesced, missed or over the limit: {:?}",
        acquired.skipped
    );
    for (id, next) in [
        ("due", Some(t(110))),
        ("fast", Some(now + ms(1500))),
        ("soon", Some(t(111))),
        ("busy", Some(t(101))),
        ("far", Some(t(103))),
    ] {
        assert_eq!(
            get(&store, id).await.next_run_time,
            next,
            "{id}: next run time after a claim ahead"
        );
    }
    // Claimed-ahead runs hold their instance: nothing more until they end.
    let again = store.acquire(ahead(now)).await.unwrap();
    assert!(
        again.runs.is_empty() && again.skipped.is_empty(),
        "a second claim takes nothing: {:?} {:?}",
        run_ids_of(&again),
        again.skipped
    );
    complete(&store, busy_run[0].run_id).await;
    let freed = store.acquire(ahead(now)).await.unwrap();
    assert_eq!(
        freed
            .runs
            .iter()
            .map(|r| (r.job.id.as_str(), r.scheduled))
            .collect::<Vec<_>>(),
        vec![("busy", t(101))],
        "a job whose instance was freed is claimed ahead"
    );
}

/// A claim ahead takes one occurrence of a job, even when several fall inside the
/// horizon and `max_instances` would allow more.
pub async fn claims_ahead_one_occurrence_per_job(store: Arc<dyn JobStore>) {
    let ms = chrono::Duration::milliseconds;
    let now = t(100);
    let options = JobOptions::default().max_instances(3).coalesce(false);
    add(&store, &every("multi", 1, now + ms(500), options)).await;
    let request = AcquireRequest {
        node: "n1".into(),
        now,
        limit: 10,
        lease: LEASE,
        runnable: None,
        ahead: Duration::from_millis(2500),
    };
    let acquired = store.acquire(request).await.unwrap();
    assert_eq!(
        run_times(&acquired, "multi"),
        vec![now + ms(500)],
        "one occurrence per job per claim"
    );
    assert_eq!(
        get(&store, "multi").await.next_run_time,
        Some(now + ms(1500))
    );
}

/// A run claimed ahead and given back (`unclaim`) is forgotten — no instance held, its
/// occurrence claimed again, once — and its occurrence is its job's next run time again
/// while the job still has it: changed or paused, yes; rescheduled onto other times or
/// removed, no. A run unknown or ended is passed over.
pub async fn unclaim_gives_a_run_claimed_ahead_back(store: Arc<dyn JobStore>) {
    let ms = chrono::Duration::milliseconds;
    let now = t(100);
    let one = JobOptions::default().max_instances(1);
    for id in ["changed", "paused", "moved", "removed"] {
        add(&store, &every(id, 10, now + ms(500), one.clone())).await;
    }
    let ahead = |now| ahead_request(now, Duration::from_secs(1));
    let claimed = store.acquire(ahead(now)).await.unwrap();
    assert_eq!(claimed.runs.len(), 4, "each claimed ahead");
    let run_of = |id: &str| find_run(&claimed, id).run_id;
    // The changes, as the scheduler makes them before giving the runs back.
    let mut changed = get(&store, "changed").await;
    changed = changed.name("renamed");
    update(&store, &changed).await;
    let mut paused = get(&store, "paused").await;
    paused.pause();
    update(&store, &paused).await;
    let mut moved = get(&store, "moved").await;
    moved
        .reschedule(
            Trigger::interval(Duration::from_secs(7)).start(now + ms(300)),
            now,
        )
        .unwrap();
    update(&store, &moved).await;
    store.remove_job("removed").await.unwrap();
    let ids: Vec<RunId> = ["changed", "paused", "moved", "removed"]
        .iter()
        .map(|id| run_of(id))
        .collect();
    assert_eq!(store.unclaim(&ids).await.unwrap(), 4, "all four given back");
    for id in ["changed", "paused", "moved"] {
        assert_eq!(running(&store, id).await, 0, "{id}: no instance held");
    }
    assert_eq!(
        get(&store, "changed").await.next_run_time,
        Some(now + ms(500)),
        "changed: its occurrence is its next run time again"
    );
    assert_eq!(
        get(&store, "paused").await.next_run_time,
        Some(now + ms(500)),
        "paused: kept for a resume before its time"
    );
    assert_eq!(
        get(&store, "moved").await.next_run_time,
        Some(now + ms(300)),
        "rescheduled: the new trigger's, not the old occurrence"
    );
    assert_eq!(
        store.unclaim(&ids).await.unwrap(),
        0,
        "given back once; again: passed over"
    );
    assert_eq!(store.unclaim(&[RunId(987_654_321)]).await.unwrap(), 0);
    // Claimed again: the changed job's occurrence, once, as a new run.
    let again = store.acquire(ahead(now)).await.unwrap();
    assert_eq!(run_times(&again, "changed"), vec![now + ms(500)]);
    assert_eq!(run_times(&again, "moved"), vec![now + ms(300)]);
    assert!(
        run_times(&again, "paused").is_empty(),
        "paused: not claimed"
    );
    let rerun = find_run(&again, "changed");
    assert_ne!(rerun.run_id, run_of("changed"), "a new run");
    assert_eq!(rerun.job.name, "renamed", "claimed as changed");
    assert!(
        store.acquire(ahead(now)).await.unwrap().runs.is_empty(),
        "and only once"
    );
    // A run that ended is not given back.
    store
        .complete(rerun.run_id, Outcome::Success, now + ms(600))
        .await
        .unwrap();
    assert_eq!(store.unclaim(&[rerun.run_id]).await.unwrap(), 0);
    assert_eq!(
        get(&store, "changed").await.next_run_time,
        Some(now + ms(10_500)),
        "an ended run leaves the schedule as it is"
    );
}

/// An occurrence whose run was claimed — still running, or ended — and that becomes
/// due again (a stale `update_job`, or the next run time moved back over a run claimed
/// ahead) is passed over: no second run, and no skip reported for it.
pub async fn claimed_occurrence_made_due_again_is_not_decided_twice(store: Arc<dyn JobStore>) {
    let job = every("j", 10, t(100), JobOptions::default());
    add(&store, &job).await;
    let first = claim(&store, "n1", t(100), 10).await;
    assert_eq!(run_times(&first, "j"), vec![t(100)]);
    // Written back while its run executes.
    let mut stale = job.clone();
    stale.next_run_time = Some(t(100));
    update(&store, &stale).await;
    let again = claim(&store, "n1", t(100), 10).await;
    assert!(
        again.runs.is_empty() && again.skipped.is_empty(),
        "a running occurrence made due again: no run, no skip ({:?}, {:?})",
        run_ids_of(&again),
        again.skipped
    );
    assert_eq!(get(&store, "j").await.next_run_time, Some(t(110)));
    // Written back after its run ended.
    complete(&store, first.runs[0].run_id).await;
    update(&store, &stale).await;
    let after = claim(&store, "n1", t(100), 10).await;
    assert!(
        after.runs.is_empty() && after.skipped.is_empty(),
        "an ended occurrence made due again: no second run ({:?}, {:?})",
        run_ids_of(&after),
        after.skipped
    );
    assert_eq!(get(&store, "j").await.next_run_time, Some(t(110)));
}

// ---------------------------------------------------------------------------------
// Adding, replacing, updating, removing
// ---------------------------------------------------------------------------------

/// `add_jobs` adds a batch whole — more rows than one statement of a SQL store takes —
/// or, on an id stored already or given twice, nothing at all (the error names the id).
pub async fn add_jobs_adds_all_or_none(store: Arc<dyn JobStore>) {
    let now = t(100);
    let batch = |range: std::ops::Range<usize>| -> Vec<Arc<Job>> {
        range
            .map(|n| {
                let first = now + chrono::Duration::seconds((n % 60) as i64);
                Arc::new(every(
                    &format!("bulk-{n:05}"),
                    60,
                    first,
                    JobOptions::default(),
                ))
            })
            .collect()
    };
    store.add_jobs(Vec::new()).await.unwrap();
    store.add_jobs(batch(0..6_000)).await.unwrap();
    let jobs = list(&store).await;
    assert_eq!(jobs.len(), 6_000, "all added");
    let stored = get(&store, "bulk-05999").await;
    assert_eq!(stored, *batch(5_999..6_000).remove(0), "stored as given");
    // An id stored already, at the end of a batch that spans statements: nothing added.
    let mut taken = batch(6_000..12_000);
    taken.push(batch(5_000..5_001).remove(0));
    match store.add_jobs(taken).await {
        Err(Error::DuplicateJobId(id)) => assert_eq!(id.as_str(), "bulk-05000"),
        other => panic!("a stored id: {other:?}"),
    }
    assert_eq!(list(&store).await.len(), 6_000, "none of the refused batch");
    // An id given twice.
    let mut twice = batch(20_000..20_003);
    twice.push(batch(20_001..20_002).remove(0));
    match store.add_jobs(twice).await {
        Err(Error::DuplicateJobId(id)) => assert_eq!(id.as_str(), "bulk-20001"),
        other => panic!("an id given twice: {other:?}"),
    }
    assert_eq!(list(&store).await.len(), 6_000);
    // Added in bulk, claimed like any: the 100 due now.
    let due = claim(&store, "n1", now, 1_000).await;
    let mut ids: Vec<&str> = due.runs.iter().map(|run| run.job_id.as_str()).collect();
    ids.sort_unstable();
    let expected: Vec<String> = (0..6_000)
        .step_by(60)
        .map(|n| format!("bulk-{n:05}"))
        .collect();
    assert_eq!(ids, expected.iter().map(String::as_str).collect::<Vec<_>>());
}

/// `add_job` stores the job as given; `get_job` of an unknown id is `JobNotFound`.
pub async fn add_and_get(store: Arc<dyn JobStore>) {
    let job = hourly("a", t(0));
    add(&store, &job).await;
    assert_eq!(
        get(&store, "a").await,
        job,
        "get_job returns the job as added"
    );
    expect_job_not_found(store.get_job("missing").await, "missing", "get_job");
    assert_eq!(list(&store).await, vec![job], "list_jobs holds the one job");
}

/// Adding an id that exists without `replace_existing` is `DuplicateJobId` and changes
/// nothing.
pub async fn duplicate_id_rejected(store: Arc<dyn JobStore>) {
    let first = hourly("a", t(0));
    add(&store, &first).await;
    let mut second = hourly("a", t(100)).name("second");
    second.task = "other_task".into();
    match store.add_job(second, false).await {
        Err(Error::DuplicateJobId(id)) if id == "a" => {}
        other => panic!("add_job of an existing id: expected DuplicateJobId(\"a\"), got {other:?}"),
    }
    assert_eq!(
        get(&store, "a").await,
        first,
        "a rejected add leaves the job"
    );
    assert_eq!(list(&store).await.len(), 1, "a rejected add adds nothing");
    assert_eq!(
        next_due(&store).await,
        Some(t(0)),
        "a rejected add leaves the schedule"
    );
}

/// With `replace_existing` the job is overwritten, schedule included.
pub async fn replace_existing_overwrites(store: Arc<dyn JobStore>) {
    add(&store, &hourly("a", t(0))).await;
    let second = hourly("a", t(100)).name("second");
    store
        .add_job(second.clone(), true)
        .await
        .unwrap_or_else(|e| panic!("add_job(replace_existing) of an existing id failed: {e}"));
    assert_eq!(
        get(&store, "a").await,
        second,
        "replace_existing overwrites"
    );
    assert_eq!(list(&store).await, vec![second], "replacing keeps one job");
    assert_eq!(
        next_due(&store).await,
        Some(t(100)),
        "the old schedule is gone"
    );
    let acquired = claim(&store, "a", t(50), 10).await;
    assert_nothing(&acquired, "a claim before the replacement's time");
    store
        .add_job(hourly("new", t(5)), true)
        .await
        .unwrap_or_else(|e| panic!("add_job(replace_existing) of a new id failed: {e}"));
    assert_eq!(get(&store, "new").await.next_run_time, Some(t(5)));
}

/// `update_job` overwrites an existing job (schedule included); a missing id is
/// `JobNotFound`.
pub async fn update_job_overwrites(store: Arc<dyn JobStore>) {
    expect_job_not_found(
        store.update_job(hourly("missing", t(0))).await,
        "missing",
        "update_job",
    );
    assert!(
        list(&store).await.is_empty(),
        "update_job of a missing id adds nothing"
    );
    add(&store, &hourly("a", t(0))).await;
    let mut updated = hourly("a", t(100))
        .name("renamed")
        .options(JobOptions::default().max_instances(3));
    updated.args = json!({ "changed": true });
    update(&store, &updated).await;
    assert_eq!(get(&store, "a").await, updated, "update_job overwrites");
    assert_eq!(
        next_due(&store).await,
        Some(t(100)),
        "update_job moves the schedule"
    );
    assert_nothing(
        &claim(&store, "n", t(50), 10).await,
        "a claim before the new time",
    );
}

/// `purge_job` removes a job's row and says whether there was one.
pub async fn purge_job_removes_a_row(store: Arc<dyn JobStore>) {
    add(&store, &hourly("a", t(0))).await;
    add(&store, &hourly("b", t(10))).await;
    assert!(store.purge_job("a").await.expect("purge"), "a was there");
    assert!(!store.purge_job("a").await.expect("purge"), "and is gone");
    expect_job_not_found(store.get_job("a").await, "a", "get_job after purge_job");
    assert_eq!(next_due(&store).await, Some(t(10)), "b is left");
}

/// `remove_job` returns the job and forgets it; removing again is `JobNotFound`.
pub async fn remove_job_returns_job(store: Arc<dyn JobStore>) {
    let job = hourly("a", t(0));
    add(&store, &job).await;
    add(&store, &hourly("b", t(10))).await;
    let removed = store
        .remove_job("a")
        .await
        .unwrap_or_else(|e| panic!("remove_job: {e}"));
    assert_eq!(removed, job, "remove_job returns the stored job");
    expect_job_not_found(store.get_job("a").await, "a", "get_job after remove_job");
    expect_job_not_found(store.remove_job("a").await, "a", "remove_job twice");
    assert_eq!(
        next_due(&store).await,
        Some(t(10)),
        "a removed job leaves the schedule"
    );
    let acquired = claim(&store, "n", t(20), 10).await;
    assert_eq!(
        run_ids_of(&acquired),
        vec!["b"],
        "a removed job is never claimed"
    );
}

/// `remove_all_jobs` empties the store and counts what it removed.
pub async fn remove_all_jobs_counts(store: Arc<dyn JobStore>) {
    assert_eq!(
        remove_all(&store).await,
        0,
        "remove_all_jobs on an empty store"
    );
    add(&store, &hourly("a", t(0))).await;
    add(&store, &paused(hourly("b", t(1)))).await;
    add(&store, &unscheduled("c")).await;
    assert_eq!(
        remove_all(&store).await,
        3,
        "remove_all_jobs counts every job"
    );
    assert!(
        list(&store).await.is_empty(),
        "remove_all_jobs leaves no job"
    );
    assert_eq!(
        next_due(&store).await,
        None,
        "remove_all_jobs leaves no schedule"
    );
    assert_nothing(
        &claim(&store, "n", t(100), 10).await,
        "a claim after remove_all_jobs",
    );
    assert_eq!(remove_all(&store).await, 0, "remove_all_jobs again");
}

// ---------------------------------------------------------------------------------
// Listing and round trips
// ---------------------------------------------------------------------------------

/// `list_jobs`: by next run time, then id (byte-wise); paused and unscheduled jobs
/// last, among themselves by next run time (unscheduled after scheduled), then id.
pub async fn list_jobs_order(store: Arc<dyn JobStore>) {
    let jobs = [
        paused(hourly("p2", t(-10))),
        unscheduled("n"),
        hourly("z", t(1000)),
        hourly("b", t(10)),
        paused(hourly("p1", t(-20))),
        hourly("é", t(10)),
        hourly("a", t(10)),
        paused(unscheduled("m")),
        hourly("c2", t(5) + nanos(1)),
        hourly("_x", t(10)),
        hourly("c", t(5)),
        hourly("B", t(10)),
        paused(hourly("p0", t(-10))),
    ];
    for job in &jobs {
        add(&store, job).await;
    }
    let expected = [
        "c", "c2", "B", "_x", "a", "b", "é", "z", "p1", "p0", "p2", "m", "n",
    ];
    let listed = list(&store).await;
    let ids: Vec<&str> = listed.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, expected, "list_jobs order");
}

/// Every trigger kind, with bounds, jitter and zones, comes back exactly.
pub async fn round_trip_triggers(store: Arc<dyn JobStore>) {
    let ny = chrono_tz::America::New_York;
    let cron_fields = CronFields::new()
        .day("1-7")
        .day_of_week("mon")
        .hour("8")
        .build();
    let calendar = CalendarInterval {
        years: 0,
        months: 1,
        weeks: 1,
        days: 2,
        at: NaiveTime::from_hms_opt(2, 30, 0).expect("a valid time"),
        start_date: None,
    };
    let triggers = [
        Trigger::interval(Duration::new(90, 500)),
        Trigger::interval(Duration::from_secs(60))
            .start(t(7) + nanos(123))
            .end(t(86_400))
            .jitter(Duration::from_millis(1500)),
        Trigger::cron("*/15 9-17 * * mon-fri")
            .expect("a valid cron")
            .timezone(ny),
        Trigger::cron("30 0 2 L * *")
            .expect("a valid cron")
            .end(t(10_000_000)),
        Trigger::from(cron_fields.expect("valid cron fields")).timezone(ny),
        Trigger::date(t(3600) + nanos(999_999_999)),
        Trigger::date_str("2026-11-01 01:30", ny).expect("a valid date"),
        Trigger::calendar(calendar).timezone(ny).start(t(0)),
        Trigger::and([
            Trigger::interval(Duration::from_secs(3600)).start(t(0)),
            Trigger::cron("0 * * * *").expect("a valid cron"),
        ]),
        Trigger::or([
            Trigger::date(t(50)),
            Trigger::cron("0 12 * * *")
                .expect("a valid cron")
                .jitter(Duration::from_secs(7)),
            Trigger::and([Trigger::interval(Duration::from_secs(7200))]),
        ]),
    ];
    let mut jobs = Vec::new();
    for (i, trigger) in triggers.into_iter().enumerate() {
        let job = Job::new(format!("trigger-{i}"), TASK, trigger)
            .schedule(t(0))
            .unwrap_or_else(|e| panic!("scheduling trigger {i}: {e}"));
        add(&store, &job).await;
        jobs.push(job);
    }
    assert_round_trip(&store, &jobs).await;
}

/// Arguments (any JSON), name, options and the paused flag come back exactly, through
/// `add_job` and through `update_job`.
pub async fn round_trip_args_and_options(store: Arc<dyn JobStore>) {
    let options = JobOptions {
        misfire_grace_time: Some(Duration::new(2, 500_000_000)),
        coalesce: false,
        max_instances: 7,
        timeout: Some(Duration::new(30, 1)),
        recover_abandoned: true,
        cancel_grace: Duration::from_millis(1_250),
        overlap: crate::job::Overlap::QueueOne,
        retry: Some(Box::new(
            crate::job::RetryPolicy::new(4)
                .backoff(Duration::from_millis(250), 1.5, Duration::from_secs(90))
                .jitter(0.25)
                .on_timeout(false),
        )),
    };
    let args = [
        json!({
            "text": "ünïcødé ✓ 🚀 \"quoted\" \\ back\nslash\t'single'",
            "int": -42,
            "big": u64::MAX,
            "small": i64::MIN,
            "float": 2.5,
            "fraction": -0.125,
            "list": [1, "two", null, true, { "nested": [] }],
            "empty_object": {},
            "empty_string": "",
        }),
        json!(["positional", 1, 2.0]),
        json!("just a string"),
        json!(0),
        json!(null),
    ];
    let mut jobs = Vec::new();
    for (i, args) in args.into_iter().enumerate() {
        let mut job = hourly(&format!("args-{i}"), t(i64::try_from(i).expect("small")))
            .name(format!("name of job {i}"))
            .options(options.clone());
        job.args = args;
        job.paused = i % 2 == 0;
        add(&store, &job).await;
        jobs.push(job);
    }
    assert_round_trip(&store, &jobs).await;
    for job in &mut jobs {
        job.args = json!({ "updated": job.id, "paused_was": job.paused });
        job.paused = !job.paused;
        job.options = JobOptions::default().misfire_grace_time(Duration::from_millis(1));
        update(&store, job).await;
    }
    assert_round_trip(&store, &jobs).await;
}

/// Ids with quotes, SQL wildcards, non-ASCII letters and 256 characters work as keys.
pub async fn round_trip_ids(store: Arc<dyn JobStore>) {
    let ids = [
        "plain",
        "with space",
        "quote's \"double\" `back`",
        "wild%card_and\\escape",
        "日本語のジョブ",
        "emoji 🚀",
        "semi;colon -- comment",
        &"x".repeat(256),
    ];
    let mut jobs = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let job = hourly(id, t(i64::try_from(i).expect("small")));
        add(&store, &job).await;
        jobs.push(job);
    }
    assert_round_trip(&store, &jobs).await;
    // A wildcard must not match other ids.
    expect_job_not_found(store.get_job("wild%").await, "wild%", "get_job(\"wild%\")");
    expect_job_not_found(store.get_job("plai_").await, "plai_", "get_job(\"plai_\")");
    let acquired = claim(&store, "n", t(100), 100).await;
    let claimed: Vec<&str> = run_ids_of(&acquired);
    assert_eq!(claimed, ids, "every id is claimed, in due order");
    for id in ids {
        let removed = store
            .remove_job(id)
            .await
            .unwrap_or_else(|e| panic!("remove {id:?}: {e}"));
        assert_eq!(removed.id, id);
    }
}

/// Instants keep their nanoseconds, before 1970 and after 2262 too, in the job, in
/// the schedule and in claimed runs.
pub async fn round_trip_instants(store: Arc<dyn JobStore>) {
    let before_1970 = at("1969-07-20T20:17:40.000000001Z");
    let far = at("2999-12-31T23:59:59.999999999Z");
    let jobs = [
        once("exact", t(0)),
        once("one-nano-later", t(0) + nanos(1)),
        once("one-nano-earlier", t(0) - nanos(1)),
        once("far", far),
        once("before-1970", before_1970),
    ];
    for job in &jobs {
        add(&store, job).await;
    }
    assert_round_trip(&store, &jobs).await;
    let ids: Vec<String> = list(&store)
        .await
        .into_iter()
        .map(|j| j.id.into())
        .collect();
    let expected = [
        "before-1970",
        "one-nano-earlier",
        "exact",
        "one-nano-later",
        "far",
    ];
    assert_eq!(ids, expected, "list_jobs orders by nanoseconds");
    assert_eq!(
        next_due(&store).await,
        Some(before_1970),
        "next_run_time before 1970"
    );
    let acquired = claim(&store, "n", t(0), 10).await;
    let runs: Vec<(&str, DateTime<Utc>)> = acquired
        .runs
        .iter()
        .map(|r| (r.job.id.as_str(), r.scheduled))
        .collect();
    let expected_runs = [
        ("before-1970", before_1970),
        ("one-nano-earlier", t(0) - nanos(1)),
        ("exact", t(0)),
    ];
    assert_eq!(
        runs, expected_runs,
        "due to the nanosecond, scheduled to the nanosecond"
    );
    assert_eq!(
        next_due(&store).await,
        Some(t(0) + nanos(1)),
        "one nanosecond later"
    );
    assert_eq!(
        get(&store, "far").await.next_run_time,
        Some(far),
        "year 2999"
    );
}

// ---------------------------------------------------------------------------------
// next_run_time
// ---------------------------------------------------------------------------------

/// `next_run_time` is the earliest next run time of an unpaused job; `None` when
/// there is none.
pub async fn next_run_time_earliest_unpaused(store: Arc<dyn JobStore>) {
    assert_eq!(
        next_due(&store).await,
        None,
        "next_run_time of an empty store"
    );
    add(&store, &paused(hourly("p", t(0)))).await;
    add(&store, &unscheduled("u")).await;
    assert_eq!(
        next_due(&store).await,
        None,
        "paused and unscheduled jobs have no next run"
    );
    add(&store, &hourly("a", t(20))).await;
    add(&store, &hourly("b", t(10))).await;
    assert_eq!(next_due(&store).await, Some(t(10)), "the earliest of two");
    update(&store, &paused(hourly("b", t(10)))).await;
    assert_eq!(
        next_due(&store).await,
        Some(t(20)),
        "pausing drops a job from it"
    );
    update(&store, &hourly("p", t(0))).await;
    assert_eq!(
        next_due(&store).await,
        Some(t(0)),
        "resuming brings a job back"
    );
    store
        .remove_job("p")
        .await
        .unwrap_or_else(|e| panic!("remove_job: {e}"));
    store
        .remove_job("a")
        .await
        .unwrap_or_else(|e| panic!("remove_job: {e}"));
    assert_eq!(
        next_due(&store).await,
        None,
        "only paused and unscheduled jobs left"
    );
}

// ---------------------------------------------------------------------------------
// acquire: which jobs
// ---------------------------------------------------------------------------------

/// Only jobs due at or before `now` are claimed, earliest first; each run carries the
/// job (task, args, options) and the scheduled time.
pub async fn acquire_only_due(store: Arc<dyn JobStore>) {
    assert_nothing(
        &claim(&store, "n", t(0), 10).await,
        "a claim on an empty store",
    );
    let mut first = hourly("first", t(0));
    first.args = json!({ "to": "ops@example.com" });
    first.options = JobOptions::default()
        .max_instances(2)
        .timeout(Duration::from_secs(9));
    let first = first.schedule(t(0)).expect("valid");
    add(&store, &hourly("on-time", t(10))).await;
    add(&store, &first).await;
    add(&store, &hourly("not-yet", t(10) + nanos(1))).await;
    let acquired = claim(&store, "n", t(10), 10).await;
    assert_eq!(
        run_ids_of(&acquired),
        vec!["first", "on-time"],
        "due jobs, earliest first"
    );
    let run = &acquired.runs[0];
    assert_eq!(run.scheduled, t(0), "the scheduled time of the run");
    assert_eq!(run.job.task, TASK, "the claimed job's task");
    assert_eq!(run.job.args, first.args, "the claimed job's arguments");
    assert_eq!(run.job.options, first.options, "the claimed job's options");
    assert_eq!(run.job.trigger, first.trigger, "the claimed job's trigger");
    assert_eq!(
        acquired.runs[1].scheduled,
        t(10),
        "a job due exactly at now is claimed"
    );
    assert!(
        acquired.skipped.is_empty(),
        "nothing skipped: {:?}",
        acquired.skipped
    );
    assert!(
        acquired.finished.is_empty(),
        "nothing finished: {:?}",
        acquired.finished
    );
    assert!(
        acquired.errors.is_empty(),
        "no errors: {:?}",
        acquired.errors
    );
    assert_ne!(
        acquired.runs[0].run_id, acquired.runs[1].run_id,
        "distinct run ids"
    );
    assert_eq!(
        get(&store, "not-yet").await.next_run_time,
        Some(t(10) + nanos(1))
    );
    assert_eq!(
        running(&store, "not-yet").await,
        0,
        "an unclaimed job is not running"
    );
}

/// At most `limit` jobs per claim, the earliest due first; `limit = 0` claims nothing.
pub async fn acquire_limit_earliest_first(store: Arc<dyn JobStore>) {
    for i in [3, 0, 4, 1, 2] {
        add(&store, &hourly(&format!("job-{i}"), t(i))).await;
    }
    add(&store, &hourly("later", t(1000))).await;
    assert_nothing(&claim(&store, "n", t(100), 0).await, "a claim with limit 0");
    let batches = [
        (2, vec!["job-0", "job-1"]),
        (2, vec!["job-2", "job-3"]),
        (10, vec!["job-4"]),
    ];
    for (limit, expected) in batches {
        let acquired = claim(&store, "n", t(100), limit).await;
        assert_eq!(
            run_ids_of(&acquired),
            expected,
            "a claim with limit {limit}"
        );
    }
    assert_nothing(
        &claim(&store, "n", t(100), 10).await,
        "a claim after every due job",
    );
}

/// Paused jobs are never claimed and do not use up the limit; resumed, they are.
pub async fn acquire_skips_paused(store: Arc<dyn JobStore>) {
    let sleeping = paused(hourly("paused", t(0)));
    add(&store, &sleeping).await;
    add(&store, &hourly("active", t(5))).await;
    let acquired = claim(&store, "n", t(10), 1).await;
    assert_eq!(
        run_ids_of(&acquired),
        vec!["active"],
        "the paused job is passed over"
    );
    assert_nothing(
        &claim(&store, "n", t(10), 10).await,
        "a claim with only a paused job due",
    );
    assert_eq!(
        get(&store, "paused").await,
        sleeping,
        "a claim leaves a paused job alone"
    );
    assert_eq!(running(&store, "paused").await, 0);
    let mut resumed = sleeping;
    resumed.paused = false;
    update(&store, &resumed).await;
    let acquired = claim(&store, "n", t(10), 10).await;
    assert_eq!(
        run_ids_of(&acquired),
        vec!["paused"],
        "a resumed job is claimed"
    );
    assert_eq!(acquired.runs[0].scheduled, t(0), "at its kept schedule");
}

/// A claim writes the job's next run time (and nothing else of the job).
pub async fn acquire_advances_next_run_time(store: Arc<dyn JobStore>) {
    let job = every("a", 60, t(0), JobOptions::default());
    add(&store, &job).await;
    let acquired = claim(&store, "n", t(0), 10).await;
    assert_eq!(run_times(&acquired, "a"), vec![t(0)], "the due run");
    let mut expected = job;
    expected.next_run_time = Some(t(60));
    assert_eq!(
        get(&store, "a").await,
        expected,
        "only next_run_time changed"
    );
    assert_eq!(
        list(&store).await,
        vec![expected],
        "list_jobs sees the new time"
    );
    assert_eq!(
        next_due(&store).await,
        Some(t(60)),
        "next_due(None) sees the new time"
    );
}

/// An occurrence is claimed once: claims at the same `now` by any node find nothing
/// more, even with instance slots free; the next occurrence is claimed when due.
pub async fn occurrence_claimed_once(store: Arc<dyn JobStore>) {
    add(
        &store,
        &every("a", 60, t(0), JobOptions::default().max_instances(3)),
    )
    .await;
    assert_eq!(
        run_times(&claim(&store, "n1", t(0), 10).await, "a"),
        vec![t(0)]
    );
    assert_nothing(
        &claim(&store, "n2", t(0), 10).await,
        "a second claim at the same now",
    );
    assert_nothing(
        &claim(&store, "n1", t(30), 10).await,
        "a claim before the next run",
    );
    assert_eq!(running(&store, "a").await, 1, "one run claimed");
    let acquired = claim(&store, "n2", t(60), 10).await;
    assert_eq!(
        run_times(&acquired, "a"),
        vec![t(60)],
        "the next occurrence, once"
    );
    assert_eq!(running(&store, "a").await, 2);
}

/// A stale `update_job` that writes back the time of an occurrence still running (a
/// node modified an old copy of the job) does not start that occurrence again, and the
/// claim moves the job past it (no job stays due forever).
pub async fn stale_update_no_duplicate_run(store: Arc<dyn JobStore>) {
    let stale = every("a", 60, t(0), JobOptions::default().max_instances(2));
    add(&store, &stale).await;
    let first = claim(&store, "n1", t(0), 10).await;
    assert_eq!(run_times(&first, "a"), vec![t(0)]);
    update(&store, &stale).await;
    let again = claim(&store, "n2", t(0), 10).await;
    assert!(
        run_times(&again, "a").is_empty(),
        "the running occurrence at {} was claimed again: {:?}",
        t(0),
        again.runs
    );
    assert_eq!(running(&store, "a").await, 1, "still the one run");
    assert_eq!(
        get(&store, "a").await.next_run_time,
        Some(t(60)),
        "moved past the occurrence"
    );
    assert_eq!(
        run_times(&claim(&store, "n2", t(60), 10).await, "a"),
        vec![t(60)]
    );
}

// ---------------------------------------------------------------------------------
// acquire: the policy
// ---------------------------------------------------------------------------------

/// `max_instances` counts runs of every node: over it, runs are skipped and reported
/// (`MaxInstances`); completing a run frees its slot.
pub async fn max_instances_across_nodes(store: Arc<dyn JobStore>) {
    add(&store, &every("one", 60, t(0), JobOptions::default())).await;
    add(
        &store,
        &every("two", 60, t(30), JobOptions::default().max_instances(2)),
    )
    .await;
    let on_a = claim(&store, "a", t(30), 10).await;
    assert_eq!(run_ids_of(&on_a), vec!["one", "two"]);
    let on_b = claim(&store, "b", t(90), 10).await;
    assert_eq!(
        run_ids_of(&on_b),
        vec!["two"],
        "a second instance of \"two\" is allowed"
    );
    assert_eq!(
        skipped(&on_b, "one", SkipReason::MaxInstances),
        Some(single(t(60))),
        "one's run at t+60 is over max_instances = 1 while node a runs it"
    );
    assert_eq!(
        get(&store, "one").await.next_run_time,
        Some(t(120)),
        "a skipped run is passed"
    );
    assert_eq!(
        (running(&store, "one").await, running(&store, "two").await),
        (1, 2)
    );
    let on_a2 = claim(&store, "a", t(150), 10).await;
    assert!(on_a2.runs.is_empty(), "every slot taken: {:?}", on_a2.runs);
    assert_eq!(
        skipped(&on_a2, "one", SkipReason::MaxInstances),
        Some(single(t(120)))
    );
    assert_eq!(
        skipped(&on_a2, "two", SkipReason::MaxInstances),
        Some(single(t(150)))
    );
    complete(&store, on_a.runs[0].run_id).await;
    complete(&store, on_b.runs[0].run_id).await;
    assert_eq!(
        (running(&store, "one").await, running(&store, "two").await),
        (0, 1)
    );
    let on_b2 = claim(&store, "b", t(210), 10).await;
    assert_eq!(
        run_ids_of(&on_b2),
        vec!["one", "two"],
        "completed runs free their slots"
    );
    assert!(
        on_b2.skipped.is_empty(),
        "nothing over the limit: {:?}",
        on_b2.skipped
    );
}

/// Runs later than `misfire_grace_time` are reported `Missed` and not run; runs in
/// grace run; a date job whose one run is missed is finished.
pub async fn misfire_grace_missed(store: Arc<dyn JobStore>) {
    let grace = JobOptions::default().misfire_grace_time(Duration::from_secs(10));
    add(&store, &every("late", 60, t(0), grace.clone())).await;
    let acquired = claim(&store, "n", t(30), 10).await;
    assert!(
        acquired.runs.is_empty(),
        "a missed run is not run: {:?}",
        acquired.runs
    );
    assert_eq!(
        skipped(&acquired, "late", SkipReason::Missed),
        Some(single(t(0)))
    );
    assert_eq!(get(&store, "late").await.next_run_time, Some(t(60)));
    let acquired = claim(&store, "n", t(70), 10).await;
    assert_eq!(
        run_times(&acquired, "late"),
        vec![t(60)],
        "a run 10 s late is in grace"
    );
    assert!(
        acquired.skipped.is_empty(),
        "nothing missed: {:?}",
        acquired.skipped
    );

    let mut date = once("date", t(100));
    date.options = grace.clone();
    add(&store, &date).await;
    let acquired = claim(&store, "n", t(111), 10).await;
    assert!(
        run_times(&acquired, "date").is_empty(),
        "the date run is missed"
    );
    assert_eq!(
        skipped(&acquired, "date", SkipReason::Missed),
        Some(single(t(100)))
    );
    assert_eq!(
        acquired.finished,
        vec!["date".to_owned()],
        "a missed date job is finished"
    );
    expect_job_not_found(
        store.get_job("date").await,
        "date",
        "get_job of a finished job",
    );

    // Down for 5.5 minutes with 100 s of grace, coalescing: 4 missed, 1 coalesced.
    let options = JobOptions::default().misfire_grace_time(Duration::from_secs(100));
    add(&store, &every("backlog", 60, t(1000), options)).await;
    let acquired = claim(&store, "n", t(1330), 10).await;
    assert_eq!(run_times(&acquired, "backlog"), vec![t(1300)]);
    let missed = skipped(&acquired, "backlog", SkipReason::Missed);
    assert_eq!(missed, Some(span(t(1000), t(1180), 4)), "missed runs");
    let coalesced = skipped(&acquired, "backlog", SkipReason::Coalesced);
    assert_eq!(coalesced, Some(single(t(1240))), "coalesced runs");
}

/// With `coalesce`, a backlog runs once (the newest) and the rest is reported
/// `Coalesced`.
pub async fn coalesce_runs_newest(store: Arc<dyn JobStore>) {
    add(
        &store,
        &every("a", 60, t(0), JobOptions::default().coalesce(true)),
    )
    .await;
    let acquired = claim(&store, "n", t(330), 10).await;
    assert_eq!(
        run_times(&acquired, "a"),
        vec![t(300)],
        "one run, the newest"
    );
    assert_eq!(
        skipped(&acquired, "a", SkipReason::Coalesced),
        Some(span(t(0), t(240), 5))
    );
    assert_eq!(
        acquired.skipped.len(),
        1,
        "only the coalesced runs: {:?}",
        acquired.skipped
    );
    assert_eq!(get(&store, "a").await.next_run_time, Some(t(360)));
    assert_eq!(running(&store, "a").await, 1);
}

/// Without `coalesce` (and slots enough), each overdue run runs, all jobs' runs in
/// scheduled order.
pub async fn no_coalesce_runs_each_in_order(store: Arc<dyn JobStore>) {
    let options = JobOptions::default().coalesce(false).max_instances(10);
    add(&store, &every("a", 60, t(0), options.clone())).await;
    add(&store, &every("b", 100, t(50), options)).await;
    let acquired = claim(&store, "n", t(330), 10).await;
    let order: Vec<(&str, DateTime<Utc>)> = acquired
        .runs
        .iter()
        .map(|r| (r.job.id.as_str(), r.scheduled))
        .collect();
    let expected = [
        ("a", t(0)),
        ("b", t(50)),
        ("a", t(60)),
        ("a", t(120)),
        ("b", t(150)),
        ("a", t(180)),
        ("a", t(240)),
        ("b", t(250)),
        ("a", t(300)),
    ];
    assert_eq!(order, expected, "every overdue run, in scheduled order");
    assert!(
        acquired.skipped.is_empty(),
        "nothing skipped: {:?}",
        acquired.skipped
    );
    let ids: BTreeSet<RunId> = acquired.runs.iter().map(|r| r.run_id).collect();
    assert_eq!(ids.len(), expected.len(), "distinct run ids");
    assert_eq!(
        (running(&store, "a").await, running(&store, "b").await),
        (6, 3)
    );
    assert_eq!(get(&store, "a").await.next_run_time, Some(t(360)));
    assert_eq!(get(&store, "b").await.next_run_time, Some(t(350)));
}

/// A job whose trigger is done after its claim (a date, an interval past its end) is
/// reported in `finished` and removed; its run can still be completed.
pub async fn date_trigger_finishes(store: Arc<dyn JobStore>) {
    add(&store, &once("date", t(10))).await;
    let ending = Trigger::interval(Duration::from_secs(60))
        .start(t(0))
        .end(t(0));
    add(
        &store,
        &Job::new("ending", TASK, ending)
            .schedule(t(0))
            .expect("valid"),
    )
    .await;
    add(&store, &hourly("other", t(10))).await;
    let acquired = claim(&store, "n", t(5), 10).await;
    assert_eq!(run_ids_of(&acquired), vec!["ending"]);
    assert_eq!(
        acquired.finished,
        vec!["ending".to_owned()],
        "an interval past its end"
    );
    assert_nothing(
        &claim(&store, "n", t(9), 10).await,
        "a claim before the date",
    );
    let acquired = claim(&store, "n", t(10), 10).await;
    assert_eq!(run_times(&acquired, "date"), vec![t(10)], "the date run");
    assert_eq!(
        acquired.finished,
        vec!["date".to_owned()],
        "the date job is finished"
    );
    for id in ["date", "ending"] {
        expect_job_not_found(store.get_job(id).await, id, "get_job of a finished job");
        expect_job_not_found(
            store.remove_job(id).await,
            id,
            "remove_job of a finished job",
        );
    }
    let ids: Vec<String> = list(&store)
        .await
        .into_iter()
        .map(|j| j.id.into())
        .collect();
    assert_eq!(ids, vec!["other"], "finished jobs are not listed");
    assert_eq!(
        running(&store, "date").await,
        1,
        "the finished job's run goes on"
    );
    let run = find_run(&acquired, "date");
    complete(&store, run.run_id).await;
    assert_eq!(running(&store, "date").await, 0);
    assert_nothing(
        &claim(&store, "n", t(10_000), 10).await.only("date"),
        "a finished job",
    );
}

// ---------------------------------------------------------------------------------
// Runs: complete, release, running
// ---------------------------------------------------------------------------------

/// A job whose next fire time cannot be found within the search limit (here: once at
/// `t(10)`, or at a Monday that is a Tuesday) is not finished: after its run it is kept,
/// reported once ([`Error::NoNextFireTime`]), and not claimed again.
pub async fn a_trigger_whose_search_gives_up_keeps_its_job(store: Arc<dyn JobStore>) {
    let never = Trigger::and(vec![
        Trigger::cron("0 0 * * mon").expect("valid cron"),
        Trigger::cron("0 0 * * tue").expect("valid cron"),
    ]);
    let trigger = Trigger::or(vec![Trigger::date(t(10)), never]);
    let job = Job::new("unknown", TASK, trigger)
        .schedule(t(0))
        .expect("valid");
    assert_eq!(job.next_run_time, Some(t(10)));
    add(&store, &job).await;
    let request = AcquireRequest::new("n", t(10)).lease(LEASE);
    let acquired = store.acquire(request).await.expect("acquire");
    assert_eq!(
        run_times(&acquired, "unknown"),
        vec![t(10)],
        "its one known run"
    );
    assert!(
        acquired.finished.is_empty(),
        "not finished: {:?}",
        acquired.finished
    );
    let reported: Vec<&Error> = acquired.errors.iter().collect();
    assert!(
        matches!(reported[..], [Error::NoNextFireTime { job_id }] if job_id == "unknown"),
        "reported once: {reported:?}"
    );
    assert_eq!(
        get(&store, "unknown").await.id,
        "unknown",
        "kept in the store"
    );
    let again = claim(&store, "n", t(100_000), 10).await;
    assert!(again.runs.is_empty(), "not claimed again: {again:?}");
    assert_eq!(
        store.remove_job("unknown").await.expect("removable").id,
        "unknown"
    );
}

/// "Run now" (`claim_now`) claims one run at `now` whatever the schedule and paused
/// flag (both left as they are), counts toward `max_instances` (a skip at the limit),
/// and names an unknown job.
pub async fn claim_now_runs_once_whatever_the_schedule(store: Arc<dyn JobStore>) {
    add(&store, &paused(hourly("report", t(3600)))).await;
    let request = || AcquireRequest::new("n", t(10)).lease(LEASE);
    let acquired = store
        .claim_now("report", request())
        .await
        .expect("claim_now");
    assert_eq!(run_times(&acquired, "report"), vec![t(10)], "one run, now");
    assert!(acquired.skipped.is_empty());
    let job = get(&store, "report").await;
    assert!(job.paused, "still paused");
    assert_eq!(job.next_run_time, Some(t(3600)), "schedule untouched");
    assert_eq!(running(&store, "report").await, 1);
    let again = store
        .claim_now("report", request())
        .await
        .expect("claim_now");
    assert!(again.runs.is_empty(), "its one instance is taken");
    assert_eq!(
        again.skipped,
        vec![SkippedRuns::max_instances("report".into(), t(10))]
    );
    complete(&store, find_run(&acquired, "report").run_id).await;
    assert_eq!(running(&store, "report").await, 0);
    expect_job_not_found(
        store.claim_now("nope", request()).await,
        "nope",
        "claim_now of an unknown job",
    );
}

/// `complete` of a run that is unknown, or already completed, is `RunNotFound`.
pub async fn complete_unknown_run(store: Arc<dyn JobStore>) {
    expect_run_not_found(
        store
            .complete(RunId(i64::MAX), Outcome::Success, t(0))
            .await,
        i64::MAX,
    );
    add(&store, &hourly("a", t(0))).await;
    let acquired = claim(&store, "n", t(0), 10).await;
    let run_id = find_run(&acquired, "a").run_id;
    let outcome = Outcome::Error("boom: \"quoted\" ✗".into());
    store
        .complete(run_id, outcome.clone(), t(1))
        .await
        .unwrap_or_else(|e| panic!("complete({run_id}) of a claimed run: {e}"));
    expect_run_not_found(store.complete(run_id, outcome, t(2)).await, run_id.0);
    expect_run_not_found(
        store.complete(run_id, Outcome::Success, t(2)).await,
        run_id.0,
    );
    assert_eq!(running(&store, "a").await, 0);
}

/// `release(node)` drops that node's unfinished runs only, and counts them.
pub async fn release_frees_node_runs(store: Arc<dyn JobStore>) {
    for (i, id) in ["x", "y", "z"].into_iter().enumerate() {
        add(
            &store,
            &every(
                id,
                60,
                t(i64::try_from(i).expect("small")),
                JobOptions::default(),
            ),
        )
        .await;
    }
    let on_a = claim(&store, "a", t(1), 2).await;
    let on_b = claim(&store, "b", t(2), 2).await;
    assert_eq!(
        (run_ids_of(&on_a), run_ids_of(&on_b)),
        (vec!["x", "y"], vec!["z"])
    );
    assert_eq!(
        store.release("a").await.expect("release"),
        2,
        "release counts a's runs"
    );
    let counts = [
        running(&store, "x").await,
        running(&store, "y").await,
        running(&store, "z").await,
    ];
    assert_eq!(counts, [0, 0, 1], "only a's runs are released");
    for run in &on_a.runs {
        expect_run_not_found(
            store.complete(run.run_id, Outcome::Cancelled, t(3)).await,
            run.run_id.0,
        );
    }
    assert_eq!(
        store.release("a").await.expect("release"),
        0,
        "release again"
    );
    assert_eq!(
        store.release("nobody").await.expect("release"),
        0,
        "release of an idle node"
    );
    let on_b2 = claim(&store, "b", t(60), 10).await;
    assert_eq!(run_ids_of(&on_b2), vec!["x"], "a released slot is free");
    assert_eq!(
        skipped(&on_b2, "z", SkipReason::MaxInstances),
        None,
        "z is not due yet"
    );
    complete(&store, on_b.runs[0].run_id).await;
    assert_eq!(
        store.release("b").await.expect("release"),
        1,
        "b's remaining run"
    );
}

/// For a store shared by processes: a heartbeat whose clock reading is older than a
/// claim (it began before the claim and waited for the store) never shortens that
/// claim's lease, and a heartbeat only renews the runs still running.
pub async fn a_lease_never_moves_backwards(store: Arc<dyn JobStore>) {
    add(&store, &every("x", 60, t(0), JobOptions::default())).await;
    let claimed = claim(&store, "a", t(10), 10).await;
    assert_eq!(run_ids_of(&claimed), vec!["x"]);
    let lease = chrono::Duration::from_std(LEASE).expect("a short lease");
    let renewed = store
        .heartbeat("a", &ManualClock::new(t(5)), LEASE)
        .await
        .expect("heartbeat");
    assert_eq!(renewed.runs, vec![claimed.runs[0].run_id]);
    let reaped = store
        .reap_abandoned(t(10) + lease - nanos(1_000_000))
        .await
        .expect("reap");
    assert!(
        reaped.is_empty(),
        "a stale heartbeat moved the claim's lease back: {reaped:?}"
    );
    let reaped = store
        .reap_abandoned(t(10) + lease + nanos(1_000))
        .await
        .expect("reap");
    assert_eq!(reaped.len(), 1, "the claim's own lease ran out");
    let renewed = store
        .heartbeat("a", &ManualClock::new(t(10) + lease * 2), LEASE)
        .await
        .expect("heartbeat");
    assert!(
        renewed.runs.is_empty(),
        "a reaped run is not renewed: {renewed:?}"
    );
}

/// For a store shared by processes: `nodes` lists each node that heartbeats, by id,
/// with its last heartbeat, the end of its lease and the runs it holds.
pub async fn nodes_report_heartbeats(store: Arc<dyn JobStore>) {
    assert!(
        store.nodes().await.expect("nodes").is_empty(),
        "no node yet"
    );
    add(&store, &every("x", 60, t(0), JobOptions::default())).await;
    add(&store, &every("y", 60, t(0), JobOptions::default())).await;
    let claimed = claim(&store, "b", t(1), 10).await;
    assert_eq!(claimed.runs.len(), 2);
    for node in ["b", "a"] {
        store
            .heartbeat(node, &ManualClock::new(t(2)), LEASE)
            .await
            .expect("heartbeat");
    }
    let lease = chrono::Duration::from_std(LEASE).expect("a short lease");
    let nodes = store.nodes().await.expect("nodes");
    let seen: Vec<(&str, DateTime<Utc>, DateTime<Utc>, u64)> = nodes
        .iter()
        .map(|n| (n.id.as_str(), n.last_seen, n.lease_until, n.running))
        .collect();
    assert_eq!(
        seen,
        [("a", t(2), t(2) + lease, 0), ("b", t(2), t(2) + lease, 2)]
    );
    assert!(nodes[0].alive(t(2) + lease) && !nodes[0].alive(t(3) + lease));
}

/// For a store shared by processes: `first` and `second` are two instances of it (two
/// processes) on the same data. A process started again under the node id of one that
/// died (`second`, node "a") neither renews nor releases the runs the dead one claimed
/// (`first`): their lease runs out and they are reaped, reported under "a". The
/// instance that claimed a run renews it.
pub async fn only_the_claiming_instance_keeps_a_run(
    first: Arc<dyn JobStore>,
    second: Arc<dyn JobStore>,
) {
    add(&first, &every("x", 60, t(0), JobOptions::default())).await;
    let claimed = claim(&first, "a", t(1), 10).await;
    assert_eq!(run_ids_of(&claimed), vec!["x"]);
    let lease = chrono::Duration::from_std(LEASE).expect("a short lease");
    // Its own instance renews it: not reaped at the first lease's end.
    let renewed = first
        .heartbeat("a", &ManualClock::new(t(1) + lease), LEASE)
        .await
        .expect("heartbeat");
    assert_eq!(renewed.at, t(1) + lease, "renewed from the clock's reading");
    assert_eq!(
        renewed.runs,
        vec![claimed.runs[0].run_id],
        "its claimer renews it"
    );
    let reaped = first
        .reap_abandoned(t(1) + lease + nanos(1_000))
        .await
        .expect("reap");
    assert!(reaped.is_empty(), "renewed by its claimer: {reaped:?}");
    // The new process under the same id: its heartbeat and release leave the run be.
    let renewed = second
        .heartbeat("a", &ManualClock::new(t(1) + lease * 2), LEASE)
        .await
        .expect("heartbeat");
    assert!(
        renewed.runs.is_empty(),
        "not the new process's run: {renewed:?}"
    );
    assert_eq!(
        second.release("a").await.expect("release"),
        0,
        "not the new process's run to release"
    );
    assert_eq!(running(&second, "x").await, 1, "still running");
    let reaped = second
        .reap_abandoned(t(1) + lease * 2 + nanos(1_000))
        .await
        .expect("reap");
    let reaped: Vec<(&str, &str, RunId)> = reaped
        .iter()
        .map(|run| (run.job_id.as_str(), run.node.as_str(), run.run_id))
        .collect();
    assert_eq!(
        reaped,
        vec![("x", "a", claimed.runs[0].run_id)],
        "the dead process's run is reaped once its lease ends"
    );
}

/// A claim with a `runnable` filter takes only jobs whose task it allows; the others
/// stay due, untouched, for a node that has their task (`next_due` skips them too).
pub async fn acquire_only_runnable_tasks(store: Arc<dyn JobStore>) {
    let job = |id: &str, task: &str, at: DateTime<Utc>| {
        Job::new(id, task, Trigger::date(at)).schedule(at).unwrap()
    };
    store
        .add_job(job("mine", "report", t(0)), false)
        .await
        .unwrap();
    store
        .add_job(job("closure", "closure:n1:x", t(10)), false)
        .await
        .unwrap();
    store
        .add_job(job("theirs", "report_v2", t(5)), false)
        .await
        .unwrap();
    let runnable = Runnable {
        names: vec!["other".into(), "report".into()],
        prefixes: vec!["closure:n1:".into()],
    };
    assert_eq!(store.next_due(Some(&runnable)).await.unwrap(), Some(t(0)));
    let request = AcquireRequest {
        node: "n1".into(),
        now: t(60),
        limit: 10,
        lease: LEASE,
        runnable: Some(Arc::new(runnable.clone())),
        ahead: Duration::ZERO,
    };
    let acquired = store.acquire(request).await.unwrap();
    let mut claimed: Vec<&str> = acquired.runs.iter().map(|r| r.job.id.as_str()).collect();
    claimed.sort_unstable();
    assert_eq!(
        claimed,
        vec!["closure", "mine"],
        "only runnable tasks claimed"
    );
    let theirs = store.get_job("theirs").await.unwrap();
    assert_eq!(
        theirs.next_run_time,
        Some(t(5)),
        "the other job is untouched"
    );
    assert_eq!(
        store.next_due(Some(&runnable)).await.unwrap(),
        None,
        "nothing due here"
    );
    assert_eq!(
        store.next_due(None).await.unwrap(),
        Some(t(5)),
        "still due elsewhere"
    );
}

/// `census` counts the stored jobs (paused ones included, removed ones not, as
/// `list_jobs`) and names each one whose task the filter does not allow, with that
/// task.
pub async fn census_counts_jobs_and_names_the_unrunnable(store: Arc<dyn JobStore>) {
    let runnable = Runnable {
        names: vec!["known".to_owned()],
        prefixes: vec!["closure:n1:".to_owned()],
    };
    let empty = store.census(&runnable).await.unwrap();
    assert_eq!((empty.jobs, empty.unrunnable.len()), (0, 0));
    let job = |id: &str, task: &str| {
        let trigger = Trigger::interval(Duration::from_secs(60)).start(t(0));
        Job::new(id, task, trigger).schedule(t(0)).unwrap()
    };
    for (id, task) in [
        ("a", "known"),
        ("b", "unknown"),
        ("c", "closure:n1:c"),
        ("d", "closure:n2:d"),
        ("e", "known"),
    ] {
        store.add_job(job(id, task), false).await.unwrap();
    }
    let mut paused = job("b", "unknown");
    paused.paused = true;
    store.update_job(paused).await.unwrap();
    store.remove_job("e").await.unwrap();
    let census = store.census(&runnable).await.unwrap();
    assert_eq!(census.jobs, list(&store).await.len(), "as many as listed");
    assert_eq!(census.jobs, 4);
    let mut unrunnable = census.unrunnable;
    unrunnable.sort();
    let named: Vec<(&str, &str)> = unrunnable
        .iter()
        .map(|(id, task)| (id.as_str(), task.as_str()))
        .collect();
    assert_eq!(named, [("b", "unknown"), ("d", "closure:n2:d")]);
}

/// The same `runnable` filter (one `Arc`, as a runtime hands it until its tasks change)
/// is applied to each job as it is now: a job changed to a task the filter does not
/// allow is not claimed, and a new filter, or the first one again after another, is
/// applied afresh.
pub async fn runnable_filter_follows_changes(store: Arc<dyn JobStore>) {
    let job = |task: &str, first: DateTime<Utc>| {
        let trigger = Trigger::interval(Duration::from_secs(60)).start(first);
        Job::new("a", task, trigger).schedule(first).unwrap()
    };
    let filter = |names: &[&str]| {
        Some(Arc::new(Runnable {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            prefixes: Vec::new(),
        }))
    };
    let claim = |now: DateTime<Utc>, runnable: Option<Arc<Runnable>>| {
        let store = Arc::clone(&store);
        async move {
            let request = AcquireRequest {
                node: "n1".into(),
                now,
                limit: 10,
                lease: LEASE,
                runnable,
                ahead: Duration::ZERO,
            };
            let acquired = store.acquire(request).await.unwrap();
            for run in &acquired.runs {
                store
                    .complete(run.run_id, Outcome::Success, now)
                    .await
                    .unwrap();
            }
            acquired.runs.len()
        }
    };
    let reports = filter(&["report"]);
    store.add_job(job("report", t(0)), false).await.unwrap();
    assert_eq!(claim(t(0), reports.clone()).await, 1, "runnable: claimed");
    store.update_job(job("report_v2", t(60))).await.unwrap();
    assert_eq!(
        claim(t(60), reports.clone()).await,
        0,
        "changed to a task the same filter does not allow: not claimed"
    );
    assert_eq!(
        store.get_job("a").await.unwrap().next_run_time,
        Some(t(60)),
        "left due"
    );
    assert_eq!(
        claim(t(60), filter(&["report_v2"])).await,
        1,
        "another filter allows it"
    );
    assert_eq!(
        claim(t(120), reports.clone()).await,
        0,
        "the first filter again, after another: still not allowed"
    );
    store.update_job(job("report", t(180))).await.unwrap();
    assert_eq!(
        claim(t(180), reports).await,
        1,
        "changed back to a task it allows"
    );
}

/// `complete_many` records each run like `complete`, and answers for each in order.
pub async fn complete_many_reports_each(store: Arc<dyn JobStore>) {
    let options = JobOptions::default().coalesce(false).max_instances(5);
    add(&store, &every("a", 60, t(0), options)).await;
    let claimed = claim(&store, "n", t(120), 10).await;
    assert_eq!(claimed.runs.len(), 3);
    let done = vec![
        RunEnd::new(claimed.runs[0].run_id, Outcome::Success, t(121)),
        RunEnd::new(RunId(i64::MAX), Outcome::Success, t(121)),
        RunEnd::new(
            claimed.runs[2].run_id,
            Outcome::Error("boom".into()),
            t(121),
        ),
    ];
    let results = store.complete_many(done).await;
    assert_eq!(results.len(), 3, "one result per run");
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(
        matches!(results[1], Err(Error::RunNotFound(_))),
        "{results:?}"
    );
    assert_eq!(running(&store, "a").await, 1, "two of three runs recorded");
    let again = store
        .complete_many(vec![RunEnd::new(
            claimed.runs[0].run_id,
            Outcome::Success,
            t(122),
        )])
        .await;
    assert!(
        matches!(again[0], Err(Error::RunNotFound(_))),
        "completed twice"
    );
}

/// `running(job_id)` counts claimed, uncompleted runs of the job on every node.
pub async fn running_counts(store: Arc<dyn JobStore>) {
    assert_eq!(
        running(&store, "missing").await,
        0,
        "running of an unknown job"
    );
    let options = JobOptions::default().coalesce(false).max_instances(5);
    add(&store, &every("a", 60, t(0), options)).await;
    let on_a = claim(&store, "a", t(120), 10).await;
    assert_eq!(run_times(&on_a, "a"), vec![t(0), t(60), t(120)]);
    let on_b = claim(&store, "b", t(180), 10).await;
    assert_eq!(run_times(&on_b, "a"), vec![t(180)]);
    assert_eq!(running(&store, "a").await, 4);
    complete(&store, on_a.runs[1].run_id).await;
    assert_eq!(running(&store, "a").await, 3);
    assert_eq!(store.release("a").await.expect("release"), 2);
    assert_eq!(running(&store, "a").await, 1, "b's run still runs");
    complete(&store, on_b.runs[0].run_id).await;
    assert_eq!(running(&store, "a").await, 0);
}

/// Claimed runs outlive their job: removing or replacing the job keeps them running
/// (counted by `running` and `max_instances`) and completable.
pub async fn claimed_runs_outlive_job(store: Arc<dyn JobStore>) {
    add(&store, &every("a", 60, t(0), JobOptions::default())).await;
    let first = claim(&store, "n1", t(0), 10).await;
    // A restarting node re-adds its jobs with replace_existing.
    let replacement = every("a", 60, t(60), JobOptions::default());
    store
        .add_job(replacement, true)
        .await
        .unwrap_or_else(|e| panic!("replace: {e}"));
    assert_eq!(
        running(&store, "a").await,
        1,
        "replacing a job keeps its running run"
    );
    let acquired = claim(&store, "n2", t(60), 10).await;
    assert!(
        acquired.runs.is_empty(),
        "max_instances holds across a replace: {:?}",
        acquired.runs
    );
    assert_eq!(
        skipped(&acquired, "a", SkipReason::MaxInstances),
        Some(single(t(60)))
    );
    store
        .remove_job("a")
        .await
        .unwrap_or_else(|e| panic!("remove_job: {e}"));
    assert_eq!(
        running(&store, "a").await,
        1,
        "removing a job keeps its running run"
    );
    complete(&store, find_run(&first, "a").run_id).await;
    assert_eq!(running(&store, "a").await, 0);
}

// ---------------------------------------------------------------------------------
// Many jobs, several nodes
// ---------------------------------------------------------------------------------

/// [`claims_each_due_job_once`] with 500 jobs.
pub async fn batched_claims(store: Arc<dyn JobStore>) {
    claims_each_due_job_once(store, 500).await;
}

/// `jobs` jobs (some paused, some not due), claimed in batches of 64 by two nodes in
/// turn: each due job exactly once, batches in due order, schedules written.
pub async fn claims_each_due_job_once(store: Arc<dyn JobStore>, jobs: usize) {
    let now = t(i64::try_from(jobs * 3 / 4).expect("a small count"));
    let expected = add_spread_jobs(&store, jobs).await;
    let mut claimed: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut latest = None;
    let mut run_ids = BTreeSet::new();
    for round in 0.. {
        assert!(round <= jobs / 64 + 1, "claims go on past {round} batches");
        let node = if round % 2 == 0 { "a" } else { "b" };
        let acquired = claim(&store, node, now, 64).await;
        if acquired.runs.is_empty() {
            break;
        }
        assert!(acquired.runs.len() <= 64, "a batch above its limit");
        for run in &acquired.runs {
            assert!(
                latest <= Some(run.scheduled),
                "claims out of due order at {}",
                run.job.id
            );
            latest = Some(run.scheduled);
            assert!(
                run_ids.insert(run.run_id),
                "run id {} given twice",
                run.run_id
            );
            let again = claimed.insert(run.job.id.to_string(), run.scheduled);
            assert!(again.is_none(), "job {} claimed twice", run.job.id);
        }
    }
    let due: BTreeMap<String, DateTime<Utc>> = expected
        .iter()
        .filter(|(_, (at, paused))| *at <= now && !paused)
        .map(|(id, (at, _))| (id.clone(), *at))
        .collect();
    assert_eq!(claimed.len(), due.len(), "how many due jobs were claimed");
    assert!(
        claimed == due,
        "the claimed jobs are exactly the due jobs, at their times"
    );
    let period = chrono::Duration::seconds(i64::try_from(jobs * 10).expect("small"));
    for job in list(&store).await {
        let (at, _) = expected[job.id.as_str()];
        let want = if claimed.contains_key(job.id.as_str()) {
            at + period
        } else {
            at
        };
        assert_eq!(job.next_run_time, Some(want), "next run time of {}", job.id);
    }
    let not_due = expected
        .values()
        .filter(|(at, paused)| *at > now && !paused)
        .map(|(at, _)| *at);
    assert_eq!(
        next_due(&store).await,
        not_due.min(),
        "next_run_time after the claims"
    );
    assert_eq!(
        store.release("a").await.expect("release") + store.release("b").await.expect("release"),
        due.len() as u64
    );
}

/// Four nodes claim 200 due jobs at once (their claims interleave at every await):
/// each job is claimed by exactly one of them.
pub async fn concurrent_claims(store: Arc<dyn JobStore>) {
    let jobs = 200;
    let expected = add_spread_jobs(&store, jobs).await;
    let now = t(i64::try_from(jobs).expect("small"));
    let node = |name: &'static str| {
        let store = &store;
        Box::pin(async move {
            let mut mine = Vec::new();
            for _ in 0..jobs {
                let acquired = claim(store, name, now, 7).await;
                if acquired.runs.is_empty() {
                    break;
                }
                mine.extend(acquired.runs.into_iter().map(|r| r.job.id.to_string()));
            }
            mine
        }) as Pin<Box<dyn Future<Output = Vec<String>> + Send + '_>>
    };
    let results = join_all(vec![node("n1"), node("n2"), node("n3"), node("n4")]).await;
    let mut claimed = BTreeMap::<String, u32>::new();
    for id in results.into_iter().flatten() {
        *claimed.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = claimed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "jobs claimed by several nodes: {twice:?}");
    let due: BTreeSet<&String> = expected
        .iter()
        .filter(|(_, (_, paused))| !paused)
        .map(|(id, _)| id)
        .collect();
    let got: BTreeSet<&String> = claimed.keys().collect();
    assert!(
        got == due,
        "claimed {} of the {} due jobs",
        got.len(),
        due.len()
    );
}

/// Adds `n` hourly-ish jobs due at t+0..t+n-1 s in a scrambled order, every 10th
/// paused, with a period of `10 n` seconds. Returns id -> (first run, paused).
async fn add_spread_jobs(
    store: &Arc<dyn JobStore>,
    n: usize,
) -> BTreeMap<String, (DateTime<Utc>, bool)> {
    let period = u64::try_from(n * 10).expect("small");
    let mut expected = BTreeMap::new();
    for i in 0..n {
        // 7919 is prime, so i -> 7919 i mod n is a permutation unless n is a multiple.
        let slot = i64::try_from((i * 7919) % n).expect("small");
        let id = format!("job-{i:05}");
        let mut job = every(&id, period, t(slot), JobOptions::default());
        job.paused = i % 10 == 3;
        add(store, &job).await;
        expected.insert(id, (t(slot), job.paused));
    }
    expected
}

/// Polls every future in turn until all are done; no runtime needed.
async fn join_all<'a, T>(futures: Vec<Pin<Box<dyn Future<Output = T> + Send + 'a>>>) -> Vec<T> {
    let mut futures: Vec<_> = futures.into_iter().map(Some).collect();
    let mut results: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    poll_fn(|cx| {
        for (slot, result) in futures.iter_mut().zip(results.iter_mut()) {
            if let Some(future) = slot {
                if let Poll::Ready(value) = future.as_mut().poll(cx) {
                    *result = Some(value);
                    *slot = None;
                }
            }
        }
        if futures.iter().all(Option::is_none) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    results
        .into_iter()
        .map(|r| r.expect("every future finished"))
        .collect()
}

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

/// The suite's epoch, a Monday: 2026-03-02T09:00:00Z.
fn t(seconds: i64) -> DateTime<Utc> {
    at("2026-03-02T09:00:00Z") + chrono::Duration::seconds(seconds)
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    rfc3339
        .parse()
        .unwrap_or_else(|e| panic!("bad instant {rfc3339:?} in the suite: {e}"))
}

fn nanos(n: i64) -> chrono::Duration {
    chrono::Duration::nanoseconds(n)
}

/// A job every `period` seconds, first due at `first`.
fn every(id: &str, period: u64, first: DateTime<Utc>, options: JobOptions) -> Job {
    Job::new(
        id,
        TASK,
        Trigger::interval(Duration::from_secs(period)).start(first),
    )
    .options(options)
    .schedule(first)
    .unwrap_or_else(|e| panic!("scheduling {id:?}: {e}"))
}

fn hourly(id: &str, first: DateTime<Utc>) -> Job {
    every(id, 3600, first, JobOptions::default())
}

/// A job that runs once, at `when`.
fn once(id: &str, when: DateTime<Utc>) -> Job {
    Job::new(id, TASK, Trigger::date(when))
        .schedule(when)
        .unwrap_or_else(|e| panic!("scheduling {id:?}: {e}"))
}

/// A job added without a next run time (never scheduled).
fn unscheduled(id: &str) -> Job {
    Job::new(id, TASK, Trigger::interval(Duration::from_secs(60)))
}

fn paused(mut job: Job) -> Job {
    job.paused = true;
    job
}

fn single(when: DateTime<Utc>) -> Skipped {
    span(when, when, 1)
}

fn span(first: DateTime<Utc>, last: DateTime<Utc>, count: u64) -> Skipped {
    Skipped {
        first,
        last,
        count,
        more: false,
    }
}

async fn add(store: &Arc<dyn JobStore>, job: &Job) {
    store
        .add_job(job.clone(), false)
        .await
        .unwrap_or_else(|e| panic!("add_job({:?}) failed: {e}", job.id));
}

async fn update(store: &Arc<dyn JobStore>, job: &Job) {
    store
        .update_job(job.clone())
        .await
        .unwrap_or_else(|e| panic!("update_job({:?}) failed: {e}", job.id));
}

async fn get(store: &Arc<dyn JobStore>, id: &str) -> Job {
    store
        .get_job(id)
        .await
        .unwrap_or_else(|e| panic!("get_job({id:?}) failed: {e}"))
}

async fn list(store: &Arc<dyn JobStore>) -> Vec<Job> {
    store
        .list_jobs()
        .await
        .unwrap_or_else(|e| panic!("list_jobs failed: {e}"))
}

async fn remove_all(store: &Arc<dyn JobStore>) -> u64 {
    store
        .remove_all_jobs()
        .await
        .unwrap_or_else(|e| panic!("remove_all_jobs failed: {e}"))
}

async fn next_due(store: &Arc<dyn JobStore>) -> Option<DateTime<Utc>> {
    store
        .next_due(None)
        .await
        .unwrap_or_else(|e| panic!("next_run_time failed: {e}"))
}

async fn running(store: &Arc<dyn JobStore>, id: &str) -> u32 {
    store
        .running(id)
        .await
        .unwrap_or_else(|e| panic!("running({id:?}) failed: {e}"))
}

/// A claim by "n1" at `now` of at most 10 jobs, taking runs up to `ahead` later.
fn ahead_request(now: DateTime<Utc>, ahead: Duration) -> AcquireRequest {
    AcquireRequest {
        node: "n1".into(),
        now,
        limit: 10,
        lease: LEASE,
        runnable: None,
        ahead,
    }
}

async fn claim(
    store: &Arc<dyn JobStore>,
    node: &str,
    now: DateTime<Utc>,
    limit: usize,
) -> Acquired {
    let request = AcquireRequest {
        node: node.to_owned(),
        now,
        limit,
        lease: LEASE,
        runnable: None,
        ahead: Duration::ZERO,
    };
    let acquired = store
        .acquire(request)
        .await
        .unwrap_or_else(|e| panic!("acquire(node {node:?}, now {now}, limit {limit}) failed: {e}"));
    assert!(
        acquired.errors.is_empty(),
        "acquire reported errors: {:?}",
        acquired.errors
    );
    acquired
}

async fn complete(store: &Arc<dyn JobStore>, run_id: RunId) {
    store
        .complete(run_id, Outcome::Success, t(0))
        .await
        .unwrap_or_else(|e| panic!("complete({run_id}) failed: {e}"));
}

/// The ids of the claimed runs' jobs, in claim order.
fn run_ids_of(acquired: &Acquired) -> Vec<&str> {
    acquired.runs.iter().map(|r| r.job.id.as_str()).collect()
}

/// The scheduled times of `id`'s claimed runs, in claim order.
fn run_times(acquired: &Acquired, id: &str) -> Vec<DateTime<Utc>> {
    acquired
        .runs
        .iter()
        .filter(|r| r.job.id == id)
        .map(|r| r.scheduled)
        .collect()
}

fn find_run<'a>(acquired: &'a Acquired, id: &str) -> &'a ClaimedRun {
    acquired
        .runs
        .iter()
        .find(|r| r.job.id == id)
        .unwrap_or_else(|| panic!("no claimed run of {id:?} in {:?}", acquired.runs))
}

/// The one report of `reason` for `id`, if any (two would be a broken claim).
fn skipped(acquired: &Acquired, id: &str, reason: SkipReason) -> Option<Skipped> {
    let mut reports = acquired
        .skipped
        .iter()
        .filter(|s| s.job_id == id && s.reason == reason);
    let first = reports.next().map(|s| s.runs);
    assert!(
        reports.next().is_none(),
        "two {reason:?} reports for {id:?}: {:?}",
        acquired.skipped
    );
    first
}

fn assert_nothing(acquired: &Acquired, what: &str) {
    assert!(
        acquired.runs.is_empty() && acquired.skipped.is_empty() && acquired.finished.is_empty(),
        "{what}: expected nothing, got runs {:?}, skipped {:?}, finished {:?}",
        acquired.runs,
        acquired.skipped,
        acquired.finished
    );
}

/// Each job reads back equal through `get_job` and `list_jobs`, and `remove_job`
/// returns it equal (then it is added back).
async fn assert_round_trip(store: &Arc<dyn JobStore>, jobs: &[Job]) {
    let listed = list(store).await;
    assert_eq!(listed.len(), jobs.len(), "list_jobs length");
    for job in jobs {
        assert_eq!(
            &get(store, &job.id).await,
            job,
            "get_job({:?}) round trip",
            job.id
        );
        let in_list = listed.iter().find(|j| j.id == job.id);
        assert_eq!(in_list, Some(job), "list_jobs round trip of {:?}", job.id);
        let removed = store
            .remove_job(&job.id)
            .await
            .unwrap_or_else(|e| panic!("remove_job({:?}) failed: {e}", job.id));
        assert_eq!(&removed, job, "remove_job({:?}) round trip", job.id);
        add(store, job).await;
    }
}

fn expect_job_not_found<T: Debug>(result: Result<T>, id: &str, what: &str) {
    match result {
        Err(Error::JobNotFound(got)) if got == id => {}
        other => panic!("{what}: expected JobNotFound({id:?}), got {other:?}"),
    }
}

fn expect_run_not_found(result: Result<()>, id: i64) {
    match result {
        Err(Error::RunNotFound(got)) if got == id => {}
        other => panic!("complete of run {id}: expected RunNotFound({id}), got {other:?}"),
    }
}

/// Narrows an acquisition to one job's runs, reports and finish.
trait Only {
    fn only(self, id: &str) -> Self;
}

impl Only for Acquired {
    fn only(mut self, id: &str) -> Self {
        self.runs.retain(|r| r.job.id == id);
        self.skipped.retain(|s| s.job_id == id);
        self.finished.retain(|f| f == id);
        self
    }
}
