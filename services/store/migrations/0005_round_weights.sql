-- The judge weights (influence) a round's fit used, so an auditor can refit it; NULL: equal weights.
ALTER TABLE rounds ADD COLUMN weights jsonb;
