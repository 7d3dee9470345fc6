//! The query parameters every endpoint shares, parsed at the boundary: which outlets, which
//! period and comparison, the time grain, and the answer's format.
//!
//! `merchant` (one of the organisation's outlets; omitted: all of them), `from` and `to`
//! (ISO dates, inclusive, Moscow days; `to` defaults to the last day with sales at the
//! outlets, `from` to 29 days before `to`), or `days` instead of `from` (the last N days
//! up to `to`: how the dashboard's 7/30/90-day and 12-month choices ask), `compare=previous|last_year`,
//! `grain=day|week|month` (series only; by default days up to 62 days, weeks up to 366,
//! months beyond), `format=json|csv` (or `Accept: text/csv`) and `table` (which table of
//! the answer a CSV holds). Unknown parameters are refused, so a typo is not silently
//! ignored.

use axum::extract::{FromRequestParts, Query};
use axum::http::header;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use time::{Date, Duration, Month};
use utoipa::ToSchema;

use crate::error::MetricsError;

/// The longest period one request may cover.
pub const MAX_DAYS: i64 = 731;

/// A calendar day, written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub Date);

impl Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.0;
        write!(f, "{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
    }
}

impl utoipa::PartialSchema for Day {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .into()
    }
}

impl utoipa::ToSchema for Day {}

fn parse_day(name: &str, text: &str) -> Result<Date, MetricsError> {
    let bad = || MetricsError::BadRequest(format!("{name}: {text:?} is not a date (YYYY-MM-DD)"));
    let mut parts = text.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let year: i32 = y.parse().map_err(|_| bad())?;
    let month: u8 = m.parse().map_err(|_| bad())?;
    let day: u8 = d.parse().map_err(|_| bad())?;
    if !(2000..=2100).contains(&year) {
        return Err(MetricsError::BadRequest(format!(
            "{name}: {text} is outside 2000-2100"
        )));
    }
    let month = Month::try_from(month).map_err(|_| bad())?;
    Date::from_calendar_date(year, month, day).map_err(|_| bad())
}

/// Inclusive Moscow days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    /// First day.
    pub from: Date,
    /// Last day.
    pub to: Date,
}

impl Period {
    /// Number of days.
    pub fn days(&self) -> i64 {
        (self.to - self.from).whole_days() + 1
    }

    /// The period to compare with.
    pub fn compared(&self, compare: Compare) -> Period {
        match compare {
            Compare::Previous => Period {
                from: self.from - Duration::days(self.days()),
                to: self.from - Duration::days(1),
            },
            Compare::LastYear => Period {
                from: year_before(self.from),
                to: year_before(self.to),
            },
        }
    }

    /// The last `days` days of the period (all of it if shorter).
    pub fn last(&self, days: i64) -> Period {
        Period {
            from: self.from.max(self.to - Duration::days(days - 1)),
            to: self.to,
        }
    }
}

/// The same day a year earlier (29 February becomes the 28th).
fn year_before(d: Date) -> Date {
    Date::from_calendar_date(d.year() - 1, d.month(), d.day())
        .or_else(|_| Date::from_calendar_date(d.year() - 1, d.month(), d.day() - 1))
        .expect("a day exists a year earlier")
}

/// Which period a period is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    /// The same number of days just before.
    Previous,
    /// The same days a year earlier.
    LastYear,
}

/// The time step of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Grain {
    /// Days.
    Day,
    /// Weeks from Monday (the first and last may be partial).
    Week,
    /// Calendar months (the first and last may be partial).
    Month,
}

impl Grain {
    /// As the SQL functions take it.
    pub fn as_sql(self) -> &'static str {
        match self {
            Grain::Day => "day",
            Grain::Week => "week",
            Grain::Month => "month",
        }
    }
}

/// The answer's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json` (default).
    Json,
    /// `text/csv`: one table of the answer.
    Csv,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    merchant: Option<String>,
    from: Option<String>,
    to: Option<String>,
    days: Option<String>,
    compare: Option<String>,
    grain: Option<String>,
    format: Option<String>,
    table: Option<String>,
}

/// The parsed parameters, before the database fills in defaults.
#[derive(Debug, Clone)]
pub struct Params {
    /// One outlet, or all of the organisation's.
    pub merchant: Option<i64>,
    from: Option<Date>,
    to: Option<Date>,
    days: Option<i64>,
    /// Comparison period.
    pub compare: Compare,
    grain: Option<Grain>,
    /// JSON or CSV.
    pub format: Format,
    /// The table for CSV.
    pub table: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = MetricsError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Query(raw) = Query::<Raw>::try_from_uri(&parts.uri)
            .map_err(|e| MetricsError::BadRequest(e.body_text()))?;
        let merchant = raw
            .merchant
            .map(|m| {
                m.parse::<i64>().ok().filter(|m| *m > 0).ok_or_else(|| {
                    MetricsError::BadRequest(format!("merchant: {m:?} is not an outlet id"))
                })
            })
            .transpose()?;
        let from = raw.from.map(|t| parse_day("from", &t)).transpose()?;
        let to = raw.to.map(|t| parse_day("to", &t)).transpose()?;
        let days = raw
            .days
            .map(|d| {
                d.parse::<i64>()
                    .ok()
                    .filter(|d| (1..=MAX_DAYS).contains(d))
                    .ok_or_else(|| {
                        MetricsError::BadRequest(format!(
                            "days: {d:?} is not a number of days from 1 to {MAX_DAYS}"
                        ))
                    })
            })
            .transpose()?;
        if from.is_some() && days.is_some() {
            return Err(MetricsError::BadRequest(
                "days: give either from or days, not both".into(),
            ));
        }
        let compare = match raw.compare.as_deref() {
            None | Some("previous") => Compare::Previous,
            Some("last_year") => Compare::LastYear,
            Some(other) => {
                return Err(MetricsError::BadRequest(format!(
                    "compare: {other:?} is not previous or last_year"
                )));
            }
        };
        let grain = match raw.grain.as_deref() {
            None => None,
            Some("day") => Some(Grain::Day),
            Some("week") => Some(Grain::Week),
            Some("month") => Some(Grain::Month),
            Some(other) => {
                return Err(MetricsError::BadRequest(format!(
                    "grain: {other:?} is not day, week or month"
                )));
            }
        };
        let accepts_csv = parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|m| m.split(';').next().unwrap_or("").trim() == "text/csv")
            });
        let format = match raw.format.as_deref() {
            Some("csv") => Format::Csv,
            Some("json") => Format::Json,
            None if accepts_csv => Format::Csv,
            None => Format::Json,
            Some(other) => {
                return Err(MetricsError::BadRequest(format!(
                    "format: {other:?} is not json or csv"
                )));
            }
        };
        Ok(Params {
            merchant,
            from,
            to,
            days,
            compare,
            grain,
            format,
            table: raw.table,
        })
    }
}

/// One of the organisation's outlets.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Outlet {
    /// Merchant id.
    pub merchant_id: i64,
    /// Its name.
    pub name: String,
    /// Its category group (the peer group is this group in this city).
    pub category_group: String,
    /// Its city.
    pub city: String,
}

/// What a request is about, resolved against the database: the outlets and the periods.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The outlet named by `merchant`, if any.
    pub merchant: Option<Outlet>,
    /// Every outlet in scope (the named one, or all of the organisation's).
    pub outlets: Vec<Outlet>,
    /// The period.
    pub period: Period,
    /// The comparison period.
    pub comparison: Period,
    /// How it is compared.
    pub compare: Compare,
    grain: Option<Grain>,
}

impl Scope {
    /// Resolves `params` inside the organisation's transaction: the outlet through
    /// row-level security (another organisation's outlet is not found, like a missing one),
    /// and the default dates from the outlets' sales.
    pub async fn resolve(conn: &mut PgConnection, params: &Params) -> Result<Scope, MetricsError> {
        let outlets: Vec<Outlet> = sqlx::query_as(
            "SELECT m.merchant_id, m.name, c.category_group, m.city
               FROM ingest.merchants m JOIN ingest.mcc_codes c ON c.mcc = m.mcc
              WHERE $1::bigint IS NULL OR m.merchant_id = $1
              ORDER BY m.merchant_id",
        )
        .bind(params.merchant)
        .fetch_all(&mut *conn)
        .await?;
        let merchant = match params.merchant {
            Some(_) => Some(outlets.first().cloned().ok_or(MetricsError::NotFound)?),
            None => None,
        };
        let to = match params.to {
            Some(to) => to,
            None => {
                let ids: Vec<i64> = outlets.iter().map(|o| o.merchant_id).collect();
                let last: Option<Date> = sqlx::query_scalar(
                    "SELECT max(day) FROM ingest.merchant_daily WHERE merchant_id = ANY ($1)",
                )
                .bind(&ids)
                .fetch_one(&mut *conn)
                .await?;
                last.unwrap_or_else(|| moscow_today() - Duration::days(1))
            }
        };
        let from = params
            .from
            .unwrap_or(to - Duration::days(params.days.unwrap_or(30) - 1));
        let period = Period { from, to };
        if from > to {
            return Err(MetricsError::BadRequest(format!(
                "from: {} is after to: {}",
                Day(from),
                Day(to)
            )));
        }
        if period.days() > MAX_DAYS {
            return Err(MetricsError::BadRequest(format!(
                "from, to: at most {MAX_DAYS} days, not {}",
                period.days()
            )));
        }
        Ok(Scope {
            merchant,
            outlets,
            period,
            comparison: period.compared(params.compare),
            compare: params.compare,
            grain: params.grain,
        })
    }

    /// The outlet peer figures are about: the one named, or the organisation's only one.
    pub fn single_outlet(&self) -> Option<&Outlet> {
        match (&self.merchant, self.outlets.as_slice()) {
            (Some(m), _) => Some(m),
            (None, [only]) => Some(only),
            _ => None,
        }
    }

    /// The `merchant` argument of the SQL functions (NULL: all of the organisation's).
    pub fn merchant_id(&self) -> Option<i64> {
        self.merchant.as_ref().map(|m| m.merchant_id)
    }

    /// The grain asked for, or the default for the period's length.
    pub fn grain(&self) -> Grain {
        self.grain.unwrap_or(match self.period.days() {
            ..=62 => Grain::Day,
            63..=366 => Grain::Week,
            _ => Grain::Month,
        })
    }

    /// The answer's header.
    pub fn meta(&self) -> Meta {
        Meta {
            merchant: self.merchant_id(),
            outlets: self.outlets.len(),
            from: Day(self.period.from),
            to: Day(self.period.to),
            compare: self.compare,
            compare_from: Day(self.comparison.from),
            compare_to: Day(self.comparison.to),
        }
    }
}

/// What every answer says it is about.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Meta {
    /// The outlet, or null for all of the organisation's outlets.
    pub merchant: Option<i64>,
    /// How many outlets the figures cover.
    pub outlets: usize,
    /// First day of the period.
    pub from: Day,
    /// Last day of the period.
    pub to: Day,
    /// How the comparison period was chosen.
    pub compare: Compare,
    /// First day of the comparison period.
    pub compare_from: Day,
    /// Last day of the comparison period.
    pub compare_to: Day,
}

/// Today in Moscow (UTC+3 all year).
fn moscow_today() -> Date {
    (time::OffsetDateTime::now_utc() + Duration::hours(3)).date()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn comparison_periods() {
        let p = Period {
            from: date!(2026 - 03 - 01),
            to: date!(2026 - 03 - 31),
        };
        assert_eq!(p.days(), 31);
        assert_eq!(
            p.compared(Compare::Previous),
            Period {
                from: date!(2026 - 01 - 29),
                to: date!(2026 - 02 - 28)
            }
        );
        let leap = Period {
            from: date!(2028 - 02 - 29),
            to: date!(2028 - 02 - 29),
        };
        assert_eq!(leap.compared(Compare::LastYear).from, date!(2027 - 02 - 28));
        assert_eq!(p.last(7).from, date!(2026 - 03 - 25));
        assert_eq!(p.last(90), p);
    }

    #[test]
    fn dates_are_strict() {
        assert_eq!(
            parse_day("from", "2026-02-28").unwrap(),
            date!(2026 - 02 - 28)
        );
        for bad in [
            "2026-2-28",
            "2026-02-30",
            "26-02-28",
            "2026-02-28T00:00",
            "",
            "1999-12-31",
        ] {
            assert!(parse_day("from", bad).is_err(), "{bad}");
        }
        assert_eq!(Day(date!(2026 - 01 - 05)).to_string(), "2026-01-05");
    }
}
