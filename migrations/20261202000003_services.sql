-- Services (upstreams) as objects of their own: named sets of targets, optionally labelled with
-- a subset (v1, v2), with an optional active health check. Routes point at a service, or split
-- by weight between services and their subsets, instead of carrying targets inline.
CREATE TABLE services (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name               text NOT NULL,
    targets            jsonb NOT NULL,          -- [{"url", "weight", "subset"}]
    connect_timeout_ms bigint NOT NULL CHECK (connect_timeout_ms > 0),
    health_check       jsonb,                   -- {"path", "interval_ms", "timeout_ms", ...}
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE TRIGGER services_updated_at BEFORE UPDATE ON services FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Where a route forwards when it has no inline targets: [{"service_id", "subset", "weight"}].
-- A route written as `service: orders` holds one destination of weight 100 and no subset.
ALTER TABLE routes ADD COLUMN destinations jsonb NOT NULL DEFAULT '[]';
-- Whether the route was written as `service: NAME` (one whole service) rather than a list.
ALTER TABLE routes ADD COLUMN single_service boolean NOT NULL DEFAULT false;
