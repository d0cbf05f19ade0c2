-- Metering of AI calls: tokens and cost per request, and in the hourly rollups per model and provider.

ALTER TABLE usage_events
    ADD COLUMN model_id            uuid,
    ADD COLUMN provider_id         uuid,
    ADD COLUMN upstream_model      text,
    ADD COLUMN input_tokens        bigint,
    ADD COLUMN cached_input_tokens bigint,
    ADD COLUMN output_tokens       bigint,
    ADD COLUMN tokens_estimated    boolean,
    ADD COLUMN cost_nanousd        bigint,
    ADD COLUMN ttft_us             bigint,
    ADD COLUMN fallbacks           integer;

ALTER TABLE usage_hourly
    ADD COLUMN model_id            uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    ADD COLUMN provider_id         uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    ADD COLUMN input_tokens        bigint NOT NULL DEFAULT 0,
    ADD COLUMN cached_input_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN output_tokens       bigint NOT NULL DEFAULT 0,
    ADD COLUMN cost_nanousd        bigint NOT NULL DEFAULT 0;
ALTER TABLE usage_hourly DROP CONSTRAINT usage_hourly_pkey;
ALTER TABLE usage_hourly ADD PRIMARY KEY (tenant_id, hour, key_id, route_id, model_id, provider_id);
