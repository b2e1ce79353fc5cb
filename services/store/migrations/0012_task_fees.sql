-- A task's fee is pooled only once it has moved out of the payer's escrow (TaskEscrow) into an
-- epoch's pool: who pays (payer), where the fee stands (fee_state), which epoch's pool received it
-- (fee_epoch) and why it was not pooled (fee_note). A task with a fee waits in 'awaiting_fee'
-- until its escrow is held. Fees declared before this migration were never held: unpaid.
ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
    CHECK (status IN ('awaiting_fee', 'queued', 'answering', 'judging', 'ranking', 'done', 'failed'));

ALTER TABLE tasks
    ADD COLUMN payer text CHECK (payer IS NULL OR payer ~ '^0x[0-9a-fA-F]{40}$'),
    ADD COLUMN fee_state text NOT NULL DEFAULT 'free'
        CHECK (fee_state IN ('free', 'awaiting', 'held', 'moved', 'missing', 'refunded', 'unpaid')),
    ADD COLUMN fee_epoch bigint REFERENCES epochs (id),
    ADD COLUMN fee_note text,
    ADD CONSTRAINT tasks_fee_needs_payer CHECK (fee_state = 'free' OR fee_wei = 0 OR payer IS NOT NULL),
    ADD CONSTRAINT tasks_moved_fee_has_epoch CHECK ((fee_state = 'moved') = (fee_epoch IS NOT NULL));

UPDATE tasks SET fee_state = 'unpaid', fee_note = 'declared before fees were escrowed'
WHERE fee_wei > 0;

CREATE INDEX tasks_fees_held ON tasks (created_at) WHERE fee_state = 'held';
CREATE INDEX tasks_fee_epoch ON tasks (fee_epoch) WHERE fee_epoch IS NOT NULL;
