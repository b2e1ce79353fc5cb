-- Each node's letter bias as its calibration measured it (letter -> mean log-probability), so
-- multiple-choice answers in live rounds are read with that bias removed; NULL: not calibrated.
ALTER TABLE nodes ADD COLUMN letter_bias jsonb;
