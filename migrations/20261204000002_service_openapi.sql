-- OpenAPI documents of services; with publish_tools, the routes to a service publish its
-- operations as MCP tools.
CREATE TABLE service_openapi (
    service_id    uuid PRIMARY KEY REFERENCES services (id) ON DELETE CASCADE,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    document      jsonb NOT NULL,
    publish_tools boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
