//! Measures the realism claims of PRODUCT.md §2 on a data set in the bank file format
//! (CSV), so the claims are numbers rather than promises. Works on any data in the format,
//! not only generated data.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use lyra_common::mcc::{self, CategoryGroup};
use time::{Date, Month, Weekday};

/// One measured property.
#[derive(Debug, Clone)]
pub struct Check {
    /// What is measured.
    pub name: &'static str,
    /// The measured value.
    pub value: f64,
    /// Smallest acceptable value.
    pub min: f64,
    /// Largest acceptable value.
    pub max: f64,
}

impl Check {
    /// Whether the value is within bounds.
    pub fn passes(&self) -> bool {
        self.value.is_finite() && self.value >= self.min && self.value <= self.max
    }
}

/// All checks.
#[derive(Debug, Clone)]
pub struct Report {
    /// Number of transactions read.
    pub transactions: u64,
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// The check with this name.
    pub fn get(&self, name: &str) -> &Check {
        self.checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name}"))
    }

    /// Whether every check passes.
    pub fn all_pass(&self) -> bool {
        self.checks.iter().all(Check::passes)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<58} {:>9}   {:<17} result",
            "property", "measured", "accepted"
        )?;
        for c in &self.checks {
            let range = if c.max.is_infinite() {
                format!(">= {}", c.min)
            } else {
                format!("{} .. {}", c.min, c.max)
            };
            let result = if c.passes() { "pass" } else { "FAIL" };
            writeln!(
                f,
                "{:<58} {:>9.3}   {:<17} {result}",
                c.name, c.value, range
            )?;
        }
        write!(f, "{} transactions", self.transactions)
    }
}

struct MerchantInfo {
    group: CategoryGroup,
    closed: bool,
}

#[derive(Default, Clone)]
struct CustomerStats {
    count: u64,
    spend: i64,
    first_half: u64,
    last_90: u64,
}

fn parse_date(s: &str) -> Option<Date> {
    let y = s.get(0..4)?.parse().ok()?;
    let m = Month::try_from(s.get(5..7)?.parse::<u8>().ok()?).ok()?;
    let d = s.get(8..10)?.parse().ok()?;
    Date::from_calendar_date(y, m, d).ok()
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn lines(path: &Path) -> io::Result<impl Iterator<Item = io::Result<String>>> {
    let file = File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    Ok(BufReader::with_capacity(1 << 20, file).lines().skip(1))
}

/// Reads `merchants.csv`, `customers.csv` and `transactions.csv` from `dir` and measures.
pub fn analyse(dir: &Path) -> io::Result<Report> {
    let mut merchants = HashMap::new();
    for line in lines(&dir.join("merchants.csv"))? {
        let line = line?;
        let f: Vec<&str> = line.split(',').collect();
        let code: u16 = f[3]
            .parse()
            .map_err(|_| invalid(format!("bad mcc in {line}")))?;
        let group = mcc::lookup(code)
            .map(|m| m.group)
            .unwrap_or(CategoryGroup::Other);
        merchants.insert(
            f[0].parse::<i64>().map_err(|_| invalid(line.clone()))?,
            MerchantInfo {
                group,
                closed: !f[9].is_empty(),
            },
        );
    }

    // Pass 1: the window.
    let path = dir.join("transactions.csv");
    let (mut first, mut last) = (Date::MAX, Date::MIN);
    for line in lines(&path)? {
        let line = line?;
        let date = line
            .split(',')
            .nth(1)
            .and_then(parse_date)
            .ok_or_else(|| invalid(line.clone()))?;
        first = first.min(date);
        last = last.max(date);
    }
    let days = (last - first).whole_days() as usize + 1;
    let third = days / 3;

    let groups = CategoryGroup::ALL.len();
    let mut daily = vec![0u64; groups * days]; // transactions per group per day
    let mut merchant_visits: HashMap<i64, u64> = HashMap::new();
    let mut customers: HashMap<i64, CustomerStats> = HashMap::new();
    // (customer, group) -> merchant -> (visits in first third, visits in last third)
    let mut loyalty: HashMap<(i64, u8), HashMap<i64, (u32, u32)>> = HashMap::new();
    let mut n = 0u64;
    for line in lines(&path)? {
        let line = line?;
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 7 {
            return Err(invalid(format!("expected 7 fields: {line}")));
        }
        let day =
            (parse_date(f[1]).ok_or_else(|| invalid(line.clone()))? - first).whole_days() as usize;
        let customer: i64 = f[2].parse().map_err(|_| invalid(line.clone()))?;
        let merchant: i64 = f[3].parse().map_err(|_| invalid(line.clone()))?;
        let amount: i64 = f[4].parse().map_err(|_| invalid(line.clone()))?;
        let info = merchants
            .get(&merchant)
            .ok_or_else(|| invalid(format!("unknown merchant {merchant}")))?;
        n += 1;
        if amount < 0 {
            continue; // refunds are not visits
        }
        *merchant_visits.entry(merchant).or_default() += 1;
        let g = info.group.index();
        daily[g * days + day] += 1;
        let c = customers.entry(customer).or_default();
        c.count += 1;
        c.spend += amount;
        if day < days / 2 {
            c.first_half += 1;
        }
        if day + 90 >= days {
            c.last_90 += 1;
        }
        if day < third || day >= days - third {
            let visits = loyalty
                .entry((customer, g as u8))
                .or_default()
                .entry(merchant)
                .or_default();
            if day < third {
                visits.0 += 1;
            } else {
                visits.1 += 1;
            }
        }
    }

    let date = |d: usize| first + time::Duration::days(d as i64);
    // Mean transactions per day of `group` over the days selected by `pick`.
    let mean = |groups: &[CategoryGroup], pick: &dyn Fn(Date) -> bool| {
        let (mut total, mut count) = (0u64, 0u64);
        for d in 0..days {
            if pick(date(d)) {
                count += 1;
                total += groups
                    .iter()
                    .map(|g| daily[g.index() * days + d])
                    .sum::<u64>();
            }
        }
        if count == 0 {
            f64::NAN
        } else {
            total as f64 / count as f64
        }
    };
    let ratio = |groups: &[CategoryGroup], a: &dyn Fn(Date) -> bool, b: &dyn Fn(Date) -> bool| {
        mean(groups, a) / mean(groups, b)
    };
    use CategoryGroup as G;
    let wd = |d: Date| d.weekday();
    let is = |d: Date, m: Month, lo: u8, hi: u8| d.month() == m && (lo..=hi).contains(&d.day());
    let all: Vec<CategoryGroup> = CategoryGroup::ALL.to_vec();
    let ordinary = |d: Date| !matches!(d.month(), Month::December | Month::January | Month::May);

    let mut checks = vec![
        Check {
            name: "weekday: restaurants Fri-Sat vs Mon-Thu",
            value: ratio(
                &[G::Restaurants],
                &|d| matches!(wd(d), Weekday::Friday | Weekday::Saturday),
                &|d| d.weekday().number_days_from_monday() < 4,
            ),
            min: 1.2,
            max: 3.0,
        },
        Check {
            name: "weekday: health and education Mon-Fri vs weekend",
            value: ratio(
                &[G::Health, G::Education],
                &|d| d.weekday().number_days_from_monday() < 5,
                &|d| d.weekday().number_days_from_monday() >= 5,
            ),
            min: 1.25,
            max: 4.0,
        },
        Check {
            name: "yearly: clothing and electronics December vs Oct-Nov",
            value: ratio(
                &[G::Clothing, G::Electronics],
                &|d| d.month() == Month::December,
                &|d| matches!(d.month(), Month::October | Month::November),
            ),
            min: 1.2,
            max: 3.0,
        },
        Check {
            name: "yearly: travel and hotels Jun-Aug vs Feb-Apr",
            value: ratio(
                &[G::Travel, G::Hotels],
                &|d| matches!(d.month(), Month::June | Month::July | Month::August),
                &|d| matches!(d.month(), Month::February | Month::March | Month::April),
            ),
            min: 1.3,
            max: 4.0,
        },
        Check {
            name: "payday: all purchases on the 5th and 20th vs mid-periods",
            value: ratio(&all, &|d| ordinary(d) && matches!(d.day(), 5 | 20), &|d| {
                ordinary(d) && matches!(d.day(), 9..=16 | 24..=28)
            }),
            min: 1.08,
            max: 2.0,
        },
        Check {
            name: "holiday: groceries on 31 December vs 1-20 December",
            value: ratio(&[G::Groceries], &|d| is(d, Month::December, 31, 31), &|d| {
                is(d, Month::December, 1, 20)
            }),
            min: 1.5,
            max: 5.0,
        },
        Check {
            name: "holiday: beauty 5-8 March vs 10-28 February",
            value: ratio(&[G::Beauty], &|d| is(d, Month::March, 5, 8), &|d| {
                is(d, Month::February, 10, 28)
            }),
            min: 1.5,
            max: 5.0,
        },
    ];

    // Heavy-tailed merchant sizes: the share of all visits that goes to the busiest 10% of
    // merchants (a uniform world gives about 0.25 here, from city sizes alone).
    let mut visits: Vec<u64> = merchant_visits.values().copied().collect();
    visits.sort_unstable_by(|a, b| b.cmp(a));
    let top: u64 = visits.iter().take(visits.len().div_ceil(10)).sum();
    checks.push(Check {
        name: "merchants: visit share of the busiest 10%",
        value: top as f64 / visits.iter().sum::<u64>().max(1) as f64,
        min: 0.45,
        max: 0.95,
    });

    // Heterogeneous customers: coefficient of variation of purchases and of spend, among
    // customers active in the first half (so late joiners do not inflate it).
    let active: Vec<&CustomerStats> = customers.values().filter(|c| c.first_half > 0).collect();
    let cv = |xs: Vec<f64>| {
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64).sqrt() / m
    };
    checks.push(Check {
        name: "customers: CV of purchase counts",
        value: cv(active.iter().map(|c| c.count as f64).collect()),
        min: 0.6,
        max: 5.0,
    });
    checks.push(Check {
        name: "customers: CV of total spend",
        value: cv(active.iter().map(|c| c.spend as f64).collect()),
        min: 0.8,
        max: 10.0,
    });

    // Lapsing: regular early customers with no purchase in the last 90 days.
    let regular: Vec<&&CustomerStats> = active.iter().filter(|c| c.first_half >= 10).collect();
    let lapsed = regular.iter().filter(|c| c.last_90 == 0).count();
    checks.push(Check {
        name: "customers: regulars silent in the last 90 days",
        value: lapsed as f64 / regular.len().max(1) as f64,
        min: 0.03,
        max: 0.6,
    });

    // Switching: the main outlet of a (customer, category) in the first third gets no
    // visit in the last third although the customer still buys the category elsewhere and
    // the outlet is still open.
    let (mut eligible, mut switched) = (0u64, 0u64);
    for visits in loyalty.values() {
        let Some((&main, &(early, _))) = visits.iter().max_by_key(|(m, v)| (v.0, **m)) else {
            continue;
        };
        let late_total: u32 = visits.values().map(|v| v.1).sum();
        if early < 4 || late_total < 4 || merchants[&main].closed {
            continue;
        }
        eligible += 1;
        if visits[&main].1 == 0 {
            switched += 1;
        }
    }
    checks.push(Check {
        name: "customers: main outlet abandoned for a competitor",
        value: switched as f64 / eligible.max(1) as f64,
        min: 0.03,
        max: 0.5,
    });

    Ok(Report {
        transactions: n,
        checks,
    })
}
