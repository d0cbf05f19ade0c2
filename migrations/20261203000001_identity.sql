-- Identity: disabled users, sessions that end when a password changes, one-time password
-- reset links, and sign-in through OpenID Connect providers.

ALTER TABLE users
    ADD COLUMN disabled_at timestamptz,
    -- Sessions carry the generation they were signed in at; a bump ends every other session.
    ADD COLUMN session_generation integer NOT NULL DEFAULT 0,
    ADD COLUMN last_sign_in_at timestamptz,
    -- Users who only sign in through SSO have no password.
    ALTER COLUMN password_hash DROP NOT NULL;

-- One-time links that set a new password. Only the SHA-256 of the secret is kept.
CREATE TABLE password_resets (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash bytea NOT NULL UNIQUE,
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);

-- OpenID Connect providers for the console and the admin API (platform-wide).
CREATE TABLE identity_providers (
    id            uuid PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    issuer        text NOT NULL,
    client_id     text NOT NULL,
    client_secret bytea,                         -- sealed with the master key
    scopes        text[] NOT NULL DEFAULT '{openid,email,profile}',
    groups_claim  text NOT NULL DEFAULT 'groups',
    -- Emails of these domains sign in through this provider only.
    sso_only_domains text[] NOT NULL DEFAULT '{}',
    -- [{group, tenant (slug), role}] applied at every sign-in.
    group_rules   jsonb NOT NULL DEFAULT '[]',
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER identity_providers_updated_at BEFORE UPDATE ON identity_providers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Who a provider's subject is here.
CREATE TABLE user_identities (
    provider_id uuid NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    subject     text NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider_id, subject)
);
CREATE INDEX user_identities_user_idx ON user_identities (user_id);

-- Memberships a provider's group rules granted; the rules take them away again.
ALTER TABLE memberships
    ADD COLUMN granted_by_provider uuid REFERENCES identity_providers (id) ON DELETE SET NULL;

-- The platform's own audit entries (sign-ins, users), read newest first.
CREATE INDEX audit_log_platform_idx ON audit_log (id DESC) WHERE tenant_id IS NULL;

-- Identity providers whose JWTs callers present to the proxy instead of a key (per tenant).
CREATE TABLE jwt_issuers (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       text NOT NULL,
    spec       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE TRIGGER jwt_issuers_updated_at BEFORE UPDATE ON jwt_issuers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Callers seen with a JWT: made on first sight from their usage; their id is what the proxy
-- counts limits and budgets by.
CREATE TABLE consumers (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    issuer_id     uuid REFERENCES jwt_issuers (id) ON DELETE SET NULL,
    name          text NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consumers_tenant_idx ON consumers (tenant_id, name);
