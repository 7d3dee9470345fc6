//! PostgreSQL's binary COPY format, which is what the parser writes for the staging table:
//! the server then only copies bytes, where the text format made it parse every number and
//! timestamp a second time (the staging COPY took about 40% longer in text).
//!
//! A stream is a header, rows (a field count, then each field as a length and its bytes,
//! length −1 for NULL) and a trailer. [`read`] takes one apart again, for tests and for
//! looking at what was staged.

use time::{Date, OffsetDateTime};

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01 00:00 UTC.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// The Julian day number of 2000-01-01, PostgreSQL's epoch for dates.
const PG_EPOCH_JULIAN_DAY: i32 = 2_451_545;

/// Starts a stream.
pub fn header(out: &mut Vec<u8>) {
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
}

/// Starts a row of `fields` fields.
pub fn row(out: &mut Vec<u8>, fields: usize) {
    out.extend_from_slice(&(fields as i16).to_be_bytes());
}

/// Ends a stream.
pub fn trailer(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i16).to_be_bytes());
}

/// A NULL field.
pub fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i32).to_be_bytes());
}

/// A field's bytes as they are.
pub fn bytes(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(&(value.len() as i32).to_be_bytes());
    out.extend_from_slice(value);
}

/// A `text` field.
pub fn text(out: &mut Vec<u8>, value: &str) {
    bytes(out, value.as_bytes());
}

/// A `bigint` field.
pub fn bigint(out: &mut Vec<u8>, value: i64) {
    bytes(out, &value.to_be_bytes());
}

/// A `smallint` field.
pub fn smallint(out: &mut Vec<u8>, value: i16) {
    bytes(out, &value.to_be_bytes());
}

/// A `double precision` field.
pub fn double(out: &mut Vec<u8>, value: f64) {
    bytes(out, &value.to_bits().to_be_bytes());
}

/// A `timestamptz` field: microseconds since 2000-01-01 UTC, rounded as PostgreSQL rounds
/// parsed text (to the nearest microsecond, halves to even).
pub fn timestamptz(out: &mut Vec<u8>, value: OffsetDateTime) {
    let nanos = value.unix_timestamp_nanos();
    let (mut micros, rest) = (nanos.div_euclid(1000), nanos.rem_euclid(1000));
    if rest > 500 || (rest == 500 && micros % 2 != 0) {
        micros += 1;
    }
    bigint(out, micros as i64 - PG_EPOCH_MICROS);
}

/// A `date` field: days since 2000-01-01.
pub fn date(out: &mut Vec<u8>, value: Date) {
    bytes(
        out,
        &(value.to_julian_day() - PG_EPOCH_JULIAN_DAY).to_be_bytes(),
    );
}

/// The rows of a complete stream, each a list of fields (None: NULL). Refuses anything
/// that is not exactly one stream.
pub fn read(mut input: &[u8]) -> Result<Vec<Vec<Option<&[u8]>>>, String> {
    fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if input.len() < n {
            return Err(format!("{} bytes left, {n} needed", input.len()));
        }
        let (head, tail) = input.split_at(n);
        *input = tail;
        Ok(head)
    }
    let int = |b: &[u8]| i32::from_be_bytes(b.try_into().expect("4 bytes"));
    if take(&mut input, SIGNATURE.len())? != SIGNATURE {
        return Err("not a binary COPY stream".into());
    }
    take(&mut input, 4)?;
    let extension = int(take(&mut input, 4)?);
    take(&mut input, extension.max(0) as usize)?;
    let mut rows = Vec::new();
    loop {
        let count = i16::from_be_bytes(take(&mut input, 2)?.try_into().expect("2 bytes"));
        if count == -1 {
            return if input.is_empty() {
                Ok(rows)
            } else {
                Err("bytes after the trailer".into())
            };
        }
        let mut row = Vec::with_capacity(count.max(0) as usize);
        for _ in 0..count {
            let len = int(take(&mut input, 4)?);
            row.push(if len < 0 {
                None
            } else {
                Some(take(&mut input, len as usize)?)
            });
        }
        rows.push(row);
    }
}

/// A staged `bigint` read back.
pub fn read_bigint(field: &[u8]) -> i64 {
    i64::from_be_bytes(field.try_into().expect("8 bytes"))
}

/// A staged `timestamptz` read back.
pub fn read_timestamptz(field: &[u8]) -> OffsetDateTime {
    let micros = read_bigint(field) as i128 + PG_EPOCH_MICROS as i128;
    OffsetDateTime::from_unix_timestamp_nanos(micros * 1000).expect("in range")
}

/// A staged `text` read back.
pub fn read_text(field: &[u8]) -> &str {
    std::str::from_utf8(field).expect("staged text is UTF-8")
}

/// A staged `smallint` read back.
pub fn read_smallint(field: &[u8]) -> i16 {
    i16::from_be_bytes(field.try_into().expect("2 bytes"))
}

/// A staged `double precision` read back.
pub fn read_double(field: &[u8]) -> f64 {
    f64::from_bits(u64::from_be_bytes(field.try_into().expect("8 bytes")))
}

/// A staged `date` read back.
pub fn read_date(field: &[u8]) -> Date {
    let days = i32::from_be_bytes(field.try_into().expect("4 bytes"));
    Date::from_julian_day(days + PG_EPOCH_JULIAN_DAY).expect("in range")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn values_are_encoded_as_postgres_reads_them() {
        let mut out = Vec::new();
        timestamptz(&mut out, datetime!(2000-01-01 03:00:01 +03:00));
        assert_eq!(out, [0, 0, 0, 8, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x40]);
        out.clear();
        // Half a microsecond rounds to even, like PostgreSQL's rint().
        timestamptz(&mut out, datetime!(2000-01-01 00:00:00.0000015 UTC));
        assert_eq!(read_bigint(&out[4..]), 2);
        out.clear();
        timestamptz(&mut out, datetime!(2000-01-01 00:00:00.0000025 UTC));
        assert_eq!(read_bigint(&out[4..]), 2);
        out.clear();
        date(&mut out, date!(2000 - 01 - 02));
        assert_eq!(out, [0, 0, 0, 4, 0, 0, 0, 1]);
        out.clear();
        date(&mut out, date!(1999 - 12 - 31));
        assert_eq!(out, [0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn a_stream_reads_back() {
        let mut out = Vec::new();
        header(&mut out);
        row(&mut out, 3);
        bigint(&mut out, -7);
        null(&mut out);
        text(&mut out, "tab\there");
        trailer(&mut out);
        let rows = read(&out).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(read_bigint(rows[0][0].unwrap()), -7);
        assert_eq!(rows[0][1], None);
        assert_eq!(read_text(rows[0][2].unwrap()), "tab\there");
        assert!(read(&out[..out.len() - 1]).is_err());
    }
}
