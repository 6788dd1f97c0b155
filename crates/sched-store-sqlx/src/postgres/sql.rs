//! The Postgres statements, schema-qualified once per store.

/// Every statement of one store, with its schema spliced in (validated as an
/// identifier, so the strings are safe to pass as SQL).
#[derive(Debug)]
pub(crate) struct Sql {
    pub(crate) insert: String,
    pub(crate) upsert: String,
    pub(crate) update: String,
    pub(crate) delete: String,
    pub(crate) delete_all: String,
    pub(crate) get: String,
    pub(crate) list: String,
    pub(crate) next_run: String,
    pub(crate) next_due: String,
    pub(crate) claim: String,
    pub(crate) running_counts: String,
    pub(crate) reschedule: String,
    pub(crate) finish: String,
    pub(crate) park: String,
    pub(crate) unpark: String,
    pub(crate) record_runs: String,
    pub(crate) complete: String,
    pub(crate) complete_many: String,
    pub(crate) unpark_many: String,
    pub(crate) release: String,
    pub(crate) forget_node: String,
    pub(crate) running: String,
    pub(crate) heartbeat: String,
    pub(crate) renew: String,
    pub(crate) prune: String,
    pub(crate) abandon: String,
    pub(crate) lock_jobs: String,
    pub(crate) recover: String,
    pub(crate) history: String,
}

const COLUMNS: &str = "id, name, task, args, trigger, options, next_run_s, next_run_ns, paused";

impl Sql {
    pub(crate) fn new(schema: &str) -> Self {
        let s = format!("\"{schema}\"");
        Self {
            insert: format!("INSERT INTO {s}.jobs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
            upsert: format!(
                "INSERT INTO {s}.jobs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, task = EXCLUDED.task, \
                 args = EXCLUDED.args, trigger = EXCLUDED.trigger, options = EXCLUDED.options, \
                 next_run_s = EXCLUDED.next_run_s, next_run_ns = EXCLUDED.next_run_ns, paused = EXCLUDED.paused"
            ),
            update: format!(
                "UPDATE {s}.jobs SET name = $2, task = $3, args = $4, trigger = $5, options = $6, \
                 next_run_s = $7, next_run_ns = $8, paused = $9 WHERE id = $1"
            ),
            delete: format!("DELETE FROM {s}.jobs WHERE id = $1 RETURNING {COLUMNS}"),
            delete_all: format!("DELETE FROM {s}.jobs"),
            get: format!("SELECT {COLUMNS} FROM {s}.jobs WHERE id = $1"),
            list: format!(
                "SELECT {COLUMNS} FROM {s}.jobs \
                 ORDER BY (paused OR next_run_s IS NULL), next_run_s IS NULL, next_run_s, next_run_ns, id"
            ),
            next_run: format!(
                "SELECT next_run_s, next_run_ns FROM {s}.jobs \
                 WHERE NOT paused AND next_run_s IS NOT NULL AND id <> ALL($1) \
                 ORDER BY next_run_s, next_run_ns LIMIT 1"
            ),
            next_due: format!(
                "SELECT next_run_s, next_run_ns FROM {s}.jobs \
                 WHERE NOT paused AND next_run_s IS NOT NULL AND id <> ALL($1) \
                   AND ($2::text[] IS NULL OR task = ANY($2) \
                        OR EXISTS (SELECT 1 FROM unnest($3::text[]) AS p(prefix) WHERE starts_with(task, p.prefix))) \
                 ORDER BY next_run_s, next_run_ns LIMIT 1"
            ),
            // One short transaction: due rows in next-run order through jobs_due (the
            // redundant `next_run_s <= $1` gives the planner a range it can estimate),
            // skipping rows another node holds.
            claim: format!(
                "SELECT {COLUMNS} FROM {s}.jobs \
                 WHERE NOT paused AND next_run_s IS NOT NULL \
                   AND next_run_s <= $1 AND (next_run_s, next_run_ns) <= ($1, $2) AND id <> ALL($3) \
                   AND ($5::text[] IS NULL OR task = ANY($5) \
                        OR EXISTS (SELECT 1 FROM unnest($6::text[]) AS p(prefix) WHERE starts_with(task, p.prefix))) \
                 ORDER BY next_run_s, next_run_ns LIMIT $4 FOR UPDATE SKIP LOCKED"
            ),
            running_counts: format!(
                "SELECT job_id, sched_s, sched_ns FROM {s}.runs WHERE status = 'running' AND job_id = ANY($1)"
            ),
            reschedule: format!(
                "UPDATE {s}.jobs AS j SET next_run_s = u.s, next_run_ns = u.ns \
                 FROM UNNEST($1::text[], $2::int8[], $3::int4[]) AS u(id, s, ns) WHERE j.id = u.id"
            ),
            finish: format!("DELETE FROM {s}.jobs WHERE id = ANY($1)"),
            park: format!("UPDATE {s}.jobs SET next_run_s = NULL, next_run_ns = NULL WHERE id = ANY($1)"),
            // A parked job (trigger done, kept for recovery) goes once its last run ends.
            unpark: format!(
                "DELETE FROM {s}.jobs j WHERE j.id = $1 AND j.next_run_s IS NULL \
                 AND j.options::jsonb ->> 'recover_abandoned' = 'true' \
                 AND NOT EXISTS (SELECT 1 FROM {s}.runs r WHERE r.job_id = $1 AND r.status = 'running')"
            ),
            record_runs: format!(
                "INSERT INTO {s}.runs (job_id, sched_s, sched_ns, node, status, started_us, lease_us) \
                 SELECT u.job_id, u.s, u.ns, $4, 'running', $5, $6 \
                 FROM UNNEST($1::text[], $2::int8[], $3::int4[]) AS u(job_id, s, ns) \
                 ON CONFLICT (job_id, sched_s, sched_ns) WHERE status <> 'abandoned' DO NOTHING \
                 RETURNING id, job_id, sched_s, sched_ns"
            ),
            complete: format!(
                "UPDATE {s}.runs SET status = $2, finished_us = $3, error = $4 WHERE id = $1 AND status = 'running' \
                 RETURNING job_id"
            ),
            complete_many: format!(
                "UPDATE {s}.runs AS r SET status = u.status, finished_us = u.finished, error = u.error \
                 FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::text[]) AS u(id, status, finished, error) \
                 WHERE r.id = u.id AND r.status = 'running' RETURNING r.id, r.job_id"
            ),
            unpark_many: format!(
                "DELETE FROM {s}.jobs j WHERE j.id = ANY($1) AND j.next_run_s IS NULL \
                 AND j.options::jsonb ->> 'recover_abandoned' = 'true' \
                 AND NOT EXISTS (SELECT 1 FROM {s}.runs r WHERE r.job_id = j.id AND r.status = 'running')"
            ),
            release: format!(
                "UPDATE {s}.runs SET status = 'cancelled', finished_us = $2, error = 'released at shutdown' \
                 WHERE node = $1 AND status = 'running'"
            ),
            forget_node: format!("DELETE FROM {s}.nodes WHERE id = $1"),
            running: format!("SELECT count(*) FROM {s}.runs WHERE job_id = $1 AND status = 'running'"),
            heartbeat: format!(
                "INSERT INTO {s}.nodes (id, seen_us, lease_us) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET seen_us = EXCLUDED.seen_us, lease_us = EXCLUDED.lease_us"
            ),
            // SKIP LOCKED: a run being completed right now needs no renewal, and waiting
            // for it could deadlock with the batch that completes it.
            renew: format!(
                "UPDATE {s}.runs SET lease_us = $2 WHERE id IN (SELECT id FROM {s}.runs \
                 WHERE node = $1 AND status = 'running' FOR UPDATE SKIP LOCKED)"
            ),
            prune: format!("DELETE FROM {s}.runs WHERE finished_us IS NOT NULL AND finished_us < $1"),
            abandon: format!(
                "UPDATE {s}.runs SET status = 'abandoned', finished_us = $1, error = 'node stopped heartbeating' \
                 WHERE id IN (SELECT id FROM {s}.runs WHERE status = 'running' AND lease_us < $1 \
                 FOR UPDATE SKIP LOCKED) RETURNING id, job_id, sched_s, sched_ns, node"
            ),
            lock_jobs: format!("SELECT {COLUMNS} FROM {s}.jobs WHERE id = ANY($1) FOR UPDATE"),
            recover: format!("UPDATE {s}.jobs SET next_run_s = $2, next_run_ns = $3 WHERE id = $1"),
            history: format!(
                "SELECT id, job_id, sched_s, sched_ns, started_us, finished_us, node, status, error FROM {s}.runs \
                 WHERE ($1::text IS NULL OR job_id = $1) ORDER BY id DESC LIMIT $2"
            ),
        }
    }
}
