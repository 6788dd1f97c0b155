-- The declared set a job belongs to (`sync_jobs`); NULL: in none. Written and read
-- only by `sync_jobs`, which finds a set's jobs by this index.
ALTER TABLE jobs ADD COLUMN job_set TEXT;
CREATE INDEX jobs_set ON jobs (job_set) WHERE job_set IS NOT NULL;
