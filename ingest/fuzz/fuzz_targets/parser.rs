//! Fuzzes the streaming row parser: any bytes, split anywhere, in either format, must
//! neither panic nor depend on where the chunks were cut.
//!
//! `cargo +nightly fuzz run parser` in `ingest/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lyra_common::formats::Entity;
use lyra_ingest::parse::{Format, Parser};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else { return };
    let format = if selector & 1 == 0 { Format::Csv } else { Format::Ndjson };
    let entity = [Entity::Transactions, Entity::Customers, Entity::Merchants][(selector as usize >> 1) % 3];
    let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let run = |chunk: usize| {
        let mut parser = Parser::new(entity, format, now);
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            if let Err(e) = parser.feed(piece, &mut out) {
                return (Err(e), out);
            }
        }
        (parser.finish(&mut out), out)
    };
    let whole = run(input.len().max(1));
    let split = run((selector as usize % 7) + 1);
    assert_eq!(whole, split);
});
