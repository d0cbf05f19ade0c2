-- REST routes, the proxies (data planes) that report in, and usage events with hourly rollups.

CREATE TABLE routes (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                 text NOT NULL,
    hosts                text[] NOT NULL DEFAULT '{}',
    path                 text NOT NULL,
    path_match           text NOT NULL CHECK (path_match IN ('prefix', 'exact')),
    methods              text[] NOT NULL DEFAULT '{}',
    strip_prefix         boolean NOT NULL DEFAULT false,
    targets              jsonb NOT NULL,            -- [{"url": "...", "weight": 90}, ...]
    connect_timeout_ms   bigint NOT NULL CHECK (connect_timeout_ms > 0),
    timeout_ms           bigint NOT NULL CHECK (timeout_ms > 0),
    retries              integer NOT NULL DEFAULT 0 CHECK (retries >= 0),
    retry_on             text[] NOT NULL DEFAULT '{}',
    retry_non_idempotent boolean NOT NULL DEFAULT false,
    require_key          boolean NOT NULL DEFAULT true,
    set_headers          jsonb NOT NULL DEFAULT '{}',
    remove_headers       text[] NOT NULL DEFAULT '{}',
    -- Normalised hosts, match, path and methods: two routes may not match the same requests.
    match_signature      text NOT NULL UNIQUE,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE TRIGGER routes_updated_at BEFORE UPDATE ON routes FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Proxies, as their heartbeats describe them.
CREATE TABLE dataplanes (
    id            uuid PRIMARY KEY,
    hostname      text NOT NULL,
    address       text NOT NULL,
    version       bigint NOT NULL,
    uptime_secs   bigint NOT NULL,
    proxy_version text NOT NULL,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now()
);

-- One row per request a proxy saw. Partitioned by day; (time, id) makes replays harmless.
CREATE TABLE usage_events (
    id                  uuid NOT NULL,
    time                timestamptz NOT NULL,
    tenant_id           uuid,
    key_id              uuid,
    route_id            uuid,
    dataplane_id        uuid,
    method              text NOT NULL,
    status              smallint NOT NULL,
    latency_us          bigint NOT NULL,
    upstream_latency_us bigint,
    bytes_in            bigint NOT NULL,
    bytes_out           bigint NOT NULL,
    error_class         text,
    PRIMARY KEY (time, id)
) PARTITION BY RANGE (time);
-- Catches events outside the daily partitions made ahead of time (clock skew, old replays).
CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT;
CREATE INDEX usage_events_tenant_time_idx ON usage_events (tenant_id, time DESC);

-- Hourly rollups the summaries read. The nil UUID stands for "none" so rows stay unique.
CREATE TABLE usage_hourly (
    tenant_id       uuid NOT NULL,
    hour            timestamptz NOT NULL,
    key_id          uuid NOT NULL,
    route_id        uuid NOT NULL,
    requests        bigint NOT NULL,
    client_errors   bigint NOT NULL,     -- 4xx, refusals by the proxy among them
    server_errors   bigint NOT NULL,     -- 5xx, upstream failures among them
    latency_sum_us  bigint NOT NULL,
    -- Request counts per latency bucket; bounds in the server's usage module.
    latency_buckets bigint[] NOT NULL,
    bytes_in        bigint NOT NULL,
    bytes_out       bigint NOT NULL,
    PRIMARY KEY (tenant_id, hour, key_id, route_id)
);
