-- Identity: users, memberships, sessions, API tokens, signing keys, audit log, throttling.
-- Owned by the auth service, which connects as its own role lyra_auth (not owner, no
-- BYPASSRLS); the other tenant-facing services (lyra_app) cannot read any of it except
-- organisations.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lyra_auth') THEN
        CREATE ROLE lyra_auth LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA lyra, auth TO lyra_auth;
GRANT EXECUTE ON FUNCTION lyra.current_org_id() TO lyra_auth;

-- The user of the current transaction, set only by Db::begin_for_user in the shared crate,
-- for flows that start from a credential rather than an organisation (login, refresh).
CREATE FUNCTION lyra.current_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.user_id', true), '')::uuid $$;
GRANT EXECUTE ON FUNCTION lyra.current_user_id() TO lyra_auth;

-- Organisations created by bank admins (not by the bank feed) take ids from here.
CREATE SEQUENCE auth.organisation_ids START WITH 1000000;
GRANT SELECT ON auth.organisations TO lyra_auth;
CREATE POLICY tenant_auth ON auth.organisations TO lyra_auth
    USING (org_id = lyra.current_org_id());

-- People. Not tenant-scoped: one person may belong to several organisations, and a login
-- starts from an e-mail address. Bank admins are a platform role, not a membership.
CREATE TABLE auth.users (
    user_id              uuid PRIMARY KEY,
    email                text NOT NULL UNIQUE CHECK (email = lower(email) AND email LIKE '%_@_%'),
    display_name         text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    password_hash        text NOT NULL,
    is_bank_admin        boolean NOT NULL DEFAULT false,
    disabled_at          timestamptz,
    password_changed_at  timestamptz NOT NULL DEFAULT now(),
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth.memberships (
    org_id      bigint NOT NULL REFERENCES auth.organisations (org_id),
    user_id     uuid NOT NULL REFERENCES auth.users (user_id),
    role        text NOT NULL CHECK (role IN ('owner', 'marketer', 'viewer')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user_idx ON auth.memberships (user_id);

-- A session is a refresh-token family: every refresh rotates the token, and a token
-- presented twice revokes the family. expires_at is absolute (30 days from login).
CREATE TABLE auth.sessions (
    session_id      uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES auth.users (user_id),
    org_id          bigint REFERENCES auth.organisations (org_id),
    role            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_reason  text
);
CREATE INDEX sessions_user_idx ON auth.sessions (user_id) WHERE revoked_at IS NULL;

-- Refresh tokens are opaque; only their SHA-256 is stored.
CREATE TABLE auth.refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES auth.sessions (session_id),
    user_id     uuid NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON auth.refresh_tokens (session_id);

-- API tokens for scripts and services: shown once, stored as SHA-256, scoped, revocable.
CREATE TABLE auth.api_tokens (
    token_id      uuid PRIMARY KEY,
    org_id        bigint REFERENCES auth.organisations (org_id),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    scopes        text[] NOT NULL CHECK (scopes <@ ARRAY['ingest:write', 'metrics:read', 'models:admin']::text[]
                                          AND cardinality(scopes) > 0),
    secret_hash   bytea NOT NULL,
    created_by    uuid NOT NULL REFERENCES auth.users (user_id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

-- Ed25519 signing keys. The newest active key signs; retired keys stay in the JWKS until
-- every token they signed has expired.
CREATE TABLE auth.signing_keys (
    kid          text PRIMARY KEY,
    private_der  bytea NOT NULL,
    public_raw   bytea NOT NULL CHECK (length(public_raw) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz
);

-- What happened, never with a secret in it.
CREATE TABLE auth.audit_log (
    audit_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    org_id    bigint,
    user_id   uuid,
    event     text NOT NULL,
    ip        text,
    detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_org_idx ON auth.audit_log (org_id, at);

-- Failed logins, for throttling per account (whatever the address) and per address.
CREATE TABLE auth.login_failures (
    account  text NOT NULL,
    ip       text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_account_idx ON auth.login_failures (account, at);
CREATE INDEX login_failures_ip_idx ON auth.login_failures (ip, at);

GRANT SELECT, INSERT, UPDATE ON auth.users, auth.memberships, auth.sessions, auth.refresh_tokens,
    auth.api_tokens, auth.signing_keys TO lyra_auth;
GRANT SELECT, INSERT ON auth.audit_log TO lyra_auth;
GRANT SELECT, INSERT, DELETE ON auth.login_failures TO lyra_auth;
GRANT INSERT ON auth.organisations TO lyra_auth;
GRANT USAGE ON SEQUENCE auth.organisation_ids TO lyra_auth;

-- Tenant-scoped tables: RLS enabled and forced. Memberships and sessions are visible for
-- the organisation set, or for the user set (login and refresh know the user before the
-- organisation). API tokens and the audit log for the organisation only; audit entries
-- about no organisation (an unknown e-mail) are written but never read back by a tenant.
ALTER TABLE auth.memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_auth ON auth.memberships TO lyra_auth
    USING (org_id = lyra.current_org_id() OR user_id = lyra.current_user_id());

ALTER TABLE auth.sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_auth ON auth.sessions TO lyra_auth
    USING (org_id = lyra.current_org_id() OR user_id = lyra.current_user_id());

ALTER TABLE auth.api_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.api_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_auth ON auth.api_tokens TO lyra_auth
    USING (org_id = lyra.current_org_id());

ALTER TABLE auth.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON auth.audit_log FOR SELECT TO lyra_auth
    USING (org_id = lyra.current_org_id());
CREATE POLICY append ON auth.audit_log FOR INSERT TO lyra_auth
    WITH CHECK (true);

-- Redeems an API token for the token exchange. The caller knows the token id and the
-- secret (whose hash must match); that is the authority to see this one row, whatever the
-- organisation, so the lookup runs with the owner's rights and returns nothing else.
CREATE FUNCTION auth.redeem_api_token(p_token_id uuid, p_secret_hash bytea)
    RETURNS TABLE (org_id bigint, scopes text[], created_by uuid)
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE auth.api_tokens t SET last_used_at = now()
     WHERE t.token_id = p_token_id AND t.secret_hash = p_secret_hash AND t.revoked_at IS NULL
    RETURNING t.org_id, t.scopes, t.created_by
$$;
REVOKE ALL ON FUNCTION auth.redeem_api_token(uuid, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth.redeem_api_token(uuid, bytea) TO lyra_auth;
