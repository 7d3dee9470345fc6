-- Rollups are recomputed right after a batch commits rather than inside it, so that the
-- upload is acknowledged as soon as its rows are stored. The batch's touched
-- (merchant, customer, day) triples are queued in the batch's own transaction, so a crash
-- between the two loses nothing: the ingest service's worker drains the queue.
CREATE TABLE ingest.rollup_queue (
    batch_id     uuid NOT NULL REFERENCES ingest.batches (batch_id) DEFERRABLE INITIALLY DEFERRED,
    merchant_id  bigint NOT NULL,
    customer_id  bigint NOT NULL,
    day          date NOT NULL
);
CREATE INDEX rollup_queue_batch_idx ON ingest.rollup_queue (batch_id);

GRANT SELECT, INSERT, DELETE ON ingest.rollup_queue TO lyra_platform;
