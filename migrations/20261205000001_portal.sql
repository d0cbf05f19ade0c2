-- The developer portal: tenants publish API products with plans; applications of any tenant
-- subscribe (pending until approved, unless the product approves automatically); an
-- application's keys reach exactly its approved subscriptions' products.
CREATE TABLE api_products (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    title       text NOT NULL,
    description text NOT NULL DEFAULT '',
    tags        text[] NOT NULL DEFAULT '{}',
    routes      text[] NOT NULL DEFAULT '{}',
    models      text[] NOT NULL DEFAULT '{}',
    prompt_apis text[] NOT NULL DEFAULT '{}',
    mcp_servers text[] NOT NULL DEFAULT '{}',
    visibility  text NOT NULL CHECK (visibility IN ('tenant', 'platform', 'tenants')),
    visible_to  uuid[] NOT NULL DEFAULT '{}',
    approval    text NOT NULL CHECK (approval IN ('automatic', 'manual')),
    -- [{"name", "requests_per_minute", "tokens_per_minute", "budget": {"amount_usd", "period"}}]
    plans       jsonb NOT NULL,
    openapi     jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE TRIGGER api_products_updated_at BEFORE UPDATE ON api_products
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE applications (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

-- An application's keys are keys of its tenant that reach nothing of their own.
ALTER TABLE api_keys ADD COLUMN application_id uuid REFERENCES applications (id) ON DELETE CASCADE;
CREATE INDEX api_keys_application_idx ON api_keys (application_id) WHERE application_id IS NOT NULL;

CREATE TABLE subscriptions (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    product_id     uuid NOT NULL REFERENCES api_products (id) ON DELETE CASCADE,
    plan           text NOT NULL,
    status         text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'suspended', 'revoked')),
    request_note   text NOT NULL DEFAULT '',
    decision_note  text NOT NULL DEFAULT '',
    requested_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    decided_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER subscriptions_updated_at BEFORE UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
-- One live subscription per application and product.
CREATE UNIQUE INDEX subscriptions_live_idx ON subscriptions (application_id, product_id)
    WHERE status IN ('pending', 'approved', 'suspended');
CREATE INDEX subscriptions_product_idx ON subscriptions (product_id, status);

-- Usage through a subscription: its plan's limits and budget count it; summaries group by
-- product and application through it.
ALTER TABLE usage_events ADD COLUMN subscription_id uuid;
ALTER TABLE usage_hourly
    ADD COLUMN subscription_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE usage_hourly DROP CONSTRAINT usage_hourly_pkey;
ALTER TABLE usage_hourly
    ADD PRIMARY KEY (tenant_id, hour, key_id, route_id, model_id, provider_id, mcp_server_id,
                     mcp_tool, subscription_id);
CREATE INDEX usage_hourly_subscription_idx ON usage_hourly (subscription_id, hour)
    WHERE subscription_id <> '00000000-0000-0000-0000-000000000000';
