-- Providers that charge for writing to their prompt cache (Anthropic) bill those tokens at their own price.
ALTER TABLE models ADD COLUMN cache_write_nanousd_per_mtok bigint;
UPDATE models SET cache_write_nanousd_per_mtok = input_nanousd_per_mtok;
ALTER TABLE models ALTER COLUMN cache_write_nanousd_per_mtok SET NOT NULL;
ALTER TABLE models ADD CHECK (cache_write_nanousd_per_mtok >= 0);
