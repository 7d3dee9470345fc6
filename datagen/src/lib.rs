//! Deterministic synthetic bank data for Lyra (PRODUCT.md §2).
//!
//! There is no public card-payment data set, so Lyra makes its own: cities with districts,
//! merchants clustered in districts with heavy-tailed sizes, chains owned by organisations,
//! openings and closures; customers with age, gender, region and income, a category mix
//! that depends on them, loyalty to a few outlets, a purchase process with customer-level
//! frequency, spend and dropout (BG/NBD and Gamma-Gamma style), switching to competitors;
//! weekday, hour, payday, holiday and seasonal effects per category; refunds.
//!
//! **Determinism.** Every customer and merchant draws from its own random stream of the
//! seed ([`rng::Rng::stream`]), and chunks are written in customer order, so the same seed
//! gives the same bytes whatever the number of threads. The generator uses its own small
//! RNG so that no dependency upgrade can change the data.
//!
//! **Truth.** The latent variables (archetype, income, rates, lapse day, expected spend)
//! are written to separate tables ([`output::Table::TruthCustomers`]) that no service reads.

pub mod output;
pub mod params;
pub mod realism;
pub mod rng;
mod simulate;
pub mod world;

use std::io;

use time::Date;
use time::macros::date;

use output::{Chunk, csv_header};
pub use output::{FileSink, Format, Sink, Table};
pub use world::World;

const STREAM_WORLD: u64 = 1;
const STREAM_MERCHANT: u64 = 2;
const STREAM_CUSTOMER: u64 = 3;

/// Which realism effects are on. All on for real use; tests switch them off to prove the
/// realism checks fail on flat data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Realism {
    /// Weekday, hour, month, payday and holiday effects; merchant trends.
    pub calendar: bool,
    /// Customer-level differences in frequency, spend and category mix.
    pub heterogeneity: bool,
    /// Customers who stop buying.
    pub lapses: bool,
    /// Customers who move their custom to a competitor.
    pub switching: bool,
    /// Heavy-tailed merchant sizes.
    pub zipf: bool,
}

impl Realism {
    /// Every effect on.
    pub const FULL: Realism = Realism {
        calendar: true,
        heterogeneity: true,
        lapses: true,
        switching: true,
        zipf: true,
    };
    /// Every effect off: uniform, unrealistic data.
    pub const FLAT: Realism = Realism {
        calendar: false,
        heterogeneity: false,
        lapses: false,
        switching: false,
        zipf: false,
    };
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Config {
    /// The seed: same seed, same bytes.
    pub seed: u64,
    /// Number of customers.
    pub customers: u64,
    /// Number of merchant outlets.
    pub merchants: u64,
    /// Length of the window in calendar months.
    pub months: u32,
    /// Last day of the window.
    pub end: Date,
    /// Effects.
    pub realism: Realism,
}

/// Named sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// For tests: 4,000 customers, 800 merchants, 18 months.
    Small,
    /// The demo: 50,000 customers, 2,000 merchants, 33 months (about 8M transactions): two
    /// and a half years, so that every 12-month page has a whole previous year to compare
    /// with, and the demand models see each season twice before the training cut-off.
    Demo,
    /// Benchmarks: 550,000 customers, 20,000 merchants, 18 months (over 50M transactions).
    Bench,
}

impl Preset {
    /// Parses `small`, `demo` or `bench`.
    pub fn from_name(name: &str) -> Option<Preset> {
        match name {
            "small" => Some(Preset::Small),
            "demo" => Some(Preset::Demo),
            "bench" => Some(Preset::Bench),
            _ => None,
        }
    }

    /// The configuration of the preset with `seed`.
    pub fn config(self, seed: u64) -> Config {
        let (customers, merchants, months) = match self {
            Preset::Small => (4_000, 800, 18),
            Preset::Demo => (50_000, 2_000, 33),
            Preset::Bench => (550_000, 20_000, 18),
        };
        Config {
            seed,
            customers,
            merchants,
            months,
            end: DEFAULT_END,
            realism: Realism::FULL,
        }
    }
}

/// The default last day: fixed, so that a seed alone determines the data.
pub const DEFAULT_END: Date = date!(2026 - 10 - 31);

/// Counts of what was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Organisations.
    pub organisations: u64,
    /// Merchant outlets.
    pub merchants: u64,
    /// Customers.
    pub customers: u64,
    /// Transactions (refunds included).
    pub transactions: u64,
}

/// Customers per unit of parallel work.
const CHUNK: u64 = 512;

/// Generates everything into `sink`. `progress(customers_done, transactions_done)` is
/// called after each batch. Work is spread over `threads` threads; the output does not
/// depend on it.
pub fn generate(
    config: &Config,
    format: Format,
    sink: &mut dyn Sink,
    threads: usize,
    progress: &mut dyn FnMut(u64, u64),
) -> io::Result<Summary> {
    let world = World::build(config);
    if format == Format::Csv {
        for table in Table::ALL {
            sink.write(table, &csv_header(table))?;
        }
    }
    sink.write(
        Table::Bank(lyra_common::formats::Entity::Organisations),
        &output::organisations(&world, format),
    )?;
    sink.write(
        Table::Bank(lyra_common::formats::Entity::Merchants),
        &output::merchants(&world, format),
    )?;

    let threads = threads.max(1) as u64;
    let chunks = config.customers.div_ceil(CHUNK);
    let mut summary = Summary {
        organisations: world.orgs.len() as u64,
        merchants: world.merchants.len() as u64,
        customers: config.customers,
        transactions: 0,
    };
    let batch = threads * 2;
    let mut first = 0;
    while first < chunks {
        let last = (first + batch).min(chunks);
        let results: Vec<Chunk> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let world = &world;
                    scope.spawn(move || {
                        (first + t..last)
                            .step_by(threads as usize)
                            .map(|c| {
                                let mut chunk = Chunk::new(format);
                                for i in c * CHUNK..((c + 1) * CHUNK).min(config.customers) {
                                    simulate::customer(world, config, i, &mut chunk);
                                }
                                (c, chunk)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut all: Vec<(u64, Chunk)> = handles
                .into_iter()
                .flat_map(|h| h.join().expect("generator thread panicked"))
                .collect();
            all.sort_by_key(|(c, _)| *c);
            all.into_iter().map(|(_, chunk)| chunk).collect()
        });
        for chunk in results {
            sink.write(
                Table::Bank(lyra_common::formats::Entity::Customers),
                &chunk.customers,
            )?;
            sink.write(
                Table::Bank(lyra_common::formats::Entity::Transactions),
                &chunk.transactions,
            )?;
            sink.write(Table::TruthCustomers, &chunk.truth_customers)?;
            sink.write(Table::TruthSwitches, &chunk.truth_switches)?;
            summary.transactions += chunk.n_transactions;
        }
        first = last;
        progress((first * CHUNK).min(config.customers), summary.transactions);
    }
    Ok(summary)
}
