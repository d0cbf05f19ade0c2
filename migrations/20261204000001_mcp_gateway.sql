-- The MCP gateway: keys reach MCP servers by scope (existing keys reach none until given some),
-- and every tool call is metered by server and tool.
ALTER TABLE api_keys ADD COLUMN scope_mcp_servers text[] NOT NULL DEFAULT '{}';

ALTER TABLE usage_events
    ADD COLUMN mcp_server_id uuid,
    ADD COLUMN mcp_tool      text;

-- The nil UUID and '' stand for "not a tool call" (or, with a tool, Tollgate's own tools).
ALTER TABLE usage_hourly
    ADD COLUMN mcp_server_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    ADD COLUMN mcp_tool      text NOT NULL DEFAULT '';
ALTER TABLE usage_hourly DROP CONSTRAINT usage_hourly_pkey;
ALTER TABLE usage_hourly
    ADD PRIMARY KEY (tenant_id, hour, key_id, route_id, model_id, provider_id, mcp_server_id, mcp_tool);
