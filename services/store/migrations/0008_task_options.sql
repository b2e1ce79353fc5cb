-- Multiple-choice tasks: the options a node chooses among (by letter, read from its
-- log-probabilities); NULL for free-text tasks.
ALTER TABLE tasks ADD COLUMN options jsonb;
