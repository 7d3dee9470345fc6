-- Roles and schemas. Applied by the owner (admin) role; applied migrations are never edited.
--
-- lyra_app       tenant-facing services (gateway, app, auth, metrics, model-svc)
-- lyra_platform  bank-wide services (ingest, pipeline)
-- Neither owns a table, neither is a superuser, neither can bypass row-level security.
-- Roles are cluster-wide, so they are created only when absent (several databases share them).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lyra_app') THEN
        CREATE ROLE lyra_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lyra_platform') THEN
        CREATE ROLE lyra_platform LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$$;

-- Nothing lives in public; service roles cannot create objects anywhere.
REVOKE ALL ON SCHEMA public FROM PUBLIC;

-- One schema per owning service, plus `lyra` for shared helpers and `truth` for the
-- generator's latent variables, which no service may read.
CREATE SCHEMA lyra;
CREATE SCHEMA auth;
CREATE SCHEMA ingest;
CREATE SCHEMA pipeline;
CREATE SCHEMA models;
CREATE SCHEMA truth;

GRANT USAGE ON SCHEMA lyra, auth, ingest, pipeline, models TO lyra_app, lyra_platform;

-- The organisation of the current transaction, set only by Db::begin_for_org in the shared
-- crate with set_config('app.org_id', $1, true). NULL when unset: after a transaction-local
-- setting ends, current_setting returns '' rather than NULL, hence NULLIF.
CREATE FUNCTION lyra.current_org_id() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.org_id', true), '')::bigint $$;
GRANT EXECUTE ON FUNCTION lyra.current_org_id() TO lyra_app, lyra_platform;
