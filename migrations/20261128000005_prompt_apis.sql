-- Prompt APIs: a prompt template turned into a REST endpoint on the proxy. Every edit is a new
-- version; one version is active.

CREATE TABLE prompt_apis (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    slug           text NOT NULL,
    active_version integer NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, slug)
);
CREATE TRIGGER prompt_apis_updated_at BEFORE UPDATE ON prompt_apis FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE prompt_api_versions (
    prompt_api_id uuid NOT NULL REFERENCES prompt_apis (id) ON DELETE CASCADE,
    version       integer NOT NULL,
    spec          jsonb NOT NULL,     -- description, model, messages, variables, parameters
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (prompt_api_id, version)
);

ALTER TABLE usage_events ADD COLUMN prompt_api_id uuid;
