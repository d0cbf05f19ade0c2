-- How each proxy counts limits (local, shared through Redis, or local while Redis is away).
ALTER TABLE dataplanes ADD COLUMN limits text;
