//! The static world: calendar, cities and districts, organisations and merchant outlets,
//! and the tables customers pick merchants from.

use lyra_common::mcc::{self, CategoryGroup};
use time::{Date, Month};

use crate::params::{self, CITIES, GROUPS, PAYDAYS};
use crate::rng::{Rng, cumulative};
use crate::{Config, STREAM_MERCHANT, STREAM_WORLD};

/// Days of the simulated window with their precomputed calendar effects.
pub struct Calendar {
    /// First day of the window.
    pub start: Date,
    /// Number of days in the window.
    pub days: usize,
    /// `YYYY-MM-DD` of each day.
    pub date_text: Vec<[u8; 10]>,
    /// Purchase multiplier per group and day (`group * days + day`).
    pub season: Vec<f64>,
    /// Largest value in `season`: the thinning bound.
    pub season_max: f64,
    /// Mean of each group's multiplier over the window.
    pub season_mean: [f64; GROUPS],
    /// Running totals of each group's hour-of-day weights.
    pub hours: [[f64; 24]; GROUPS],
}

impl Calendar {
    /// The window `[start, end]` with effects on (`realistic`) or flat.
    pub fn new(start: Date, end: Date, realistic: bool) -> Calendar {
        let days = (end - start).whole_days() as usize + 1;
        let mut date_text = Vec::with_capacity(days);
        let mut season = vec![1.0; GROUPS * days];
        let mut date = start;
        for day in 0..days {
            let text = date.to_string();
            date_text.push(text.as_bytes().try_into().expect("YYYY-MM-DD"));
            if realistic {
                let weekday = date.weekday().number_days_from_monday();
                let (month, dom) = (u8::from(date.month()), date.day());
                for group in CategoryGroup::ALL {
                    let p = params::params(group);
                    let payday = if PAYDAYS.contains(&dom) {
                        1.0 + 0.3 * p.payday
                    } else if PAYDAYS.iter().any(|&d| d + 1 == dom) {
                        1.0 + 0.12 * p.payday
                    } else {
                        1.0
                    };
                    season[group.index() * days + day] = p.weekday[weekday as usize]
                        * p.months[month as usize - 1]
                        * params::holiday_factor(group, month, dom, weekday)
                        * payday;
                }
            }
            date = date.next_day().expect("date in range");
        }
        let season_max = season.iter().cloned().fold(0.0, f64::max);
        let mut season_mean = [0.0; GROUPS];
        for (g, mean) in season_mean.iter_mut().enumerate() {
            *mean = season[g * days..(g + 1) * days].iter().sum::<f64>() / days as f64;
        }
        let mut hours = [[0.0; 24]; GROUPS];
        for group in CategoryGroup::ALL {
            let cum = cumulative(params::params(group).hours.iter().copied());
            hours[group.index()].copy_from_slice(&cum);
        }
        Calendar {
            start,
            days,
            date_text,
            season,
            season_max,
            season_mean,
            hours,
        }
    }

    /// The date of a day index (which may lie before the window).
    pub fn date(&self, day: i64) -> Date {
        self.start + time::Duration::days(day)
    }
}

/// The first day of the month `months - 1` months before `end`'s month.
pub fn window_start(end: Date, months: u32) -> Date {
    let total = end.year() * 12 + (u8::from(end.month()) as i32 - 1) - (months as i32 - 1);
    let month = Month::try_from((total.rem_euclid(12) + 1) as u8).expect("month");
    Date::from_calendar_date(total.div_euclid(12), month, 1).expect("valid date")
}

/// A district of a city: a centre and a share of the city's population.
pub struct District {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// A city with its districts.
pub struct CityWorld {
    /// Districts.
    pub districts: Vec<District>,
    /// Running totals of district population weights.
    pub district_cum: Vec<f64>,
}

/// A client organisation (tenant).
pub struct Org {
    /// Bank id of the organisation.
    pub id: i64,
    /// Legal name.
    pub name: String,
}

/// A merchant outlet.
pub struct Merchant {
    /// Bank id.
    pub id: i64,
    /// Index into [`World::orgs`] when the merchant belongs to a Lyra client.
    pub org: Option<usize>,
    /// Display name.
    pub name: String,
    /// MCC.
    pub mcc: u16,
    /// Category group.
    pub group: CategoryGroup,
    /// Index into [`CITIES`].
    pub city: usize,
    /// Index into the city's districts.
    pub district: usize,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Day index of opening (negative: before the window).
    pub opened: i64,
    /// Day index of closing, if it closes within the window.
    pub closed: Option<i64>,
    /// Attractiveness (heavy-tailed).
    pub size: f64,
    /// Yearly log-growth of the merchant's business.
    pub growth: f64,
}

impl Merchant {
    /// Whether the outlet trades on `day`.
    #[inline]
    pub fn is_open(&self, day: i64) -> bool {
        day >= self.opened && self.closed.is_none_or(|c| day < c)
    }
}

/// Merchants of one group in one city, with a choice table per home district.
#[derive(Default)]
pub struct PickTable {
    /// Merchant indices.
    pub merchants: Vec<u32>,
    /// Running weights per home district (`district_cum[d]` has one entry per merchant).
    pub district_cum: Vec<Vec<f64>>,
    /// Running weights by size alone, for trips across town to the big destinations.
    pub size_cum: Vec<f64>,
}

/// Everything that does not depend on an individual customer.
pub struct World {
    /// The window.
    pub calendar: Calendar,
    /// Cities with districts, in [`CITIES`] order.
    pub cities: Vec<CityWorld>,
    /// Running totals of city population weights.
    pub city_cum: Vec<f64>,
    /// Client organisations.
    pub orgs: Vec<Org>,
    /// All merchant outlets.
    pub merchants: Vec<Merchant>,
    /// `tables[city][group]`.
    pub tables: Vec<Vec<PickTable>>,
    /// Per group: every merchant of the group with running size weights (any city).
    pub national: Vec<(Vec<u32>, Vec<f64>)>,
    /// The middle of the window, in days, where merchant trends are 1.
    pub mid_day: f64,
}

/// Largest trend multiplier a merchant can reach; trends are divided by it so that the
/// thinning probability stays below one.
pub const TREND_CAP: f64 = 1.6;

impl World {
    /// Builds the world for `config`.
    pub fn build(config: &Config) -> World {
        let realism = &config.realism;
        let start = window_start(config.end, config.months);
        let calendar = Calendar::new(start, config.end, realism.calendar);
        let mut rng = Rng::stream(config.seed, STREAM_WORLD, 0);

        let cities: Vec<CityWorld> = CITIES
            .iter()
            .map(|c| {
                let n = ((c.population_k.sqrt() / 5.0).round() as usize).clamp(4, 20);
                let radius = 0.06 * (c.population_k / 1000.0).sqrt();
                let districts: Vec<District> = (0..n)
                    .map(|_| {
                        let r = radius * rng.f64().sqrt();
                        let a = rng.uniform(0.0, std::f64::consts::TAU);
                        District {
                            lat: c.lat + r * a.sin(),
                            lon: c.lon + r * a.cos() * 1.7,
                        }
                    })
                    .collect();
                let weights: Vec<f64> = (0..n).map(|_| rng.gamma(3.0, 1.0)).collect();
                CityWorld {
                    districts,
                    district_cum: cumulative(weights),
                }
            })
            .collect();
        let city_cum = cumulative(CITIES.iter().map(|c| c.population_k));

        let (merchants, orgs) = build_merchants(config, &calendar, &cities, &city_cum);
        let tables = build_tables(&cities, &merchants);
        let national = CategoryGroup::ALL
            .iter()
            .map(|&g| {
                let ids: Vec<u32> = (0..merchants.len() as u32)
                    .filter(|&m| merchants[m as usize].group == g)
                    .collect();
                let cum = cumulative(ids.iter().map(|&m| merchants[m as usize].size));
                (ids, cum)
            })
            .collect();
        let mid_day = calendar.days as f64 / 2.0;
        World {
            calendar,
            cities,
            city_cum,
            orgs,
            merchants,
            tables,
            national,
            mid_day,
        }
    }

    /// Probability that a visit to merchant `m` on `day` happens, given its trend.
    #[inline]
    pub fn trend_acceptance(&self, m: usize, day: i64) -> f64 {
        let merchant = &self.merchants[m];
        let years = (day as f64 - self.mid_day) / 365.0;
        let mut trend = (merchant.growth * years).exp();
        let age = day - merchant.opened;
        if age < 60 {
            trend *= 0.35 + 0.65 * age as f64 / 60.0; // a new outlet takes time to be found
        }
        (trend / TREND_CAP).min(1.0)
    }
}

fn distance(a: &District, b: &District) -> f64 {
    let dlat = a.lat - b.lat;
    let dlon = (a.lon - b.lon) * 0.56; // cos(56°): degrees of longitude are shorter
    (dlat * dlat + dlon * dlon).sqrt()
}

fn build_tables(cities: &[CityWorld], merchants: &[Merchant]) -> Vec<Vec<PickTable>> {
    let mut tables: Vec<Vec<PickTable>> = cities
        .iter()
        .map(|_| (0..GROUPS).map(|_| PickTable::default()).collect())
        .collect();
    for (i, m) in merchants.iter().enumerate() {
        tables[m.city][m.group.index()].merchants.push(i as u32);
    }
    for (c, city) in cities.iter().enumerate() {
        for g in CategoryGroup::ALL {
            let reach = params::params(g).reach_deg;
            let table = &mut tables[c][g.index()];
            table.size_cum =
                cumulative(table.merchants.iter().map(|&m| merchants[m as usize].size));
            table.district_cum = city
                .districts
                .iter()
                .map(|home| {
                    cumulative(table.merchants.iter().map(|&m| {
                        let m = &merchants[m as usize];
                        let d = distance(home, &cities[c].districts[m.district]);
                        // Bigger outlets draw customers from further away (Huff-style catchments).
                        m.size * (-d / (reach * m.size.sqrt())).exp()
                    }))
                })
                .collect();
        }
    }
    tables
}

/// Group of each outlet: every group at least once, then by merchant share.
fn build_merchants(
    config: &Config,
    calendar: &Calendar,
    cities: &[CityWorld],
    city_cum: &[f64],
) -> (Vec<Merchant>, Vec<Org>) {
    let n = config.merchants as usize;
    let days = calendar.days as i64;
    let mut rng = Rng::stream(config.seed, STREAM_WORLD, 1);
    let group_cum = cumulative(params::GROUP_PARAMS.iter().map(|p| p.merchant_share));
    let chain_groups = [
        CategoryGroup::Groceries,
        CategoryGroup::FastFood,
        CategoryGroup::Pharmacy,
        CategoryGroup::Fuel,
        CategoryGroup::Clothing,
        CategoryGroup::Electronics,
        CategoryGroup::Beauty,
        CategoryGroup::Restaurants,
        CategoryGroup::Home,
        CategoryGroup::Pets,
        CategoryGroup::Sports,
    ];

    // Chains: brands with several outlets, outlet counts heavy-tailed.
    struct Chain {
        name: String,
        group: CategoryGroup,
        outlets: usize,
        client: bool,
    }
    let mut chains = Vec::new();
    let mut chained = 0;
    let chain_budget = n * 35 / 100;
    while chained < chain_budget {
        let group = chain_groups[chains.len() % chain_groups.len()];
        let outlets = (2.0 + rng.pareto(1.3)).min((n / 25).max(3) as f64) as usize;
        let outlets = outlets.min(chain_budget - chained).max(1);
        let syllables = 2 + rng.below(2) as usize;
        let mut name = String::new();
        for _ in 0..syllables {
            name.push_str(params::BRAND_SYLLABLES[rng.below(20) as usize]);
        }
        let mut name: Vec<char> = name.chars().collect();
        name[0] = name[0].to_ascii_uppercase();
        let name: String = name.into_iter().collect();
        // A third of the chains are Lyra clients; the first few always, so that even a
        // small data set has client chains.
        let client = chains.len() < 3 || rng.chance(0.3);
        chains.push(Chain {
            name,
            group,
            outlets,
            client,
        });
        chained += outlets;
    }

    let mut orgs = Vec::new();
    let mut merchants = Vec::with_capacity(n);
    let next_org = |orgs: &mut Vec<Org>, name: String| {
        orgs.push(Org {
            id: 9_001 + orgs.len() as i64,
            name,
        });
        orgs.len() - 1
    };
    // Each outlet's group, and for a chain's outlets the chain with its client organisation.
    type Slot = (CategoryGroup, Option<(usize, Option<usize>)>);
    let mut slots: Vec<Slot> = Vec::with_capacity(n);
    for (c, chain) in chains.iter().enumerate() {
        let org = chain
            .client
            .then(|| next_org(&mut orgs, format!("{} Retail LLC", chain.name)));
        for _ in 0..chain.outlets {
            slots.push((chain.group, Some((c, org))));
        }
    }
    let mut i = 0;
    while slots.len() < n {
        let group = if i < GROUPS {
            CategoryGroup::ALL[i]
        } else {
            CategoryGroup::ALL[rng.pick_cumulative(&group_cum)]
        };
        slots.push((group, None));
        i += 1;
    }

    for (j, (group, chain)) in slots.into_iter().enumerate() {
        let mut mrng = Rng::stream(config.seed, STREAM_MERCHANT, j as u64);
        let city = mrng.pick_cumulative(city_cum);
        let district = mrng.pick_cumulative(&cities[city].district_cum);
        let d = &cities[city].districts[district];
        let lat = d.lat + mrng.normal() * 0.006;
        let lon = d.lon + mrng.normal() * 0.01;
        let group_codes: Vec<u16> = mcc::codes_in(group).map(|m| m.code).collect();
        let primary = params::params(group).primary_mcc;
        let mcc = if mrng.chance(0.7) {
            primary
        } else {
            group_codes[mrng.below(group_codes.len() as u64) as usize]
        };
        let size_base = if config.realism.zipf {
            mrng.pareto(0.9).min(1000.0)
        } else {
            1.0
        };
        let (name, org, size) = match chain {
            Some((c, org)) => (chains[c].name.clone(), org, size_base * 1.5),
            None => {
                let adjective = params::NAME_ADJECTIVES[mrng.below(24) as usize];
                let nouns = params::name_nouns(group);
                let noun = nouns[mrng.below(nouns.len() as u64) as usize];
                let name = format!("{adjective} {noun}");
                // A few independent shops are Lyra clients too, in every kind of trade.
                let org = (j % 37 == 5 || mrng.chance(0.02))
                    .then(|| next_org(&mut orgs, format!("{name} LLC")));
                (name, org, size_base)
            }
        };
        let opened = if mrng.chance(0.85) {
            -(30 + mrng.below(15 * 365) as i64)
        } else {
            mrng.below((days - 60).max(1) as u64) as i64
        };
        let closed =
            (mrng.chance(0.08)).then(|| opened.max(0) + 60 + mrng.below(days as u64) as i64);
        let closed = closed.filter(|&c| c < days);
        let growth = if config.realism.calendar {
            (mrng.normal() * 0.25).clamp(-0.6, 0.6)
        } else {
            0.0
        };
        merchants.push(Merchant {
            id: 500_001 + j as i64,
            org,
            name,
            mcc,
            group,
            city,
            district,
            lat,
            lon,
            opened,
            closed,
            size,
            growth,
        });
    }
    (merchants, orgs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn window_starts_on_the_first_of_a_month() {
        assert_eq!(
            window_start(date!(2026 - 10 - 31), 18),
            date!(2025 - 05 - 01)
        );
        assert_eq!(
            window_start(date!(2026 - 01 - 15), 1),
            date!(2026 - 01 - 01)
        );
        assert_eq!(
            window_start(date!(2026 - 01 - 15), 13),
            date!(2025 - 01 - 01)
        );
    }
}
