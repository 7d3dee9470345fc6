-- The id registry keeps only the ids: nothing reads a registry row's timestamp, and a
-- narrower row makes the registry insert, the part of an ingest batch that `\copy` does
-- not have, about a quarter cheaper (measured: 1M sorted ids 2.5 s → 1.8 s).
ALTER TABLE ingest.transaction_ids DROP COLUMN booked_at;
