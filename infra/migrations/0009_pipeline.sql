-- The pipeline's jobs and what they produce: customer features, scores per model version,
-- demand forecasts and peer groups. Written by the platform role only; tenants will read
-- them through metrics, under policies added with the metrics API.

-- One row per job run. A run that stops heartbeating (its process died) is abandoned: the
-- next run of the same kind marks it failed and takes over.
CREATE TABLE pipeline.jobs (
    job_id         uuid PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('features', 'score', 'forecast', 'peers')),
    as_of          date NOT NULL,
    status         text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    trigger        text NOT NULL CHECK (trigger IN ('cli', 'schedule', 'api')),
    done           bigint NOT NULL DEFAULT 0,
    total          bigint,
    started_at     timestamptz NOT NULL DEFAULT now(),
    heartbeat_at   timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    error          text,
    detail         jsonb NOT NULL DEFAULT '{}'
);
-- At most one running job per kind.
CREATE UNIQUE INDEX jobs_one_running ON pipeline.jobs (kind) WHERE status = 'running';
CREATE INDEX jobs_recent ON pipeline.jobs (started_at DESC);

-- The customer features of the latest features run per cut-off (names in
-- feature_sets.columns, values in that order). A re-run replaces its cut-off's rows.
CREATE TABLE pipeline.feature_sets (
    as_of      date PRIMARY KEY,
    columns    text[] NOT NULL,
    job_id     uuid NOT NULL REFERENCES pipeline.jobs (job_id),
    rows       bigint NOT NULL,
    built_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pipeline.customer_features (
    as_of        date NOT NULL REFERENCES pipeline.feature_sets (as_of) ON DELETE CASCADE,
    customer_id  bigint NOT NULL,
    features     real[] NOT NULL,
    PRIMARY KEY (as_of, customer_id)
);

-- Scores per cut-off and model version; a re-run replaces its own (as_of, version) rows.
CREATE TABLE pipeline.customer_segments (
    as_of          date NOT NULL,
    model_version  integer NOT NULL,
    customer_id    bigint NOT NULL,
    segment        smallint NOT NULL,
    segment_name   text NOT NULL,
    PRIMARY KEY (as_of, model_version, customer_id)
);

CREATE TABLE pipeline.purchasing_power (
    as_of          date NOT NULL,
    model_version  integer NOT NULL,
    customer_id    bigint NOT NULL,
    p10            real NOT NULL,
    p50            real NOT NULL,
    p90            real NOT NULL,
    PRIMARY KEY (as_of, model_version, customer_id)
);

-- Probabilities in the order of `groups`.
CREATE TABLE pipeline.category_propensities (
    as_of          date NOT NULL,
    model_version  integer NOT NULL,
    customer_id    bigint NOT NULL,
    groups         text[] NOT NULL,
    probabilities  real[] NOT NULL,
    PRIMARY KEY (as_of, model_version, customer_id)
);

-- Weekly demand per merchant from the forecast origin (the last whole week before the
-- cut-off), 1-8 weeks ahead, with the 80% interval. Kept after the weeks pass, so that the
-- accuracy of past forecasts can be measured against what happened.
CREATE TABLE pipeline.demand_forecasts (
    origin_week     date NOT NULL,
    model_version   integer NOT NULL,
    merchant_id     bigint NOT NULL,
    category_group  text NOT NULL,
    horizon         smallint NOT NULL CHECK (horizon BETWEEN 1 AND 8),
    week_start      date NOT NULL,
    revenue_p10     real NOT NULL,
    revenue_p50     real NOT NULL,
    revenue_p90     real NOT NULL,
    txns_p10        real NOT NULL,
    txns_p50        real NOT NULL,
    txns_p90        real NOT NULL,
    PRIMARY KEY (origin_week, model_version, merchant_id, horizon)
);
CREATE INDEX demand_forecasts_merchant ON pipeline.demand_forecasts (merchant_id, week_start);

-- Peer groups are fixed definitions (category group x city), never free filters: members
-- are the merchants of that group and city with sales in the 90 days before the cut-off.
CREATE TABLE pipeline.peer_groups (
    as_of           date NOT NULL,
    peer_group      text NOT NULL,
    category_group  text NOT NULL,
    city            text NOT NULL,
    members         integer NOT NULL,
    PRIMARY KEY (as_of, peer_group)
);

CREATE TABLE pipeline.peer_members (
    as_of        date NOT NULL,
    peer_group   text NOT NULL,
    merchant_id  bigint NOT NULL,
    PRIMARY KEY (as_of, merchant_id),
    FOREIGN KEY (as_of, peer_group) REFERENCES pipeline.peer_groups (as_of, peer_group) ON DELETE CASCADE
);

GRANT SELECT, INSERT, UPDATE ON pipeline.jobs TO lyra_platform;
GRANT SELECT, INSERT, UPDATE, DELETE ON pipeline.feature_sets, pipeline.customer_features,
    pipeline.customer_segments, pipeline.purchasing_power, pipeline.category_propensities,
    pipeline.demand_forecasts, pipeline.peer_groups, pipeline.peer_members TO lyra_platform;
