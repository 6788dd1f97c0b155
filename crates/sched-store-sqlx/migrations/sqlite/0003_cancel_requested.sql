-- A run that `cancel_run` / `cancel_job` asked to stop: the process holding it finds it
-- at its next heartbeat (which returns the flag).
ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
