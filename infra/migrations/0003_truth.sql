-- The synthetic generator's latent truth, for evaluating models only. No service role has
-- any privilege on this schema: no service and no model can read it.
CREATE TABLE truth.customers (
    customer_id              bigint PRIMARY KEY,
    archetype                text NOT NULL,
    income_rub_month         integer NOT NULL,
    purchase_rate_per_day    double precision NOT NULL,
    dropout_probability      double precision NOT NULL,
    spend_multiplier         double precision NOT NULL,
    lapsed_on                date,
    expected_spend_90d_minor bigint NOT NULL
);

CREATE TABLE truth.switches (
    customer_id     bigint NOT NULL,
    category_group  text NOT NULL,
    from_merchant   bigint NOT NULL,
    to_merchant     bigint NOT NULL,
    switched_on     date NOT NULL
);

REVOKE ALL ON SCHEMA truth FROM PUBLIC;
