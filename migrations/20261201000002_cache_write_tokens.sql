-- Anthropic bills writes to its prompt cache at their own price; the usage log shows how many.
ALTER TABLE usage_events ADD COLUMN cache_write_tokens bigint;
