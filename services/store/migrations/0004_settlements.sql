-- Settlement of closed epochs on chain: one record per epoch (root, total, reputation words, the
-- outbox intents that propose and finalize it) and each on-chain node's cumulative leaf with its
-- Merkle proof, so a node can claim from the latest finalized settlement.
CREATE TABLE settlements (
    epoch_id         bigint PRIMARY KEY REFERENCES epochs (id),
    chain_id         bigint NOT NULL,
    root             text NOT NULL CHECK (root ~ '^0x[0-9a-f]{64}$'),
    total_wei        numeric(78, 0) NOT NULL CHECK (total_wei >= 0),
    audit_cid        text NOT NULL,
    rep_first_word   numeric(78, 0) NOT NULL CHECK (rep_first_word >= 0),
    rep_words        jsonb NOT NULL,  -- decimal strings, words rep_first_word .. + len - 1
    left_out         jsonb NOT NULL DEFAULT '[]',  -- off-chain node ids without an on-chain identity
    status           text NOT NULL DEFAULT 'recorded'
        CHECK (status IN ('recorded', 'awaiting_verifier', 'proposed', 'finalized')),
    propose_intent   text,
    finalize_intent  text,
    detail           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE claims (
    epoch_id        bigint NOT NULL REFERENCES settlements (epoch_id),
    chain_node_id   bigint NOT NULL CHECK (chain_node_id > 0),
    node_id         bigint REFERENCES nodes (id),
    account         text NOT NULL,
    reward_wei      numeric(78, 0) NOT NULL CHECK (reward_wei >= 0),
    cumulative_wei  numeric(78, 0) NOT NULL CHECK (cumulative_wei >= reward_wei),
    proof           jsonb NOT NULL,  -- 0x-hex bytes32 siblings
    PRIMARY KEY (epoch_id, chain_node_id)
);
CREATE INDEX claims_by_account ON claims (lower(account), epoch_id DESC);
CREATE INDEX claims_by_chain_node ON claims (chain_node_id, epoch_id DESC);
