//! The SQLite statements. Lists are JSON arrays, read with `json_each`; lists bound
//! side by side (ids, seconds, nanoseconds) are joined on their index (`key`).

use std::sync::Arc;

use crate::sql::{Sql, COLUMNS};

/// `?1` search text (`NULL`: every job) in the id, name or task, any case (ASCII:
/// SQLite's `lower`).
const SEARCH: &str = "(?1 IS NULL OR instr(lower(id), lower(?1)) > 0 \
                      OR instr(lower(name), lower(?1)) > 0 OR instr(lower(task), lower(?1)) > 0)";

/// Which tasks a node runs: `?a` names (`NULL`: any), `?b` name prefixes.
fn runnable(names: u8, prefixes: u8) -> String {
    format!(
        "(?{names} IS NULL OR task IN (SELECT value FROM json_each(?{names})) \
         OR EXISTS (SELECT 1 FROM json_each(?{prefixes}) AS p WHERE substr(task, 1, length(p.value)) = p.value))"
    )
}

/// `?1, ?2, ?3` zipped: `u(a, b, c)` rows.
fn zip3(a: &str, b: &str, c: &str) -> String {
    format!(
        "(SELECT x.value AS {a}, y.value AS {b}, z.value AS {c} FROM json_each(?1) AS x \
         JOIN json_each(?2) AS y ON y.key = x.key JOIN json_each(?3) AS z ON z.key = x.key)"
    )
}

/// The statements (one schema per file).
pub(crate) fn sql() -> Sql {
    let text = |sql: String| Arc::<str>::from(sql);
    Sql {
        // The write lock at once: no other writer interleaves with a claim.
        begin: "BEGIN IMMEDIATE",
        insert: text(format!(
            "INSERT INTO jobs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        )),
        insert_many: None,
        held_ids: text(
            "SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(?1))".to_owned(),
        ),
        upsert: text(format!(
            "INSERT INTO jobs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, task = excluded.task, \
             args = excluded.args, trigger = excluded.trigger, options = excluded.options, \
             next_run_s = excluded.next_run_s, next_run_ns = excluded.next_run_ns, paused = excluded.paused, \
             waiting_s = CASE WHEN excluded.paused THEN NULL ELSE jobs.waiting_s END, \
             waiting_ns = CASE WHEN excluded.paused THEN NULL ELSE jobs.waiting_ns END"
        )),
        update: text(
            "UPDATE jobs SET name = ?2, task = ?3, args = ?4, trigger = ?5, options = ?6, \
             next_run_s = ?7, next_run_ns = ?8, paused = ?9, \
             waiting_s = CASE WHEN ?9 THEN NULL ELSE waiting_s END, \
             waiting_ns = CASE WHEN ?9 THEN NULL ELSE waiting_ns END WHERE id = ?1"
                .to_owned(),
        ),
        delete: text("DELETE FROM jobs WHERE id = ?1".to_owned()),
        delete_all: text("DELETE FROM jobs".to_owned()),
        get: text(format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1")),
        list: text(format!(
            "SELECT {COLUMNS} FROM jobs \
             ORDER BY (paused OR next_run_s IS NULL), next_run_s IS NULL, next_run_s, next_run_ns, id"
        )),
        unrunnable: text(format!(
            "SELECT id, task FROM jobs WHERE NOT {runnable} ORDER BY id",
            runnable = runnable(1, 2)
        )),
        next_due: text(format!(
            "SELECT * FROM (SELECT id, next_run_s, next_run_ns, 0 AS retry FROM jobs WHERE paused = 0 AND next_run_s IS NOT NULL \
               AND id NOT IN (SELECT value FROM json_each(?1)) AND {runnable} \
               ORDER BY next_run_s, next_run_ns LIMIT 1) \
             UNION ALL SELECT * FROM (SELECT j.id AS id, r.retry_us / 1000000 AS next_run_s, \
               r.retry_us % 1000000 * 1000 AS next_run_ns, 1 AS retry \
               FROM runs r JOIN jobs j ON j.id = r.job_id \
               WHERE r.status = 'retrying' AND r.retry_us IS NOT NULL AND j.paused = 0 \
                 AND j.id NOT IN (SELECT value FROM json_each(?1)) AND {runnable} \
               ORDER BY r.retry_us LIMIT 1) \
             ORDER BY next_run_s, next_run_ns LIMIT 1",
            runnable = runnable(2, 3)
        )),
        claim: text(format!(
            "SELECT {COLUMNS}, waiting_s, waiting_ns FROM jobs \
             WHERE paused = 0 AND next_run_s IS NOT NULL \
               AND (next_run_s < ?1 OR (next_run_s = ?1 AND next_run_ns <= ?2)) \
               AND id NOT IN (SELECT value FROM json_each(?3)) AND {} \
             ORDER BY next_run_s, next_run_ns LIMIT ?4",
            runnable(5, 6)
        )),
        running_times: text(
            "SELECT id, job_id, sched_s, sched_ns FROM runs WHERE status = 'running' \
             AND job_id IN (SELECT value FROM json_each(?1))"
                .to_owned(),
        ),
        reschedule: text(format!(
            "UPDATE jobs SET next_run_s = u.s, next_run_ns = u.ns FROM {} AS u WHERE jobs.id = u.id",
            zip3("id", "s", "ns")
        )),
        finish: text("DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?1))".to_owned()),
        park: text(
            "UPDATE jobs SET next_run_s = NULL, next_run_ns = NULL \
             WHERE id IN (SELECT value FROM json_each(?1))"
                .to_owned(),
        ),
        // `WHERE true`: an upsert after `INSERT .. SELECT` needs it to parse.
        record_runs: text(format!(
            "INSERT INTO runs (job_id, sched_s, sched_ns, node, status, started_us, lease_us, holder) \
             SELECT u.job_id, u.s, u.ns, ?4, 'running', ?5, ?6, ?7 FROM {} AS u WHERE true \
             ON CONFLICT (job_id, sched_s, sched_ns, attempt) WHERE status <> 'abandoned' DO NOTHING \
             RETURNING id, job_id, sched_s, sched_ns",
            zip3("job_id", "s", "ns")
        )),
        complete_many: text(
            "UPDATE runs SET status = u.status, finished_us = u.finished, error = u.error, result = u.result \
             FROM (SELECT a.value AS id, b.value AS status, c.value AS finished, d.value AS error, \
                          e.value AS result \
                   FROM json_each(?1) AS a JOIN json_each(?2) AS b ON b.key = a.key \
                   JOIN json_each(?3) AS c ON c.key = a.key JOIN json_each(?4) AS d ON d.key = a.key \
                   JOIN json_each(?5) AS e ON e.key = a.key) AS u \
             WHERE runs.id = u.id AND runs.status = 'running' RETURNING runs.id AS id, runs.job_id AS job_id"
                .to_owned(),
        ),
        // A parked job (trigger done, kept for recovery) goes once its last run ends.
        unclaim: text(
            "DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'running' \
             RETURNING id, job_id, sched_s, sched_ns"
                .to_owned(),
        ),
        unpark_many: text(
            "DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?1)) AND next_run_s IS NULL \
             AND waiting_s IS NULL \
             AND (json_extract(options, '$.recover_abandoned') = 1 OR json_type(options, '$.retry') = 'object') \
             AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.job_id = jobs.id \
                             AND runs.status IN ('running', 'retrying')) RETURNING id"
                .to_owned(),
        ),
        release: text(
            "UPDATE runs SET status = 'cancelled', finished_us = ?2, error = 'released at shutdown' \
             WHERE node = ?1 AND holder = ?3 AND status = 'running'"
                .to_owned(),
        ),
        forget_node: text("DELETE FROM nodes WHERE id = ?1".to_owned()),
        running: text(
            "SELECT count(*) AS count FROM runs WHERE job_id = ?1 AND status = 'running'".to_owned(),
        ),
        heartbeat: text(
            "INSERT INTO nodes (id, seen_us, lease_us) VALUES (?1, ?2, ?3) \
             ON CONFLICT (id) DO UPDATE SET seen_us = excluded.seen_us, \
             lease_us = MAX(nodes.lease_us, excluded.lease_us)"
                .to_owned(),
        ),
        renew: text(
            "UPDATE runs SET lease_us = MAX(lease_us, ?2) \
             WHERE node = ?1 AND holder = ?3 AND status = 'running' RETURNING id, cancel_requested"
                .to_owned(),
        ),
        cancel_run: text(
            "UPDATE runs SET cancel_requested = 1 WHERE id = ?1 AND status = 'running' RETURNING node"
                .to_owned(),
        ),
        run_exists: text("SELECT count(*) AS count FROM runs WHERE id = ?1".to_owned()),
        cancel_job: text(
            "UPDATE runs SET cancel_requested = 1 WHERE job_id = ?1 AND status = 'running' RETURNING id"
                .to_owned(),
        ),
        prune: text(
            "DELETE FROM runs WHERE id IN (SELECT id FROM runs \
             WHERE finished_us IS NOT NULL AND finished_us < ?1 ORDER BY finished_us LIMIT ?2)"
                .to_owned(),
        ),
        prune_successes: text(
            "DELETE FROM runs WHERE id IN (SELECT id FROM runs \
             WHERE id <= (SELECT max(id) FROM runs) - ?1 AND status = 'success' \
             ORDER BY id LIMIT ?2)"
                .to_owned(),
        ),
        abandon: text(
            "UPDATE runs SET status = 'abandoned', finished_us = ?1, error = ?3 \
             WHERE status = 'running' AND lease_us < ?2 RETURNING id, job_id, sched_s, sched_ns, node, attempt"
                .to_owned(),
        ),
        // The claim transaction's write lock already keeps others out.
        lock_jobs: text(format!(
            "SELECT {COLUMNS} FROM jobs WHERE id IN (SELECT value FROM json_each(?1))"
        )),
        lock_waiting: text(format!(
            "SELECT {COLUMNS}, waiting_s, waiting_ns FROM jobs \
             WHERE id IN (SELECT value FROM json_each(?1)) AND waiting_s IS NOT NULL ORDER BY id"
        )),
        set_waiting: text(
            "UPDATE jobs SET waiting_s = ?2, waiting_ns = ?3 WHERE id = ?1".to_owned(),
        ),
        supersede: text(
            "UPDATE runs SET cancel_requested = 1 \
             WHERE job_id = ?1 AND sched_s = ?2 AND sched_ns = ?3 AND status = 'running' RETURNING id"
                .to_owned(),
        ),
        history: text(
            "SELECT id, job_id, sched_s, sched_ns, started_us, finished_us, node, status, error, attempt, result FROM runs \
             WHERE (?1 IS NULL OR job_id = ?1) AND (?3 IS NULL OR status = ?3) \
               AND (?4 IS NULL OR node = ?4) AND (?5 IS NULL OR id < ?5) \
             ORDER BY id DESC LIMIT ?2"
                .to_owned(),
        ),
        job_page: text(format!(
            "SELECT {COLUMNS} FROM jobs WHERE {SEARCH} \
             ORDER BY (paused OR next_run_s IS NULL), next_run_s IS NULL, next_run_s, next_run_ns, id \
             LIMIT ?2 OFFSET ?3"
        )),
        job_count: text(format!("SELECT count(*) AS count FROM jobs WHERE {SEARCH}")),
        nodes: text(
            "SELECT n.id, n.seen_us, n.lease_us, \
             (SELECT count(*) FROM runs r WHERE r.node = n.id AND r.status = 'running') AS running \
             FROM nodes n ORDER BY n.id"
                .to_owned(),
        ),
        set_lock: None,
        set_members: text(
            "SELECT id, job_set FROM jobs WHERE job_set = ?1 ORDER BY id".to_owned(),
        ),
        set_owners: text(
            "SELECT id, job_set FROM jobs WHERE id IN (SELECT value FROM json_each(?1))".to_owned(),
        ),
        set_assign: text("UPDATE jobs SET job_set = ?2 WHERE id = ?1".to_owned()),
        retry: text(
            "INSERT INTO runs (job_id, sched_s, sched_ns, attempt, node, status, started_us, lease_us, retry_us) \
             SELECT r.job_id, r.sched_s, r.sched_ns, r.attempt + ?3, r.node, 'retrying', u.due, 0, u.due \
             FROM (SELECT a.value AS id, b.value AS due FROM json_each(?1) AS a \
                   JOIN json_each(?2) AS b ON b.key = a.key) AS u JOIN runs r ON r.id = u.id \
             WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.id = r.job_id) \
             ON CONFLICT (job_id, sched_s, sched_ns, attempt) WHERE status <> 'abandoned' DO NOTHING"
                .to_owned(),
        ),
        claim_retries: text(format!(
            "SELECT r.id AS run_id, r.attempt AS attempt, r.sched_s AS sched_s, r.sched_ns AS sched_ns, j.id, j.name, j.task, j.args, j.trigger, j.options, j.next_run_s, j.next_run_ns, j.paused \
             FROM runs r JOIN jobs j ON j.id = r.job_id \
             WHERE r.status = 'retrying' AND r.retry_us <= ?1 AND j.paused = 0 \
               AND j.id NOT IN (SELECT value FROM json_each(?2)) AND {} \
             ORDER BY r.retry_us LIMIT ?3",
            runnable(4, 5)
        )),
        due_retries: text(
            "SELECT r.id AS run_id, r.attempt AS attempt, r.sched_s AS sched_s, r.sched_ns AS sched_ns, j.id, j.name, j.task, j.args, j.trigger, j.options, j.next_run_s, j.next_run_ns, j.paused \
             FROM runs r JOIN jobs j ON j.id = r.job_id \
             WHERE r.status = 'retrying' AND r.job_id IN (SELECT value FROM json_each(?1)) \
               AND r.started_us <= ?2 ORDER BY r.started_us, r.id"
                .to_owned(),
        ),
        first_retry: text(format!(
            "SELECT r.retry_us AS count FROM runs r JOIN jobs j ON j.id = r.job_id \
             WHERE r.status = 'retrying' AND r.retry_us IS NOT NULL AND j.paused = 0 \
               AND j.id NOT IN (SELECT value FROM json_each(?1)) AND {} \
             ORDER BY r.retry_us LIMIT 1",
            runnable(2, 3)
        )),
        start_retries: text(
            "UPDATE runs SET status = 'running', node = ?2, started_us = ?3, lease_us = ?4, holder = ?5, \
             retry_us = NULL WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'retrying' RETURNING id"
                .to_owned(),
        ),
        defer_retries: text(
            "UPDATE runs SET retry_us = ?2 \
             WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'retrying'"
                .to_owned(),
        ),
        drop_retries: text(
            "UPDATE runs SET status = 'cancelled', finished_us = ?2, retry_us = NULL, error = ?3 \
             WHERE status = 'retrying' AND (?1 IS NULL OR job_id IN (SELECT value FROM json_each(?1))) \
             RETURNING id"
                .to_owned(),
        ),
        cancel_retry: text(
            "UPDATE runs SET status = 'cancelled', finished_us = ?2, retry_us = NULL, \
             error = 'cancelled before it started' WHERE id = ?1 AND status = 'retrying' RETURNING id"
                .to_owned(),
        ),
        notify: None,
        notify_with: None,
    }
}
