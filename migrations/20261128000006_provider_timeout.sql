-- How long a provider may take to start answering before the proxy falls back.
ALTER TABLE providers ADD COLUMN timeout_ms bigint NOT NULL DEFAULT 120000 CHECK (timeout_ms > 0);
