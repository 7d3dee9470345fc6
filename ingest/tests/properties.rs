//! Properties of the row parser and validator over generated inputs.

use lyra_common::formats::Entity;
use lyra_ingest::parse::{Format, Parser, staged_text};
use proptest::prelude::*;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-01 12:00 UTC);
const HEADER: &str = "txn_id,booked_at,customer_id,merchant_id,amount_minor,currency,channel";

#[derive(Debug, Clone)]
struct Row {
    txn_id: String,
    booked_at: String,
    customer: i64,
    merchant: i64,
    amount: i64,
    currency: &'static str,
    channel: &'static str,
}

impl Row {
    fn fields(&self) -> Vec<String> {
        vec![
            self.txn_id.clone(),
            self.booked_at.clone(),
            self.customer.to_string(),
            self.merchant.to_string(),
            self.amount.to_string(),
            self.currency.to_string(),
            self.channel.to_string(),
        ]
    }
}

fn valid_row() -> impl Strategy<Value = Row> {
    (
        "[A-Za-z0-9_-]{1,64}",
        (
            2001i32..2026,
            1u8..=12,
            1u8..=28,
            0u8..24,
            0u8..60,
            -11i8..=12,
        ),
        1i64..i64::MAX,
        1i64..i64::MAX,
        prop_oneof![1i64..1_000_000_000_000, -1_000_000_000_000i64..-1],
        prop::sample::select(vec!["RUB", "USD", "EUR", "KZT"]),
        prop::sample::select(vec!["pos", "ecom"]),
    )
        .prop_map(
            |(txn_id, (y, mo, d, h, mi, off), customer, merchant, amount, currency, channel)| Row {
                txn_id,
                booked_at: format!(
                    "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:00{}{:02}:00",
                    if off < 0 { '-' } else { '+' },
                    off.abs()
                ),
                customer,
                merchant,
                amount,
                currency,
                channel,
            },
        )
}

fn run(
    format: Format,
    input: &[u8],
    cuts: &[usize],
) -> (
    Result<lyra_ingest::parse::Counts, lyra_ingest::parse::FileError>,
    Vec<u8>,
) {
    let mut parser = Parser::new(Entity::Transactions, format, NOW);
    let mut out = Vec::new();
    let mut start = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    for p in points.into_iter().chain([input.len()]) {
        if p < start {
            continue;
        }
        if let Err(e) = parser.feed(&input[start..p], &mut out) {
            return (Err(e), out);
        }
        start = p;
    }
    (parser.finish(&mut out), out)
}

fn csv(rows: &[Row]) -> String {
    let mut text = format!("{HEADER}\n");
    for r in rows {
        text.push_str(&r.fields().join(","));
        text.push('\n');
    }
    text
}

proptest! {
    #[test]
    fn valid_rows_are_all_accepted_with_their_values(rows in prop::collection::vec(valid_row(), 1..40)) {
        let (counts, out) = run(Format::Csv, csv(&rows).as_bytes(), &[]);
        let counts = counts.unwrap();
        prop_assert_eq!(counts.rows, rows.len() as u64);
        prop_assert_eq!(counts.refused, 0);
        let staged = staged_text(Entity::Transactions, &out).unwrap();
        prop_assert_eq!(staged.len(), rows.len());
        for (i, (staged, row)) in staged.into_iter().zip(&rows).enumerate() {
            let mut expected = row.fields();
            // Timestamps are staged as instants: the same instant, shown in UTC.
            expected[1] = OffsetDateTime::parse(&expected[1], &Rfc3339).unwrap()
                .to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap();
            let line = (i + 2).to_string();
            prop_assert_eq!(staged[0].as_deref(), Some(line.as_str()));
            let staged_fields: Vec<String> = staged[1..8].iter().map(|s| s.clone().unwrap()).collect();
            prop_assert_eq!(staged_fields, expected);
            prop_assert_eq!(&staged[8..], &[None, None, None]);
        }
    }

    #[test]
    fn a_broken_field_is_refused_and_named(
        rows in prop::collection::vec(valid_row(), 1..10),
        which in 0usize..7,
        victim in 0usize..10,
    ) {
        let victim = victim % rows.len();
        let bad = ["", "2026-13-01T00:00:00+03:00", "abc", "-5", "0", "XXX", "atm"];
        let broken = match which {
            0 => "x".repeat(65),
            1 => bad[1].to_string(),
            2 | 3 => bad[3].to_string(),
            4 => bad[4].to_string(),
            5 => bad[5].to_string(),
            _ => bad[6].to_string(),
        };
        let mut text = format!("{HEADER}\n");
        for (i, r) in rows.iter().enumerate() {
            let mut fields = r.fields();
            if i == victim {
                fields[which] = broken.clone();
            }
            text.push_str(&fields.join(","));
            text.push('\n');
        }
        let (counts, out) = run(Format::Csv, text.as_bytes(), &[]);
        prop_assert_eq!(counts.unwrap().refused, 1);
        let staged = staged_text(Entity::Transactions, &out).unwrap();
        let refused = staged.iter().find(|r| r[8].is_some()).unwrap();
        prop_assert_eq!(refused[0].clone(), Some((victim + 2).to_string()));
        let names = Entity::Transactions.fields();
        prop_assert_eq!(refused[8].as_deref(), Some(names[which]));
    }

    #[test]
    fn chunk_boundaries_do_not_matter(
        rows in prop::collection::vec(valid_row(), 1..20),
        cuts in prop::collection::vec(any::<usize>(), 0..30),
        crlf in any::<bool>(),
    ) {
        let text = csv(&rows);
        let text = if crlf { text.replace('\n', "\r\n") } else { text };
        let whole = run(Format::Csv, text.as_bytes(), &[]);
        let pieces = run(Format::Csv, text.as_bytes(), &cuts);
        prop_assert_eq!(whole, pieces);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000), cuts in prop::collection::vec(any::<usize>(), 0..10)) {
        for format in [Format::Csv, Format::Ndjson] {
            let _ = run(format, &bytes, &cuts);
            let mut with_header = format!("{HEADER}\n").into_bytes();
            with_header.extend_from_slice(&bytes);
            let _ = run(format, &with_header, &cuts);
        }
    }
}
