-- Remote MCP servers (Streamable HTTP) of a tenant; credentials sealed like providers'.
CREATE TABLE mcp_servers (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL,
    url          text NOT NULL,
    credentials  bytea NOT NULL,
    token_hint   text NOT NULL,
    header_names text[] NOT NULL DEFAULT '{}',
    timeout_ms   bigint NOT NULL,
    tools        text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE TRIGGER mcp_servers_updated_at BEFORE UPDATE ON mcp_servers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
