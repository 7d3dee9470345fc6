-- Ingest: batches (one per idempotency key), quarantined rows, and the rollups that keep
-- dashboards fresh. Written by the ingest service as lyra_platform.

CREATE TABLE ingest.batches (
    batch_id         uuid PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    kind             text NOT NULL CHECK (kind IN ('transactions', 'customers', 'merchants')),
    format           text NOT NULL CHECK (format IN ('csv', 'ndjson')),
    mode             text NOT NULL CHECK (mode IN ('strict', 'lenient')),
    payload_sha256   bytea NOT NULL CHECK (length(payload_sha256) = 32),
    payload_bytes    bigint NOT NULL,
    status           text NOT NULL CHECK (status IN ('committed', 'rejected')),
    rows_total       bigint NOT NULL,
    rows_stored      bigint NOT NULL,
    rows_duplicate   bigint NOT NULL,
    rows_rejected    bigint NOT NULL,
    report           jsonb NOT NULL,
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- Rows refused in lenient mode, with the reason; listable through the API.
CREATE TABLE ingest.quarantine (
    batch_id  uuid NOT NULL REFERENCES ingest.batches (batch_id),
    line      bigint NOT NULL,
    field     text NOT NULL,
    reason    text NOT NULL,
    raw       text NOT NULL,
    PRIMARY KEY (batch_id, line)
);

-- Merchant × customer: first and last purchase, purchases and net spend. Recomputed for
-- the pairs a batch touches, in the batch's transaction.
CREATE TABLE ingest.merchant_customers (
    merchant_id    bigint NOT NULL,
    customer_id    bigint NOT NULL,
    first_at       timestamptz,
    last_at        timestamptz,
    transactions   bigint NOT NULL,
    revenue_minor  bigint NOT NULL,
    PRIMARY KEY (merchant_id, customer_id)
);

-- Merchant × Moscow calendar day: net revenue (refunds subtract), purchases, unique,
-- new (first purchase at this merchant that day) and returning customers. Recomputed
-- for the days a batch touches, in the batch's transaction: fresh at commit.
CREATE TABLE ingest.merchant_daily (
    merchant_id          bigint NOT NULL,
    day                  date NOT NULL,
    revenue_minor        bigint NOT NULL,
    transactions         bigint NOT NULL,
    unique_customers     bigint NOT NULL,
    new_customers        bigint NOT NULL,
    returning_customers  bigint NOT NULL,
    PRIMARY KEY (merchant_id, day)
);

GRANT SELECT, INSERT, UPDATE ON ingest.batches, ingest.quarantine, ingest.merchant_customers,
    ingest.merchant_daily TO lyra_platform;
-- Tenants see daily figures of their outlets, never per-customer rows.
GRANT SELECT ON ingest.merchant_daily TO lyra_app;

-- The tenant role reads rollups of its own outlets only: the policy goes through
-- ingest.merchants, whose own policy shows only the organisation's outlets.
ALTER TABLE ingest.merchant_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE ingest.merchant_daily FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON ingest.merchant_daily TO lyra_app
    USING (EXISTS (SELECT FROM ingest.merchants m WHERE m.merchant_id = merchant_daily.merchant_id));
CREATE POLICY platform ON ingest.merchant_daily TO lyra_platform USING (true) WITH CHECK (true);

ALTER TABLE ingest.merchant_customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE ingest.merchant_customers FORCE ROW LEVEL SECURITY;
CREATE POLICY platform ON ingest.merchant_customers TO lyra_platform USING (true) WITH CHECK (true);
