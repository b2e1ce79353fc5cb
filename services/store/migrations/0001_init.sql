-- 0001: nodes, tasks and what a round records; epochs; the chain outbox.
-- Money is numeric(78,0): every uint256 fits, and it maps to a Python int exactly.
-- Enum CHECKs mirror the StrEnums in services/core/types.py.

CREATE TABLE nodes (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CONSTRAINT nodes_name_key UNIQUE CHECK (name <> ''),
    endpoint_url  text NOT NULL,
    model         text NOT NULL,
    kind          text NOT NULL DEFAULT 'openai' CHECK (kind IN ('test', 'openai')),
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    reputation_bp integer NOT NULL DEFAULT 5000 CHECK (reputation_bp BETWEEN 0 AND 10000),
    stake_wei     numeric(78, 0) NOT NULL DEFAULT 0 CHECK (stake_wei >= 0),
    address       text CONSTRAINT nodes_address_key UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE epochs (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status     text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'settled')),
    pool_wei   numeric(78, 0) NOT NULL DEFAULT 0 CHECK (pool_wei >= 0),
    audit_cid  text,
    opened_at  timestamptz NOT NULL DEFAULT now(),
    closed_at  timestamptz,
    CONSTRAINT epochs_closed_at_iff_not_open CHECK ((status = 'open') = (closed_at IS NULL))
);
-- at most one open epoch
CREATE UNIQUE INDEX epochs_one_open ON epochs ((true)) WHERE status = 'open';

CREATE TABLE tasks (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    prompt      text NOT NULL,
    requester   text NOT NULL,
    fee_wei     numeric(78, 0) NOT NULL CHECK (fee_wei >= 0),
    swarm_size  integer NOT NULL CHECK (swarm_size > 0),
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'answering', 'judging', 'ranking', 'done', 'failed')),
    error       text,
    epoch_id    bigint REFERENCES epochs (id),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),  -- orders tasks within a transaction
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX tasks_created_at ON tasks (created_at DESC);
CREATE INDEX tasks_epoch_id ON tasks (epoch_id) WHERE epoch_id IS NOT NULL;

CREATE TABLE answers (
    task_id     uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    node_id     bigint NOT NULL REFERENCES nodes (id),
    status      text NOT NULL CHECK (status IN ('ok', 'no_show')),
    content     text,
    latency_ms  integer NOT NULL CHECK (latency_ms >= 0),
    raw         jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, node_id)
);

CREATE TABLE judgments (
    task_id     uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    judge_id    bigint NOT NULL REFERENCES nodes (id),
    left_id     bigint NOT NULL REFERENCES nodes (id),
    right_id    bigint NOT NULL REFERENCES nodes (id),
    outcome     text NOT NULL CHECK (outcome IN ('left', 'right', 'tie')),
    raw         jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, judge_id, left_id, right_id),
    CONSTRAINT judgments_judge_not_judged CHECK (judge_id <> left_id AND judge_id <> right_id),
    CONSTRAINT judgments_distinct_pair CHECK (left_id <> right_id)
);

CREATE TABLE rounds (
    task_id     uuid PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    node_ids    bigint[] NOT NULL,
    pairs       jsonb NOT NULL DEFAULT '[]',      -- [{"judge_id", "left_id", "right_id"}, ...]
    winner_id   bigint REFERENCES nodes (id),
    ranking     jsonb NOT NULL DEFAULT '[]',      -- [{"node_id", "score", "rank"}, ...]
    method      text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

CREATE TABLE chain_outbox (
    id          bigserial PRIMARY KEY,
    intent_key  text NOT NULL CONSTRAINT chain_outbox_intent_key_key UNIQUE,
    chain_id    bigint NOT NULL CHECK (chain_id > 0),
    sender      text NOT NULL,
    to_address  text,
    data        text NOT NULL CHECK (data ~ '^0x([0-9a-fA-F]{2})*$'),
    value_wei   numeric(78, 0) NOT NULL DEFAULT 0 CHECK (value_wei >= 0),
    nonce       bigint CHECK (nonce >= 0),
    tx_hash     text,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'mined', 'failed')),
    receipt     jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chain_outbox_sent_has_nonce CHECK (status = 'pending' OR (nonce IS NOT NULL AND tx_hash IS NOT NULL))
);
-- one transaction per (chain, sender, nonce): a retry can never sign a second one
CREATE UNIQUE INDEX chain_outbox_sender_nonce ON chain_outbox (chain_id, lower(sender), nonce)
    WHERE nonce IS NOT NULL;
CREATE INDEX chain_outbox_unfinished ON chain_outbox (id) WHERE status IN ('pending', 'sent');
