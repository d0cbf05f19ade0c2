-- AI providers (credentials encrypted at rest), the models clients call, and the price catalog.

CREATE TABLE providers (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('openai', 'azure_openai', 'anthropic', 'gemini', 'mistral', 'openai_compatible')),
    base_url     text NOT NULL,
    api_version  text,                    -- Azure OpenAI's api-version
    -- AES-256-GCM (nonce || ciphertext, bound to the row id) of {"api_key": ..., "headers": {...}}.
    credentials  bytea NOT NULL,
    key_hint     text NOT NULL,           -- like "sk-…f3a9": enough to recognise, useless to steal
    header_names text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE TRIGGER providers_updated_at BEFORE UPDATE ON providers FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- List prices of well-known models, per million tokens in integer nano-dollars. Seeded from
-- server/data/model-prices.csv; platform admins may edit rows (edited rows are kept on re-seed).
CREATE TABLE price_catalog (
    provider                 text NOT NULL,
    model                    text NOT NULL,
    mode                     text NOT NULL,
    input_nanousd_per_mtok   bigint NOT NULL,
    cached_nanousd_per_mtok  bigint,
    cache_write_nanousd_per_mtok bigint,
    output_nanousd_per_mtok  bigint NOT NULL,
    max_input_tokens         integer,
    max_output_tokens        integer,
    as_of                    date NOT NULL,
    edited_by                uuid REFERENCES users (id) ON DELETE SET NULL,
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, model)
);

-- The names clients call, mapped to provider deployments, with the prices cost is computed from.
CREATE TABLE models (
    id                       uuid PRIMARY KEY,
    tenant_id                uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                     text NOT NULL,
    deployments              jsonb NOT NULL,   -- [{"provider_id", "model", "weight", "priority"}]
    input_nanousd_per_mtok   bigint NOT NULL CHECK (input_nanousd_per_mtok >= 0),
    cached_nanousd_per_mtok  bigint NOT NULL CHECK (cached_nanousd_per_mtok >= 0),
    output_nanousd_per_mtok  bigint NOT NULL CHECK (output_nanousd_per_mtok >= 0),
    per_request_nanousd      bigint NOT NULL DEFAULT 0 CHECK (per_request_nanousd >= 0),
    -- "openai/gpt-4o-mini" when the prices came from the catalog; null when set by hand.
    price_source             text,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE TRIGGER models_updated_at BEFORE UPDATE ON models FOR EACH ROW EXECUTE FUNCTION set_updated_at();
