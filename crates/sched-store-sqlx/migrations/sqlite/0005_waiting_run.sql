-- The run of a job waiting for an instance (overlap policies queue_one and
-- cancel_previous): the scheduled time it stands for, (seconds, nanoseconds); NULL:
-- none waits. Set by a claim that found the job at max_instances, cleared when it
-- starts (recorded in the same transaction, under the occurrence key) or when the
-- job is paused. Nullable without a default: no table rewrite.
ALTER TABLE jobs ADD COLUMN waiting_s INTEGER;
ALTER TABLE jobs ADD COLUMN waiting_ns INTEGER;
