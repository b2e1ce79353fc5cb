-- Epoch closing: each node's reward and reputation change per closed epoch, and the gold-anchored
-- part of a node's reputation.
ALTER TABLE nodes
    ADD COLUMN reputation_anchor_bp integer NOT NULL DEFAULT 5000
        CHECK (reputation_anchor_bp BETWEEN 0 AND 10000);

CREATE TABLE epoch_nodes (
    epoch_id              bigint NOT NULL REFERENCES epochs (id),
    node_id               bigint NOT NULL REFERENCES nodes (id),
    reward_wei            numeric(78, 0) NOT NULL CHECK (reward_wei >= 0),
    reputation_before_bp  integer NOT NULL CHECK (reputation_before_bp BETWEEN 0 AND 10000),
    reputation_after_bp   integer NOT NULL CHECK (reputation_after_bp BETWEEN 0 AND 10000),
    anchor_after_bp       integer NOT NULL CHECK (anchor_after_bp BETWEEN 0 AND 10000),
    withheld              boolean NOT NULL DEFAULT false,
    PRIMARY KEY (epoch_id, node_id)
);
