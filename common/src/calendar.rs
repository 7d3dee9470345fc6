//! The Russian retail calendar shared by the generator and the features: public holidays
//! and salary days.

use time::{Date, Month};

/// Days of the month on which salaries arrive (advance and settlement).
pub const PAYDAYS: [u8; 2] = [5, 20];

/// Whether `date` is a fixed Russian public holiday (non-working day by the Labour Code,
/// art. 112): 1–8 January, 23 February, 8 March, 1 and 9 May, 12 June, 4 November.
/// Transferred days off vary by year and are not included.
pub fn is_public_holiday(date: Date) -> bool {
    matches!(
        (date.month(), date.day()),
        (Month::January, 1..=8)
            | (Month::February, 23)
            | (Month::March, 8)
            | (Month::May, 1 | 9)
            | (Month::June, 12)
            | (Month::November, 4)
    )
}

/// Whether salaries usually arrive on `date`.
pub fn is_payday(date: Date) -> bool {
    PAYDAYS.contains(&date.day())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn holidays_and_paydays() {
        assert!(is_public_holiday(date!(2026 - 01 - 07)));
        assert!(is_public_holiday(date!(2026 - 11 - 04)));
        assert!(!is_public_holiday(date!(2026 - 01 - 09)));
        assert!(!is_public_holiday(date!(2026 - 03 - 07)));
        assert!(is_payday(date!(2026 - 02 - 20)));
        assert!(!is_payday(date!(2026 - 02 - 21)));
    }
}
