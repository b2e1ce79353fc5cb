-- The chain is the node registry: the marketplace follows NodeRegistry's events and keeps, for
-- each registered node, its on-chain id, the metadata document it registered (by CID), the key
-- its work is signed with, and its stake as the chain held it at the last block read. A node
-- found on chain waits (inactive, with the reason in status_note) until the examiner calibrates it.
ALTER TABLE nodes
    ADD COLUMN chain_node_id bigint CONSTRAINT nodes_chain_node_id_key UNIQUE CHECK (chain_node_id > 0),
    ADD COLUMN metadata_cid  text,
    ADD COLUMN signer        text,
    ADD COLUMN unbonding_wei numeric(78, 0) NOT NULL DEFAULT 0 CHECK (unbonding_wei >= 0),
    ADD COLUMN synced_block  bigint CHECK (synced_block >= 0),
    ADD COLUMN status_note   text;

-- How far a chain follower has read: the last block it applied and that block's hash (a
-- different hash at that height later means the chain reorganised under it).
CREATE TABLE chain_cursors (
    name         text PRIMARY KEY,
    block_number bigint NOT NULL CHECK (block_number >= 0),
    block_hash   text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
