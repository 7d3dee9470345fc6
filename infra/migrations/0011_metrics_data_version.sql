-- What the metrics service's answer cache is keyed on: a value that changes whenever the
-- figures can change — an ingest batch committed, the rollup worker's queue moving, a
-- pipeline job finishing. Metrics polls it every second; answers cached under an older
-- value are never served again.
CREATE FUNCTION metrics.data_version() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT concat_ws('/',
        (SELECT max(created_at) FROM ingest.batches),
        (SELECT count(*) FROM ingest.rollup_queue),
        (SELECT max(finished_at) FROM pipeline.jobs WHERE status = 'succeeded'))
$$;

REVOKE ALL ON FUNCTION metrics.data_version() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION metrics.data_version() TO lyra_app;
