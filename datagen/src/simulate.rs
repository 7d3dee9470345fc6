//! One customer's life: attributes, category mix, the purchase process (BG/NBD-style
//! frequency with dropout, Gamma-Gamma-style spend), loyalty, switching and refunds.

use lyra_common::formats::Channel;
use lyra_common::mcc::CategoryGroup;

use crate::output::Chunk;
use crate::params::{self, Archetype, CITIES, GROUPS};
use crate::rng::{Rng, cumulative, mix64};
use crate::world::{TREND_CAP, World};
use crate::{Config, STREAM_CUSTOMER};

/// National median monthly income, roubles.
const MEDIAN_INCOME: f64 = 55_000.0;
/// Purchases per day of a typical customer on an ordinary day.
const BASE_RATE: f64 = 0.42;
const NO_MERCHANT: u32 = u32::MAX;

/// Bank id of customer number `i`.
pub fn customer_id(i: u64) -> i64 {
    1_000_001 + i as i64
}

/// Simulates customer `i` and appends its rows to `out`.
pub fn customer(world: &World, config: &Config, i: u64, out: &mut Chunk) {
    let realism = &config.realism;
    let cal = &world.calendar;
    let days = cal.days as i64;
    let mut rng = Rng::stream(config.seed, STREAM_CUSTOMER, i);
    let id = customer_id(i);

    // Who they are.
    let city = rng.pick_cumulative(&world.city_cum);
    let district = rng.pick_cumulative(&world.cities[city].district_cum);
    let female = rng.chance(0.53);
    let age = 18.0 + 62.0 * rng.beta(1.6, 2.2);
    let age_income = if age < 25.0 {
        0.55
    } else if age < 35.0 {
        0.95
    } else if age < 55.0 {
        1.15
    } else if age < 62.0 {
        0.95
    } else {
        0.6
    };
    let income = MEDIAN_INCOME * CITIES[city].income_factor * age_income * rng.lognormal(0.0, 0.55);
    let rel_income = income / MEDIAN_INCOME;
    let archetype = if age < 27.0 && rng.chance(0.7) {
        Archetype::YoungUrban
    } else if age >= 62.0 && rng.chance(0.75) {
        Archetype::Senior
    } else if rel_income > 2.0 && rng.chance(0.6) {
        Archetype::Affluent
    } else if (28.0..50.0).contains(&age) && rng.chance(0.45) {
        Archetype::Family
    } else {
        Archetype::Mass
    };
    let client_since = if rng.chance(0.8) {
        -(30 + rng.below(3650) as i64)
    } else {
        rng.below((days - 30).max(1) as u64) as i64
    };

    // How they buy.
    let (rate, dropout, spend) = if realism.heterogeneity {
        let mean = BASE_RATE * archetype.rate_factor();
        (
            rng.gamma(2.0, mean / 2.0),
            if realism.lapses {
                rng.beta(0.8, 260.0)
            } else {
                0.0
            },
            rng.gamma(3.0, 1.0 / 3.0),
        )
    } else {
        (BASE_RATE, if realism.lapses { 0.003 } else { 0.0 }, 1.0)
    };
    let arch_mix = archetype.mix();
    let mut mix = [0.0; GROUPS];
    for g in CategoryGroup::ALL {
        let p = params::params(g);
        let k = g.index();
        let mut w = p.purchase_share;
        if realism.heterogeneity {
            let adopted = match g {
                CategoryGroup::Fuel | CategoryGroup::Travel | CategoryGroup::Hotels
                    if archetype == Archetype::Affluent =>
                {
                    rng.chance(0.9)
                }
                CategoryGroup::Education if archetype == Archetype::Family => rng.chance(0.7),
                _ => rng.chance(p.adoption),
            };
            let gender = match (g, female) {
                (CategoryGroup::Beauty, true) => 2.0,
                (CategoryGroup::Clothing, true) => 1.3,
                (CategoryGroup::Pharmacy, true) => 1.2,
                (CategoryGroup::Fuel, false) => 1.5,
                (CategoryGroup::Electronics, false) => 1.4,
                (CategoryGroup::Sports, false) => 1.3,
                (CategoryGroup::FastFood, false) => 1.2,
                _ => 1.0,
            };
            w *= if adopted { 1.0 } else { 0.0 }
                * arch_mix[k]
                * gender
                * rel_income.powf(p.income_elasticity)
                * rng.gamma(1.5, 1.0 / 1.5);
        }
        mix[k] = w;
    }
    let mix_cum = cumulative(mix);

    // Loyalty: two favourite outlets per group, chosen at the first purchase; some
    // customers move their main outlet to a competitor at a random day.
    let mut favourites = [[NO_MERCHANT; 2]; GROUPS];
    let mut switch_day = [i64::MAX; GROUPS];
    if realism.switching {
        for (k, day) in switch_day.iter_mut().enumerate() {
            if mix[k] > 0.0 && rng.chance(0.2) {
                *day = 60 + rng.below((days - 90).max(1) as u64) as i64;
            }
        }
    }

    out.customer(id, age, female, city, client_since, cal);

    let start = client_since.max(0) as f64;
    let season_max = cal.season_max;
    let candidate_rate = rate * season_max;
    let mut t = start + rng.exp(candidate_rate);
    let mut seq: u64 = 0;
    let mut lapsed_on = None;
    let id_salt = mix64(config.seed ^ 0x7478_6e5f_6964); // "txn_id"
    while t < days as f64 {
        let day = t as i64;
        t += rng.exp(candidate_rate);
        let k = rng.pick_cumulative(&mix_cum);
        if rng.f64() * season_max >= cal.season[k * cal.days + day as usize] {
            continue;
        }
        let group = CategoryGroup::ALL[k];
        if day >= switch_day[k] {
            switch_day[k] = i64::MAX;
            let from = favourites[k][0];
            if from != NO_MERCHANT
                && let Some(to) = pick(world, &mut rng, city, district, k, day, &favourites[k])
            {
                favourites[k][0] = to;
                out.switch(
                    id,
                    group,
                    world.merchants[from as usize].id,
                    world.merchants[to as usize].id,
                    cal.date(day),
                );
            }
        }
        let r = rng.f64();
        let slot = if r < 0.12 {
            None
        } else if r < 0.80 {
            Some(0)
        } else {
            Some(1)
        };
        let m = match slot {
            Some(s)
                if favourites[k][s] != NO_MERCHANT
                    && world.merchants[favourites[k][s] as usize].is_open(day) =>
            {
                favourites[k][s]
            }
            _ => {
                let Some(m) = pick(world, &mut rng, city, district, k, day, &favourites[k]) else {
                    continue;
                };
                let s = slot.unwrap_or(if favourites[k][0] == NO_MERCHANT {
                    0
                } else {
                    1
                });
                if slot.is_some() || favourites[k][s] == NO_MERCHANT {
                    favourites[k][s] = m;
                }
                m
            }
        };
        if rng.f64() >= world.trend_acceptance(m as usize, day) {
            continue;
        }
        let merchant = &world.merchants[m as usize];
        let p = params::params(group);
        let hour = rng.pick_cumulative(&cal.hours[k]) as u8;
        let minute = rng.below(60) as u8;
        let second = rng.below(60) as u8;
        let ecom = rng.chance(p.ecom_share * archetype.ecom_factor());
        let channel = if ecom { Channel::Ecom } else { Channel::Pos };
        let rub = p.median_ticket_rub
            * rel_income.powf(0.35)
            * spend
            * rng.lognormal(0.0, p.ticket_sigma);
        let amount = if group == CategoryGroup::Groceries || group == CategoryGroup::Pharmacy {
            (rub * 100.0).round() as i64
        } else {
            rub.round() as i64 * 100
        }
        .max(1_000);
        let offset = CITIES[merchant.city].utc_offset_h;
        let txn_id = mix64(id_salt ^ ((i << 24) | seq));
        seq += 1;
        out.transaction(
            txn_id,
            cal,
            day,
            hour,
            minute,
            second,
            offset,
            id,
            merchant.id,
            amount,
            channel,
        );

        let refund_p = match group {
            CategoryGroup::Clothing | CategoryGroup::Electronics | CategoryGroup::Home => 0.03,
            CategoryGroup::Travel | CategoryGroup::Hotels | CategoryGroup::Sports => 0.02,
            _ => 0.002,
        };
        if rng.chance(refund_p) {
            let refund_day = day + 1 + rng.below(14) as i64;
            let refunded = if rng.chance(0.7) {
                amount
            } else {
                (amount / 200).max(5) * 100
            };
            if refund_day < days {
                let txn_id = mix64(id_salt ^ ((i << 24) | seq));
                seq += 1;
                let hour = 10 + rng.below(10) as u8;
                out.transaction(
                    txn_id,
                    cal,
                    refund_day,
                    hour,
                    rng.below(60) as u8,
                    rng.below(60) as u8,
                    offset,
                    id,
                    merchant.id,
                    -refunded,
                    channel,
                );
            }
        }
        if rng.chance(dropout) {
            lapsed_on = Some(day);
            break;
        }
    }

    // The truth: expected spend over the 90 days after the window, under the process
    // that generated the data (zero once lapsed).
    let mut rate_sum = 0.0;
    let mut spend_sum = 0.0;
    for g in CategoryGroup::ALL {
        let k = g.index();
        let p = params::params(g);
        let r = mix[k] * cal.season_mean[k];
        rate_sum += r;
        spend_sum += r * p.median_ticket_rub * (p.ticket_sigma * p.ticket_sigma / 2.0).exp();
    }
    let total_mix: f64 = mix.iter().sum();
    let expected = if lapsed_on.is_some() || total_mix == 0.0 {
        0.0
    } else {
        let mu = rate * rate_sum / total_mix / TREND_CAP;
        let n = if dropout > 0.0 {
            (1.0 - (-dropout * mu * 90.0).exp()) / dropout
        } else {
            mu * 90.0
        };
        n * spend_sum / rate_sum * rel_income.powf(0.35) * spend * 100.0
    };
    out.truth_customer(
        id,
        archetype,
        income,
        rate,
        dropout,
        spend,
        lapsed_on.map(|d| cal.date(d)),
        expected as i64,
    );
}

/// Picks an open outlet of group `k` for a customer: mostly near home, sometimes (travel,
/// hotels) in another city; never one of `avoid`.
fn pick(
    world: &World,
    rng: &mut Rng,
    city: usize,
    district: usize,
    k: usize,
    day: i64,
    avoid: &[u32; 2],
) -> Option<u32> {
    let away = matches!(
        CategoryGroup::ALL[k],
        CategoryGroup::Travel | CategoryGroup::Hotels
    ) && rng.chance(0.7);
    for _ in 0..12 {
        let table = &world.tables[city][k];
        let m = if away || table.merchants.is_empty() {
            let (ids, cum) = &world.national[k];
            if ids.is_empty() {
                return None;
            }
            ids[rng.pick_cumulative(cum)]
        } else if rng.chance(0.3) {
            table.merchants[rng.pick_cumulative(&table.size_cum)]
        } else {
            table.merchants[rng.pick_cumulative(&table.district_cum[district])]
        };
        if world.merchants[m as usize].is_open(day) && !avoid.contains(&m) {
            return Some(m);
        }
    }
    None
}
