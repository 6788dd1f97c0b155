//! The Postgres statements, schema-qualified once per store.

use std::sync::Arc;

use crate::sql::{Sql, COLUMNS};

/// Which tasks a node runs: `$a` names (`NULL`: any), `$b` name prefixes.
fn runnable(names: u8, prefixes: u8) -> String {
    format!(
        "(${names}::text[] IS NULL OR task = ANY(${names}) \
         OR EXISTS (SELECT 1 FROM unnest(${prefixes}::text[]) AS p(prefix) WHERE starts_with(task, p.prefix)))"
    )
}

/// The statements for `schema` (validated as an identifier: safe to splice).
pub(crate) fn sql(schema: &str) -> Sql {
    let s = format!("\"{schema}\"");
    let text = |sql: String| Arc::<str>::from(sql);
    let search = "($1::text IS NULL OR strpos(lower(id), lower($1)) > 0 \
                  OR strpos(lower(name), lower($1)) > 0 OR strpos(lower(task), lower($1)) > 0)";
    Sql {
        begin: "BEGIN",
        insert: text(format!(
            "INSERT INTO {s}.jobs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )),
        insert_many: Some(text(format!(
            "INSERT INTO {s}.jobs ({COLUMNS}) SELECT * FROM UNNEST($1::text[], $2::text[], \
             $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::int4[], $9::bool[])"
        ))),
        held_ids: text(format!("SELECT id FROM {s}.jobs WHERE id = ANY($1)")),
        upsert: text(format!(
            "INSERT INTO {s}.jobs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, task = EXCLUDED.task, \
             args = EXCLUDED.args, trigger = EXCLUDED.trigger, options = EXCLUDED.options, \
             next_run_s = EXCLUDED.next_run_s, next_run_ns = EXCLUDED.next_run_ns, paused = EXCLUDED.paused, \
             waiting_s = CASE WHEN EXCLUDED.paused THEN NULL ELSE {s}.jobs.waiting_s END, \
             waiting_ns = CASE WHEN EXCLUDED.paused THEN NULL ELSE {s}.jobs.waiting_ns END"
        )),
        update: text(format!(
            "UPDATE {s}.jobs SET name = $2, task = $3, args = $4, trigger = $5, options = $6, \
             next_run_s = $7, next_run_ns = $8, paused = $9, \
             waiting_s = CASE WHEN $9 THEN NULL ELSE waiting_s END, \
             waiting_ns = CASE WHEN $9 THEN NULL ELSE waiting_ns END WHERE id = $1"
        )),
        delete: text(format!("DELETE FROM {s}.jobs WHERE id = $1")),
        delete_all: text(format!("DELETE FROM {s}.jobs")),
        get: text(format!("SELECT {COLUMNS} FROM {s}.jobs WHERE id = $1")),
        list: text(format!(
            "SELECT {COLUMNS} FROM {s}.jobs \
             ORDER BY (paused OR next_run_s IS NULL), next_run_s IS NULL, next_run_s, next_run_ns, id"
        )),
        unrunnable: text(format!(
            "SELECT id, task FROM {s}.jobs WHERE NOT {runnable} ORDER BY id",
            runnable = runnable(1, 2)
        )),
        next_due: text(format!(
            "SELECT * FROM (SELECT id, next_run_s, next_run_ns, FALSE AS retry FROM {s}.jobs \
               WHERE NOT paused AND next_run_s IS NOT NULL AND id <> ALL($1) AND {runnable} \
               ORDER BY next_run_s, next_run_ns LIMIT 1) AS job \
             UNION ALL SELECT * FROM (SELECT j.id, r.retry_us / 1000000 AS next_run_s, \
               (r.retry_us % 1000000 * 1000)::int4 AS next_run_ns, TRUE AS retry \
               FROM {s}.runs r JOIN {s}.jobs j ON j.id = r.job_id \
               WHERE r.status = 'retrying' AND r.retry_us IS NOT NULL AND NOT j.paused \
                 AND j.id <> ALL($1) AND {runnable} ORDER BY r.retry_us LIMIT 1) AS retry \
             ORDER BY next_run_s, next_run_ns LIMIT 1",
            runnable = runnable(2, 3)
        )),
        // One short transaction: due rows in next-run order through jobs_due (the
        // redundant `next_run_s <= $1` gives the planner a range it can estimate),
        // skipping rows another node holds.
        claim: text(format!(
            "SELECT {COLUMNS}, waiting_s, waiting_ns FROM {s}.jobs \
             WHERE NOT paused AND next_run_s IS NOT NULL \
               AND next_run_s <= $1 AND (next_run_s, next_run_ns) <= ($1, $2) AND id <> ALL($3) AND {} \
             ORDER BY next_run_s, next_run_ns LIMIT $4 FOR UPDATE SKIP LOCKED",
            runnable(5, 6)
        )),
        // Through `runs_running_job` (migration 8), by key: the only partial index of
        // running runs, so the planner no longer scans another one whole.
        running_times: text(format!(
            "SELECT id, job_id, sched_s, sched_ns FROM {s}.runs WHERE status = 'running' AND job_id = ANY($1)"
        )),
        reschedule: text(format!(
            "UPDATE {s}.jobs AS j SET next_run_s = u.s, next_run_ns = u.ns \
             FROM UNNEST($1::text[], $2::int8[], $3::int4[]) AS u(id, s, ns) WHERE j.id = u.id"
        )),
        finish: text(format!("DELETE FROM {s}.jobs WHERE id = ANY($1)")),
        park: text(format!(
            "UPDATE {s}.jobs SET next_run_s = NULL, next_run_ns = NULL WHERE id = ANY($1)"
        )),
        record_runs: text(format!(
            "INSERT INTO {s}.runs (job_id, sched_s, sched_ns, node, status, started_us, lease_us, holder) \
             SELECT u.job_id, u.s, u.ns, $4, 'running', $5, $6, $7 \
             FROM UNNEST($1::text[], $2::int8[], $3::int4[]) AS u(job_id, s, ns) \
             ON CONFLICT (job_id, sched_s, sched_ns, attempt) WHERE status <> 'abandoned' DO NOTHING \
             RETURNING id, job_id, sched_s, sched_ns"
        )),
        complete_many: text(format!(
            "UPDATE {s}.runs AS r SET status = u.status, finished_us = u.finished, error = u.error, \
             result = u.result \
             FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::text[], $5::text[]) \
               AS u(id, status, finished, error, result) \
             WHERE r.id = u.id AND r.status = 'running' RETURNING r.id, r.job_id"
        )),
        // A parked job (trigger done, kept for recovery) goes once its last run ends.
        unclaim: text(format!(
            "DELETE FROM {s}.runs WHERE id = ANY($1) AND status = 'running' \
             RETURNING id, job_id, sched_s, sched_ns"
        )),
        unpark_many: text(format!(
            "DELETE FROM {s}.jobs j WHERE j.id = ANY($1) AND j.next_run_s IS NULL AND j.waiting_s IS NULL \
             AND (j.options::jsonb ->> 'recover_abandoned' = 'true' \
                  OR jsonb_typeof(j.options::jsonb -> 'retry') = 'object') \
             AND NOT EXISTS (SELECT 1 FROM {s}.runs r WHERE r.job_id = j.id \
                             AND r.status IN ('running', 'retrying')) RETURNING j.id"
        )),
        release: text(format!(
            "UPDATE {s}.runs SET status = 'cancelled', finished_us = $2, error = 'released at shutdown' \
             WHERE node = $1 AND holder = $3 AND status = 'running'"
        )),
        forget_node: text(format!("DELETE FROM {s}.nodes WHERE id = $1")),
        running: text(format!(
            "SELECT count(*) AS count FROM {s}.runs WHERE job_id = $1 AND status = 'running'"
        )),
        heartbeat: text(format!(
            "INSERT INTO {s}.nodes (id, seen_us, lease_us) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET seen_us = EXCLUDED.seen_us, \
             lease_us = GREATEST({s}.nodes.lease_us, EXCLUDED.lease_us)"
        )),
        // SKIP LOCKED: a run being completed right now needs no renewal, and waiting
        // for it could deadlock with the batch that completes it.
        renew: text(format!(
            "UPDATE {s}.runs SET lease_us = GREATEST(lease_us, $2) WHERE id IN (SELECT id FROM {s}.runs \
             WHERE node = $1 AND holder = $3 AND status = 'running' FOR UPDATE SKIP LOCKED) \
             RETURNING id, cancel_requested"
        )),
        cancel_run: text(format!(
            "UPDATE {s}.runs SET cancel_requested = TRUE WHERE id = $1 AND status = 'running' RETURNING node"
        )),
        run_exists: text(format!(
            "SELECT count(*) AS count FROM {s}.runs WHERE id = $1"
        )),
        cancel_job: text(format!(
            "UPDATE {s}.runs SET cancel_requested = TRUE WHERE job_id = $1 AND status = 'running' RETURNING id"
        )),
        // Batches by the finished-time index, and by the primary key from the oldest
        // id: each delete is short, and none scans the rows it keeps but the
        // unsuccessful ones older than the bound.
        prune: text(format!(
            "DELETE FROM {s}.runs WHERE id IN (SELECT id FROM {s}.runs \
             WHERE finished_us IS NOT NULL AND finished_us < $1 ORDER BY finished_us LIMIT $2)"
        )),
        prune_successes: text(format!(
            "DELETE FROM {s}.runs WHERE id IN (SELECT id FROM {s}.runs \
             WHERE id <= (SELECT max(id) FROM {s}.runs) - $1 AND status = 'success' \
             ORDER BY id LIMIT $2)"
        )),
        abandon: text(format!(
            "UPDATE {s}.runs SET status = 'abandoned', finished_us = $1, error = $3 \
             WHERE id IN (SELECT id FROM {s}.runs WHERE status = 'running' AND lease_us < $2 \
             FOR UPDATE SKIP LOCKED) RETURNING id, job_id, sched_s, sched_ns, node, attempt"
        )),
        lock_jobs: text(format!(
            "SELECT {COLUMNS} FROM {s}.jobs WHERE id = ANY($1) FOR UPDATE"
        )),
        lock_waiting: text(format!(
            "SELECT {COLUMNS}, waiting_s, waiting_ns FROM {s}.jobs \
             WHERE id = ANY($1) AND waiting_s IS NOT NULL ORDER BY id FOR UPDATE"
        )),
        set_waiting: text(format!(
            "UPDATE {s}.jobs SET waiting_s = $2, waiting_ns = $3 WHERE id = $1"
        )),
        supersede: text(format!(
            "UPDATE {s}.runs SET cancel_requested = TRUE \
             WHERE job_id = $1 AND sched_s = $2 AND sched_ns = $3 AND status = 'running' RETURNING id"
        )),
        history: text(format!(
            "SELECT id, job_id, sched_s, sched_ns, started_us, finished_us, node, status, error, attempt, result FROM {s}.runs \
             WHERE ($1::text IS NULL OR job_id = $1) AND ($3::text IS NULL OR status = $3) \
               AND ($4::text IS NULL OR node = $4) AND ($5::int8 IS NULL OR id < $5) \
             ORDER BY id DESC LIMIT $2"
        )),
        job_page: text(format!(
            "SELECT {COLUMNS} FROM {s}.jobs WHERE {search} \
             ORDER BY (paused OR next_run_s IS NULL), next_run_s IS NULL, next_run_s, next_run_ns, id \
             LIMIT $2 OFFSET $3"
        )),
        job_count: text(format!(
            "SELECT count(*) AS count FROM {s}.jobs WHERE {search}"
        )),
        nodes: text(format!(
            "SELECT n.id, n.seen_us, n.lease_us, \
             (SELECT count(*) FROM {s}.runs r WHERE r.node = n.id AND r.status = 'running') AS running \
             FROM {s}.nodes n ORDER BY n.id"
        )),
        set_lock: Some(text(format!(
            "SELECT pg_advisory_xact_lock(hashtext('sched set {schema} ' || $1))"
        ))),
        set_members: text(format!(
            "SELECT id, job_set FROM {s}.jobs WHERE job_set = $1 ORDER BY id FOR UPDATE"
        )),
        set_owners: text(format!(
            "SELECT id, job_set FROM {s}.jobs WHERE id = ANY($1) FOR UPDATE"
        )),
        set_assign: text(format!("UPDATE {s}.jobs SET job_set = $2 WHERE id = $1")),
        retry: text(format!(
            "INSERT INTO {s}.runs (job_id, sched_s, sched_ns, attempt, node, status, started_us, lease_us, retry_us) \
             SELECT r.job_id, r.sched_s, r.sched_ns, r.attempt + $3, r.node, 'retrying', u.due, 0, u.due \
             FROM UNNEST($1::int8[], $2::int8[]) AS u(id, due) JOIN {s}.runs r ON r.id = u.id \
             WHERE EXISTS (SELECT 1 FROM {s}.jobs j WHERE j.id = r.job_id) \
             ON CONFLICT (job_id, sched_s, sched_ns, attempt) WHERE status <> 'abandoned' DO NOTHING"
        )),
        claim_retries: text(format!(
            "SELECT r.id AS run_id, r.attempt, r.sched_s, r.sched_ns, j.id, j.name, j.task, j.args, j.trigger, j.options, j.next_run_s, j.next_run_ns, j.paused \
             FROM {s}.runs r JOIN {s}.jobs j ON j.id = r.job_id \
             WHERE r.status = 'retrying' AND r.retry_us <= $1 AND NOT j.paused AND j.id <> ALL($2) AND {} \
             ORDER BY r.retry_us LIMIT $3 FOR UPDATE OF r, j SKIP LOCKED",
            runnable(4, 5)
        )),
        due_retries: text(format!(
            "SELECT r.id AS run_id, r.attempt, r.sched_s, r.sched_ns, j.id, j.name, j.task, j.args, j.trigger, j.options, j.next_run_s, j.next_run_ns, j.paused \
             FROM {s}.runs r JOIN {s}.jobs j ON j.id = r.job_id \
             WHERE r.status = 'retrying' AND r.job_id = ANY($1) AND r.started_us <= $2 \
             ORDER BY r.started_us, r.id FOR UPDATE OF r"
        )),
        first_retry: text(format!(
            "SELECT r.retry_us AS count FROM {s}.runs r JOIN {s}.jobs j ON j.id = r.job_id \
             WHERE r.status = 'retrying' AND r.retry_us IS NOT NULL AND NOT j.paused \
               AND j.id <> ALL($1) AND {} ORDER BY r.retry_us LIMIT 1",
            runnable(2, 3)
        )),
        start_retries: text(format!(
            "UPDATE {s}.runs SET status = 'running', node = $2, started_us = $3, lease_us = $4, holder = $5, \
             retry_us = NULL WHERE id = ANY($1) AND status = 'retrying' RETURNING id"
        )),
        defer_retries: text(format!(
            "UPDATE {s}.runs SET retry_us = $2 WHERE id = ANY($1) AND status = 'retrying'"
        )),
        drop_retries: text(format!(
            "UPDATE {s}.runs SET status = 'cancelled', finished_us = $2, retry_us = NULL, error = $3 \
             WHERE status = 'retrying' AND ($1::text[] IS NULL OR job_id = ANY($1)) RETURNING id"
        )),
        cancel_retry: text(format!(
            "UPDATE {s}.runs SET status = 'cancelled', finished_us = $2, retry_us = NULL, \
             error = 'cancelled before it started' WHERE id = $1 AND status = 'retrying' RETURNING id"
        )),
        notify: Some(text("SELECT pg_notify($1, '')".to_owned())),
        notify_with: Some(text("SELECT pg_notify($1, $2)".to_owned())),
    }
}
