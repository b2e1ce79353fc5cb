-- A round's confidence: whether the winner's bootstrap interval separates from the runner-up's,
-- and how many times more judgments were recruited to get there. Rankings now also carry each
-- answer's interval ({"node_id", "score", "rank", "lower", "upper"}).
ALTER TABLE rounds
    ADD COLUMN separated boolean,
    ADD COLUMN recruits  integer NOT NULL DEFAULT 0 CHECK (recruits >= 0);
