-- A run that `cancel_run` / `cancel_job` asked to stop: the node holding it hears of it
-- by NOTIFY, and finds it again at its next heartbeat (which returns the flag) in case
-- the notice was lost. A constant default: no table rewrite.
ALTER TABLE runs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
