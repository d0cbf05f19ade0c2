-- Foundation: identity, tenants, memberships, admin tokens, API keys, audit log, config version.

-- Keeps updated_at honest on every UPDATE.
CREATE FUNCTION set_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    email          text NOT NULL,
    password_hash  text NOT NULL,              -- argon2id PHC string
    platform_admin boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
-- Emails are compared case-insensitively.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE tenants (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    slug       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER tenants_updated_at BEFORE UPDATE ON tenants FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE memberships (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

-- Personal tokens for automation against the admin API. Only the SHA-256 of the secret is kept.
CREATE TABLE admin_tokens (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    prefix       text NOT NULL,
    secret_hash  bytea NOT NULL UNIQUE,
    expires_at   timestamptz,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_tokens_user_idx ON admin_tokens (user_id);

-- Data-plane API keys. Only the SHA-256 of the secret is kept; revoked keys stay for the audit trail.
CREATE TABLE api_keys (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                text NOT NULL,
    prefix              text NOT NULL,
    secret_hash         bytea NOT NULL UNIQUE,
    scope_routes        text[] NOT NULL DEFAULT '{}',
    scope_models        text[] NOT NULL DEFAULT '{}',
    scope_prompt_apis   text[] NOT NULL DEFAULT '{}',
    requests_per_minute integer CHECK (requests_per_minute > 0),
    tokens_per_minute   integer CHECK (tokens_per_minute > 0),
    budget_nanousd      bigint CHECK (budget_nanousd >= 0),
    budget_period       text CHECK (budget_period IN ('day', 'month', 'total')),
    expires_at          timestamptz,
    revoked_at          timestamptz,
    last_used_at        timestamptz,
    created_by          uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((budget_nanousd IS NULL) = (budget_period IS NULL))
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, created_at DESC);
CREATE TRIGGER api_keys_updated_at BEFORE UPDATE ON api_keys FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Who changed what, when. Rows outlive the users and tenants they mention.
CREATE TABLE audit_log (
    id          uuid PRIMARY KEY,
    tenant_id   uuid,
    actor_id    uuid,
    actor_email text,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, created_at DESC);

-- One row: bumped by every change the proxies must see; NOTIFY wakes long-polling snapshot requests.
CREATE TABLE config_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);
INSERT INTO config_version (version) VALUES (1);
