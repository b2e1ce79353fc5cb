-- Signed work: every answer and verdict carries the EIP-712 message its node signed
-- (services.core.work: the round, the hashes of the exact request and reply bodies and, for a
-- verdict, of the two answers shown), the signature, and the address it recovers to. Work that
-- is unsigned or not signed by the node's registered key for exactly this work is kept with the
-- status 'rejected' (the reason in raw) and is never counted or paid.
ALTER TABLE answers
    DROP CONSTRAINT answers_status_check,
    ADD CONSTRAINT answers_status_check CHECK (status IN ('ok', 'no_show', 'rejected')),
    ADD COLUMN work_round   bigint CHECK (work_round >= 0),
    ADD COLUMN request_hash bytea CHECK (octet_length(request_hash) = 32),
    ADD COLUMN reply_hash   bytea CHECK (octet_length(reply_hash) = 32),
    ADD COLUMN signature    bytea,
    ADD COLUMN signer       text;

ALTER TABLE judgments
    ADD COLUMN status       text NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'rejected')),
    ADD COLUMN work_round   bigint CHECK (work_round >= 0),
    ADD COLUMN left_hash    bytea CHECK (octet_length(left_hash) = 32),
    ADD COLUMN right_hash   bytea CHECK (octet_length(right_hash) = 32),
    ADD COLUMN request_hash bytea CHECK (octet_length(request_hash) = 32),
    ADD COLUMN reply_hash   bytea CHECK (octet_length(reply_hash) = 32),
    ADD COLUMN signature    bytea,
    ADD COLUMN signer       text;
