-- The model registry (schema `models`), owned by model-svc, which connects as lyra_app.
-- Not tenant data: no org_id, no row-level security. Only lyra_app may write it (model-svc
-- is the only lyra_app service whose code touches this schema, checked by tidy.rs); the
-- platform and auth roles get nothing. Nothing is ever deleted: versions are immutable and
-- every activation and rollback is kept for audit.

-- One row per model name; `active_version` is what instances serve.
CREATE TABLE models.models (
    name            text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    active_version  integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    activated_at    timestamptz
);

-- Uploaded versions that passed validation (a failed upload is answered with its report
-- and not stored), numbered 1, 2, … per name.
CREATE TABLE models.versions (
    name         text NOT NULL REFERENCES models.models (name),
    version      integer NOT NULL CHECK (version > 0),
    onnx         bytea NOT NULL,
    contract     jsonb NOT NULL,
    sample       jsonb NOT NULL,
    sha256       bytea NOT NULL CHECK (length(sha256) = 32),
    uploaded_by  text NOT NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    validation   jsonb NOT NULL CHECK ((validation ->> 'ok')::boolean),
    PRIMARY KEY (name, version)
);

ALTER TABLE models.models ADD FOREIGN KEY (name, active_version)
    REFERENCES models.versions (name, version);

-- Every change of the active version: an activation pushes a version, a rollback returns
-- to the one active before (history replayed as a stack, see model-svc registry.rs).
CREATE TABLE models.activations (
    activation_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL REFERENCES models.models (name),
    action         text NOT NULL CHECK (action IN ('activate', 'rollback')),
    version        integer NOT NULL,
    previous       integer,
    activated_by   text NOT NULL,
    activated_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (name, version) REFERENCES models.versions (name, version)
);
CREATE INDEX ON models.activations (name, activation_id);

GRANT SELECT, INSERT, UPDATE (active_version, activated_at) ON models.models TO lyra_app;
GRANT SELECT, INSERT ON models.versions, models.activations TO lyra_app;

-- Scripts and the pipeline call predict with a platform token of scope models:predict.
ALTER TABLE auth.api_tokens DROP CONSTRAINT api_tokens_scopes_check;
ALTER TABLE auth.api_tokens ADD CONSTRAINT api_tokens_scopes_check
    CHECK (scopes <@ ARRAY['ingest:write', 'metrics:read', 'models:admin', 'models:predict']::text[]
           AND cardinality(scopes) > 0);
