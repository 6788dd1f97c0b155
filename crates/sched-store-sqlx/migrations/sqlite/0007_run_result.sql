-- A run's result: what its task returned, as JSON text (NULL: nothing), bounded by the
-- scheduler (`max_result_bytes`) before it is written. Kept and pruned with the run.
-- Nullable without a default: no table rewrite.
ALTER TABLE runs ADD COLUMN result TEXT;
