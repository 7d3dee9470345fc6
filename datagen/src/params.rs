//! The numbers behind the synthetic bank: geography, category behaviour, customer
//! archetypes and the calendar. Arrays indexed by category are in
//! [`CategoryGroup::ALL`] order.

use lyra_common::mcc::CategoryGroup;

/// Number of category groups.
pub const GROUPS: usize = 20;

/// A city: name, region, population (thousands), centre, UTC offset (Russia keeps no DST).
pub struct City {
    /// City name.
    pub name: &'static str,
    /// Federal subject.
    pub region: &'static str,
    /// Population in thousands.
    pub population_k: f64,
    /// Latitude of the centre.
    pub lat: f64,
    /// Longitude of the centre.
    pub lon: f64,
    /// Local offset from UTC in hours.
    pub utc_offset_h: i8,
    /// Income level relative to the national median.
    pub income_factor: f64,
}

const fn city(
    name: &'static str,
    region: &'static str,
    population_k: f64,
    lat: f64,
    lon: f64,
    utc_offset_h: i8,
    income_factor: f64,
) -> City {
    City {
        name,
        region,
        population_k,
        lat,
        lon,
        utc_offset_h,
        income_factor,
    }
}

/// The sixteen largest Russian cities.
pub static CITIES: [City; 16] = [
    city("Moscow", "Moscow", 13100.0, 55.7558, 37.6173, 3, 1.65),
    city(
        "Saint Petersburg",
        "Saint Petersburg",
        5600.0,
        59.9343,
        30.3351,
        3,
        1.3,
    ),
    city(
        "Novosibirsk",
        "Novosibirsk Oblast",
        1630.0,
        55.0084,
        82.9357,
        7,
        0.95,
    ),
    city(
        "Yekaterinburg",
        "Sverdlovsk Oblast",
        1540.0,
        56.8389,
        60.6057,
        5,
        1.05,
    ),
    city(
        "Kazan",
        "Republic of Tatarstan",
        1310.0,
        55.7961,
        49.1064,
        3,
        1.0,
    ),
    city(
        "Nizhny Novgorod",
        "Nizhny Novgorod Oblast",
        1210.0,
        56.2965,
        43.9361,
        3,
        0.9,
    ),
    city(
        "Krasnoyarsk",
        "Krasnoyarsk Krai",
        1200.0,
        56.0153,
        92.8932,
        7,
        1.0,
    ),
    city(
        "Chelyabinsk",
        "Chelyabinsk Oblast",
        1180.0,
        55.1644,
        61.4368,
        5,
        0.85,
    ),
    city("Samara", "Samara Oblast", 1160.0, 53.1959, 50.1002, 4, 0.88),
    city(
        "Ufa",
        "Republic of Bashkortostan",
        1140.0,
        54.7388,
        55.9721,
        5,
        0.9,
    ),
    city(
        "Rostov-on-Don",
        "Rostov Oblast",
        1140.0,
        47.2357,
        39.7015,
        3,
        0.85,
    ),
    city(
        "Krasnodar",
        "Krasnodar Krai",
        1100.0,
        45.0355,
        38.9753,
        3,
        0.92,
    ),
    city("Omsk", "Omsk Oblast", 1110.0, 54.9885, 73.3242, 6, 0.8),
    city(
        "Voronezh",
        "Voronezh Oblast",
        1050.0,
        51.6720,
        39.1843,
        3,
        0.82,
    ),
    city("Perm", "Perm Krai", 1030.0, 58.0105, 56.2502, 5, 0.88),
    city(
        "Volgograd",
        "Volgograd Oblast",
        1020.0,
        48.7080,
        44.5133,
        3,
        0.8,
    ),
];

/// Behaviour of one category group.
pub struct GroupParams {
    /// Most outlets of the group carry this MCC.
    pub primary_mcc: u16,
    /// Share of all merchant outlets.
    pub merchant_share: f64,
    /// Share of a typical ("mass") customer's purchases.
    pub purchase_share: f64,
    /// Median ticket in roubles for a median-income customer.
    pub median_ticket_rub: f64,
    /// Log-standard deviation of the ticket.
    pub ticket_sigma: f64,
    /// Share of purchases made online.
    pub ecom_share: f64,
    /// Elasticity of purchase frequency to income.
    pub income_elasticity: f64,
    /// Distance decay of merchant choice, in degrees (small: people buy near home).
    pub reach_deg: f64,
    /// Share of customers who buy in the group at all (pets need a pet, fuel a car).
    pub adoption: f64,
    /// Relative weight per weekday, Monday first.
    pub weekday: [f64; 7],
    /// Hour-of-day shape.
    pub hours: &'static [f64; 24],
    /// Relative weight per calendar month, January first.
    pub months: [f64; 12],
    /// How strongly payday lifts purchases (0 none, 1 full).
    pub payday: f64,
}

const RETAIL: [f64; 24] = [
    0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 1.5, 2.0, 2.4, 2.6, 2.8, 2.8, 2.7, 2.8, 3.0, 3.6,
    4.2, 4.4, 3.8, 2.8, 1.4, 0.6,
];
const MEALS: [f64; 24] = [
    0.4, 0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 1.0, 1.2, 2.0, 4.5, 4.8, 3.0, 1.5, 1.3, 1.8,
    3.0, 4.5, 4.6, 3.6, 2.0, 1.0,
];
const QUICK: [f64; 24] = [
    0.8, 0.5, 0.3, 0.2, 0.1, 0.2, 0.5, 1.5, 2.5, 2.0, 2.0, 3.0, 5.0, 5.0, 3.5, 2.5, 2.5, 3.0, 3.6,
    3.4, 2.8, 2.2, 1.6, 1.2,
];
const COMMUTE: [f64; 24] = [
    0.8, 0.6, 0.4, 0.3, 0.3, 0.6, 1.5, 3.5, 4.2, 3.0, 2.0, 1.8, 1.8, 1.8, 1.9, 2.2, 2.8, 3.8, 4.2,
    3.5, 2.4, 1.9, 1.6, 1.2,
];
const LEISURE: [f64; 24] = [
    0.6, 0.3, 0.15, 0.1, 0.05, 0.05, 0.1, 0.2, 0.4, 0.7, 1.1, 1.6, 2.0, 2.2, 2.3, 2.4, 2.6, 3.0,
    3.8, 4.4, 4.4, 3.6, 2.4, 1.2,
];
const MALL: [f64; 24] = [
    0.1, 0.05, 0.03, 0.02, 0.02, 0.03, 0.1, 0.3, 0.6, 1.0, 2.0, 2.8, 3.2, 3.4, 3.6, 3.8, 4.0, 4.2,
    4.2, 3.8, 3.0, 1.8, 0.8, 0.3,
];
const OFFICE: [f64; 24] = [
    0.1, 0.05, 0.03, 0.02, 0.02, 0.05, 0.2, 0.8, 2.2, 3.6, 4.0, 4.0, 3.6, 3.4, 3.8, 3.8, 3.6, 3.2,
    2.4, 1.6, 1.0, 0.6, 0.3, 0.2,
];

const FLAT_MONTHS: [f64; 12] = [
    0.92, 0.95, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.02, 1.12,
];

#[allow(clippy::too_many_arguments)]
const fn g(
    primary_mcc: u16,
    merchant_share: f64,
    purchase_share: f64,
    median_ticket_rub: f64,
    ticket_sigma: f64,
    ecom_share: f64,
    income_elasticity: f64,
    reach_deg: f64,
    adoption: f64,
    weekday: [f64; 7],
    hours: &'static [f64; 24],
    months: [f64; 12],
    payday: f64,
) -> GroupParams {
    GroupParams {
        primary_mcc,
        merchant_share,
        purchase_share,
        median_ticket_rub,
        ticket_sigma,
        ecom_share,
        income_elasticity,
        reach_deg,
        adoption,
        weekday,
        hours,
        months,
        payday,
    }
}

/// Per-group behaviour, in [`CategoryGroup::ALL`] order.
pub static GROUP_PARAMS: [GroupParams; GROUPS] = [
    // Groceries
    g(
        5411,
        0.18,
        0.30,
        650.0,
        0.75,
        0.06,
        -0.2,
        0.015,
        1.0,
        [0.95, 0.93, 0.95, 0.97, 1.08, 1.14, 0.98],
        &RETAIL,
        [
            0.95, 0.97, 1.0, 0.99, 1.0, 0.99, 0.98, 0.99, 1.0, 1.0, 1.01, 1.12,
        ],
        0.5,
    ),
    // Restaurants
    g(
        5812,
        0.08,
        0.045,
        1900.0,
        0.6,
        0.08,
        0.6,
        0.05,
        0.85,
        [0.72, 0.78, 0.86, 0.97, 1.32, 1.38, 0.97],
        &MEALS,
        [
            0.85, 0.9, 1.0, 1.0, 1.05, 1.05, 1.05, 1.05, 1.0, 0.98, 0.98, 1.2,
        ],
        1.0,
    ),
    // Fast food
    g(
        5814,
        0.07,
        0.10,
        420.0,
        0.5,
        0.15,
        -0.3,
        0.02,
        0.9,
        [1.05, 1.05, 1.06, 1.06, 1.08, 0.88, 0.82],
        &QUICK,
        [
            0.95, 0.95, 1.0, 1.0, 1.02, 1.03, 1.03, 1.02, 1.0, 1.0, 1.0, 1.05,
        ],
        0.8,
    ),
    // Fuel
    g(
        5541,
        0.04,
        0.05,
        2300.0,
        0.45,
        0.0,
        0.2,
        0.05,
        0.5,
        [0.95, 0.97, 0.98, 1.02, 1.16, 1.0, 0.92],
        &COMMUTE,
        [
            0.9, 0.92, 0.97, 1.0, 1.08, 1.15, 1.18, 1.15, 1.0, 0.98, 0.95, 1.0,
        ],
        0.6,
    ),
    // Pharmacy
    g(
        5912,
        0.06,
        0.06,
        850.0,
        0.8,
        0.08,
        -0.1,
        0.015,
        1.0,
        [1.08, 1.04, 1.02, 1.0, 0.98, 0.95, 0.93],
        &RETAIL,
        [
            1.15, 1.2, 1.1, 1.0, 0.95, 0.85, 0.82, 0.85, 1.0, 1.1, 1.15, 1.1,
        ],
        0.3,
    ),
    // Clothing
    g(
        5651,
        0.09,
        0.04,
        3600.0,
        0.8,
        0.3,
        0.3,
        0.08,
        0.95,
        [0.84, 0.84, 0.88, 0.92, 1.05, 1.32, 1.15],
        &MALL,
        [
            0.82, 0.85, 1.05, 1.05, 1.0, 0.95, 0.92, 1.12, 1.15, 1.0, 1.1, 1.35,
        ],
        1.0,
    ),
    // Electronics
    g(
        5732,
        0.04,
        0.015,
        8500.0,
        1.1,
        0.45,
        0.4,
        0.1,
        0.8,
        [0.9, 0.9, 0.92, 0.95, 1.05, 1.2, 1.08],
        &MALL,
        [
            0.8, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 1.05, 1.0, 1.0, 1.25, 1.5,
        ],
        1.0,
    ),
    // Home
    g(
        5200,
        0.06,
        0.04,
        2400.0,
        1.0,
        0.25,
        0.2,
        0.08,
        0.9,
        [0.85, 0.85, 0.88, 0.9, 0.97, 1.3, 1.25],
        &MALL,
        [
            0.75, 0.85, 1.0, 1.2, 1.3, 1.15, 1.05, 1.0, 0.95, 0.9, 0.9, 1.1,
        ],
        0.8,
    ),
    // Beauty
    g(
        7230,
        0.06,
        0.03,
        2100.0,
        0.7,
        0.05,
        0.4,
        0.03,
        0.75,
        [0.85, 0.95, 1.0, 1.05, 1.15, 1.15, 0.85],
        &OFFICE,
        [
            0.85, 0.95, 1.15, 1.0, 1.0, 1.0, 0.95, 0.95, 1.0, 1.0, 1.0, 1.25,
        ],
        1.0,
    ),
    // Taxi and transport
    g(
        4121,
        0.03,
        0.12,
        430.0,
        0.6,
        0.7,
        0.5,
        0.2,
        0.9,
        [1.05, 1.02, 1.02, 1.05, 1.22, 0.9, 0.74],
        &COMMUTE,
        [
            1.05, 1.0, 1.0, 0.98, 0.98, 0.95, 0.92, 0.95, 1.02, 1.05, 1.05, 1.1,
        ],
        0.6,
    ),
    // Entertainment
    g(
        7832,
        0.04,
        0.04,
        950.0,
        0.7,
        0.35,
        0.4,
        0.08,
        0.8,
        [0.65, 0.7, 0.8, 0.9, 1.25, 1.5, 1.2],
        &LEISURE,
        [
            1.2, 0.95, 1.0, 0.95, 1.0, 0.95, 0.9, 0.95, 0.95, 1.0, 1.0, 1.2,
        ],
        1.0,
    ),
    // Travel
    g(
        4722,
        0.02,
        0.01,
        14000.0,
        0.9,
        0.85,
        0.9,
        0.5,
        0.55,
        [1.06, 1.05, 1.0, 1.0, 1.0, 0.95, 0.94],
        &OFFICE,
        [1.1, 0.7, 0.8, 0.85, 1.2, 1.5, 1.7, 1.5, 1.0, 0.8, 0.7, 1.1],
        0.8,
    ),
    // Hotels
    g(
        7011,
        0.02,
        0.004,
        9000.0,
        0.7,
        0.6,
        0.9,
        0.5,
        0.5,
        [0.9, 0.9, 0.9, 0.95, 1.15, 1.15, 1.05],
        &OFFICE,
        [
            1.1, 0.75, 0.8, 0.85, 1.2, 1.45, 1.65, 1.45, 1.0, 0.8, 0.75, 1.1,
        ],
        0.6,
    ),
    // Education
    g(
        8299,
        0.02,
        0.01,
        5500.0,
        0.8,
        0.4,
        0.3,
        0.06,
        0.3,
        [1.2, 1.2, 1.15, 1.15, 1.1, 0.7, 0.5],
        &OFFICE,
        [1.1, 1.0, 1.0, 0.95, 0.85, 0.6, 0.5, 1.4, 1.6, 1.0, 1.0, 0.9],
        0.2,
    ),
    // Health
    g(
        8011,
        0.04,
        0.02,
        2900.0,
        0.8,
        0.05,
        0.3,
        0.04,
        0.8,
        [1.15, 1.15, 1.1, 1.1, 1.05, 0.8, 0.65],
        &OFFICE,
        [
            1.05, 1.1, 1.05, 1.0, 0.95, 0.9, 0.85, 0.9, 1.05, 1.1, 1.1, 1.0,
        ],
        0.2,
    ),
    // Pets
    g(
        5995,
        0.02,
        0.015,
        1300.0,
        0.8,
        0.2,
        0.1,
        0.03,
        0.35,
        [0.95, 0.95, 0.95, 0.95, 1.0, 1.15, 1.05],
        &RETAIL,
        FLAT_MONTHS,
        0.4,
    ),
    // Sports
    g(
        5941,
        0.03,
        0.015,
        3100.0,
        0.9,
        0.2,
        0.4,
        0.08,
        0.4,
        [0.95, 0.95, 0.95, 0.95, 1.0, 1.15, 1.05],
        &LEISURE,
        [1.2, 1.0, 1.0, 1.05, 1.2, 1.2, 1.05, 1.0, 1.0, 0.9, 0.9, 1.1],
        0.8,
    ),
    // Books
    g(
        5942,
        0.015,
        0.01,
        750.0,
        0.6,
        0.4,
        0.3,
        0.08,
        0.45,
        [0.9, 0.9, 0.95, 0.95, 1.0, 1.2, 1.1],
        &MALL,
        [
            0.95, 0.95, 1.0, 0.95, 0.9, 0.9, 0.9, 1.0, 1.3, 1.0, 1.0, 1.3,
        ],
        0.8,
    ),
    // Telecom
    g(
        4814,
        0.02,
        0.03,
        600.0,
        0.4,
        0.85,
        0.1,
        0.1,
        0.95,
        [1.05, 1.0, 1.0, 1.0, 1.0, 0.98, 0.97],
        &OFFICE,
        FLAT_MONTHS,
        0.5,
    ),
    // Other
    g(
        5999,
        0.085,
        0.06,
        1100.0,
        1.0,
        0.3,
        0.2,
        0.06,
        1.0,
        [1.0, 1.0, 1.0, 1.0, 1.05, 1.0, 0.95],
        &RETAIL,
        FLAT_MONTHS,
        0.6,
    ),
];

/// The parameters of a group.
pub fn params(group: CategoryGroup) -> &'static GroupParams {
    &GROUP_PARAMS[group.index()]
}

/// Latent customer types: they shape frequency, category mix and channel. Never written
/// to the observable data; kept in the truth schema for evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archetype {
    /// 18–27, frequent small purchases: fast food, taxis, entertainment.
    YoungUrban,
    /// 28–50 with a household: groceries, home, children's education, pets.
    Family,
    /// High income: restaurants, travel, hotels, electronics.
    Affluent,
    /// Pensioners: pharmacy, health, groceries; fewer purchases.
    Senior,
    /// Everyone else.
    Mass,
}

impl Archetype {
    /// Stable name, as stored in the truth schema.
    pub fn name(self) -> &'static str {
        match self {
            Archetype::YoungUrban => "young_urban",
            Archetype::Family => "family",
            Archetype::Affluent => "affluent",
            Archetype::Senior => "senior",
            Archetype::Mass => "mass",
        }
    }

    /// Purchase-rate multiplier.
    pub fn rate_factor(self) -> f64 {
        match self {
            Archetype::YoungUrban => 1.3,
            Archetype::Family => 1.15,
            Archetype::Affluent => 1.1,
            Archetype::Senior => 0.6,
            Archetype::Mass => 0.9,
        }
    }

    /// Online-purchase multiplier.
    pub fn ecom_factor(self) -> f64 {
        match self {
            Archetype::YoungUrban => 1.3,
            Archetype::Affluent => 1.15,
            Archetype::Senior => 0.4,
            _ => 1.0,
        }
    }

    /// Category-mix multipliers, in [`CategoryGroup::ALL`] order.
    pub fn mix(self) -> [f64; GROUPS] {
        //   groc rest fast fuel phar clot elec home beau tran ente trav hote educ heal pets spor book tele othe
        match self {
            Archetype::YoungUrban => [
                0.7, 1.3, 2.0, 0.6, 0.5, 1.2, 1.2, 0.4, 1.0, 1.8, 2.0, 1.0, 0.8, 1.5, 0.5, 0.6,
                1.3, 1.3, 1.2, 1.0,
            ],
            Archetype::Family => [
                1.3, 0.9, 0.8, 1.3, 1.0, 1.4, 1.0, 1.8, 0.9, 0.8, 1.1, 1.0, 1.0, 2.5, 1.2, 1.5,
                1.0, 1.0, 1.0, 1.1,
            ],
            Archetype::Affluent => [
                0.8, 3.0, 0.6, 1.3, 0.8, 1.5, 1.8, 1.3, 1.4, 1.5, 1.3, 4.0, 4.0, 1.2, 1.5, 1.2,
                2.0, 1.2, 1.0, 1.2,
            ],
            Archetype::Senior => [
                1.4, 0.5, 0.3, 0.6, 3.0, 0.7, 0.5, 1.2, 0.6, 0.4, 0.4, 0.6, 0.6, 0.2, 2.5, 1.0,
                0.3, 1.5, 1.0, 1.0,
            ],
            Archetype::Mass => [1.0; GROUPS],
        }
    }
}

pub use lyra_common::calendar::PAYDAYS;

/// Multiplier of a group's purchases on a specific date, for holidays (1.0 on ordinary
/// days). `weekday` is 0 for Monday.
pub fn holiday_factor(group: CategoryGroup, month: u8, day: u8, weekday: u8) -> f64 {
    use CategoryGroup as G;
    let gifts = matches!(
        group,
        G::Clothing | G::Electronics | G::Beauty | G::Books | G::Sports | G::Home
    );
    match (month, day) {
        // The week before New Year: gifts and the festive table.
        (12, 24..=30) => match group {
            G::Groceries => 1.35,
            _ if gifts => 1.8,
            G::Restaurants => 1.4,
            G::Education | G::Health => 0.8,
            _ => 1.15,
        },
        (12, 31) => match group {
            G::Groceries => 2.3,
            _ if gifts => 1.5,
            G::Restaurants => 0.9,
            G::Education | G::Health => 0.2,
            _ => 0.9,
        },
        (1, 1) => match group {
            G::Groceries => 0.6,
            G::Entertainment | G::Transport => 0.9,
            _ => 0.3,
        },
        // The New Year holidays: shops quiet, leisure and travel busy.
        (1, 2..=8) => match group {
            G::Entertainment => 1.5,
            G::Restaurants => 1.25,
            G::Travel | G::Hotels => 1.3,
            G::Education => 0.2,
            G::Health => 0.4,
            _ => 0.8,
        },
        // Defender of the Fatherland Day.
        (2, 20..=23) => match group {
            G::Clothing | G::Electronics | G::Sports => 1.35,
            _ => 1.0,
        },
        // International Women's Day: flowers, beauty, gifts, dinners.
        (3, 5..=8) => match group {
            G::Beauty => 2.3,
            G::Home => 1.6,
            G::Clothing => 1.4,
            G::Restaurants if day == 8 => 1.6,
            _ => 1.0,
        },
        // The May holidays: dacha season and short trips.
        (5, 1..=3) | (5, 8..=10) => match group {
            G::Travel | G::Hotels => 1.7,
            G::Home => 1.45,
            G::Fuel => 1.35,
            G::Groceries => 1.1,
            G::Education | G::Health => 0.45,
            _ => 1.0,
        },
        // Russia Day and Unity Day.
        (6, 12) | (11, 4) => match group {
            G::Restaurants | G::Entertainment => 1.25,
            G::Education | G::Health => 0.35,
            _ => 1.0,
        },
        // Black Friday: the last Friday of November.
        (11, 23..=30) if weekday == 4 => match group {
            G::Electronics | G::Clothing => 1.9,
            G::Home | G::Beauty => 1.4,
            _ => 1.0,
        },
        _ => 1.0,
    }
}

/// Words for synthetic merchant names.
pub const NAME_ADJECTIVES: [&str; 24] = [
    "Golden", "Northern", "Green", "Old Town", "Family", "Lucky", "Bright", "Central", "Cosy",
    "Fresh", "Silver", "Sunny", "Royal", "Urban", "Little", "Happy", "Prime", "River", "Park",
    "Garden", "Metro", "Classic", "Good", "Blue",
];

/// A noun per group, for synthetic merchant names.
pub fn name_nouns(group: CategoryGroup) -> &'static [&'static str] {
    use CategoryGroup as G;
    match group {
        G::Groceries => &["Market", "Grocer", "Deli", "Produkty", "Food Hall"],
        G::Restaurants => &["Bistro", "Trattoria", "Grill", "Brasserie", "Kitchen"],
        G::FastFood => &["Burger", "Shawarma", "Pizza", "Blini", "Noodles"],
        G::Fuel => &["Fuel", "Petrol", "Gas Station"],
        G::Pharmacy => &["Pharmacy", "Apteka", "Chemist"],
        G::Clothing => &["Boutique", "Outfitters", "Shoes", "Fashion"],
        G::Electronics => &["Electronics", "Gadgets", "Digital"],
        G::Home => &["Home", "Hardware", "Flowers", "Interiors"],
        G::Beauty => &["Salon", "Barbers", "Beauty Bar", "Nails"],
        G::Transport => &["Taxi", "Transfer", "Parking"],
        G::Entertainment => &["Cinema", "Games", "Club", "Bowling"],
        G::Travel => &["Tours", "Travel", "Voyages"],
        G::Hotels => &["Hotel", "Inn", "Suites"],
        G::Education => &["School", "Academy", "Courses"],
        G::Health => &["Clinic", "Dental", "Medical Centre"],
        G::Pets => &["Pet Shop", "Vet", "Zoo Store"],
        G::Sports => &["Sports", "Fitness", "Gym"],
        G::Books => &["Books", "Bookshop", "Reader"],
        G::Telecom => &["Mobile", "Telecom", "Connect"],
        G::Other => &["Store", "Shop", "Bazaar", "Goods"],
    }
}

/// Syllables for chain brand names.
pub const BRAND_SYLLABLES: [&str; 20] = [
    "ve", "ra", "lo", "ma", "ki", "no", "ta", "sa", "vi", "ro", "da", "mi", "lu", "ne", "ko", "za",
    "pe", "ri", "bo", "ly",
];

#[cfg(test)]
mod tests {
    use super::*;
    use lyra_common::mcc;

    #[test]
    fn primary_codes_exist_in_their_group() {
        for group in CategoryGroup::ALL {
            let code = params(group).primary_mcc;
            assert_eq!(mcc::lookup(code).map(|m| m.group), Some(group), "{code}");
        }
    }

    #[test]
    fn shares_sum_to_about_one() {
        let m: f64 = GROUP_PARAMS.iter().map(|p| p.merchant_share).sum();
        let p: f64 = GROUP_PARAMS.iter().map(|p| p.purchase_share).sum();
        assert!((m - 1.0).abs() < 0.05, "{m}");
        assert!((p - 1.0).abs() < 0.05, "{p}");
    }
}
