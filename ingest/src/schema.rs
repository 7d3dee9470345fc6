//! What a valid row is: the fields of each bank file (`lyra_common::formats`), their kinds,
//! and the check of one value. A value that passes is returned typed, ready for COPY.

use lyra_common::formats::Entity;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::copy;

/// The kind of a field, which decides how it is checked and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A positive 64-bit id.
    Id,
    /// An optional positive 64-bit id (empty or null: none).
    OptId,
    /// Non-empty text of at most this many characters.
    Text(usize),
    /// Minor units, non-zero, at most ±10^12 (ten billion roubles).
    Amount,
    /// RFC 3339 with offset, not in the future, not before 2000.
    Timestamp,
    /// YYYY-MM-DD, not in the future.
    Date,
    /// An optional YYYY-MM-DD.
    OptDate,
    /// An ISO 4217 code Lyra knows.
    Currency,
    /// One of these values.
    OneOf(&'static [&'static str]),
    /// A known ISO 18245 merchant category code.
    Mcc,
    /// A birth year between 1900 and this year.
    Year,
    /// Degrees in [-90, 90].
    Latitude,
    /// Degrees in [-180, 180].
    Longitude,
}

impl Kind {
    /// The Postgres type the staged text is cast to.
    pub fn sql_type(self) -> &'static str {
        match self {
            Kind::Id | Kind::OptId | Kind::Amount => "bigint",
            Kind::Text(_) | Kind::Currency | Kind::OneOf(_) => "text",
            Kind::Timestamp => "timestamptz",
            Kind::Date | Kind::OptDate => "date",
            Kind::Mcc | Kind::Year => "smallint",
            Kind::Latitude | Kind::Longitude => "double precision",
        }
    }

    /// Whether an empty value is allowed (stored as NULL).
    pub fn optional(self) -> bool {
        matches!(self, Kind::OptId | Kind::OptDate)
    }
}

/// A value that passed its check, typed as it is staged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// `bigint`.
    Int(i64),
    /// `smallint`.
    Small(i16),
    /// `double precision`.
    Float(f64),
    /// `text`, trimmed.
    Text(&'a str),
    /// `timestamptz`.
    Time(OffsetDateTime),
    /// `date`.
    Date(Date),
}

impl Value<'_> {
    /// Appends the value as a field of a binary COPY row.
    pub fn write(&self, out: &mut Vec<u8>) {
        match *self {
            Value::Int(n) => copy::bigint(out, n),
            Value::Small(n) => copy::smallint(out, n),
            Value::Float(x) => copy::double(out, x),
            Value::Text(t) => copy::text(out, t),
            Value::Time(t) => copy::timestamptz(out, t),
            Value::Date(d) => copy::date(out, d),
        }
    }
}

/// Largest absolute amount accepted, in minor units.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// Currencies accepted (ISO 4217): the rouble and the currencies Russian cardholders meet.
pub const CURRENCIES: [&str; 24] = [
    "RUB", "USD", "EUR", "CNY", "KZT", "BYN", "AMD", "GEL", "AZN", "UZS", "KGS", "TJS", "TRY",
    "AED", "THB", "INR", "GBP", "CHF", "JPY", "HKD", "VND", "EGP", "RSD", "MNT",
];

/// The fields of an entity with their kinds, in file order.
pub fn fields(entity: Entity) -> Vec<(&'static str, Kind)> {
    let kinds: &[Kind] = match entity {
        Entity::Transactions => &[
            Kind::Text(lyra_common::formats::MAX_TXN_ID_LEN),
            Kind::Timestamp,
            Kind::Id,
            Kind::Id,
            Kind::Amount,
            Kind::Currency,
            Kind::OneOf(&["pos", "ecom"]),
        ],
        Entity::Customers => &[
            Kind::Id,
            Kind::Year,
            Kind::OneOf(&["F", "M"]),
            Kind::Text(100),
            Kind::Date,
        ],
        Entity::Merchants => &[
            Kind::Id,
            Kind::OptId,
            Kind::Text(200),
            Kind::Mcc,
            Kind::Text(100),
            Kind::Text(100),
            Kind::Latitude,
            Kind::Longitude,
            Kind::Date,
            Kind::OptDate,
        ],
        Entity::Organisations => &[Kind::Id, Kind::Text(200)],
    };
    entity
        .fields()
        .iter()
        .copied()
        .zip(kinds.iter().copied())
        .collect()
}

/// Checks one value; returns it typed (None: NULL) or the reason it is refused.
pub fn check(
    kind: Kind,
    value: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<Value<'_>>, String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty());
    let Some(v) = value else {
        return if kind.optional() {
            Ok(None)
        } else {
            Err("missing value".into())
        };
    };
    let int = |v: &str| {
        v.parse::<i64>()
            .map_err(|_| format!("{v:?} is not an integer"))
    };
    let date = |v: &str| {
        Date::parse(v, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| format!("{v:?} is not a date (YYYY-MM-DD)"))
            .and_then(|d| {
                if d > now.date() {
                    Err(format!("{v} is in the future"))
                } else {
                    Ok(Value::Date(d))
                }
            })
    };
    match kind {
        Kind::Id | Kind::OptId => {
            let n = int(v)?;
            if n <= 0 {
                return Err(format!("{n} is not a positive id"));
            }
            Ok(Some(Value::Int(n)))
        }
        Kind::Text(max) => {
            if v.chars().count() > max {
                return Err(format!(
                    "longer than {max} characters ({})",
                    v.chars().count()
                ));
            }
            if v.chars().any(char::is_control) {
                return Err("contains control characters".into());
            }
            Ok(Some(Value::Text(v)))
        }
        Kind::Amount => {
            let n = int(v)?;
            if n == 0 {
                return Err("amount is zero".into());
            }
            if n.unsigned_abs() > MAX_AMOUNT as u64 {
                return Err(format!(
                    "{n} is out of range (at most ±{MAX_AMOUNT} minor units)"
                ));
            }
            Ok(Some(Value::Int(n)))
        }
        Kind::Timestamp => {
            let t = OffsetDateTime::parse(v, &Rfc3339)
                .map_err(|_| format!("{v:?} is not an RFC 3339 timestamp with offset"))?;
            if t > now + time::Duration::minutes(5) {
                return Err(format!("{v} is in the future"));
            }
            if t.year() < 2000 {
                return Err(format!("{v} is before 2000"));
            }
            Ok(Some(Value::Time(t)))
        }
        Kind::Date | Kind::OptDate => date(v).map(Some),
        Kind::Currency => {
            if CURRENCIES.contains(&v) {
                Ok(Some(Value::Text(v)))
            } else {
                Err(format!("unknown currency {v:?}"))
            }
        }
        Kind::OneOf(options) => {
            if options.contains(&v) {
                Ok(Some(Value::Text(v)))
            } else {
                Err(format!("{v:?} is not one of {}", options.join(", ")))
            }
        }
        Kind::Mcc => {
            let code: u16 = v.parse().map_err(|_| format!("{v:?} is not an MCC"))?;
            if v.len() != 4 || lyra_common::mcc::lookup(code).is_none() {
                return Err(format!("unknown MCC {v:?}"));
            }
            Ok(Some(Value::Small(code as i16)))
        }
        Kind::Year => {
            let y = int(v)?;
            if !(1900..=now.year() as i64).contains(&y) {
                return Err(format!("{y} is not a plausible birth year"));
            }
            Ok(Some(Value::Small(y as i16)))
        }
        Kind::Latitude | Kind::Longitude => {
            let x: f64 = v.parse().map_err(|_| format!("{v:?} is not a number"))?;
            let limit = if kind == Kind::Latitude { 90.0 } else { 180.0 };
            if !x.is_finite() || x.abs() > limit {
                return Err(format!("{v} is outside ±{limit}"));
            }
            Ok(Some(Value::Float(x)))
        }
    }
}

/// Checks that fields of one row agree with each other (after each passed on its own).
pub fn check_row(entity: Entity, values: &[Option<Value>]) -> Result<(), (&'static str, String)> {
    if entity == Entity::Merchants
        && let (Some(Value::Date(opened)), Some(Value::Date(closed))) = (values[8], values[9])
        && closed < opened
    {
        return Err((
            "closed_on",
            format!("{closed} is before opened_on {opened}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-01 12:00 UTC);

    #[test]
    fn values_are_checked_and_normalised() {
        assert_eq!(check(Kind::Id, Some(" 42 "), NOW), Ok(Some(Value::Int(42))));
        assert!(check(Kind::Id, Some("-1"), NOW).is_err());
        assert!(
            check(Kind::Id, Some(""), NOW)
                .unwrap_err()
                .contains("missing")
        );
        assert_eq!(check(Kind::OptId, Some(""), NOW), Ok(None));
        assert!(
            check(Kind::Amount, Some("0"), NOW)
                .unwrap_err()
                .contains("zero")
        );
        assert!(
            check(Kind::Amount, Some("12.50"), NOW)
                .unwrap_err()
                .contains("integer")
        );
        assert!(
            check(Kind::Amount, Some("10000000000000"), NOW)
                .unwrap_err()
                .contains("out of range")
        );
        assert_eq!(
            check(Kind::Amount, Some("-1500"), NOW),
            Ok(Some(Value::Int(-1500)))
        );
        assert_eq!(
            check(Kind::Timestamp, Some("2026-10-01T10:00:00+03:00"), NOW),
            Ok(Some(Value::Time(datetime!(2026-10-01 07:00 UTC))))
        );
        assert_eq!(
            check(Kind::Text(8), Some(" t1 "), NOW),
            Ok(Some(Value::Text("t1")))
        );
        assert!(
            check(Kind::Timestamp, Some("2026-10-01 10:00:00"), NOW)
                .unwrap_err()
                .contains("RFC 3339")
        );
        assert!(
            check(Kind::Timestamp, Some("2027-01-01T10:00:00+03:00"), NOW)
                .unwrap_err()
                .contains("future")
        );
        assert!(
            check(Kind::Currency, Some("XYZ"), NOW)
                .unwrap_err()
                .contains("unknown currency")
        );
        assert!(
            check(Kind::Text(4), Some("abcde"), NOW)
                .unwrap_err()
                .contains("longer than 4")
        );
        assert_eq!(
            check(Kind::Mcc, Some("5411"), NOW),
            Ok(Some(Value::Small(5411)))
        );
        assert!(
            check(Kind::Mcc, Some("1234"), NOW)
                .unwrap_err()
                .contains("unknown MCC")
        );
        assert!(check(Kind::Latitude, Some("91"), NOW).is_err());
        assert!(
            check(Kind::OneOf(&["pos", "ecom"]), Some("atm"), NOW)
                .unwrap_err()
                .contains("pos, ecom")
        );
    }
}
