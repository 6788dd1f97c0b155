-- Jobs, runs and nodes of one sched schema. Instants are (seconds, nanoseconds)
-- pairs so they round-trip exactly; ids compare byte-wise (COLLATE "C").
CREATE TABLE jobs (
    id           TEXT COLLATE "C" PRIMARY KEY,
    name         TEXT NOT NULL,
    task         TEXT NOT NULL,
    args         TEXT NOT NULL,
    trigger      TEXT NOT NULL,
    options      TEXT NOT NULL,
    next_run_s   BIGINT,
    next_run_ns  INTEGER,
    paused       BOOLEAN NOT NULL DEFAULT FALSE
);

-- The claim query walks this index in next-run order, due jobs only.
CREATE INDEX jobs_due ON jobs (next_run_s, next_run_ns)
    WHERE NOT paused AND next_run_s IS NOT NULL;

CREATE TABLE runs (
    id           BIGSERIAL PRIMARY KEY,
    job_id       TEXT COLLATE "C" NOT NULL,
    sched_s      BIGINT NOT NULL,
    sched_ns     INTEGER NOT NULL,
    node         TEXT NOT NULL,
    status       TEXT NOT NULL,
    started_us   BIGINT NOT NULL,
    finished_us  BIGINT,
    lease_us     BIGINT NOT NULL,
    error        TEXT
);

-- One occurrence of a job is recorded once, whatever the code does: a second claim
-- of (job, scheduled time) is impossible at the database. Abandoned runs do not
-- count, so a recovered occurrence can be claimed again.
CREATE UNIQUE INDEX runs_occurrence ON runs (job_id, sched_s, sched_ns)
    WHERE status <> 'abandoned';
CREATE INDEX runs_running ON runs (job_id) WHERE status = 'running';
CREATE INDEX runs_lease ON runs (lease_us) WHERE status = 'running';
CREATE INDEX runs_finished ON runs (finished_us) WHERE finished_us IS NOT NULL;

CREATE TABLE nodes (
    id         TEXT PRIMARY KEY,
    seen_us    BIGINT NOT NULL,
    lease_us   BIGINT NOT NULL
);
