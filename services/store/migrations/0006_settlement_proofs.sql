-- The zk proof of each settlement: the encoded proposal proof (reused by a retry), the workers'
-- py_ecc verdict and why, so `merit epoch show` can print the proof's status on both sides.
ALTER TABLE settlements
    ADD COLUMN proof          bytea,
    ADD COLUMN proof_status   text NOT NULL DEFAULT 'none'
        CHECK (proof_status IN ('none', 'verified', 'rejected')),
    ADD COLUMN proof_detail   text,
    ADD COLUMN proof_chunks   integer NOT NULL DEFAULT 0 CHECK (proof_chunks >= 0);
