-- Rounds rank candidates (distinct answers with their supporters) and record the seats each node
-- held (drawn in proportion to stake); nodes carry what the marketplace has learned of them as
-- answerers and as judges, in thousandths of an observation (see services.core.types.Reliability).
ALTER TABLE rounds ADD COLUMN seats jsonb;
ALTER TABLE rounds ADD COLUMN candidates jsonb NOT NULL DEFAULT '[]';
ALTER TABLE nodes ADD COLUMN answer_hits bigint NOT NULL DEFAULT 0 CHECK (answer_hits >= 0);
ALTER TABLE nodes ADD COLUMN answer_total bigint NOT NULL DEFAULT 0 CHECK (answer_total >= answer_hits);
ALTER TABLE nodes ADD COLUMN judge_hits bigint NOT NULL DEFAULT 0 CHECK (judge_hits >= 0);
ALTER TABLE nodes ADD COLUMN judge_total bigint NOT NULL DEFAULT 0 CHECK (judge_total >= judge_hits);
-- weights now hold each node's [answer, judge] rates in parts per million as the round used them;
-- the judge influences stored before cannot be read that way (their epochs' bundles keep them)
UPDATE rounds SET weights = NULL;
ALTER TABLE nodes ADD COLUMN gold_answer_hits bigint NOT NULL DEFAULT 0 CHECK (gold_answer_hits >= 0);
ALTER TABLE nodes ADD COLUMN gold_answer_total bigint NOT NULL DEFAULT 0 CHECK (gold_answer_total >= gold_answer_hits);
ALTER TABLE nodes ADD COLUMN gold_judge_hits bigint NOT NULL DEFAULT 0 CHECK (gold_judge_hits >= 0);
ALTER TABLE nodes ADD COLUMN gold_judge_total bigint NOT NULL DEFAULT 0 CHECK (gold_judge_total >= gold_judge_hits);
ALTER TABLE nodes ADD COLUMN distrusted boolean NOT NULL DEFAULT false;
