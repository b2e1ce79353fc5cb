-- The Sybil clusters each closed epoch found (lists of node ids), so the dispatcher can send a
-- task to at most one node of a cluster.
ALTER TABLE epochs ADD COLUMN clusters jsonb NOT NULL DEFAULT '[]';
