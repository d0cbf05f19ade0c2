-- Security review fixes: tenant namespaces, routes that never forward Tollgate keys, explicit key
-- scopes, platform settings (egress policy, quotas), login throttling in the database,
-- invitations.

-- The part of the request space (host, path prefix) each tenant's routes may serve. host '' is
-- any host. A (host, path prefix) belongs to at most one tenant.
CREATE TABLE tenant_namespaces (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    host        text NOT NULL DEFAULT '',
    path_prefix text NOT NULL CHECK (path_prefix LIKE '/%'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host, path_prefix)
);
CREATE INDEX tenant_namespaces_tenant_idx ON tenant_namespaces (tenant_id);

-- Existing installations: the oldest tenant keeps the whole request space; every other tenant
-- keeps exactly the (host, path) parts its routes already serve, so no route changes hands.
INSERT INTO tenant_namespaces (tenant_id, host, path_prefix)
SELECT id, '', '/' FROM tenants ORDER BY created_at, id LIMIT 1;
INSERT INTO tenant_namespaces (tenant_id, host, path_prefix)
SELECT DISTINCT ON (h.host, r.path) r.tenant_id, h.host, r.path
FROM routes r
CROSS JOIN LATERAL unnest(CASE WHEN cardinality(r.hosts) = 0 THEN ARRAY[''] ELSE r.hosts END) AS h(host)
WHERE r.tenant_id <> (SELECT id FROM tenants ORDER BY created_at, id LIMIT 1)
ORDER BY h.host, r.path, r.created_at
ON CONFLICT DO NOTHING;

-- Identical matches are now only a clash inside one tenant (namespaces keep tenants apart).
ALTER TABLE routes DROP CONSTRAINT routes_match_signature_key;
ALTER TABLE routes ADD CONSTRAINT routes_match_signature_key UNIQUE (tenant_id, match_signature);
ALTER TABLE routes ADD COLUMN forward_key boolean NOT NULL DEFAULT false;
ALTER TABLE routes ADD COLUMN body_idle_timeout_ms bigint NOT NULL DEFAULT 60000
    CHECK (body_idle_timeout_ms > 0);

-- Key scopes: '*' means all; an empty list now means none. Keys without any scope kept full
-- access ('*' everywhere); keys that named some kinds keep exactly those (the unnamed kinds,
-- which used to mean "all", now mean none: a key scoped to routes no longer calls models).
UPDATE api_keys SET scope_routes = '{*}', scope_models = '{*}', scope_prompt_apis = '{*}'
WHERE cardinality(scope_routes) = 0 AND cardinality(scope_models) = 0
  AND cardinality(scope_prompt_apis) = 0;

-- Platform-wide settings, one JSON document per name (egress policy, tenant quotas).
CREATE TABLE platform_settings (
    name       text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Failed sign-ins per (account, client address), shared by every server process.
CREATE TABLE login_failures (
    email      text NOT NULL,
    address    text NOT NULL,
    failures   integer NOT NULL,
    last_at    timestamptz NOT NULL,
    PRIMARY KEY (email, address)
);
CREATE INDEX login_failures_last_idx ON login_failures (last_at);

-- Invitations to a tenant: the invited person accepts with the link's secret (stored as SHA-256).
CREATE TABLE invitations (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email       text NOT NULL,
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    secret_hash bytea NOT NULL UNIQUE,
    invited_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invitations_tenant_idx ON invitations (tenant_id, created_at DESC);
