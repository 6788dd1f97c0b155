-- The store instance (one per process start) that claimed a run. Heartbeats renew, and
-- a clean shutdown releases, only the runs of their own instance: a process started
-- again under the node id of one that died does not adopt the dead one's runs, whose
-- leases then run out (and the runs are reaped and recovered). NULL: claimed by a
-- version before this column, renewed by nobody new.
ALTER TABLE runs ADD COLUMN holder TEXT;
