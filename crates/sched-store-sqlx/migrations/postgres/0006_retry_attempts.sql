-- Retries (`JobOptions::retry`): every run is one attempt of its occurrence (1: the
-- first run). A pending retry is a row of its own with status 'retrying', recorded
-- with the end of the attempt before it (one transaction): `started_us` is when it is
-- due, and `retry_us` the same while it waits to be claimed (NULL: it came due while
-- its job had no instance free, and waits for a run of the job to end). The occurrence
-- key holds per attempt: each attempt of an occurrence is recorded once.
ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE runs ADD COLUMN retry_us BIGINT;
CREATE UNIQUE INDEX runs_attempt ON runs (job_id, sched_s, sched_ns, attempt)
    WHERE status <> 'abandoned';
DROP INDEX runs_occurrence;
-- Claims find due retries in due order; a job's pending retries by its id.
CREATE INDEX runs_retry ON runs (retry_us) WHERE status = 'retrying';
CREATE INDEX runs_retrying ON runs (job_id) WHERE status = 'retrying';
