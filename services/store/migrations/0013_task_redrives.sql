-- The reconciler drives on a task that sits in a non-final state without progress: how often it
-- has re-driven the task since its last change of state (a task that does not move after a few
-- re-drives is failed), and an index that finds the unfinished tasks by their last change.
ALTER TABLE tasks ADD COLUMN redrives integer NOT NULL DEFAULT 0 CHECK (redrives >= 0);
CREATE INDEX tasks_unfinished ON tasks (updated_at) WHERE status NOT IN ('done', 'failed');
