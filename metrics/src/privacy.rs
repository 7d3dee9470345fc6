//! The privacy rules of PRODUCT.md §6, in one place: every figure the API releases about
//! peers or about small groups of customers is decided here, and nowhere else.
//!
//! - **Peer statistics** ([`peer_median`], [`percentile_rank`], [`market_share`],
//!   [`flow`]) are released only when the peer group — which the SQL functions already
//!   give without the requesting organisation's outlets — has at least [`MIN_PEERS`]
//!   merchants, and no single merchant contributes more than a quarter
//!   ([`MAX_PEER_SHARE`]) of any total behind the statistic. Only medians, percentile
//!   ranks and shares are computed: never a minimum, maximum or one merchant's value.
//! - **Customer cells** (demographics, heatmap, segments, cohorts, flows, …) with fewer than
//!   [`MIN_CELL_CUSTOMERS`] customers are hidden ([`hide_small_cells`]); where the cells add
//!   up to a published total, enough further cells are hidden that the hidden ones cannot
//!   be recovered by subtraction as a group of 1–9 customers
//!   ([`hide_small_cells_with_complement`]).
//! - **Peer groups** are the fixed category group × city definitions of the pipeline (SQL
//!   `pipeline.peer_group_members`); no API parameter changes a group's membership.
//!
//! A withheld figure is a [`Figure`] with no value and a machine-readable [`Hidden`]
//! reason, so the dashboard can explain it.

use serde::Serialize;
use utoipa::ToSchema;

/// The fewest merchants (besides the requester's organisation) a peer figure may come from.
pub const MIN_PEERS: usize = 5;
/// The largest part of a peer total one merchant may hold, as a fraction (1/4 = 25%).
pub const MAX_PEER_SHARE: (i128, i128) = (1, 4);
/// The fewest customers a released cell may count.
pub const MIN_CELL_CUSTOMERS: i64 = 10;

/// Why a figure has no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum Hidden {
    /// The peer group has fewer than 5 merchants besides the requester's organisation.
    #[serde(rename = "fewer_than_5_peers")]
    FewerThan5Peers,
    /// One peer merchant holds more than 25% of a total behind the figure.
    #[serde(rename = "dominant_peer")]
    DominantPeer,
    /// The cell counts fewer than 10 customers (or hiding a smaller cell needs it hidden too).
    #[serde(rename = "fewer_than_10_customers")]
    FewerThan10Customers,
    /// Peer figures are for one outlet: choose one.
    #[serde(rename = "choose_an_outlet")]
    ChooseAnOutlet,
    /// Nothing to compute it from (no sales, or a division by zero).
    #[serde(rename = "no_data")]
    NoData,
    /// The pipeline has not scored customers (or forecast demand) yet.
    #[serde(rename = "not_scored")]
    NotScored,
}

/// A released number, or the reason it is withheld: `{"value": 1234, "hidden": null}` or
/// `{"value": null, "hidden": "fewer_than_5_peers"}`. Money is integer kopecks, counts are
/// integers, ratios are fractions (0.25 = 25%).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Figure {
    /// The number, absent when hidden.
    #[schema(value_type = Option<f64>)]
    pub value: Option<serde_json::Number>,
    /// Why there is no number.
    pub hidden: Option<Hidden>,
}

impl Figure {
    /// An integer (kopecks or a count).
    pub fn int(value: i64) -> Figure {
        Figure {
            value: Some(value.into()),
            hidden: None,
        }
    }

    /// A ratio, rounded to 6 decimals; not finite means no data.
    pub fn ratio(value: f64) -> Figure {
        match serde_json::Number::from_f64((value * 1e6).round() / 1e6) {
            Some(n) => Figure {
                value: Some(n),
                hidden: None,
            },
            None => Figure::hidden(Hidden::NoData),
        }
    }

    /// A withheld figure.
    pub fn hidden(reason: Hidden) -> Figure {
        Figure {
            value: None,
            hidden: Some(reason),
        }
    }

    /// `value` unless `hidden` says otherwise.
    pub fn int_unless(value: i64, hidden: Option<Hidden>) -> Figure {
        hidden.map_or_else(|| Figure::int(value), Figure::hidden)
    }

    /// An integer or its reason.
    pub fn from_int(value: Result<i64, Hidden>) -> Figure {
        value.map_or_else(Figure::hidden, Figure::int)
    }

    /// A ratio or its reason.
    pub fn from_ratio(value: Result<f64, Hidden>) -> Figure {
        value.map_or_else(Figure::hidden, Figure::ratio)
    }
}

/// A value a peer statistic is taken over: integer kopecks or counts (median rounded to
/// the nearest integer) or a ratio.
pub trait Stat: Copy + PartialOrd + std::fmt::Debug {
    /// The mean of two values (the median of an even number of them).
    fn midpoint(a: Self, b: Self) -> Self;
}

impl Stat for i64 {
    fn midpoint(a: i64, b: i64) -> i64 {
        let sum = i128::from(a) + i128::from(b);
        // Round half away from zero, exactly.
        let half = if sum >= 0 {
            (sum + 1) / 2
        } else {
            (sum - 1) / 2
        };
        half as i64
    }
}

impl Stat for f64 {
    fn midpoint(a: f64, b: f64) -> f64 {
        a / 2.0 + b / 2.0
    }
}

/// What one peer merchant brings to a peer statistic: its value, and the additive amounts
/// the statistic is made of (revenue for revenue; revenue and purchases for the average
/// ticket; …), against which dominance is checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Peer<T> {
    /// The merchant's value of the statistic.
    pub value: T,
    /// Its part of each total behind the statistic.
    pub amounts: Vec<i64>,
}

/// Whether figures from a group of `members` merchants whose largest member holds
/// `largest` of a total `total` may be released.
pub fn group_releasable(members: usize, total: i64, largest: i64) -> Result<(), Hidden> {
    if members < MIN_PEERS {
        return Err(Hidden::FewerThan5Peers);
    }
    let (num, den) = MAX_PEER_SHARE;
    if i128::from(largest.max(0)) * den > i128::from(total.max(0)) * num {
        return Err(Hidden::DominantPeer);
    }
    Ok(())
}

/// Whether a statistic over `peers` may be released: enough of them, and none dominant in
/// any of the totals behind it (negative amounts, refunds, count as nothing).
pub fn releasable<T>(peers: &[Peer<T>]) -> Result<(), Hidden> {
    if peers.len() < MIN_PEERS {
        return Err(Hidden::FewerThan5Peers);
    }
    let dimensions = peers.iter().map(|p| p.amounts.len()).max().unwrap_or(0);
    for d in 0..dimensions {
        let amounts = peers
            .iter()
            .map(|p| p.amounts.get(d).copied().unwrap_or(0).max(0));
        let total = amounts.clone().fold(0i64, i64::saturating_add);
        let largest = amounts.max().unwrap_or(0);
        group_releasable(peers.len(), total, largest)?;
    }
    Ok(())
}

/// The peers' median, if it may be released.
pub fn peer_median<T: Stat>(peers: &[Peer<T>]) -> Result<T, Hidden> {
    releasable(peers)?;
    let mut values: Vec<T> = peers.iter().map(|p| p.value).collect();
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = values.len();
    Ok(if n % 2 == 1 {
        values[n / 2]
    } else {
        T::midpoint(values[n / 2 - 1], values[n / 2])
    })
}

/// Where `own` stands among the peers, 0–100: the share of peers below it, ties counting
/// half. Released under the same rule as the median.
pub fn percentile_rank<T: Stat>(own: T, peers: &[Peer<T>]) -> Result<f64, Hidden> {
    releasable(peers)?;
    let below = peers.iter().filter(|p| p.value < own).count() as f64;
    let ties = peers.iter().filter(|p| p.value == own).count() as f64;
    Ok(100.0 * (below + ties / 2.0) / peers.len() as f64)
}

/// An outlet's share of its market in one period: `own` against the total of `own`, the
/// organisation's `siblings` in the same peer group and every peer's revenue.
pub fn market_share(own: i64, siblings: i64, peers: &[i64]) -> Result<f64, Hidden> {
    let group: Vec<Peer<i64>> = peers
        .iter()
        .map(|&r| Peer {
            value: r,
            amounts: vec![r],
        })
        .collect();
    releasable(&group)?;
    let total =
        i128::from(own) + i128::from(siblings) + peers.iter().map(|&r| i128::from(r)).sum::<i128>();
    if total <= 0 {
        return Err(Hidden::NoData);
    }
    Ok(own as f64 / total as f64)
}

/// A customer flow between an outlet and its peer group: `customers` of `base` moved, with
/// `per_peer` the customers each peer that received (or gave) any accounts for, in a group
/// of `peers` merchants. Released as a count and a share of `base`.
pub fn flow(customers: i64, base: i64, per_peer: &[i64], peers: usize) -> (Figure, Figure) {
    let total = per_peer
        .iter()
        .fold(0i64, |a, &b| a.saturating_add(b.max(0)));
    let largest = per_peer.iter().copied().max().unwrap_or(0);
    let check = if customers < MIN_CELL_CUSTOMERS || base < MIN_CELL_CUSTOMERS {
        Err(Hidden::FewerThan10Customers)
    } else {
        group_releasable(peers, total, largest)
    };
    match check {
        Ok(()) => (
            Figure::int(customers),
            Figure::ratio(customers as f64 / base as f64),
        ),
        Err(reason) => (Figure::hidden(reason), Figure::hidden(reason)),
    }
}

/// Which cells to hide: those counting fewer than [`MIN_CELL_CUSTOMERS`] customers.
pub fn hide_small_cells(customers: &[i64]) -> Vec<Option<Hidden>> {
    customers
        .iter()
        .map(|&c| (c < MIN_CELL_CUSTOMERS).then_some(Hidden::FewerThan10Customers))
        .collect()
}

/// [`hide_small_cells`] for cells that add up to a published total: while the hidden
/// cells together count 1–9 customers (which subtraction from the total would reveal), the
/// smallest released cell is hidden as well. Afterwards the hidden cells count 0 or at
/// least [`MIN_CELL_CUSTOMERS`] customers together.
pub fn hide_small_cells_with_complement(customers: &[i64]) -> Vec<Option<Hidden>> {
    let mut hidden = hide_small_cells(customers);
    loop {
        let hidden_sum: i64 = customers
            .iter()
            .zip(&hidden)
            .filter(|(_, h)| h.is_some())
            .map(|(c, _)| (*c).max(0))
            .sum();
        if hidden_sum == 0 || hidden_sum >= MIN_CELL_CUSTOMERS {
            return hidden;
        }
        let smallest = customers
            .iter()
            .enumerate()
            .filter(|(i, _)| hidden[*i].is_none())
            .min_by_key(|(i, c)| (**c, *i))
            .map(|(i, _)| i);
        match smallest {
            Some(i) => hidden[i] = Some(Hidden::FewerThan10Customers),
            None => return hidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn peers_of(values: &[(i64, i64)]) -> Vec<Peer<i64>> {
        values
            .iter()
            .map(|&(v, a)| Peer {
                value: v,
                amounts: vec![a],
            })
            .collect()
    }

    #[test]
    fn the_rules_at_their_edges() {
        // Four peers: never; five equal ones: yes (each holds 20%).
        assert_eq!(
            peer_median(&peers_of(&[(1, 1); 4])),
            Err(Hidden::FewerThan5Peers)
        );
        assert_eq!(peer_median(&peers_of(&[(7, 1); 5])), Ok(7));
        // Exactly 25% is allowed, a kopeck more is not.
        let at_limit = [(1, 25), (2, 25), (3, 25), (4, 13), (5, 12)];
        assert_eq!(peer_median(&peers_of(&at_limit)), Ok(3));
        let over = [(1, 26), (2, 25), (3, 25), (4, 12), (5, 12)];
        assert_eq!(peer_median(&peers_of(&over)), Err(Hidden::DominantPeer));
        // Even counts: the midpoint, rounded half away from zero.
        assert_eq!(
            peer_median(&peers_of(&[(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1)])),
            Ok(4)
        );
        assert_eq!(
            percentile_rank(3, &peers_of(&[(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)])),
            Ok(50.0)
        );
        assert_eq!(
            hide_small_cells_with_complement(&[100, 50, 3])
                .iter()
                .filter(|h| h.is_some())
                .count(),
            2
        );
        assert_eq!(
            hide_small_cells_with_complement(&[100, 50, 12]),
            vec![None; 3]
        );
    }

    /// A random peer group: 0–30 merchants, each with a value and two amounts (say,
    /// revenue and purchases), sometimes with one merchant far larger than the rest.
    fn group() -> impl Strategy<Value = Vec<Peer<i64>>> {
        (
            prop::collection::vec(
                (-1_000i64..10_000_000, 0i64..1_000_000, 0i64..10_000),
                0..30,
            ),
            prop::option::of(1i64..100),
        )
            .prop_map(|(rows, giant)| {
                let mut peers: Vec<Peer<i64>> = rows
                    .into_iter()
                    .map(|(v, a, b)| Peer {
                        value: v,
                        amounts: vec![a, b],
                    })
                    .collect();
                if let (Some(k), Some(first)) = (giant, peers.first_mut()) {
                    first.amounts[0] = first.amounts[0].saturating_mul(k);
                }
                peers
            })
    }

    fn dominated(peers: &[Peer<i64>]) -> bool {
        (0..2).any(|d| {
            let total: i128 = peers.iter().map(|p| i128::from(p.amounts[d].max(0))).sum();
            peers
                .iter()
                .any(|p| i128::from(p.amounts[d].max(0)) * 4 > total)
        })
    }

    proptest! {
        #[test]
        fn a_peer_figure_is_released_exactly_when_the_group_is_large_and_undominated(peers in group()) {
            let released = peer_median(&peers).is_ok();
            prop_assert_eq!(released, peers.len() >= MIN_PEERS && !dominated(&peers));
            prop_assert_eq!(percentile_rank(0, &peers).is_ok(), released);
            if peers.len() < MIN_PEERS {
                prop_assert_eq!(peer_median(&peers), Err(Hidden::FewerThan5Peers));
            }
        }

        #[test]
        fn a_released_median_is_never_the_minimum_or_the_maximum(peers in group()) {
            if let Ok(median) = peer_median(&peers) {
                let mut values: Vec<i64> = peers.iter().map(|p| p.value).collect();
                values.sort();
                // With 5 or more peers the median lies between the second smallest and
                // the second largest value: it is neither extreme unless they tie.
                prop_assert!(median >= values[1] && median <= values[values.len() - 2]);
            }
        }

        #[test]
        fn the_order_of_peers_changes_nothing(peers in group(), seed in any::<u64>()) {
            let mut shuffled = peers.clone();
            let n = shuffled.len();
            if n > 1 {
                let mut s = seed;
                for i in (1..n).rev() {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    shuffled.swap(i, (s >> 33) as usize % (i + 1));
                }
            }
            prop_assert_eq!(peer_median(&peers), peer_median(&shuffled));
            prop_assert_eq!(percentile_rank(5_000, &peers), percentile_rank(5_000, &shuffled));
        }

        #[test]
        fn a_percentile_rank_is_between_0_and_100(peers in group(), own in -1_000i64..10_000_000) {
            if let Ok(rank) = percentile_rank(own, &peers) {
                prop_assert!((0.0..=100.0).contains(&rank));
            }
        }

        #[test]
        fn market_shares_and_flows_follow_the_same_rule(
            revenues in prop::collection::vec(0i64..1_000_000, 0..12),
            own in 0i64..1_000_000,
            customers in 0i64..200,
            base in 0i64..400,
        ) {
            let group: Vec<Peer<i64>> = revenues.iter().map(|&r| Peer { value: r, amounts: vec![r] }).collect();
            let share = market_share(own, 0, &revenues);
            if share.is_ok() {
                prop_assert!(releasable(&group).is_ok());
            }
            let (count, fraction) = flow(customers, base, &revenues, revenues.len());
            if count.value.is_some() {
                prop_assert!(releasable(&group).is_ok());
                prop_assert!(customers >= MIN_CELL_CUSTOMERS && base >= MIN_CELL_CUSTOMERS);
                prop_assert!(fraction.value.is_some());
            } else {
                prop_assert!(fraction.value.is_none() && count.hidden.is_some());
            }
        }

        #[test]
        fn no_released_cell_counts_fewer_than_10_customers(cells in prop::collection::vec(0i64..40, 0..40)) {
            for (c, h) in cells.iter().zip(hide_small_cells(&cells)) {
                prop_assert_eq!(h.is_none(), *c >= MIN_CELL_CUSTOMERS);
            }
        }

        #[test]
        fn hidden_cells_cannot_be_recovered_as_a_small_group(cells in prop::collection::vec(0i64..40, 0..40)) {
            let hidden = hide_small_cells_with_complement(&cells);
            let hidden_sum: i64 = cells.iter().zip(&hidden).filter(|(_, h)| h.is_some()).map(|(c, _)| *c).sum();
            prop_assert!(hidden_sum == 0 || hidden_sum >= MIN_CELL_CUSTOMERS || hidden.iter().all(|h| h.is_some()));
            for (c, h) in cells.iter().zip(&hidden) {
                if *c < MIN_CELL_CUSTOMERS {
                    prop_assert!(h.is_some());
                }
            }
            // Cells beyond the small ones are hidden only when the small ones alone would
            // have been a recoverable group of 1-9 customers.
            let primary = hide_small_cells(&cells);
            let primary_sum: i64 = cells.iter().zip(&primary).filter(|(_, h)| h.is_some()).map(|(c, _)| *c).sum();
            if hidden != primary {
                prop_assert!((1..MIN_CELL_CUSTOMERS).contains(&primary_sum));
            }
        }
    }
}
