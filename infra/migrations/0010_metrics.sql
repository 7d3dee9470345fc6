-- The metrics API's window on bank data. Tenants (lyra_app) read their own outlets and
-- daily rollups through row-level security; everything that needs customer-level or
-- cross-merchant rows goes through the SECURITY DEFINER functions of schema `metrics`
-- below. Each of them
--   1. resolves the outlets of the request with metrics.outlets(): the one named, if it
--      belongs to lyra.current_org_id(), or all of that organisation's outlets; a merchant
--      of another organisation raises the very same error as a missing one (no_data_found,
--      which the API answers with 404);
--   2. returns aggregates only: counts per cell, sums per group, and for peer statistics one
--      row or array element per peer merchant, never a merchant id, name or customer id.
-- The privacy rules (at least 5 peers, no peer above 25%, no cell under 10 customers,
-- medians only) are applied to what these return by one Rust module, metrics/src/privacy.rs.
-- The functions run as the migration owner, which must bypass row-level security (as for
-- auth.redeem_api_token), with a fixed search_path; only lyra_app may execute them.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'the metrics functions read across organisations: apply this migration as a role that bypasses row-level security';
    END IF;
END
$$;

CREATE SCHEMA metrics;
GRANT USAGE ON SCHEMA metrics TO lyra_app;

-- Peer groups: THE definition (category group x city; members are the merchants of that
-- group and city with a purchase in the 90 days before the cut-off). The pipeline's peers
-- job stores it per cut-off in pipeline.peer_groups/peer_members; metrics reads the latest
-- stored cut-off and computes the same definition live only when the pipeline has never run.
CREATE FUNCTION pipeline.peer_group_members(p_as_of date, p_category_group text DEFAULT NULL,
                                            p_city text DEFAULT NULL)
    RETURNS TABLE (peer_group text, category_group text, city text, merchant_id bigint)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.category_group || ':' || m.city, c.category_group, m.city, m.merchant_id
      FROM ingest.merchants m
      JOIN ingest.mcc_codes c ON c.mcc = m.mcc
     WHERE (p_category_group IS NULL OR c.category_group = p_category_group)
       AND (p_city IS NULL OR m.city = p_city)
       AND EXISTS (SELECT FROM ingest.merchant_daily d
                    WHERE d.merchant_id = m.merchant_id AND d.transactions > 0
                      AND d.day >= p_as_of - 90 AND d.day < p_as_of)
$$;
REVOKE ALL ON FUNCTION pipeline.peer_group_members(date, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pipeline.peer_group_members(date, text, text) TO lyra_platform;

-- A peer group's members are looked up by group.
CREATE INDEX peer_members_group ON pipeline.peer_members (as_of, peer_group);

-- The two indexes of ingest.transactions become covering: same keys (so ingest's and the
-- pipeline's queries use them as before, and COPY maintains no extra index), plus the
-- columns every metrics query reads, so that an outlet's or a customer's rows over a period
-- are an index-only scan instead of one heap page per row (rows are stored in customer
-- order, so an outlet's rows are scattered). On the demo data this takes an outlet's
-- 12-month KPIs from ~250 ms to ~40 ms. (At bank scale, build these per partition with
-- CREATE INDEX CONCURRENTLY and attach, before this migration runs.)
CREATE INDEX transactions_merchant_cover ON ingest.transactions (merchant_id, booked_at)
    INCLUDE (customer_id, amount_minor);
DROP INDEX ingest.transactions_merchant_idx;
CREATE INDEX transactions_customer_cover ON ingest.transactions (customer_id, booked_at)
    INCLUDE (merchant_id, amount_minor);
DROP INDEX ingest.transactions_customer_idx;

-- Demand forecasts of the organisation's own outlets, through RLS like merchant_daily.
GRANT SELECT ON pipeline.demand_forecasts TO lyra_app;
ALTER TABLE pipeline.demand_forecasts ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipeline.demand_forecasts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON pipeline.demand_forecasts TO lyra_app
    USING (EXISTS (SELECT FROM ingest.merchants m WHERE m.merchant_id = demand_forecasts.merchant_id));
CREATE POLICY platform ON pipeline.demand_forecasts TO lyra_platform USING (true) WITH CHECK (true);

-- ---------------------------------------------------------------------------------------
-- Helpers (not executable by any service role; called by the functions below).

-- The outlets of the request: `p_merchant` if it belongs to the organisation of the
-- transaction, else all of its outlets when `p_merchant` is NULL. Raises no_data_found for a
-- merchant of another organisation exactly as for one that does not exist, and for a
-- transaction without an organisation.
CREATE FUNCTION metrics.outlets(p_merchant bigint) RETURNS bigint[]
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org bigint := lyra.current_org_id();
    ids bigint[];
BEGIN
    SELECT coalesce(array_agg(m.merchant_id ORDER BY m.merchant_id), '{}') INTO ids
      FROM ingest.merchants m
     WHERE m.org_id = org AND (p_merchant IS NULL OR m.merchant_id = p_merchant);
    IF org IS NULL OR (p_merchant IS NOT NULL AND cardinality(ids) = 0) THEN
        RAISE EXCEPTION 'merchant not found' USING ERRCODE = 'no_data_found';
    END IF;
    RETURN ids;
END
$$;

-- The peers of one of the organisation's outlets: the members of its peer group (its
-- category group x city) at the latest stored cut-off, or computed live as of the day after
-- `p_to` when the pipeline has never stored one, minus every outlet of the organisation.
CREATE FUNCTION metrics.peers(p_merchant bigint, p_to date) RETURNS bigint[]
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org bigint := lyra.current_org_id();
    own bigint[] := metrics.outlets(p_merchant);
    grp text;
    cty text;
    latest date;
    ids bigint[];
BEGIN
    IF p_merchant IS NULL THEN
        RAISE EXCEPTION 'peers are defined for one outlet' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT c.category_group, m.city INTO grp, cty
      FROM ingest.merchants m JOIN ingest.mcc_codes c ON c.mcc = m.mcc
     WHERE m.merchant_id = own[1];
    SELECT max(g.as_of) INTO latest FROM pipeline.peer_groups g;
    IF latest IS NOT NULL THEN
        SELECT coalesce(array_agg(p.merchant_id ORDER BY p.merchant_id), '{}') INTO ids
          FROM pipeline.peer_members p
          JOIN ingest.merchants m ON m.merchant_id = p.merchant_id
         WHERE p.as_of = latest AND p.peer_group = grp || ':' || cty
           AND m.org_id IS DISTINCT FROM org;
    ELSE
        SELECT coalesce(array_agg(p.merchant_id ORDER BY p.merchant_id), '{}') INTO ids
          FROM pipeline.peer_group_members(p_to + 1, grp, cty) p
          JOIN ingest.merchants m ON m.merchant_id = p.merchant_id
         WHERE m.org_id IS DISTINCT FROM org;
    END IF;
    RETURN ids;
END
$$;

-- The latest scores: the newest cut-off and, at it, the newest model version.
CREATE FUNCTION metrics.latest_segments() RETURNS TABLE (as_of date, model_version integer)
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT s.as_of, s.model_version FROM pipeline.customer_segments s
       ORDER BY s.as_of DESC, s.model_version DESC LIMIT 1 $$;
CREATE FUNCTION metrics.latest_purchasing_power() RETURNS TABLE (as_of date, model_version integer)
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT s.as_of, s.model_version FROM pipeline.purchasing_power s
       ORDER BY s.as_of DESC, s.model_version DESC LIMIT 1 $$;
CREATE FUNCTION metrics.latest_propensities() RETURNS TABLE (as_of date, model_version integer)
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT s.as_of, s.model_version FROM pipeline.category_propensities s
       ORDER BY s.as_of DESC, s.model_version DESC LIMIT 1 $$;

-- The customers of the outlets `ids` between t0 and t1: net spend and purchases each
-- (customers with refunds only have 0 purchases).
CREATE FUNCTION metrics.period_customers(ids bigint[], t0 timestamptz, t1 timestamptz)
    RETURNS TABLE (customer_id bigint, revenue bigint, purchases bigint)
    LANGUAGE sql STABLE ROWS 5000 SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.customer_id, sum(t.amount_minor)::bigint, count(*) FILTER (WHERE t.amount_minor > 0)
      FROM ingest.transactions t
     WHERE t.merchant_id = ANY (ids) AND t.booked_at >= t0 AND t.booked_at < t1
     GROUP BY t.customer_id
$$;

-- The start of a Moscow day.
CREATE FUNCTION metrics.day_start(d date) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT d::timestamp AT TIME ZONE 'Europe/Moscow' $$;

-- ---------------------------------------------------------------------------------------
-- The API. Periods are Moscow days from p_from to p_to inclusive. Revenue is net (refunds
-- subtract), in kopecks; transactions are purchases (positive amounts); a customer of the
-- period is one with a purchase in it.

-- KPIs of the outlets over a period: revenue, purchases, customers, customers with two or
-- more purchases, and customers whose first purchase at these outlets is in the period.
CREATE FUNCTION metrics.kpis(p_merchant bigint, p_from date, p_to date)
    RETURNS TABLE (revenue bigint, transactions bigint, customers bigint,
                   repeat_customers bigint, new_customers bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bigint[] := metrics.outlets(p_merchant);
    t0 timestamptz := metrics.day_start(p_from);
    t1 timestamptz := metrics.day_start(p_to + 1);
BEGIN
    RETURN QUERY
    WITH per_customer AS (
        SELECT * FROM metrics.period_customers(ids, t0, t1)
    ), newcomers AS (
        SELECT mc.customer_id FROM ingest.merchant_customers mc
         WHERE mc.merchant_id = ANY (ids)
         GROUP BY mc.customer_id
        HAVING min(mc.first_at) >= t0 AND min(mc.first_at) < t1
    )
    SELECT coalesce(sum(pc.revenue), 0)::bigint, coalesce(sum(pc.purchases), 0)::bigint,
           count(*) FILTER (WHERE pc.purchases > 0),
           count(*) FILTER (WHERE pc.purchases > 1),
           (SELECT count(*) FROM newcomers)
      FROM per_customer pc;
END
$$;

-- The same KPIs per bucket ('day', 'week' from Monday, 'month'), with the new customers'
-- share of revenue (new vs returning). Buckets are clipped to the period.
CREATE FUNCTION metrics.series(p_merchant bigint, p_from date, p_to date, p_grain text)
    RETURNS TABLE (bucket date, revenue bigint, transactions bigint, customers bigint,
                   new_customers bigint, new_revenue bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bigint[] := metrics.outlets(p_merchant);
    t0 timestamptz := metrics.day_start(p_from);
    t1 timestamptz := metrics.day_start(p_to + 1);
BEGIN
    IF p_grain NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'grain %', p_grain USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH per_customer AS (
        SELECT greatest(date_trunc(p_grain, t.booked_at AT TIME ZONE 'Europe/Moscow')::date, p_from) AS b,
               t.customer_id, sum(t.amount_minor) AS revenue,
               count(*) FILTER (WHERE t.amount_minor > 0) AS purchases
          FROM ingest.transactions t
         WHERE t.merchant_id = ANY (ids) AND t.booked_at >= t0 AND t.booked_at < t1
         GROUP BY 1, 2
    ), firsts AS (
        -- The bucket of each customer's first purchase at the outlets, if it is in the period.
        SELECT mc.customer_id,
               greatest(date_trunc(p_grain, min(mc.first_at) AT TIME ZONE 'Europe/Moscow')::date, p_from) AS b
          FROM ingest.merchant_customers mc
         WHERE mc.merchant_id = ANY (ids)
         GROUP BY mc.customer_id
        HAVING min(mc.first_at) >= t0 AND min(mc.first_at) < t1
    )
    SELECT pc.b, sum(pc.revenue)::bigint, sum(pc.purchases)::bigint,
           count(*) FILTER (WHERE pc.purchases > 0),
           count(*) FILTER (WHERE pc.purchases > 0 AND f.b = pc.b),
           coalesce(sum(pc.revenue) FILTER (WHERE f.b = pc.b), 0)::bigint
      FROM per_customer pc
      LEFT JOIN firsts f ON f.customer_id = pc.customer_id
     GROUP BY pc.b
     ORDER BY pc.b;
END
$$;

-- The same KPIs for each peer of one outlet (see metrics.peers), one row per peer merchant
-- with a purchase in the period, ordered by value: no merchant is named.
CREATE FUNCTION metrics.peer_kpis(p_merchant bigint, p_from date, p_to date)
    RETURNS TABLE (revenue bigint, transactions bigint, customers bigint,
                   repeat_customers bigint, new_customers bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bigint[] := metrics.peers(p_merchant, p_to);
    t0 timestamptz := metrics.day_start(p_from);
    t1 timestamptz := metrics.day_start(p_to + 1);
BEGIN
    RETURN QUERY
    WITH per_customer AS (
        SELECT t.merchant_id, t.customer_id, sum(t.amount_minor) AS revenue,
               count(*) FILTER (WHERE t.amount_minor > 0) AS purchases
          FROM ingest.transactions t
         WHERE t.merchant_id = ANY (ids) AND t.booked_at >= t0 AND t.booked_at < t1
         GROUP BY t.merchant_id, t.customer_id
    ), per_merchant AS (
        SELECT pc.merchant_id, sum(pc.revenue)::bigint AS revenue, sum(pc.purchases)::bigint AS transactions,
               count(*) FILTER (WHERE pc.purchases > 0) AS customers,
               count(*) FILTER (WHERE pc.purchases > 1) AS repeat_customers
          FROM per_customer pc
         GROUP BY pc.merchant_id
        HAVING sum(pc.purchases) > 0
    ), newcomers AS (
        SELECT mc.merchant_id, count(*) AS n FROM ingest.merchant_customers mc
         WHERE mc.merchant_id = ANY (ids) AND mc.first_at >= t0 AND mc.first_at < t1
         GROUP BY mc.merchant_id
    )
    SELECT pm.revenue, pm.transactions, pm.customers, pm.repeat_customers, coalesce(n.n, 0)
      FROM per_merchant pm LEFT JOIN newcomers n ON n.merchant_id = pm.merchant_id
     ORDER BY pm.revenue, pm.transactions, pm.customers;
END
$$;

-- Weekly revenue of one outlet, of the organisation's other outlets in its peer group, and
-- of each peer (an array per week, sorted: no merchant is named).
CREATE FUNCTION metrics.market_share(p_merchant bigint, p_from date, p_to date)
    RETURNS TABLE (week date, own_revenue bigint, org_revenue bigint, peer_revenues bigint[])
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org bigint := lyra.current_org_id();
    peer_ids bigint[] := metrics.peers(p_merchant, p_to);
    siblings bigint[];
BEGIN
    SELECT coalesce(array_agg(m.merchant_id), '{}') INTO siblings
      FROM ingest.merchants m JOIN ingest.mcc_codes c ON c.mcc = m.mcc
      JOIN ingest.merchants me ON me.merchant_id = p_merchant
      JOIN ingest.mcc_codes mec ON mec.mcc = me.mcc
     WHERE m.org_id = org AND m.merchant_id <> p_merchant
       AND c.category_group = mec.category_group AND m.city = me.city;
    RETURN QUERY
    WITH weekly AS (
        SELECT greatest(date_trunc('week', d.day)::date, p_from) AS w, d.merchant_id,
               sum(d.revenue_minor)::bigint AS revenue
          FROM ingest.merchant_daily d
         WHERE d.merchant_id = ANY (peer_ids || siblings || p_merchant)
           AND d.day BETWEEN p_from AND p_to
         GROUP BY 1, 2
    ), weeks AS (
        SELECT DISTINCT greatest(date_trunc('week', g)::date, p_from) AS w
          FROM generate_series(p_from, p_to, interval '1 day') g
    )
    SELECT k.w,
           coalesce(sum(x.revenue) FILTER (WHERE x.merchant_id = p_merchant), 0)::bigint,
           coalesce(sum(x.revenue) FILTER (WHERE x.merchant_id = ANY (siblings)), 0)::bigint,
           coalesce(array_agg(x.revenue ORDER BY x.revenue) FILTER (WHERE x.merchant_id = ANY (peer_ids)), '{}')
      FROM weeks k LEFT JOIN weekly x ON x.w = k.w
     GROUP BY k.w ORDER BY k.w;
END
$$;

-- Customer flows between one outlet and its peers. The base window is the period of the
-- same length just before p_from. Lapsed: customers of the outlet in the base window with
-- no purchase there in the period; lost: those of them who bought at a peer in the period.
-- New: customers whose first purchase at the outlet is in the period; won: those of them who
-- bought at a peer in the base window. Per-peer counts come as sorted arrays of the peers
-- with at least one such customer; `peers` is the size of the peer group.
CREATE FUNCTION metrics.flows(p_merchant bigint, p_from date, p_to date)
    RETURNS TABLE (peers integer, lapsed bigint, lost bigint, lost_per_peer bigint[],
                   new_customers bigint, won bigint, won_per_peer bigint[])
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET random_page_cost = 1.1
    SET work_mem = '16MB'
AS $$
DECLARE
    peer_ids bigint[] := metrics.peers(p_merchant, p_to);
    b0 timestamptz := metrics.day_start(p_from - (p_to - p_from + 1));
    t0 timestamptz := metrics.day_start(p_from);
    t1 timestamptz := metrics.day_start(p_to + 1);
BEGIN
    RETURN QUERY
    WITH base AS (
        SELECT DISTINCT t.customer_id FROM ingest.transactions t
         WHERE t.merchant_id = p_merchant AND t.booked_at >= b0 AND t.booked_at < t0 AND t.amount_minor > 0
    ), in_period AS (
        SELECT DISTINCT t.customer_id FROM ingest.transactions t
         WHERE t.merchant_id = p_merchant AND t.booked_at >= t0 AND t.booked_at < t1 AND t.amount_minor > 0
    ), lapsed AS (
        SELECT b.customer_id FROM base b WHERE NOT EXISTS (SELECT FROM in_period c WHERE c.customer_id = b.customer_id)
    ), lost AS (
        SELECT DISTINCT t.merchant_id, t.customer_id
          FROM lapsed l JOIN ingest.transactions t ON t.customer_id = l.customer_id
         WHERE t.booked_at >= t0 AND t.booked_at < t1 AND t.amount_minor > 0 AND t.merchant_id = ANY (peer_ids)
    ), newcomers AS (
        SELECT mc.customer_id FROM ingest.merchant_customers mc
         WHERE mc.merchant_id = p_merchant AND mc.first_at >= t0 AND mc.first_at < t1
    ), won AS (
        SELECT DISTINCT t.merchant_id, t.customer_id
          FROM newcomers n JOIN ingest.transactions t ON t.customer_id = n.customer_id
         WHERE t.booked_at >= b0 AND t.booked_at < t0 AND t.amount_minor > 0 AND t.merchant_id = ANY (peer_ids)
    )
    SELECT cardinality(peer_ids),
           (SELECT count(*) FROM lapsed),
           (SELECT count(DISTINCT customer_id) FROM lost),
           (SELECT coalesce(array_agg(n ORDER BY n), '{}') FROM (SELECT count(*) AS n FROM lost GROUP BY merchant_id) x),
           (SELECT count(*) FROM newcomers),
           (SELECT count(DISTINCT customer_id) FROM won),
           (SELECT coalesce(array_agg(n ORDER BY n), '{}') FROM (SELECT count(*) AS n FROM won GROUP BY merchant_id) x);
END
$$;

-- Customers of the period and their net spend by age band (at the end of the period) x
-- gender, and by home region (age_band and gender NULL).
CREATE FUNCTION metrics.demographics(p_merchant bigint, p_from date, p_to date)
    RETURNS TABLE (age_band text, gender text, region text, customers bigint, revenue bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bigint[] := metrics.outlets(p_merchant);
    t0 timestamptz := metrics.day_start(p_from);
    t1 timestamptz := metrics.day_start(p_to + 1);
BEGIN
    RETURN QUERY
    WITH per_customer AS (
        SELECT * FROM metrics.period_customers(ids, t0, t1) x WHERE x.purchases > 0
    ), described AS (
        SELECT pc.revenue, c.gender::text AS gender, c.home_region AS region,
               CASE WHEN a < 18 THEN 'under_18' WHEN a < 25 THEN '18-24' WHEN a < 35 THEN '25-34'
                    WHEN a < 45 THEN '35-44' WHEN a < 55 THEN '45-54' WHEN a < 65 THEN '55-64'
                    ELSE '65+' END AS age_band
          FROM per_customer pc
          JOIN ingest.customers c ON c.customer_id = pc.customer_id
         CROSS JOIN LATERAL (SELECT extract(year FROM p_to)::int - c.birth_year AS a) age
    )
    SELECT d.age_band, d.gender, NULL::text, count(*), sum(d.revenue)::bigint
      FROM described d GROUP BY d.age_band, d.gender
    UNION ALL
    SELECT NULL, NULL, d.region, count(*), sum(d.revenue)::bigint
      FROM described d GROUP BY d.region;
END
$$;

-- Purchases, net revenue and customers by ISO weekday (1 = Monday) x hour, Moscow time.
CREATE FUNCTION metrics.heatmap(p_merchant bigint, p_from date, p_to date)
    RETURNS TABLE (weekday integer, hour integer, transactions bigint, revenue bigint, customers bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bigint[] := metrics.outlets(p_merchant);
    t0 timestamptz := metrics.day_start(p_from);
    t1 timestamptz := metrics.day_start(p_to + 1);
BEGIN
    RETURN QUERY
    SELECT extract(isodow FROM l)::int, extract(hour FROM l)::int,
           count(*) FILTER (WHERE x.amount_minor > 0), sum(x.amount_minor)::bigint,
           count(DISTINCT x.customer_id) FILTER (WHERE x.amount_minor > 0)
      FROM (SELECT t.booked_at AT TIME ZONE 'Europe/Moscow' AS l, t.amount_minor, t.customer_id
              FROM ingest.transactions t
             WHERE t.merchant_id = ANY (ids) AND t.booked_at >= t0 AND t.booked_at < t1) x
     GROUP BY 1, 2 ORDER BY 1, 2;
END
$$;

-- Monthly cohorts: customers whose first purchase at the outlets falls in each month of the
-- period, and how many of them bought in each later month up to p_to (month 0 = the
-- cohort's own month).
CREATE FUNCTION metrics.cohorts(p_merchant bigint, p_from date, p_to date)
    RETURNS TABLE (cohort date, months_since integer, customers bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bigint[] := metrics.outlets(p_merchant);
    m0 date := date_trunc('month', p_from)::date;
    t0 timestamptz := metrics.day_start(date_trunc('month', p_from)::date);
    t1 timestamptz := metrics.day_start(p_to + 1);
BEGIN
    RETURN QUERY
    WITH firsts AS (
        SELECT mc.customer_id, date_trunc('month', min(mc.first_at) AT TIME ZONE 'Europe/Moscow')::date AS cohort
          FROM ingest.merchant_customers mc
         WHERE mc.merchant_id = ANY (ids)
         GROUP BY mc.customer_id
        HAVING min(mc.first_at) >= t0 AND min(mc.first_at) < t1
    ), active AS (
        SELECT DISTINCT t.customer_id, date_trunc('month', t.booked_at AT TIME ZONE 'Europe/Moscow')::date AS month
          FROM ingest.transactions t
         WHERE t.merchant_id = ANY (ids) AND t.booked_at >= t0 AND t.booked_at < t1 AND t.amount_minor > 0
    )
    SELECT f.cohort,
           ((extract(year FROM a.month) - extract(year FROM f.cohort)) * 12
             + extract(month FROM a.month) - extract(month FROM f.cohort))::int,
           count(*)
      FROM firsts f JOIN active a ON a.customer_id = f.customer_id AND a.month >= f.cohort
     WHERE f.cohort >= m0
     GROUP BY 1, 2 ORDER BY 1, 2;
END
$$;

-- Customers of the period, their net spend and purchases by segment of the latest scoring
-- (NULL: not scored), with that scoring's cut-off.
CREATE FUNCTION metrics.segments(p_merchant bigint, p_from date, p_to date)
    RETURNS TABLE (scored_as_of date, segment text, customers bigint, revenue bigint, transactions bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bigint[] := metrics.outlets(p_merchant);
    t0 timestamptz := metrics.day_start(p_from);
    t1 timestamptz := metrics.day_start(p_to + 1);
    s_as_of date;
    s_version integer;
BEGIN
    SELECT l.as_of, l.model_version INTO s_as_of, s_version FROM metrics.latest_segments() l;
    RETURN QUERY
    WITH per_customer AS (
        SELECT * FROM metrics.period_customers(ids, t0, t1) x WHERE x.purchases > 0
    )
    SELECT s_as_of, s.segment_name, count(*), sum(pc.revenue)::bigint, sum(pc.purchases)::bigint
      FROM per_customer pc
      LEFT JOIN pipeline.customer_segments s
        ON s.as_of = s_as_of AND s.model_version = s_version AND s.customer_id = pc.customer_id
     GROUP BY s.segment_name;
END
$$;

-- Customers of the period by segment x bucket of predicted 90-day card spend (p50 of the
-- latest purchasing-power scoring, in kopecks; bucket i holds p_edges[i] <= spend <
-- p_edges[i+1], bucket 0 lies below the first edge), with the sum of their predictions.
-- Customers without a prediction are left out.
CREATE FUNCTION metrics.purchasing_power(p_merchant bigint, p_from date, p_to date, p_edges bigint[])
    RETURNS TABLE (scored_as_of date, segment text, bucket integer, customers bigint, predicted bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bigint[] := metrics.outlets(p_merchant);
    t0 timestamptz := metrics.day_start(p_from);
    t1 timestamptz := metrics.day_start(p_to + 1);
    s_as_of date;
    s_version integer;
    p_as_of date;
    p_version integer;
BEGIN
    SELECT l.as_of, l.model_version INTO s_as_of, s_version FROM metrics.latest_segments() l;
    SELECT l.as_of, l.model_version INTO p_as_of, p_version FROM metrics.latest_purchasing_power() l;
    RETURN QUERY
    WITH period_customers AS (
        SELECT x.customer_id FROM metrics.period_customers(ids, t0, t1) x WHERE x.purchases > 0
    ), predicted AS (
        SELECT pc.customer_id, round(pp.p50::numeric * 100)::bigint AS spend
          FROM period_customers pc
          JOIN pipeline.purchasing_power pp
            ON pp.as_of = p_as_of AND pp.model_version = p_version AND pp.customer_id = pc.customer_id
    )
    SELECT p_as_of, s.segment_name, width_bucket(p.spend, p_edges), count(*), sum(p.spend)::bigint
      FROM predicted p
      LEFT JOIN pipeline.customer_segments s
        ON s.as_of = s_as_of AND s.model_version = s_version AND s.customer_id = p.customer_id
     GROUP BY 2, 3 ORDER BY 2, 3;
END
$$;

-- Where the outlets' customers of the period spend, per category group, over the same
-- period: how many of them bought in the group, their net spend there (their whole wallet,
-- these outlets included), and the sum and count of their predicted propensities to buy in
-- the group (latest scoring).
-- The customers' own rows are read per customer: a nested loop over the customer index,
-- which the planner chooses once it knows that random reads cost little here (hot data).
CREATE FUNCTION metrics.categories(p_merchant bigint, p_from date, p_to date)
    RETURNS TABLE (category_group text, customers bigint, spend bigint,
                   propensity_sum double precision, propensity_customers bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET random_page_cost = 1.1
    SET work_mem = '16MB'
AS $$
DECLARE
    ids bigint[] := metrics.outlets(p_merchant);
    t0 timestamptz := metrics.day_start(p_from);
    t1 timestamptz := metrics.day_start(p_to + 1);
    c_as_of date;
    c_version integer;
BEGIN
    SELECT l.as_of, l.model_version INTO c_as_of, c_version FROM metrics.latest_propensities() l;
    RETURN QUERY
    WITH period_customers AS (
        SELECT x.customer_id FROM metrics.period_customers(ids, t0, t1) x WHERE x.purchases > 0
    ), per_merchant AS (
        SELECT t.merchant_id, t.customer_id, sum(t.amount_minor) AS spend,
               count(*) FILTER (WHERE t.amount_minor > 0) AS purchases
          FROM period_customers pc
          JOIN ingest.transactions t ON t.customer_id = pc.customer_id AND t.booked_at >= t0 AND t.booked_at < t1
         GROUP BY 1, 2
    ), wallet AS (
        SELECT c.category_group AS g, count(DISTINCT pm.customer_id) FILTER (WHERE pm.purchases > 0) AS customers,
               sum(pm.spend) AS spend
          FROM per_merchant pm
          JOIN ingest.merchants m ON m.merchant_id = pm.merchant_id
          JOIN ingest.mcc_codes c ON c.mcc = m.mcc
         GROUP BY 1
    ), propensity AS (
        SELECT u.g, sum(u.p)::double precision AS total, count(*) AS n
          FROM period_customers pc
          JOIN pipeline.category_propensities cp
            ON cp.as_of = c_as_of AND cp.model_version = c_version AND cp.customer_id = pc.customer_id
         CROSS JOIN LATERAL unnest(cp.groups, cp.probabilities) AS u(g, p)
         GROUP BY u.g
    )
    SELECT g.code, coalesce(w.customers, 0), coalesce(w.spend, 0)::bigint,
           coalesce(pr.total, 0), coalesce(pr.n, 0)
      FROM ingest.category_groups g
      LEFT JOIN wallet w ON w.g = g.code
      LEFT JOIN propensity pr ON pr.g = g.code
     ORDER BY g.position;
END
$$;

-- Everyone's net spend per category group over a period (the population the categories
-- page compares with), with how many merchants it comes from and the largest one's part,
-- so that a group dominated by a few merchants can be withheld.
CREATE FUNCTION metrics.population(p_from date, p_to date)
    RETURNS TABLE (category_group text, spend bigint, merchants bigint, largest bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM metrics.outlets(NULL);
    RETURN QUERY
    WITH per_merchant AS (
        SELECT d.merchant_id, sum(d.revenue_minor) AS spend
          FROM ingest.merchant_daily d
         WHERE d.day BETWEEN p_from AND p_to
         GROUP BY d.merchant_id
    )
    SELECT c.category_group, sum(pm.spend)::bigint, count(*), max(pm.spend)::bigint
      FROM per_merchant pm
      JOIN ingest.merchants m ON m.merchant_id = pm.merchant_id
      JOIN ingest.mcc_codes c ON c.mcc = m.mcc
     GROUP BY c.category_group;
END
$$;

-- Partner candidates: merchants in a city of the outlets, of a category group none of the
-- outlets is in, outside the organisation, by how many of the outlets' customers of the
-- period also bought there in the period (the p_limit largest overlaps). Described by
-- category group, city and whether they are a Lyra client; never named.
CREATE FUNCTION metrics.partners(p_merchant bigint, p_from date, p_to date, p_limit integer)
    RETURNS TABLE (category_group text, city text, lyra_client boolean, customers bigint, of_customers bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET random_page_cost = 1.1
    SET work_mem = '16MB'
AS $$
DECLARE
    org bigint := lyra.current_org_id();
    ids bigint[] := metrics.outlets(p_merchant);
    t0 timestamptz := metrics.day_start(p_from);
    t1 timestamptz := metrics.day_start(p_to + 1);
BEGIN
    RETURN QUERY
    WITH period_customers AS MATERIALIZED (
        SELECT x.customer_id FROM metrics.period_customers(ids, t0, t1) x WHERE x.purchases > 0
    ), own AS (
        SELECT DISTINCT c.category_group, m.city FROM ingest.merchants m
          JOIN ingest.mcc_codes c ON c.mcc = m.mcc WHERE m.merchant_id = ANY (ids)
    ), candidates AS (
        SELECT m.merchant_id, c.category_group, m.city, m.org_id IS NOT NULL AS lyra_client
          FROM ingest.merchants m JOIN ingest.mcc_codes c ON c.mcc = m.mcc
         WHERE m.city IN (SELECT o.city FROM own o)
           AND c.category_group NOT IN (SELECT o.category_group FROM own o)
           AND m.org_id IS DISTINCT FROM org
    ), overlap AS (
        SELECT t.merchant_id, count(DISTINCT t.customer_id) AS n
          FROM period_customers pc
          JOIN ingest.transactions t ON t.customer_id = pc.customer_id AND t.booked_at >= t0 AND t.booked_at < t1
         WHERE t.amount_minor > 0
         GROUP BY t.merchant_id
    )
    SELECT k.category_group, k.city, k.lyra_client, o.n, (SELECT count(*) FROM period_customers)
      FROM overlap o JOIN candidates k ON k.merchant_id = o.merchant_id
     ORDER BY o.n DESC, k.category_group, k.city
     LIMIT p_limit;
END
$$;

-- Only the tenant role runs the API, and nobody runs the helpers directly.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA metrics FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    metrics.kpis(bigint, date, date),
    metrics.series(bigint, date, date, text),
    metrics.peer_kpis(bigint, date, date),
    metrics.market_share(bigint, date, date),
    metrics.flows(bigint, date, date),
    metrics.demographics(bigint, date, date),
    metrics.heatmap(bigint, date, date),
    metrics.cohorts(bigint, date, date),
    metrics.segments(bigint, date, date),
    metrics.purchasing_power(bigint, date, date, bigint[]),
    metrics.categories(bigint, date, date),
    metrics.population(date, date),
    metrics.partners(bigint, date, date, integer)
    TO lyra_app;
