//! The six KPIs of the overview and the competitors page: how each is computed from the
//! period's aggregates, its unit, and the totals behind it that peer dominance is checked
//! against.

use serde::Serialize;
use utoipa::ToSchema;

use crate::privacy::{self, Figure, Hidden, Peer};
use crate::sql::Kpis;

/// A KPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kpi {
    /// Net revenue (refunds subtract).
    Revenue,
    /// Purchases.
    Transactions,
    /// Distinct customers with a purchase.
    Customers,
    /// Net revenue per purchase.
    AverageTicket,
    /// Share of the customers with two purchases or more.
    RepeatRate,
    /// Customers whose first purchase at the outlets is in the period.
    NewCustomers,
}

/// What a KPI's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Integer kopecks.
    Kopecks,
    /// An integer count.
    Count,
    /// A fraction (0.25 = 25%).
    Ratio,
}

/// A KPI's value: integers for money and counts, never a float sum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Kopecks or a count.
    Int(i64),
    /// A fraction.
    Ratio(f64),
}

impl Value {
    fn as_f64(self) -> f64 {
        match self {
            Value::Int(v) => v as f64,
            Value::Ratio(v) => v,
        }
    }

    /// As a released figure.
    pub fn figure(self) -> Figure {
        match self {
            Value::Int(v) => Figure::int(v),
            Value::Ratio(v) => Figure::ratio(v),
        }
    }
}

/// `a / b` rounded half away from zero, in integers.
pub fn div_round(a: i64, b: i64) -> Option<i64> {
    if b == 0 {
        return None;
    }
    let (a, b) = (i128::from(a), i128::from(b));
    let q = (2 * a + b.signum() * a.signum() * b.abs()) / (2 * b);
    i64::try_from(q).ok()
}

impl Kpi {
    /// Every KPI, in the order pages show them.
    pub const ALL: [Kpi; 6] = [
        Kpi::Revenue,
        Kpi::Transactions,
        Kpi::Customers,
        Kpi::AverageTicket,
        Kpi::RepeatRate,
        Kpi::NewCustomers,
    ];

    /// Its unit.
    pub fn unit(self) -> Unit {
        match self {
            Kpi::Revenue | Kpi::AverageTicket => Unit::Kopecks,
            Kpi::Transactions | Kpi::Customers | Kpi::NewCustomers => Unit::Count,
            Kpi::RepeatRate => Unit::Ratio,
        }
    }

    /// Its value over a period's aggregates (none when it divides by zero).
    pub fn value(self, k: &Kpis) -> Option<Value> {
        Some(match self {
            Kpi::Revenue => Value::Int(k.revenue),
            Kpi::Transactions => Value::Int(k.transactions),
            Kpi::Customers => Value::Int(k.customers),
            Kpi::AverageTicket => Value::Int(div_round(k.revenue, k.transactions)?),
            Kpi::RepeatRate => {
                if k.customers == 0 {
                    return None;
                }
                Value::Ratio(k.repeat_customers as f64 / k.customers as f64)
            }
            Kpi::NewCustomers => Value::Int(k.new_customers),
        })
    }

    /// The additive totals behind the KPI, which no single peer may dominate.
    pub fn amounts(self, k: &Kpis) -> Vec<i64> {
        match self {
            Kpi::Revenue => vec![k.revenue],
            Kpi::Transactions => vec![k.transactions],
            Kpi::Customers | Kpi::RepeatRate => vec![k.customers],
            Kpi::AverageTicket => vec![k.revenue, k.transactions],
            Kpi::NewCustomers => vec![k.new_customers],
        }
    }

    /// The released value, or why not.
    pub fn figure(self, k: &Kpis) -> Figure {
        self.value(k)
            .map_or_else(|| Figure::hidden(Hidden::NoData), Value::figure)
    }

    /// The relative change from `before` to `now`.
    pub fn change(self, now: &Kpis, before: &Kpis) -> Figure {
        match (self.value(now), self.value(before)) {
            (Some(n), Some(b)) if b.as_f64() != 0.0 => {
                Figure::ratio((n.as_f64() - b.as_f64()) / b.as_f64().abs())
            }
            _ => Figure::hidden(Hidden::NoData),
        }
    }

    fn peers<T>(self, peers: &[Kpis], value: impl Fn(Value) -> Option<T>) -> Vec<Peer<T>> {
        peers
            .iter()
            .filter_map(|k| {
                Some(Peer {
                    value: value(self.value(k)?)?,
                    amounts: self.amounts(k),
                })
            })
            .collect()
    }

    /// The peers' median, under the privacy rules.
    pub fn peer_median(self, peers: &[Kpis]) -> Figure {
        match self.unit() {
            Unit::Ratio => Figure::from_ratio(privacy::peer_median(&self.peers(peers, ratio))),
            _ => Figure::from_int(privacy::peer_median(&self.peers(peers, int))),
        }
    }

    /// Where `own` stands among the peers (0–100), under the privacy rules.
    pub fn percentile(self, own: &Kpis, peers: &[Kpis]) -> Figure {
        let rank = match self.value(own) {
            None => Err(Hidden::NoData),
            Some(Value::Ratio(v)) => privacy::percentile_rank(v, &self.peers(peers, ratio)),
            Some(Value::Int(v)) => privacy::percentile_rank(v, &self.peers(peers, int)),
        };
        Figure::from_ratio(rank)
    }
}

fn int(v: Value) -> Option<i64> {
    match v {
        Value::Int(v) => Some(v),
        Value::Ratio(_) => None,
    }
}

fn ratio(v: Value) -> Option<f64> {
    Some(v.as_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_round_half_away_from_zero_in_integers() {
        assert_eq!(div_round(10, 4), Some(3));
        assert_eq!(div_round(-10, 4), Some(-3));
        assert_eq!(div_round(9, 4), Some(2));
        assert_eq!(div_round(1, 0), None);
        assert_eq!(div_round(i64::MAX, 1), Some(i64::MAX));
    }

    #[test]
    fn kpis_from_aggregates() {
        let k = Kpis {
            revenue: 100_050,
            transactions: 4,
            customers: 3,
            repeat_customers: 1,
            new_customers: 2,
        };
        assert_eq!(Kpi::AverageTicket.value(&k), Some(Value::Int(25_013)));
        assert_eq!(Kpi::RepeatRate.value(&k), Some(Value::Ratio(1.0 / 3.0)));
        assert_eq!(Kpi::AverageTicket.value(&Kpis::default()), None);
        let before = Kpis {
            revenue: 50_025,
            ..k
        };
        assert_eq!(Kpi::Revenue.change(&k, &before), Figure::ratio(1.0));
        assert_eq!(
            Kpi::Revenue.change(&k, &Kpis::default()).hidden,
            Some(Hidden::NoData)
        );
    }
}
