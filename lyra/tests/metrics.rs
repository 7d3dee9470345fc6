//! The metrics service over real HTTP with the real auth service and a real database:
//! KPIs against numbers computed here from hand-made transactions, comparison periods, peer
//! figures under the privacy rules, the customers, categories, competitors and forecast
//! pages, tenant isolation (through the API, and through the SQL functions called directly),
//! the access matrix, forged tokens, CSV with formula injection, and the OpenAPI document.
// Amounts are written roubles_kopecks (1500_00 is 1,500 roubles).
#![allow(clippy::inconsistent_digit_grouping)]

mod support;

use std::collections::{BTreeMap, BTreeSet};

use lyra_auth::admin::{self, Membership};
use lyra_common::db::{Db, DbRole, OrgId};
use lyra_common::testing::{Running, TestDb, fresh_db};
use lyra_common::token::{Claims, Role};
use lyra_metrics::Access;
use serde_json::Value;
use sqlx::PgPool;
use time::macros::{date, offset};
use time::{Date, Duration, OffsetDateTime};

const PASSWORD: &str = "Tundra-Lantern-Violet-42";
const A: OrgId = OrgId(1_001);
const B: OrgId = OrgId(2_002);
const C: OrgId = OrgId(3_003);

/// A's grocery (Moscow) and café (Moscow), B's grocery (Moscow).
const A_GROCERY: i64 = 10;
const A_CAFE: i64 = 11;
const B_MARKET: i64 = 20;
/// Groceries in Moscow of no organisation.
const GROCERS: [i64; 7] = [30, 31, 32, 33, 34, 35, 36];
/// Restaurants in Moscow; the first is far larger than the rest.
const RESTAURANTS: [i64; 6] = [60, 61, 62, 63, 64, 65];
/// Pharmacies in Kazan: C's four, then four others.
const C_PHARMACIES: [i64; 4] = [50, 51, 52, 53];
const KAZAN_PHARMACIES: [i64; 4] = [54, 55, 56, 57];
/// Non-competing neighbours of A's grocery: a pharmacy and a clothes shop in Moscow.
const PHARMACY: i64 = 40;
const CLOTHES: i64 = 41;
/// The home region of customers 1-3: a spreadsheet formula.
const EVIL_REGION: &str = "=HYPERLINK(\"http://evil.example\",\"x\")";

/// The period most tests ask about, and the one before it.
const FROM: Date = date!(2026 - 10 - 01);
const TO: Date = date!(2026 - 10 - 31);
const PREV_FROM: Date = date!(2026 - 08 - 31);
const PREV_TO: Date = date!(2026 - 09 - 30);

#[derive(Debug, Clone, Copy)]
struct Txn {
    customer: i64,
    merchant: i64,
    at: OffsetDateTime,
    amount: i64,
}

impl Txn {
    fn day(&self) -> Date {
        self.at.to_offset(offset!(+3)).date()
    }
}

fn txn(customer: i64, merchant: i64, day: Date, hour: u8, amount: i64) -> Txn {
    Txn {
        customer,
        merchant,
        at: day.with_hms(hour, 0, 0).unwrap().assume_offset(offset!(+3)),
        amount,
    }
}

fn oct(day: i64) -> Date {
    date!(2026 - 10 - 01) + Duration::days(day - 1)
}

fn sep(day: i64) -> Date {
    date!(2026 - 09 - 01) + Duration::days(day - 1)
}

/// The bank's payments, by hand.
fn payments() -> Vec<Txn> {
    let mut t = Vec::new();
    // A's grocery in October: customers 1-60, the first 20 twice, and one refund.
    for c in 1..=60 {
        let day = 1 + c % 28;
        t.push(txn(
            c,
            A_GROCERY,
            oct(day),
            10 + (c % 8) as u8,
            1000_00 + c * 100,
        ));
        if c <= 20 {
            t.push(txn(c, A_GROCERY, oct(day + 2), 18, 800_00 + c));
        }
    }
    t.push(txn(5, A_GROCERY, oct(20), 19, -500_00));
    // In September: customers 31-80 (so 61-80 lapse in October).
    for c in 31..=80 {
        t.push(txn(c, A_GROCERY, sep(1 + c % 28), 12, 900_00 + c * 10));
    }
    // A year earlier: customers 61-70.
    for c in 61..=70 {
        t.push(txn(c, A_GROCERY, date!(2025 - 10 - 10), 12, 500_00));
    }
    // A's café: customers 1-15.
    for c in 1..=15 {
        t.push(txn(c, A_CAFE, oct(3), 13, 300_00));
    }
    // Grocery peers: B's market and seven others, five customers each.
    for (k, &m) in std::iter::once(&B_MARKET).chain(&GROCERS).enumerate() {
        for j in 0..5 {
            let c = 81 + k as i64 * 5 + j;
            t.push(txn(c, m, oct(5 + j), 11, 2000_00 + k as i64 * 100_00));
        }
    }
    // Twelve of A's lapsed customers now buy at six grocers; four of its October newcomers
    // bought at a grocer in September.
    for (i, c) in (61..=72).enumerate() {
        t.push(txn(c, GROCERS[i % 6], oct(12), 15, 1500_00));
    }
    for c in 1..=4 {
        t.push(txn(c, GROCERS[6], sep(15), 10, 700_00));
    }
    // Restaurants: five customers each; the first restaurant takes 95% of the revenue.
    for (k, &m) in RESTAURANTS.iter().enumerate() {
        for j in 0..5 {
            let amount = if k == 0 { 100_000_00 } else { 1000_00 };
            t.push(txn(101 + j, m, oct(7), 20, amount));
        }
    }
    // Kazan pharmacies: three customers each.
    for &m in C_PHARMACIES.iter().chain(&KAZAN_PHARMACIES) {
        for j in 0..3 {
            t.push(txn(106 + j, m, oct(9), 9, 500_00));
        }
    }
    // Neighbours of A's grocery.
    for c in 1..=12 {
        t.push(txn(c, PHARMACY, oct(4), 16, 450_00 + c));
    }
    for c in 1..=3 {
        t.push(txn(c, CLOTHES, oct(4), 17, 2500_00));
    }
    t
}

/// KPIs computed here, from the payments, for comparison with the service's.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Expected {
    revenue: i64,
    transactions: i64,
    customers: i64,
    repeat_customers: i64,
    new_customers: i64,
}

impl Expected {
    fn of(txns: &[Txn], merchants: &[i64], from: Date, to: Date) -> Expected {
        let at_outlets = |t: &&Txn| merchants.contains(&t.merchant);
        let mut purchases: BTreeMap<i64, i64> = BTreeMap::new();
        let mut e = Expected::default();
        for t in txns
            .iter()
            .filter(at_outlets)
            .filter(|t| (from..=to).contains(&t.day()))
        {
            e.revenue += t.amount;
            if t.amount > 0 {
                e.transactions += 1;
                *purchases.entry(t.customer).or_default() += 1;
            }
        }
        let mut first: BTreeMap<i64, Date> = BTreeMap::new();
        for t in txns.iter().filter(at_outlets).filter(|t| t.amount > 0) {
            let d = first.entry(t.customer).or_insert(t.day());
            *d = (*d).min(t.day());
        }
        e.customers = purchases.len() as i64;
        e.repeat_customers = purchases.values().filter(|n| **n > 1).count() as i64;
        e.new_customers = first.values().filter(|d| (from..=to).contains(*d)).count() as i64;
        e
    }

    fn average_ticket(&self) -> i64 {
        // Half away from zero, as the service rounds.
        let (r, n) = (self.revenue as f64, self.transactions as f64);
        (r / n).round() as i64
    }
}

fn median(mut values: Vec<i64>) -> i64 {
    values.sort();
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        ((values[n / 2 - 1] + values[n / 2]) as f64 / 2.0).round() as i64
    }
}

struct World {
    db: TestDb,
    admin: PgPool,
    auth: Running,
    metrics: Running,
    http: reqwest::Client,
    txns: Vec<Txn>,
}

impl World {
    async fn start() -> World {
        let db = fresh_db().await;
        let admin = db.admin_pool().await;
        for (org, name) in [(A, "Alpha"), (B, "Beta"), (C, "Gamma")] {
            admin::create_org(&admin, name, Some(org.0)).await.unwrap();
        }
        let mut merchants: Vec<(i64, Option<OrgId>, i16, &str)> = vec![
            (A_GROCERY, Some(A), 5411, "Moscow"),
            (A_CAFE, Some(A), 5812, "Moscow"),
            (B_MARKET, Some(B), 5411, "Moscow"),
            (PHARMACY, None, 5912, "Moscow"),
            (CLOTHES, None, 5651, "Moscow"),
        ];
        merchants.extend(GROCERS.iter().map(|&m| (m, None, 5411, "Moscow")));
        merchants.extend(RESTAURANTS.iter().map(|&m| (m, None, 5812, "Moscow")));
        merchants.extend(C_PHARMACIES.iter().map(|&m| (m, Some(C), 5912, "Kazan")));
        merchants.extend(KAZAN_PHARMACIES.iter().map(|&m| (m, None, 5912, "Kazan")));
        for (id, org, mcc, city) in merchants {
            sqlx::query(
                "INSERT INTO ingest.merchants (merchant_id, org_id, name, mcc, region, city, latitude, longitude, opened_on)
                 VALUES ($1, $2, $3, $4, $5, $5, 55.7, 37.6, '2020-01-01')",
            )
            .bind(id)
            .bind(org.map(|o| o.0))
            .bind(format!("Shop {id}"))
            .bind(mcc)
            .bind(city)
            .execute(&admin)
            .await
            .unwrap();
        }
        sqlx::query(
            "INSERT INTO ingest.customers (customer_id, birth_year, gender, home_region, client_since)
             SELECT c, 1960 + c % 40, CASE WHEN c % 2 = 0 THEN 'F' ELSE 'M' END,
                    CASE WHEN c <= 3 THEN $1 ELSE 'Moscow' END, '2020-01-01'
               FROM generate_series(1, 120) c",
        )
        .bind(EVIL_REGION)
        .execute(&admin)
        .await
        .unwrap();
        let txns = payments();
        sqlx::query("SELECT ingest.ensure_transaction_partitions('2025-09-01', '2026-12-31')")
            .execute(&admin)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO ingest.transactions (txn_id, booked_at, customer_id, merchant_id, amount_minor, currency, channel)
             SELECT 't' || i, b, c, m, a, 'RUB', 'pos'
               FROM unnest($1::timestamptz[], $2::bigint[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS u(b, c, m, a, i)",
        )
        .bind(txns.iter().map(|t| t.at).collect::<Vec<_>>())
        .bind(txns.iter().map(|t| t.customer).collect::<Vec<_>>())
        .bind(txns.iter().map(|t| t.merchant).collect::<Vec<_>>())
        .bind(txns.iter().map(|t| t.amount).collect::<Vec<_>>())
        .execute(&admin)
        .await
        .unwrap();
        let mut tx = admin.begin().await.unwrap();
        lyra_ingest::store::rebuild_rollups(&mut tx).await.unwrap();
        tx.commit().await.unwrap();

        let auth = Running::start(lyra_auth::build(db.settings()).await.unwrap());
        let mut settings = db.settings();
        settings.gateway.upstreams.auth = Some(auth.base.clone());
        let metrics = Running::start(lyra_metrics::build(settings).await.unwrap());
        World {
            db,
            admin,
            auth,
            metrics,
            http: reqwest::Client::new(),
            txns,
        }
    }

    /// A person's access token.
    async fn login(&self, email: &str, membership: Membership) -> String {
        admin::create_user(&self.admin, email, "Test User", PASSWORD, membership)
            .await
            .unwrap();
        support::login_with(&self.auth, email, PASSWORD).await
    }

    /// An access token for an API token of `org` with `scopes`.
    async fn service_token(&self, org: OrgId, scopes: &[&str], owner_email: &str) -> String {
        let owner = admin::create_user(
            &self.admin,
            owner_email,
            "Token Owner",
            PASSWORD,
            Membership::Member(org, Role::Owner),
        )
        .await
        .unwrap();
        let mut conn = self.admin.acquire().await.unwrap();
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let (_, token) = admin::insert_api_token(&mut conn, Some(org), "script", &scopes, owner)
            .await
            .unwrap();
        support::exchange(&self.auth, &token).await["access_token"]
            .as_str()
            .expect("exchanged")
            .to_string()
    }

    async fn get_raw(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.metrics.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let response = self.get_raw(path, Some(token)).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// A page of one outlet over the test's period.
    async fn page(&self, page: &str, merchant: i64, token: &str) -> Value {
        self.get(
            &format!("/v1/metrics/{page}?{}", query(Some(merchant), FROM, TO)),
            token,
        )
        .await
    }

    fn expected(&self, merchants: &[i64], from: Date, to: Date) -> Expected {
        Expected::of(&self.txns, merchants, from, to)
    }
}

fn kpi<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["kpis"]
        .as_array()
        .or_else(|| body["ranks"].as_array())
        .unwrap()
        .iter()
        .find(|k| k["kpi"] == name)
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

fn int(figure: &Value) -> i64 {
    figure["value"]
        .as_i64()
        .unwrap_or_else(|| panic!("not a released integer: {figure}"))
}

fn ratio(figure: &Value) -> f64 {
    figure["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("not a released number: {figure}"))
}

fn hidden(figure: &Value) -> &str {
    assert!(figure["value"].is_null(), "released: {figure}");
    figure["hidden"].as_str().unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

fn query(merchant: Option<i64>, from: Date, to: Date) -> String {
    let merchant = merchant
        .map(|m| format!("merchant={m}&"))
        .unwrap_or_default();
    format!("{merchant}from={from}&to={to}")
}

#[tokio::test]
async fn kpis_comparisons_and_peer_medians_match_the_transactions() {
    let w = World::start().await;
    let owner = w
        .login("owner@alpha.example", Membership::Member(A, Role::Owner))
        .await;

    let body = w.page("overview", A_GROCERY, &owner).await;
    let now = w.expected(&[A_GROCERY], FROM, TO);
    let before = w.expected(&[A_GROCERY], PREV_FROM, PREV_TO);
    assert_eq!(body["meta"]["compare_from"], PREV_FROM.to_string());
    assert_eq!(body["meta"]["compare_to"], PREV_TO.to_string());
    assert_eq!(int(&kpi(&body, "revenue")["value"]), now.revenue);
    assert_eq!(int(&kpi(&body, "revenue")["comparison"]), before.revenue);
    assert!(close(
        ratio(&kpi(&body, "revenue")["change"]),
        (now.revenue - before.revenue) as f64 / before.revenue as f64
    ));
    assert_eq!(int(&kpi(&body, "transactions")["value"]), now.transactions);
    assert_eq!(int(&kpi(&body, "customers")["value"]), 60);
    assert_eq!(int(&kpi(&body, "customers")["value"]), now.customers);
    assert_eq!(
        int(&kpi(&body, "customers")["comparison"]),
        before.customers
    );
    assert_eq!(
        int(&kpi(&body, "average_ticket")["value"]),
        now.average_ticket()
    );
    assert!(close(
        ratio(&kpi(&body, "repeat_rate")["value"]),
        now.repeat_customers as f64 / now.customers as f64
    ));
    assert_eq!(
        int(&kpi(&body, "new_customers")["value"]),
        30,
        "1-30 are new, 31-60 came in September"
    );
    assert_eq!(
        int(&kpi(&body, "new_customers")["value"]),
        now.new_customers
    );

    // Peers: B's market and the seven grocers, never A's own outlets.
    let peers: Vec<i64> = std::iter::once(B_MARKET).chain(GROCERS).collect();
    let per_peer: Vec<Expected> = peers.iter().map(|&m| w.expected(&[m], FROM, TO)).collect();
    assert_eq!(body["peer_group"]["peers"], 8);
    assert_eq!(body["peer_group"]["category_group"], "groceries");
    assert_eq!(
        int(&kpi(&body, "revenue")["peer_median"]),
        median(per_peer.iter().map(|e| e.revenue).collect())
    );
    assert_eq!(
        int(&kpi(&body, "customers")["peer_median"]),
        median(per_peer.iter().map(|e| e.customers).collect())
    );

    // The same days a year earlier.
    let body = w
        .get(
            &format!(
                "/v1/metrics/overview?{}&compare=last_year",
                query(Some(A_GROCERY), FROM, TO)
            ),
            &owner,
        )
        .await;
    let last_year = w.expected(&[A_GROCERY], date!(2025 - 10 - 01), date!(2025 - 10 - 31));
    assert_eq!(last_year.customers, 10);
    assert_eq!(int(&kpi(&body, "revenue")["comparison"]), last_year.revenue);
    assert_eq!(int(&kpi(&body, "customers")["comparison"]), 10);

    // All of A's outlets: customers across both are counted once; no peer figure for two outlets.
    let body = w
        .get(
            &format!("/v1/metrics/overview?{}", query(None, FROM, TO)),
            &owner,
        )
        .await;
    let both = w.expected(&[A_GROCERY, A_CAFE], FROM, TO);
    assert_eq!(int(&kpi(&body, "customers")["value"]), both.customers);
    assert_eq!(int(&kpi(&body, "revenue")["value"]), both.revenue);
    assert_eq!(
        hidden(&kpi(&body, "revenue")["peer_median"]),
        "choose_an_outlet"
    );

    // Defaults: the outlet's last day with sales, and the 30 days up to it.
    let body = w
        .get(
            &format!("/v1/metrics/overview?merchant={A_GROCERY}"),
            &owner,
        )
        .await;
    let last = w
        .txns
        .iter()
        .filter(|t| t.merchant == A_GROCERY)
        .map(Txn::day)
        .max()
        .unwrap();
    assert_eq!(body["meta"]["to"], last.to_string());
    assert_eq!(
        body["meta"]["from"],
        (last - Duration::days(29)).to_string()
    );

    // Daily series add up to the period; the driver tree adds up to the revenue change.
    let series = w.page("timeseries", A_GROCERY, &owner).await;
    assert_eq!(series["grain"], "day");
    let points = series["points"].as_array().unwrap();
    assert_eq!(
        points
            .iter()
            .map(|p| p["revenue"].as_i64().unwrap())
            .sum::<i64>(),
        now.revenue
    );
    assert_eq!(
        points
            .iter()
            .map(|p| p["transactions"].as_i64().unwrap())
            .sum::<i64>(),
        now.transactions
    );
    let weekly = w
        .get(
            &format!(
                "/v1/metrics/timeseries?{}&grain=week",
                query(Some(A_GROCERY), FROM, TO)
            ),
            &owner,
        )
        .await;
    assert_eq!(
        weekly["points"][0]["bucket"], "2026-10-01",
        "the first week is clipped to the period"
    );
    assert_eq!(weekly["points"][1]["bucket"], "2026-10-05");
    let drivers = w.page("drivers", A_GROCERY, &owner).await;
    let factors = drivers["factors"].as_array().unwrap();
    assert_eq!(
        factors.iter().map(|f| int(&f["contribution"])).sum::<i64>(),
        now.revenue - before.revenue
    );
    assert_eq!(int(&factors[0]["value"]), now.customers);
    assert!(close(
        ratio(&factors[1]["value"]),
        now.transactions as f64 / now.customers as f64
    ));

    // Stored peer groups (the pipeline ran) take precedence over the live definition:
    // here the stored group holds B's market and four grocers only.
    sqlx::raw_sql(
        "INSERT INTO pipeline.peer_groups VALUES ('2026-11-01', 'groceries:Moscow', 'groceries', 'Moscow', 6);
         INSERT INTO pipeline.peer_members VALUES ('2026-11-01', 'groceries:Moscow', 10),
             ('2026-11-01', 'groceries:Moscow', 20), ('2026-11-01', 'groceries:Moscow', 30),
             ('2026-11-01', 'groceries:Moscow', 31), ('2026-11-01', 'groceries:Moscow', 32),
             ('2026-11-01', 'groceries:Moscow', 33)",
    )
    .execute(&w.admin)
    .await
    .unwrap();
    let from = FROM + Duration::days(1); // another period: not a cached answer
    let body = w
        .get(
            &format!("/v1/metrics/overview?{}", query(Some(A_GROCERY), from, TO)),
            &owner,
        )
        .await;
    let stored: Vec<i64> = [B_MARKET, 30, 31, 32, 33]
        .iter()
        .map(|&m| w.expected(&[m], from, TO).revenue)
        .collect();
    assert_eq!(body["peer_group"]["peers"], 5);
    assert_eq!(int(&kpi(&body, "revenue")["peer_median"]), median(stored));
}

#[tokio::test]
async fn peer_figures_and_small_cells_follow_the_privacy_rules() {
    let w = World::start().await;
    let alpha = w
        .login("owner@alpha.example", Membership::Member(A, Role::Owner))
        .await;
    let gamma = w
        .login("owner@gamma.example", Membership::Member(C, Role::Viewer))
        .await;

    // Eight pharmacies in Kazan, but four are C's own: four peers are too few.
    let body = w.page("competitors", C_PHARMACIES[0], &gamma).await;
    for rank in body["ranks"].as_array().unwrap() {
        assert_eq!(hidden(&rank["peer_median"]), "fewer_than_5_peers");
        assert_eq!(hidden(&rank["percentile"]), "fewer_than_5_peers");
    }
    for week in body["market_share"].as_array().unwrap() {
        assert_eq!(hidden(&week["market_share"]), "fewer_than_5_peers");
    }

    // Six restaurants, one with 95% of the revenue: revenue figures are withheld, the
    // customer counts (each holds a sixth) are not.
    let body = w.page("competitors", A_CAFE, &alpha).await;
    assert_eq!(
        hidden(&kpi(&body, "revenue")["peer_median"]),
        "dominant_peer"
    );
    assert_eq!(
        hidden(&kpi(&body, "average_ticket")["peer_median"]),
        "dominant_peer"
    );
    assert_eq!(int(&kpi(&body, "customers")["peer_median"]), 5);
    assert!(
        ratio(&kpi(&body, "customers")["percentile"]) > 50.0,
        "15 customers against 5 each"
    );

    // The grocery: market share each week, and customer flows to and from its peers.
    let body = w.page("competitors", A_GROCERY, &alpha).await;
    let shares = body["market_share"].as_array().unwrap();
    let week = shares.iter().find(|s| s["week"] == "2026-10-05").unwrap();
    let in_week = |m: i64| -> i64 {
        w.txns
            .iter()
            .filter(|t| {
                t.merchant == m
                    && (date!(2026 - 10 - 05)..=date!(2026 - 10 - 11)).contains(&t.day())
            })
            .map(|t| t.amount)
            .sum()
    };
    let market: i64 = [A_GROCERY, B_MARKET]
        .iter()
        .chain(&GROCERS)
        .map(|&m| in_week(m))
        .sum();
    assert!(close(
        ratio(&week["market_share"]),
        in_week(A_GROCERY) as f64 / market as f64
    ));
    let flows = body["flows"].as_array().unwrap();
    let lost = flows.iter().find(|f| f["flow"] == "lost_to_peers").unwrap();
    assert_eq!(
        int(&lost["base"]),
        20,
        "customers 61-80 bought in September, not in October"
    );
    assert_eq!(int(&lost["customers"]), 12);
    assert!(close(ratio(&lost["share"]), 0.6));
    let won = flows
        .iter()
        .find(|f| f["flow"] == "won_from_peers")
        .unwrap();
    assert_eq!(int(&won["base"]), 30);
    assert_eq!(
        hidden(&won["customers"]),
        "fewer_than_10_customers",
        "only 4 came from peers"
    );

    // Demographics: no released cell under 10 customers, and the withheld ones never add
    // up to a small group that subtraction from the total would reveal.
    let body = w.page("customers/demographics", A_GROCERY, &alpha).await;
    let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
    for c in 1..=60i64 {
        let age = 2026 - (1960 + c % 40);
        let band = match age {
            ..=24 => "18-24",
            25..=34 => "25-34",
            35..=44 => "35-44",
            45..=54 => "45-54",
            55..=64 => "55-64",
            _ => "65+",
        };
        let gender = if c % 2 == 0 { "F" } else { "M" };
        *expected.entry((band.into(), gender.into())).or_default() += 1;
    }
    let mut hidden_sum = 0;
    for cell in body["age_gender"].as_array().unwrap() {
        let key = (
            cell["age_band"].as_str().unwrap().to_string(),
            cell["gender"].as_str().unwrap().to_string(),
        );
        let count = expected.get(&key).copied().unwrap_or(0);
        match cell["customers"]["value"].as_i64() {
            Some(v) => {
                assert_eq!(v, count, "{key:?}");
                assert!(v >= 10, "{key:?} released with {v}");
            }
            None => {
                assert_eq!(hidden(&cell["customers"]), "fewer_than_10_customers");
                hidden_sum += count;
            }
        }
    }
    assert!(hidden_sum == 0 || hidden_sum >= 10, "{hidden_sum}");
    let regions = body["regions"].as_array().unwrap();
    let evil = regions.iter().find(|r| r["region"] == EVIL_REGION).unwrap();
    assert_eq!(
        hidden(&evil["customers"]),
        "fewer_than_10_customers",
        "3 customers"
    );
    let moscow = regions.iter().find(|r| r["region"] == "Moscow").unwrap();
    assert_eq!(
        hidden(&moscow["customers"]),
        "fewer_than_10_customers",
        "57 = total - 3: hidden too"
    );

    // The heatmap: 168 cells, none released under 10 customers.
    let body = w.page("customers/heatmap", A_GROCERY, &alpha).await;
    let cells = body["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 168);
    for cell in cells {
        if let Some(c) = cell["customers"]["value"].as_i64() {
            assert!(c >= 10, "{cell}");
        }
    }

    // Partners: the pharmacy shares 12 customers; the clothes shop only 3, withheld.
    let body = w.page("partners", A_GROCERY, &alpha).await;
    let partners = body["partners"].as_array().unwrap();
    assert_eq!(partners.len(), 1, "{body}");
    assert_eq!(partners[0]["category_group"], "pharmacy");
    assert_eq!(partners[0]["customers"], 12);
    assert!(close(partners[0]["overlap"].as_f64().unwrap(), 12.0 / 60.0));
    assert_eq!(body["withheld"], 1);
    assert!(!body.to_string().contains("Shop "), "no merchant is named");
}

#[tokio::test]
async fn customers_categories_and_forecast_pages() {
    let w = World::start().await;
    let alpha = w
        .login("owner@alpha.example", Membership::Member(A, Role::Marketer))
        .await;
    let q = query(Some(A_GROCERY), FROM, TO);

    // Segments and purchasing power from the pipeline's latest scoring.
    sqlx::raw_sql(
        "INSERT INTO pipeline.customer_segments (as_of, model_version, customer_id, segment, segment_name)
         SELECT '2026-10-01', 1, c, CASE WHEN c <= 40 THEN 0 WHEN c <= 55 THEN 1 ELSE 2 END,
                CASE WHEN c <= 40 THEN 'Champions' WHEN c <= 55 THEN 'Loyal' ELSE 'At risk' END
           FROM generate_series(1, 120) c;
         INSERT INTO pipeline.purchasing_power (as_of, model_version, customer_id, p10, p50, p90, mean)
         SELECT '2026-10-01', 1, c, 1, CASE WHEN c <= 30 THEN 7000 ELSE 50000 END, 100000,
                CASE WHEN c <= 30 THEN 12000 END
           FROM generate_series(1, 120) c",
    )
    .execute(&w.admin)
    .await
    .unwrap();
    let body = w
        .get(&format!("/v1/metrics/customers/segments?{q}"), &alpha)
        .await;
    assert_eq!(body["scored_as_of"], "2026-10-01");
    let segment = |name: &str| {
        body["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["segment"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(int(&segment("Champions")["customers"]), 40);
    assert_eq!(
        hidden(&segment("At risk")["customers"]),
        "fewer_than_10_customers"
    );
    assert_eq!(
        hidden(&segment("Loyal")["customers"]),
        "fewer_than_10_customers",
        "15, hidden so that the 5 at risk cannot be recovered"
    );
    let body = w
        .get(
            &format!("/v1/metrics/customers/purchasing-power?{q}"),
            &alpha,
        )
        .await;
    let champions = body["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["segment"] == "Champions")
        .unwrap();
    assert_eq!(int(&champions["customers"]), 40);
    // The expected spend (mean) where the scoring has it, else the median.
    assert_eq!(
        int(&champions["mean_predicted"]),
        (30 * 12000_00 + 10 * 50000_00) / 40
    );
    let champions_from = |from: i64| {
        let bucket = body["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["segment"] == "Champions" && b["spend_from"] == from)
            .unwrap();
        bucket["customers"]["value"].as_i64()
    };
    assert_eq!(
        [500_000, 1_000_000, 4_000_000].map(champions_from),
        [None, Some(30), Some(10)],
        "bucketed by the mean (12,000 ₽), not the p50 (7,000 ₽; that bucket is empty, so \
         hidden): {body}"
    );

    // New vs returning add up to the customers of each week; cohorts start with their size.
    let body = w
        .get(
            &format!("/v1/metrics/customers/new-returning?{q}&grain=month"),
            &alpha,
        )
        .await;
    assert_eq!(int(&body["buckets"][0]["new_customers"]), 30);
    assert_eq!(int(&body["buckets"][0]["returning_customers"]), 30);
    let body = w
        .get(
            &format!(
                "/v1/metrics/customers/cohorts?{}",
                query(Some(A_GROCERY), PREV_FROM, TO)
            ),
            &alpha,
        )
        .await;
    let cells = body["cells"].as_array().unwrap();
    let september = cells
        .iter()
        .find(|c| c["cohort"] == "2026-09-01" && c["months_since"] == 0)
        .unwrap();
    assert_eq!(
        int(&september["customers"]),
        40,
        "31-60 and 71-80 (61-70 first came a year earlier)"
    );
    let back = cells
        .iter()
        .find(|c| c["cohort"] == "2026-09-01" && c["months_since"] == 1)
        .unwrap();
    assert_eq!(int(&back["customers"]), 30, "31-60 came back in October");
    assert!(close(ratio(&back["retention"]), 0.75));

    // Categories: the customers' whole wallet in the period.
    let body = w.get(&format!("/v1/metrics/categories?{q}"), &alpha).await;
    let wallet: Vec<&Txn> = w
        .txns
        .iter()
        .filter(|t| (1..=60).contains(&t.customer) && (FROM..=TO).contains(&t.day()))
        .collect();
    let total: i64 = wallet.iter().map(|t| t.amount).sum();
    let cafe: i64 = wallet
        .iter()
        .filter(|t| t.merchant == A_CAFE)
        .map(|t| t.amount)
        .sum();
    let row = |g: &str| {
        body["categories"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["category_group"] == g)
            .unwrap()
            .clone()
    };
    assert_eq!(int(&row("restaurants")["customers"]), 15);
    assert_eq!(int(&row("restaurants")["spend"]), cafe);
    assert!(close(
        ratio(&row("restaurants")["share_of_wallet"]),
        cafe as f64 / total as f64
    ));
    // Clothing (3 customers) is withheld, and so is the pharmacy (12), the smallest released
    // cell: otherwise clothing's share would be 1 minus the others.
    assert_eq!(
        hidden(&row("clothing")["share_of_wallet"]),
        "fewer_than_10_customers"
    );
    assert_eq!(
        hidden(&row("pharmacy")["customers"]),
        "fewer_than_10_customers"
    );
    // A's grocery alone holds far more than a quarter of the groceries population.
    assert_eq!(
        hidden(&row("groceries")["population_share"]),
        "dominant_peer"
    );
    assert_eq!(hidden(&row("groceries")["propensity"]), "not_scored");

    // Forecast: the latest origin's 8 weeks, and the accuracy of the two weeks that passed.
    sqlx::query(
        "INSERT INTO pipeline.demand_forecasts (origin_week, model_version, merchant_id, category_group,
             horizon, week_start, revenue_p10, revenue_p50, revenue_p90, txns_p10, txns_p50, txns_p90)
         VALUES ('2026-09-21', 1, 10, 'groceries', 1, '2026-09-28', 0, 20000, 1000000, 1, 10, 20),
                ('2026-09-21', 1, 10, 'groceries', 2, '2026-10-05', 1, 1, 1, 1, 1, 1)",
    )
    .execute(&w.admin)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO pipeline.demand_forecasts (origin_week, model_version, merchant_id, category_group,
             horizon, week_start, revenue_p10, revenue_p50, revenue_p90, txns_p10, txns_p50, txns_p90)
         SELECT '2026-10-26', 1, 10, 'groceries', h, date '2026-10-26' + 7 * h, 10000, 15000.5, 20000, 8, 12.25, 16.2
           FROM generate_series(1, 8) h",
    )
    .execute(&w.admin)
    .await
    .unwrap();
    let body = w.get(&format!("/v1/metrics/forecast?{q}"), &alpha).await;
    assert_eq!(body["origin_week"], "2026-10-26");
    let weeks = body["weeks"].as_array().unwrap();
    assert_eq!(weeks.len(), 8);
    assert_eq!(weeks[0]["week"], "2026-11-02");
    assert_eq!(weeks[0]["revenue_p50"], 1_500_050, "roubles become kopecks");
    assert_eq!(weeks[0]["suggested_stock"], 17);
    let actual = |from: Date| -> i64 {
        w.txns
            .iter()
            .filter(|t| {
                t.merchant == A_GROCERY && (from..=from + Duration::days(6)).contains(&t.day())
            })
            .map(|t| t.amount)
            .sum()
    };
    let (a1, a2) = (actual(date!(2026 - 09 - 28)), actual(date!(2026 - 10 - 05)));
    let overall = body["accuracy"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["horizon"].is_null())
        .unwrap();
    assert_eq!(overall["weeks"], 2);
    let wape = ((a1 - 20000_00).abs() + (a2 - 100).abs()) as f64 / (a1 + a2) as f64;
    assert!(
        (ratio(&overall["wape"]) - wape).abs() < 1e-5,
        "{overall} vs {wape}"
    );
    assert!(close(ratio(&overall["coverage"]), 0.5));
}

/// Every tenant route with `merchant`, from the route table.
fn tenant_routes() -> Vec<lyra_metrics::RouteSpec> {
    lyra_metrics::route_specs()
        .into_iter()
        .filter(|s| s.access == Access::Tenant)
        .collect()
}

#[tokio::test]
async fn another_organisations_outlet_answers_404_like_a_missing_one() {
    let w = World::start().await;
    let alpha = w
        .login("owner@alpha.example", Membership::Member(A, Role::Owner))
        .await;
    let beta = w
        .login("owner@beta.example", Membership::Member(B, Role::Owner))
        .await;
    for spec in tenant_routes() {
        let theirs = w
            .get_raw(
                &format!("{}?{}", spec.path, query(Some(B_MARKET), FROM, TO)),
                Some(&alpha),
            )
            .await;
        let (theirs_status, theirs_body) = (theirs.status(), theirs.text().await.unwrap());
        let missing = w
            .get_raw(
                &format!("{}?{}", spec.path, query(Some(999_999), FROM, TO)),
                Some(&alpha),
            )
            .await;
        let (missing_status, missing_body) = (missing.status(), missing.text().await.unwrap());
        assert_eq!(theirs_status, 404, "{}: {theirs_body}", spec.path);
        assert_eq!(
            (theirs_status, theirs_body),
            (missing_status, missing_body),
            "{}",
            spec.path
        );
        // A competitor that belongs to nobody is not an outlet of A's either.
        let competitor = w
            .get_raw(
                &format!("{}?{}", spec.path, query(Some(GROCERS[0]), FROM, TO)),
                Some(&alpha),
            )
            .await;
        assert_eq!(competitor.status(), 404, "{}", spec.path);
    }
    // B sees its own outlet, and none of A's forecasts or figures leak into its answers.
    sqlx::query(
        "INSERT INTO pipeline.demand_forecasts VALUES
             ('2026-10-26', 1, 10, 'groceries', 1, '2026-11-02', 1, 2, 3, 1, 2, 3)",
    )
    .execute(&w.admin)
    .await
    .unwrap();
    let body = w
        .get(
            &format!("/v1/metrics/forecast?{}", query(None, FROM, TO)),
            &beta,
        )
        .await;
    assert!(body["weeks"].as_array().unwrap().is_empty(), "{body}");
    let body = w
        .get(
            &format!("/v1/metrics/overview?{}", query(None, FROM, TO)),
            &beta,
        )
        .await;
    assert_eq!(
        int(&kpi(&body, "revenue")["value"]),
        w.expected(&[B_MARKET], FROM, TO).revenue
    );
}

#[tokio::test]
async fn the_sql_functions_refuse_another_organisations_outlet_even_when_called_directly() {
    let w = World::start().await;
    let app = Db::connect_as(DbRole::App, &w.db.settings().database)
        .await
        .unwrap();
    let calls = [
        "SELECT count(*) FROM metrics.kpis($1, '2026-10-01', '2026-10-31')",
        "SELECT count(*) FROM metrics.series($1, '2026-10-01', '2026-10-31', 'day')",
        "SELECT count(*) FROM metrics.peer_kpis($1, '2026-10-01', '2026-10-31')",
        "SELECT count(*) FROM metrics.market_share($1, '2026-10-01', '2026-10-31')",
        "SELECT count(*) FROM metrics.flows($1, '2026-10-01', '2026-10-31')",
        "SELECT count(*) FROM metrics.demographics($1, '2026-10-01', '2026-10-31')",
        "SELECT count(*) FROM metrics.heatmap($1, '2026-10-01', '2026-10-31')",
        "SELECT count(*) FROM metrics.cohorts($1, '2026-10-01', '2026-10-31')",
        "SELECT count(*) FROM metrics.segments($1, '2026-10-01', '2026-10-31')",
        "SELECT count(*) FROM metrics.purchasing_power($1, '2026-10-01', '2026-10-31', '{100}')",
        "SELECT count(*) FROM metrics.categories($1, '2026-10-01', '2026-10-31')",
        "SELECT count(*) FROM metrics.partners($1, '2026-10-01', '2026-10-31', 5)",
    ];
    // Every function granted to the tenant role is in the list above (or takes no outlet).
    let granted: BTreeSet<String> = sqlx::query_scalar(
        "SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'metrics' AND has_function_privilege('lyra_app', p.oid, 'EXECUTE')",
    )
    .fetch_all(&w.admin)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let listed: BTreeSet<String> = calls
        .iter()
        .map(|c| {
            c.split("metrics.")
                .nth(1)
                .unwrap()
                .split('(')
                .next()
                .unwrap()
                .to_string()
        })
        // Without an outlet: the population's spend (needs an organisation, below) and the
        // data version (when the bank last ingested and the pipeline last ran: no figures).
        .chain(["population".to_string(), "data_version".to_string()])
        .collect();
    assert_eq!(granted, listed);
    for call in calls {
        for (org, merchant) in [(A, B_MARKET), (A, GROCERS[0]), (A, 999_999), (B, A_GROCERY)] {
            let mut tx = app.begin_for_org(org).await.unwrap();
            let err = sqlx::query(call)
                .bind(merchant)
                .execute(&mut *tx)
                .await
                .unwrap_err();
            let code = err
                .as_database_error()
                .and_then(|e| e.code())
                .map(|c| c.to_string());
            assert_eq!(
                code.as_deref(),
                Some("P0002"),
                "{call} for {merchant} as {org}: {err}"
            );
        }
        // With no organisation set, nothing at all, not even "all outlets".
        let err = sqlx::query(call)
            .bind(None::<i64>)
            .execute(app.pool())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not found"), "{call}: {err}");
        // And A's own outlet works.
        let mut tx = app.begin_for_org(A).await.unwrap();
        sqlx::query(call)
            .bind(A_GROCERY)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    assert!(
        sqlx::query("SELECT * FROM metrics.population('2026-10-01', '2026-10-31')")
            .execute(app.pool())
            .await
            .is_err(),
        "the population needs an organisation too"
    );
    // The helpers and the raw model outputs stay out of the tenant role's reach, and the
    // platform role cannot run the tenant API.
    for sql in [
        "SELECT metrics.outlets(NULL)",
        "SELECT metrics.peers(10, '2026-10-31')",
        "SELECT * FROM pipeline.customer_segments",
        "SELECT * FROM pipeline.purchasing_power",
        "SELECT * FROM pipeline.peer_members",
        "SELECT * FROM ingest.merchant_customers",
        "SELECT * FROM pipeline.peer_group_members('2026-11-01')",
    ] {
        let mut tx = app.begin_for_org(A).await.unwrap();
        assert!(
            sqlx::query(sql).execute(&mut *tx).await.is_err(),
            "lyra_app could run: {sql}"
        );
    }
    let platform = w.db.pool(DbRole::Platform).await;
    assert!(
        sqlx::query("SELECT * FROM metrics.kpis(NULL, '2026-10-01', '2026-10-31')")
            .execute(&platform)
            .await
            .is_err()
    );
    // Every metrics function runs with a fixed search_path.
    let loose: Vec<String> = sqlx::query_scalar(
        "SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'metrics'
            AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)",
    )
    .fetch_all(&w.admin)
    .await
    .unwrap();
    assert!(loose.is_empty(), "{loose:?}");
}

#[tokio::test]
async fn every_route_needs_a_person_of_the_organisation_or_a_metrics_token() {
    let w = World::start().await;
    let mut allowed = Vec::new();
    for (email, role) in [
        ("owner@alpha.example", Role::Owner),
        ("marketer@alpha.example", Role::Marketer),
        ("viewer@alpha.example", Role::Viewer),
    ] {
        allowed.push((
            role.as_str().to_string(),
            w.login(email, Membership::Member(A, role)).await,
        ));
    }
    allowed.push((
        "metrics:read token".into(),
        w.service_token(A, &["metrics:read"], "script@alpha.example")
            .await,
    ));
    let refused = [
        (
            "bank admin",
            w.login("admin@bank.example", Membership::BankAdmin).await,
        ),
        (
            "ingest:write token",
            w.service_token(A, &["ingest:write"], "etl@alpha.example")
                .await,
        ),
    ];
    for spec in lyra_metrics::route_specs() {
        let path = format!("{}?{}", spec.path, query(Some(A_GROCERY), FROM, TO));
        let anonymous = w.get_raw(&path, None).await;
        match spec.access {
            Access::Public => {
                assert_eq!(anonymous.status(), 200, "{}", spec.path);
                continue;
            }
            Access::Tenant => assert_eq!(anonymous.status(), 401, "{}", spec.path),
        }
        for (who, token) in &allowed {
            assert_eq!(
                w.get_raw(&path, Some(token)).await.status(),
                200,
                "{who}: {}",
                spec.path
            );
        }
        for (who, token) in &refused {
            assert_eq!(
                w.get_raw(&path, Some(token)).await.status(),
                403,
                "{who}: {}",
                spec.path
            );
        }
    }
}

#[tokio::test]
async fn forged_and_wrong_tokens_are_refused() {
    let w = World::start().await;
    let owner = w
        .login("jwt@alpha.example", Membership::Member(A, Role::Owner))
        .await;
    let valid: Claims = w
        .http
        .get(w.auth.url("/v1/auth/me"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (kid, private, public): (String, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT kid, private_der, public_raw FROM auth.signing_keys WHERE retired_at IS NULL",
    )
    .fetch_one(&w.admin)
    .await
    .unwrap();
    let path = format!("/v1/metrics/overview?{}", query(Some(A_GROCERY), FROM, TO));
    for (name, token) in lyra_common::testing::forged_tokens(&kid, &private, &public, &valid) {
        assert_eq!(w.get_raw(&path, Some(&token)).await.status(), 401, "{name}");
    }
    assert_eq!(
        w.get_raw(&path, Some(&owner)).await.status(),
        200,
        "the genuine token"
    );
}

#[tokio::test]
async fn every_table_downloads_as_csv_without_formulas() {
    let w = World::start().await;
    let owner = w
        .login("csv@alpha.example", Membership::Member(A, Role::Viewer))
        .await;
    for spec in tenant_routes() {
        for table in spec.tables {
            let path = format!(
                "{}?{}&format=csv&table={table}",
                spec.path,
                query(Some(A_GROCERY), FROM, TO)
            );
            let response = w.get_raw(&path, Some(&owner)).await;
            assert_eq!(response.status(), 200, "{path}");
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/csv"),
                "{path}"
            );
            let csv = response.text().await.unwrap();
            for line in csv.split("\r\n") {
                assert!(!line.starts_with(['=', '+', '@']), "{path}: {line}");
            }
        }
        // Accept: text/csv picks the first table; an unknown table is a 400.
        let response = w
            .http
            .get(w.metrics.url(&format!(
                "{}?{}",
                spec.path,
                query(Some(A_GROCERY), FROM, TO)
            )))
            .bearer_auth(&owner)
            .header("accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let bad = w
            .get_raw(
                &format!("{}?format=csv&table=nope", spec.path),
                Some(&owner),
            )
            .await;
        assert_eq!(bad.status(), 400, "{}", spec.path);
    }
    let csv = w
        .get_raw(
            &format!(
                "/v1/metrics/customers/demographics?{}&format=csv&table=regions",
                query(Some(A_GROCERY), FROM, TO)
            ),
            Some(&owner),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.starts_with(
            "region,customers,customers_hidden,share,share_hidden,revenue,revenue_hidden\r\n"
        ),
        "{csv}"
    );
    assert!(
        csv.contains(
            "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",,fewer_than_10_customers"
        ),
        "{csv}"
    );
    let csv = w
        .get_raw(
            &format!(
                "/v1/metrics/overview?{}&format=csv",
                query(Some(A_GROCERY), FROM, TO)
            ),
            Some(&owner),
        )
        .await
        .text()
        .await
        .unwrap();
    let now = w.expected(&[A_GROCERY], FROM, TO);
    assert!(
        csv.contains(&format!("\r\nrevenue,kopecks,{},", now.revenue)),
        "{csv}"
    );
}

#[tokio::test]
async fn bad_parameters_are_400s_that_name_them() {
    let w = World::start().await;
    let owner = w
        .login("params@alpha.example", Membership::Member(A, Role::Owner))
        .await;
    for (query, word) in [
        ("merchant=abc", "merchant"),
        ("from=2026-13-01", "from"),
        ("from=2026-10-31&to=2026-10-01", "after"),
        ("from=2020-01-01&to=2026-10-01", "at most"),
        ("compare=yesterday", "compare"),
        ("grain=hour", "grain"),
        ("format=xml", "format"),
        ("merchant_id=10", "merchant_id"),
    ] {
        let response = w
            .get_raw(&format!("/v1/metrics/timeseries?{query}"), Some(&owner))
            .await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains(word),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let w = World::start().await;
    let doc: Value = w
        .get_raw("/v1/metrics/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for spec in lyra_metrics::route_specs() {
        let op = &doc["paths"][spec.path]["get"];
        assert!(op.is_object(), "{} is not described", spec.path);
        if spec.access == Access::Tenant {
            let schema = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap();
            let name = schema.rsplit('/').next().unwrap();
            assert!(doc["components"]["schemas"][name].is_object(), "{name}");
            let params: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            for p in ["merchant", "from", "to", "compare", "format", "table"] {
                assert!(params.contains(&p), "{}: {p}", spec.path);
            }
            assert_eq!(params.contains(&"grain"), spec.grain, "{}", spec.path);
        }
    }
    let reasons = doc["components"]["schemas"]["Hidden"].to_string();
    for reason in [
        "fewer_than_5_peers",
        "dominant_peer",
        "fewer_than_10_customers",
    ] {
        assert!(reasons.contains(reason), "{reasons}");
    }
}

#[tokio::test]
async fn outlets_and_the_days_parameter() {
    let w = World::start().await;
    let alpha = w
        .login("owner@alpha.example", Membership::Member(A, Role::Owner))
        .await;
    let body = w.get("/v1/metrics/outlets", &alpha).await;
    let outlets: Vec<(i64, &str, &str)> = body["outlets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["merchant_id"].as_i64().unwrap(),
                o["name"].as_str().unwrap(),
                o["category_group"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outlets,
        [
            (A_GROCERY, "Shop 10", "groceries"),
            (A_CAFE, "Shop 11", "restaurants")
        ]
    );
    let last: Date = sqlx::query_scalar(
        "SELECT max(day) FROM ingest.merchant_daily WHERE merchant_id = ANY ($1)",
    )
    .bind([A_GROCERY, A_CAFE])
    .fetch_one(&w.admin)
    .await
    .unwrap();
    assert_eq!(body["meta"]["to"], last.to_string());
    assert_eq!(
        body["meta"]["from"],
        (last - time::Duration::days(29)).to_string()
    );

    // `days` counts back from `to`, and the comparison follows.
    let body = w
        .get(&format!("/v1/metrics/overview?days=7&to={TO}"), &alpha)
        .await;
    assert_eq!(body["meta"]["from"], date!(2026 - 10 - 25).to_string());
    assert_eq!(
        body["meta"]["compare_to"],
        date!(2026 - 10 - 24).to_string()
    );
    assert_eq!(
        body["meta"]["compare_from"],
        date!(2026 - 10 - 18).to_string()
    );
    for (query, names) in [
        (format!("days=7&from={FROM}"), "not both"),
        (
            "days=0".to_string(),
            "days: \\\"0\\\" is not a number of days",
        ),
        (
            "days=a".to_string(),
            "days: \\\"a\\\" is not a number of days",
        ),
    ] {
        let response = w
            .get_raw(&format!("/v1/metrics/overview?{query}"), Some(&alpha))
            .await;
        assert_eq!(response.status(), 400, "{query}");
        let text = response.text().await.unwrap();
        assert!(text.contains(names), "{query}: {text}");
    }
}

#[tokio::test]
async fn answers_are_cached_until_the_data_changes() {
    let w = World::start().await;
    let alpha = w
        .login("owner@alpha.example", Membership::Member(A, Role::Owner))
        .await;
    let path = format!("/v1/metrics/overview?{}", query(Some(A_GROCERY), FROM, TO));
    // Wait for the service to have read the data version once.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let before = w.get(&path, &alpha).await;
    // Behind the service's back (no batch, no job): the cached answer stays.
    sqlx::query(
        "INSERT INTO ingest.transactions (txn_id, booked_at, customer_id, merchant_id, amount_minor, currency, channel)
         VALUES ('cache-test', '2026-10-31 12:00+03', 1, $1, 100000, 'RUB', 'pos')",
    )
    .bind(A_GROCERY)
    .execute(&w.admin)
    .await
    .unwrap();
    let cached = w.get(&path, &alpha).await;
    assert_eq!(cached, before, "served from the cache");
    // Another organisation never gets it (its outlet filter is its own).
    let beta = w
        .login("owner@beta.example", Membership::Member(B, Role::Owner))
        .await;
    assert_eq!(w.get_raw(&path, Some(&beta)).await.status(), 404);
    // A finished pipeline job changes the data version: the next answer is recomputed.
    sqlx::query(
        "INSERT INTO pipeline.jobs (job_id, kind, as_of, status, trigger, finished_at)
         VALUES (gen_random_uuid(), 'peers', '2026-11-01', 'succeeded', 'cli', now())",
    )
    .execute(&w.admin)
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let now = w.get(&path, &alpha).await;
        if now != before {
            assert_eq!(
                int(&kpi(&now, "revenue")["value"]),
                int(&kpi(&before, "revenue")["value"]) + 100_000
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still the old answer after 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
