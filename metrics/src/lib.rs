//! Lyra's metrics service: the tenant-scoped analytics API behind every dashboard page
//! (`GET /v1/metrics/…`), under the privacy rules for peer figures and small groups of
//! customers. It owns no tables.
//!
//! A request goes: [`access::Tenant`] (a verified token of one of the organisation's people,
//! or an API token with `metrics:read`; the organisation is the token's, never a
//! parameter) → [`params::Params`] (outlet, period, comparison, grain, format) →
//! [`Request::begin`] (a read-only transaction for that organisation, where row-level
//! security shows only its outlets; an outlet of another organisation is not found, like a
//! missing one) → [`sql`] (the organisation's rollups directly; customer-level and
//! cross-merchant aggregates through the `SECURITY DEFINER` functions of migration 0010,
//! which check the outlet again) → [`privacy`] (every peer figure and small cell is
//! released or withheld there, and only there) → [`reply`] (JSON, or one table as CSV).
//!
//! The pages: [`overview`] (KPIs, time series, driver tree), [`customers`] (segments,
//! demographics, new vs returning, cohorts, hour × weekday, purchasing power), [`market`]
//! (categories, partners, competitors) and [`forecast`]. [`table`] is the route table: the
//! router, the OpenAPI document ([`openapi`], `GET /v1/metrics/openapi.json`) and the
//! access tests are all built from it.

pub mod access;
pub mod cache;
pub mod customers;
mod error;
pub mod forecast;
pub mod kpi;
pub mod market;
pub mod openapi;
pub mod overview;
pub mod params;
pub mod privacy;
pub mod reply;
pub mod sql;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{MethodRouter, get};
use lyra_common::db::{Db, OrgId};
use lyra_common::token::TokenVerifier;
use lyra_common::{Application, Service, Settings};
use sqlx::{Postgres, Transaction};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

pub use error::MetricsError;

use crate::access::Tenant;
use crate::cache::Cache;
use crate::params::{Params, Period, Scope};
use crate::reply::Tables;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the API description).
    Public,
    /// The organisation's people, or its API tokens with `metrics:read`.
    Tenant,
}

/// An answer type's schema and the schemas it refers to.
pub type SchemaFn = fn(&mut Vec<(String, RefOr<Schema>)>) -> String;

/// One route, as served, documented and tested.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// Path (every route is a GET).
    pub path: &'static str,
    /// One line for the API description.
    pub summary: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Whether it takes `grain`.
    pub grain: bool,
    /// The answer's tables (CSV downloads), the first being the default; empty for
    /// routes that are not figures.
    pub tables: &'static [&'static str],
    /// The answer's schema: adds it and what it refers to, returns its name.
    pub schema: SchemaFn,
}

fn schema_of<T: utoipa::ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) -> String {
    T::schemas(schemas);
    let name = T::name().to_string();
    schemas.push((name.clone(), <T as utoipa::PartialSchema>::schema()));
    name
}

/// Shared by the handlers.
#[derive(Clone)]
pub struct MetricsState {
    db: Db,
    verifier: Arc<TokenVerifier>,
    /// Peer KPIs per (organisation, outlet, period).
    peer_cache: Arc<Cache<(OrgId, i64, Period), Vec<sql::Kpis>>>,
    /// The population's spend per category group, per period.
    population_cache: Arc<Cache<Period, Vec<sql::PopulationRow>>>,
    /// Whole answers, under the data version (see [`cache::answers`]).
    answers: Arc<Cache<cache::answers::Key, cache::answers::Stored>>,
    /// The current data version.
    version: tokio::sync::watch::Receiver<Arc<str>>,
}

impl FromRef<MetricsState> for Arc<TokenVerifier> {
    fn from_ref(state: &MetricsState) -> Self {
        state.verifier.clone()
    }
}

/// One request's read-only transaction, for the token's organisation.
pub struct Request {
    /// The organisation.
    pub org: OrgId,
    /// Row-level security shows only its rows; the SQL functions check against it.
    pub tx: Transaction<'static, Postgres>,
}

impl Request {
    /// Opens the organisation's transaction and resolves what the request is about.
    pub async fn begin(
        state: &MetricsState,
        tenant: &Tenant,
        params: &Params,
    ) -> Result<(Request, Scope), MetricsError> {
        let mut tx = state.db.begin_for_org(tenant.org).await?;
        sqlx::query("SET TRANSACTION READ ONLY")
            .execute(&mut *tx)
            .await?;
        sqlx::query("SET LOCAL statement_timeout = '20s'")
            .execute(&mut *tx)
            .await?;
        let scope = Scope::resolve(&mut tx, params).await?;
        Ok((
            Request {
                org: tenant.org,
                tx,
            },
            scope,
        ))
    }
}

fn route<T: Tables + utoipa::ToSchema>(
    path: &'static str,
    summary: &'static str,
    grain: bool,
    handler: MethodRouter<MetricsState>,
) -> (RouteSpec, MethodRouter<MetricsState>) {
    (
        RouteSpec {
            path,
            summary,
            access: Access::Tenant,
            grain,
            tables: T::NAMES,
            schema: schema_of::<T>,
        },
        handler,
    )
}

/// The route table: the router, the OpenAPI document and the tests are built from it.
pub fn table() -> Vec<(RouteSpec, MethodRouter<MetricsState>)> {
    use customers::*;
    use forecast::*;
    use market::*;
    use overview::*;
    vec![
        route::<Outlets>(
            "/v1/metrics/outlets",
            "The organisation's outlets and the default period",
            false,
            get(outlets),
        ),
        route::<Overview>(
            "/v1/metrics/overview",
            "KPIs with the comparison period and the peer median",
            false,
            get(overview),
        ),
        route::<Timeseries>(
            "/v1/metrics/timeseries",
            "Revenue, transactions and customers per day, week or month",
            true,
            get(timeseries),
        ),
        route::<Drivers>(
            "/v1/metrics/drivers",
            "Driver tree: customers × visits per customer × average ticket",
            false,
            get(drivers),
        ),
        route::<Segments>(
            "/v1/metrics/customers/segments",
            "Customers by segment: size, revenue share, average ticket, trend",
            false,
            get(segments),
        ),
        route::<Demographics>(
            "/v1/metrics/customers/demographics",
            "Customers by age band × gender and by home region",
            false,
            get(demographics),
        ),
        route::<NewReturning>(
            "/v1/metrics/customers/new-returning",
            "New and returning customers per day, week or month",
            true,
            get(new_returning),
        ),
        route::<Cohorts>(
            "/v1/metrics/customers/cohorts",
            "Monthly cohort retention",
            false,
            get(cohorts),
        ),
        route::<Heatmap>(
            "/v1/metrics/customers/heatmap",
            "Purchases by hour × weekday",
            false,
            get(heatmap),
        ),
        route::<PurchasingPower>(
            "/v1/metrics/customers/purchasing-power",
            "Distribution of predicted 90-day card spend by segment",
            false,
            get(purchasing_power),
        ),
        route::<Categories>(
            "/v1/metrics/categories",
            "Share of wallet by category group, lift against the population, propensity",
            false,
            get(categories),
        ),
        route::<Partners>(
            "/v1/metrics/partners",
            "Nearby non-competing merchants sharing many customers (never named)",
            false,
            get(partners),
        ),
        route::<Competitors>(
            "/v1/metrics/competitors",
            "Market share, percentile ranks and customer flows in the peer group",
            false,
            get(competitors),
        ),
        route::<Forecast>(
            "/v1/metrics/forecast",
            "Weekly demand for the next 8 weeks with an 80% interval, and past accuracy",
            false,
            get(forecast),
        ),
        (
            RouteSpec {
                path: "/v1/metrics/openapi.json",
                summary: "This API's OpenAPI description",
                access: Access::Public,
                grain: false,
                tables: &[],
                schema: |_| "OpenApi".to_string(),
            },
            get(openapi::serve),
        ),
    ]
}

/// Every route of the service.
pub fn route_specs() -> Vec<RouteSpec> {
    table().into_iter().map(|(spec, _)| spec).collect()
}

/// The service's routes; the shell adds health, readiness and metrics around them.
pub fn routes(db: Db, verifier: Arc<TokenVerifier>) -> Router {
    let state = MetricsState {
        version: cache::answers::version(db.clone()),
        db,
        verifier,
        peer_cache: Arc::default(),
        population_cache: Arc::default(),
        answers: cache::answers::cache(),
    };
    let (tenant, public): (Vec<_>, Vec<_>) = table()
        .into_iter()
        .partition(|(spec, _)| spec.access == Access::Tenant);
    let add = |router: Router<MetricsState>,
               (spec, method): (RouteSpec, MethodRouter<MetricsState>)| {
        router.route(spec.path, method)
    };
    let figures = tenant.into_iter().fold(Router::new(), add).route_layer(
        axum::middleware::from_fn_with_state(state.clone(), cache::answers::layer),
    );
    public.into_iter().fold(figures, add).with_state(state)
}

/// Connects, binds and assembles the service.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let verifier = TokenVerifier::remote(format!(
        "{}/.well-known/jwks.json",
        settings.upstream(Service::Auth)
    ));
    Application::build(Service::Metrics, &settings, move |db| routes(db, verifier)).await
}
