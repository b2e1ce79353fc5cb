-- Hidden gold tasks, kept apart from the tasks they ride on (a gold task's row looks like any other):
-- the set committed for an epoch before its first task (the Merkle root of its items' commitments,
-- also written on chain), and which item of which set each gold task carries. The items themselves
-- are never stored: they follow from the deployment's secret and the (set, index).
CREATE TABLE gold_sets (
    epoch_id     bigint PRIMARY KEY REFERENCES epochs (id),
    root         bytea NOT NULL CHECK (length(root) = 32),
    size         integer NOT NULL CHECK (size > 0),
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE gold_tasks (
    task_id    uuid PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    set_epoch  bigint NOT NULL REFERENCES gold_sets (epoch_id),
    item_index integer NOT NULL CHECK (item_index >= 0),
    beside     uuid REFERENCES tasks (id) ON DELETE SET NULL,  -- the requester task it came with
    CONSTRAINT gold_tasks_one_task_per_item UNIQUE (set_epoch, item_index),
    CONSTRAINT gold_tasks_one_per_task UNIQUE (beside)
);

-- Calibration attempts, for the rate limit: each attempt draws fresh questions (node, attempt).
ALTER TABLE nodes ADD COLUMN calibration_attempts integer NOT NULL DEFAULT 0 CHECK (calibration_attempts >= 0);
ALTER TABLE nodes ADD COLUMN last_calibration_at timestamptz;
