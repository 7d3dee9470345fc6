-- The bank's data (PRODUCT.md §2). Written by ingest (and `lyra generate`), read by pipeline.
-- Money is bigint minor units (kopecks); refunds are negative.

-- Organisations: Lyra's client companies (tenants). Owned by auth.
CREATE TABLE auth.organisations (
    org_id      bigint PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    timezone    text NOT NULL DEFAULT 'Europe/Moscow',
    week_start  smallint NOT NULL DEFAULT 1 CHECK (week_start BETWEEN 1 AND 7),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The MCC catalogue (ISO 18245) and its category groups: reference data, kept in sync with
-- lyra_common::mcc by `lyra db migrate`.
CREATE TABLE ingest.category_groups (
    code      text PRIMARY KEY,
    name_en   text NOT NULL,
    name_ru   text NOT NULL,
    position  smallint NOT NULL UNIQUE
);

CREATE TABLE ingest.mcc_codes (
    mcc             smallint PRIMARY KEY CHECK (mcc BETWEEN 0 AND 9999),
    description     text NOT NULL,
    category_group  text NOT NULL REFERENCES ingest.category_groups (code)
);

-- Cardholders, pseudonymous.
CREATE TABLE ingest.customers (
    customer_id   bigint PRIMARY KEY,
    birth_year    smallint NOT NULL CHECK (birth_year BETWEEN 1900 AND 2100),
    gender        char(1) NOT NULL CHECK (gender IN ('F', 'M')),
    home_region   text NOT NULL,
    client_since  date NOT NULL
);

-- Merchant outlets. org_id is NULL for the many merchants that are not Lyra clients but
-- still count as competitors in benchmarks.
CREATE TABLE ingest.merchants (
    merchant_id  bigint PRIMARY KEY,
    org_id       bigint REFERENCES auth.organisations (org_id),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    mcc          smallint NOT NULL REFERENCES ingest.mcc_codes (mcc),
    region       text NOT NULL,
    city         text NOT NULL,
    latitude     double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude    double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    opened_on    date NOT NULL,
    closed_on    date CHECK (closed_on IS NULL OR closed_on >= opened_on)
);
CREATE INDEX merchants_org_idx ON ingest.merchants (org_id) WHERE org_id IS NOT NULL;
CREATE INDEX merchants_mcc_city_idx ON ingest.merchants (mcc, city);

-- Card payments, partitioned by month (Moscow months). Postgres cannot enforce a unique key
-- across partitions unless it contains the partition key, so global uniqueness of the bank
-- transaction id is kept by ingest.transaction_ids below, written in the same transaction.
-- References to customers and merchants are checked by ingest (set-based, per batch) rather
-- than by per-row foreign-key triggers, which would halve COPY throughput.
CREATE TABLE ingest.transactions (
    txn_id        text NOT NULL CHECK (length(txn_id) BETWEEN 1 AND 64),
    booked_at     timestamptz NOT NULL,
    customer_id   bigint NOT NULL,
    merchant_id   bigint NOT NULL,
    amount_minor  bigint NOT NULL CHECK (amount_minor <> 0),
    currency      char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    channel       text NOT NULL CHECK (channel IN ('pos', 'ecom'))
) PARTITION BY RANGE (booked_at);
CREATE INDEX transactions_merchant_idx ON ingest.transactions (merchant_id, booked_at);
CREATE INDEX transactions_customer_idx ON ingest.transactions (customer_id, booked_at);

-- Every bank transaction id ever stored: the database-enforced uniqueness of a row.
CREATE TABLE ingest.transaction_ids (
    txn_id     text PRIMARY KEY,
    booked_at  timestamptz NOT NULL
);

-- Creates the monthly partitions covering [first_month, last_month]. Runs with the owner's
-- rights so that the platform role can extend the table without owning it.
CREATE FUNCTION ingest.ensure_transaction_partitions(first_month date, last_month date)
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m date := date_trunc('month', first_month)::date;
    part text;
    created integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('ingest.transactions partitions'));
    WHILE m <= last_month LOOP
        part := format('transactions_%s', to_char(m, 'YYYY_MM'));
        IF to_regclass(format('ingest.%I', part)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE ingest.%I PARTITION OF ingest.transactions FOR VALUES FROM (%L) TO (%L)',
                part,
                m::timestamp AT TIME ZONE 'Europe/Moscow',
                (m + interval '1 month')::timestamp AT TIME ZONE 'Europe/Moscow');
            created := created + 1;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN created;
END
$$;
REVOKE ALL ON FUNCTION ingest.ensure_transaction_partitions(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest.ensure_transaction_partitions(date, date) TO lyra_platform;

-- Privileges. The tenant role sees reference data and, through RLS, its own organisation
-- and outlets; raw customers and transactions are for the platform role only.
GRANT SELECT ON ingest.category_groups, ingest.mcc_codes TO lyra_app, lyra_platform;
GRANT SELECT ON auth.organisations, ingest.merchants TO lyra_app;
GRANT SELECT ON auth.organisations TO lyra_platform;
GRANT SELECT, INSERT, UPDATE ON ingest.customers, ingest.merchants,
    ingest.transactions, ingest.transaction_ids TO lyra_platform;

-- Row-level security on every tenant-scoped table: enabled and FORCED, so not even the
-- owner escapes it by accident. The tenant role sees the rows of the organisation set by
-- Db::begin_for_org and nothing when none is set; the platform role sees all rows.
ALTER TABLE auth.organisations ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.organisations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON auth.organisations TO lyra_app
    USING (org_id = lyra.current_org_id());
CREATE POLICY platform ON auth.organisations TO lyra_platform
    USING (true);

ALTER TABLE ingest.merchants ENABLE ROW LEVEL SECURITY;
ALTER TABLE ingest.merchants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON ingest.merchants TO lyra_app
    USING (org_id = lyra.current_org_id());
CREATE POLICY platform ON ingest.merchants TO lyra_platform
    USING (true) WITH CHECK (true);
