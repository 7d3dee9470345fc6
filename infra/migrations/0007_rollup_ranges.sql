-- The rollup queue holds, per batch, each merchant's first and last touched day rather
-- than one row per transaction: a few hundred rows for a million-row batch, so queueing
-- costs the upload almost nothing. The worker recomputes every customer-day of those
-- merchant-day ranges from the transactions (a superset of what the batch touched, so the
-- result is exact).
DROP TABLE ingest.rollup_queue;

CREATE TABLE ingest.rollup_queue (
    batch_id     uuid NOT NULL REFERENCES ingest.batches (batch_id) DEFERRABLE INITIALLY DEFERRED,
    merchant_id  bigint NOT NULL,
    first_day    date NOT NULL,
    last_day     date NOT NULL CHECK (last_day >= first_day),
    PRIMARY KEY (batch_id, merchant_id)
);

GRANT SELECT, INSERT, DELETE ON ingest.rollup_queue TO lyra_platform;
