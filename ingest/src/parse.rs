//! The streaming row parser: bytes in, binary COPY rows for the staging table out (see
//! [`crate::copy`]), one row at a time, whatever the chunk boundaries. Never holds more
//! than one line in memory.
//!
//! CSV (RFC 4180 quoting, a header line that must match) and NDJSON (one object per line,
//! exactly the known fields). A byte-order mark and CRLF line ends are accepted; blank lines
//! are skipped. Each refused row names its line (counting from 1, the header included),
//! the field and the reason.

use std::borrow::Cow;

use lyra_common::formats::Entity;
use time::OffsetDateTime;

use crate::copy;
use crate::schema::{self, Kind};

/// Longest line accepted.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Longest raw line kept for a refused row.
const MAX_RAW_CHARS: usize = 2000;

/// File format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated with a header.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

impl Format {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }
}

/// A problem with the file as a whole: nothing is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// No bytes, or only blank lines.
    #[error("the file is empty")]
    Empty,
    /// A CSV header and nothing else.
    #[error("the file has a header but no rows")]
    HeaderOnly,
    /// The CSV header is not the expected one.
    #[error("line 1: the header must be `{expected}`, found `{found}`")]
    BadHeader {
        /// What it must be.
        expected: String,
        /// What it was.
        found: String,
    },
    /// A line longer than [`MAX_LINE_BYTES`].
    #[error("line {line}: longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong {
        /// Its number.
        line: u64,
    },
}

/// Counts so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Data rows seen.
    pub rows: u64,
    /// Rows refused by the parser.
    pub refused: u64,
}

/// The ids of the accepted transaction rows, in arrival order, kept while they fit in
/// [`Keys::BUDGET`]: with them the id registry is filled by one COPY of ids sorted here,
/// instead of a sort and an INSERT in the database (a third of the registry's cost).
#[derive(Debug, Default)]
pub struct Keys {
    bytes: Vec<u8>,
    spans: Vec<(u32, u32)>,
}

impl Keys {
    /// Memory the ids may take (text and offsets); a larger file goes the database's way.
    pub const BUDGET: usize = 64 << 20;

    /// Adds an id; false once the budget is exceeded.
    fn push(&mut self, key: &str) -> bool {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(key.as_bytes());
        self.spans.push((start as u32, self.bytes.len() as u32));
        self.bytes.len() + self.spans.len() * std::mem::size_of::<(u32, u32)>() <= Self::BUDGET
    }

    /// How many ids.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The ids in byte order (PostgreSQL's C collation, the database's), as a binary COPY
    /// stream of one text column.
    pub fn sorted_copy(mut self) -> Vec<u8> {
        let bytes = &self.bytes;
        let key = |&(a, b): &(u32, u32)| &bytes[a as usize..b as usize];
        self.spans.sort_unstable_by(|x, y| key(x).cmp(key(y)));
        let mut out = Vec::with_capacity(self.bytes.len() + self.spans.len() * 6 + 32);
        copy::header(&mut out);
        for span in &self.spans {
            copy::row(&mut out, 1);
            copy::bytes(&mut out, key(span));
        }
        copy::trailer(&mut out);
        out
    }
}

/// Parses one file incrementally.
pub struct Parser {
    entity: Entity,
    format: Format,
    fields: Vec<(&'static str, Kind)>,
    now: OffsetDateTime,
    buf: Vec<u8>,
    line: u64,
    header_seen: bool,
    copy_started: bool,
    counts: Counts,
    keys: Option<Keys>,
}

impl Parser {
    /// A parser for `entity` files in `format`; timestamps after `now` are refused.
    pub fn new(entity: Entity, format: Format, now: OffsetDateTime) -> Parser {
        Parser {
            entity,
            format,
            fields: schema::fields(entity),
            now,
            buf: Vec::new(),
            line: 0,
            header_seen: format == Format::Ndjson,
            copy_started: false,
            counts: Counts::default(),
            keys: (entity == Entity::Transactions).then(Keys::default),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// The ids of the accepted rows (transactions only), unless they outgrew
    /// [`Keys::BUDGET`].
    pub fn take_keys(&mut self) -> Option<Keys> {
        self.keys.take()
    }

    /// Feeds a chunk; appends a staging COPY row to `out` for every complete line (the
    /// first call also the stream's header).
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<u8>) -> Result<(), FileError> {
        self.start_copy(out);
        while let Some(pos) = memchr(b'\n', chunk) {
            if self.buf.is_empty() {
                self.line(&chunk[..pos], out)?;
            } else {
                self.buf.extend_from_slice(&chunk[..pos]);
                let line = std::mem::take(&mut self.buf);
                self.line(&line, out)?;
            }
            chunk = &chunk[pos + 1..];
        }
        self.buf.extend_from_slice(chunk);
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(FileError::LineTooLong {
                line: self.line + 1,
            });
        }
        Ok(())
    }

    /// The end of the input: the last line may lack its newline. Ends the COPY stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<Counts, FileError> {
        self.start_copy(out);
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.line(&line, out)?;
        }
        match (self.header_seen, self.counts.rows) {
            (false, _) => Err(FileError::Empty),
            (true, 0) if self.format == Format::Csv => Err(FileError::HeaderOnly),
            (true, 0) => Err(FileError::Empty),
            _ => {
                copy::trailer(out);
                Ok(self.counts)
            }
        }
    }

    fn start_copy(&mut self, out: &mut Vec<u8>) {
        if !self.copy_started {
            copy::header(out);
            self.copy_started = true;
        }
    }

    /// Staged columns: the line number, the fields, then the refusal's field, reason, raw.
    fn staged_columns(&self) -> usize {
        1 + self.fields.len() + 3
    }

    fn line(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) -> Result<(), FileError> {
        self.line += 1;
        if self.line == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                if !self.header_seen {
                    return Err(FileError::BadHeader {
                        expected: self.entity.csv_header(),
                        found: String::from_utf8_lossy(bytes).into_owned(),
                    });
                }
                let raw = String::from_utf8_lossy(bytes);
                self.counts.rows += 1;
                self.refuse(
                    out,
                    "-",
                    &format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                    &raw,
                );
                return Ok(());
            }
        };
        if !self.header_seen {
            let found: Vec<String> = split_csv(text)
                .map(|f| f.into_iter().map(|s| s.trim().to_string()).collect())
                .unwrap_or_default();
            if found != self.entity.fields() {
                return Err(FileError::BadHeader {
                    expected: self.entity.csv_header(),
                    found: text.to_string(),
                });
            }
            self.header_seen = true;
            return Ok(());
        }
        self.counts.rows += 1;
        let raw_values: Result<Vec<Option<Cow<str>>>, (String, String)> = match self.format {
            Format::Csv => split_csv(text)
                .map_err(|reason| ("-".to_string(), reason))
                .and_then(|fields| {
                    if fields.len() == self.fields.len() {
                        Ok(fields.into_iter().map(Some).collect())
                    } else {
                        Err((
                            "-".into(),
                            format!(
                                "expected {} fields, found {}",
                                self.fields.len(),
                                fields.len()
                            ),
                        ))
                    }
                }),
            Format::Ndjson => self
                .json_values(text)
                .map(|values| values.into_iter().map(|v| v.map(Cow::Owned)).collect()),
        };
        let raw_values = match raw_values {
            Ok(v) => v,
            Err((field, reason)) => {
                self.refuse(out, &field, &reason, text);
                return Ok(());
            }
        };
        let mut values = Vec::with_capacity(self.fields.len());
        for ((name, kind), raw) in self.fields.iter().zip(&raw_values) {
            match schema::check(*kind, raw.as_deref(), self.now) {
                Ok(v) => values.push(v),
                Err(reason) => {
                    self.refuse(out, name, &reason, text);
                    return Ok(());
                }
            }
        }
        if let Err((field, reason)) = schema::check_row(self.entity, &values) {
            self.refuse(out, field, &reason, text);
            return Ok(());
        }
        if let (Some(keys), Some(schema::Value::Text(id))) = (&mut self.keys, values[0])
            && !keys.push(id)
        {
            self.keys = None;
        }
        copy::row(out, self.staged_columns());
        copy::bigint(out, self.line as i64);
        for v in &values {
            match v {
                Some(v) => v.write(out),
                None => copy::null(out),
            }
        }
        for _ in 0..3 {
            copy::null(out);
        }
        Ok(())
    }

    fn json_values(&self, text: &str) -> Result<Vec<Option<String>>, (String, String)> {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| ("-".to_string(), format!("not a JSON object: {e}")))?;
        if let Some(unknown) = object
            .keys()
            .find(|k| !self.fields.iter().any(|(name, _)| name == k))
        {
            return Err((unknown.clone(), "unexpected field".into()));
        }
        self.fields
            .iter()
            .map(|(name, _)| match object.get(*name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err((name.to_string(), "expected a string or a number".into())),
            })
            .collect()
    }

    fn refuse(&mut self, out: &mut Vec<u8>, field: &str, reason: &str, raw: &str) {
        self.counts.refused += 1;
        copy::row(out, self.staged_columns());
        copy::bigint(out, self.line as i64);
        for _ in &self.fields {
            copy::null(out);
        }
        copy::text(out, field);
        copy::text(out, reason);
        let raw: String = raw.chars().take(MAX_RAW_CHARS).collect();
        copy::text(out, &raw);
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// What the parser staged, as text: one row per line, its columns (line number, the
/// entity's fields, the refusal's field, reason and raw line) rendered the way PostgreSQL
/// prints them (timestamps in UTC). For tests and for looking at a stream.
pub fn staged_text(entity: Entity, stream: &[u8]) -> Result<Vec<Vec<Option<String>>>, String> {
    use time::format_description::well_known::Rfc3339;
    let kinds = schema::fields(entity);
    let render = |column: usize, field: &[u8]| -> String {
        let kind = match column {
            0 => return copy::read_bigint(field).to_string(),
            c if c <= kinds.len() => kinds[c - 1].1,
            _ => return copy::read_text(field).to_string(),
        };
        match kind {
            Kind::Id | Kind::OptId | Kind::Amount => copy::read_bigint(field).to_string(),
            Kind::Text(_) | Kind::Currency | Kind::OneOf(_) => copy::read_text(field).to_string(),
            Kind::Timestamp => copy::read_timestamptz(field)
                .format(&Rfc3339)
                .expect("formattable"),
            Kind::Date | Kind::OptDate => copy::read_date(field).to_string(),
            Kind::Mcc | Kind::Year => copy::read_smallint(field).to_string(),
            Kind::Latitude | Kind::Longitude => copy::read_double(field).to_string(),
        }
    };
    Ok(copy::read(stream)?
        .into_iter()
        .map(|row| {
            row.into_iter()
                .enumerate()
                .map(|(c, field)| field.map(|f| render(c, f)))
                .collect()
        })
        .collect())
}

/// Splits one CSV record (RFC 4180: `"` quotes, `""` inside quotes).
pub fn split_csv(line: &str) -> Result<Vec<std::borrow::Cow<'_, str>>, String> {
    if !line.contains('"') {
        return Ok(line.split(',').map(Cow::Borrowed).collect());
    }
    let mut fields = Vec::new();
    let mut chars = line.char_indices().peekable();
    let mut field = String::new();
    let mut quoted = false;
    let mut at_start = true;
    while let Some((i, c)) = chars.next() {
        match (quoted, c) {
            (false, ',') => {
                fields.push(Cow::Owned(std::mem::take(&mut field)));
                at_start = true;
                continue;
            }
            (false, '"') if at_start => quoted = true,
            (false, '"') => return Err(format!("unexpected quote at character {}", i + 1)),
            (true, '"') => {
                if chars.peek().map(|(_, c)| *c) == Some('"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                    if let Some((j, c)) = chars.peek().copied()
                        && c != ','
                    {
                        return Err(format!(
                            "unexpected character after closing quote at character {}",
                            j + 1
                        ));
                    }
                }
            }
            (_, c) => field.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    fields.push(Cow::Owned(field));
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-01 12:00 UTC);
    const HEADER: &str = "txn_id,booked_at,customer_id,merchant_id,amount_minor,currency,channel";

    fn parse(format: Format, input: &[u8], chunk: usize) -> (Result<Counts, FileError>, Vec<u8>) {
        let mut p = Parser::new(Entity::Transactions, format, NOW);
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            if let Err(e) = p.feed(piece, &mut out) {
                return (Err(e), out);
            }
        }
        let counts = p.finish(&mut out);
        (counts, out)
    }

    /// The staged rows, NULL as `\N`.
    fn rows(out: &[u8]) -> Vec<Vec<String>> {
        staged_text(Entity::Transactions, out)
            .unwrap()
            .into_iter()
            .map(|row| row.into_iter().map(|f| f.unwrap_or("\\N".into())).collect())
            .collect()
    }

    #[test]
    fn bom_crlf_and_any_chunking_give_the_same_rows() {
        let plain = format!(
            "{HEADER}\nt1,2026-10-01T10:00:00+03:00,1,2,1500,RUB,pos\nt2,2026-10-01T11:00:00+03:00,1,2,-200,RUB,ecom\n"
        );
        let windows = format!("\u{feff}{}", plain.replace('\n', "\r\n"));
        let (expected, out) = parse(Format::Csv, plain.as_bytes(), 4096);
        assert_eq!(
            expected,
            Ok(Counts {
                rows: 2,
                refused: 0
            })
        );
        for chunk in [1, 2, 3, 7, 64] {
            assert_eq!(
                parse(Format::Csv, windows.as_bytes(), chunk),
                (expected.clone(), out.clone()),
                "chunk {chunk}"
            );
        }
        assert_eq!(
            rows(&out)[0],
            [
                "2",
                "t1",
                "2026-10-01T07:00:00Z",
                "1",
                "2",
                "1500",
                "RUB",
                "pos",
                "\\N",
                "\\N",
                "\\N"
            ]
        );
    }

    #[test]
    fn refused_rows_name_line_field_and_reason() {
        let input = format!(
            "{HEADER}\n\
             t1,2026-10-01T10:00:00+03:00,1,2,abc,RUB,pos\n\
             t2,2026-10-01T10:00:00+03:00,1,2\n\
             t3,2026-10-01T10:00:00+03:00,1,2,100,XXX,pos\n\
             t4,2099-10-01T10:00:00+03:00,1,2,100,RUB,pos\n\
             {},2026-10-01T10:00:00+03:00,1,2,100,RUB,pos\n",
            "x".repeat(65)
        );
        let (counts, out) = parse(Format::Csv, input.as_bytes(), 5);
        assert_eq!(
            counts,
            Ok(Counts {
                rows: 5,
                refused: 5
            })
        );
        let lines = rows(&out);
        let refusal = |i: usize| {
            (
                lines[i][0].as_str(),
                lines[i][8].as_str(),
                lines[i][9].as_str(),
            )
        };
        assert_eq!(
            refusal(0),
            ("2", "amount_minor", "\"abc\" is not an integer")
        );
        assert_eq!(refusal(1), ("3", "-", "expected 7 fields, found 4"));
        assert_eq!(refusal(2), ("4", "currency", "unknown currency \"XXX\""));
        assert_eq!((refusal(3).0, refusal(3).1), ("5", "booked_at"));
        assert!(refusal(3).2.contains("future"));
        assert_eq!((refusal(4).0, refusal(4).1), ("6", "txn_id"));
        assert!(refusal(4).2.contains("longer than 64"));
    }

    #[test]
    fn invalid_utf8_is_a_refused_row_not_a_crash() {
        let mut input = format!("{HEADER}\n").into_bytes();
        input.extend_from_slice(b"t1,2026-10-01T10:00:00+03:00,1,2,1\xff00,RUB,pos\n");
        let (counts, out) = parse(Format::Csv, &input, 3);
        assert_eq!(
            counts,
            Ok(Counts {
                rows: 1,
                refused: 1
            })
        );
        assert_eq!(rows(&out)[0][9], "invalid UTF-8 at byte 34");
    }

    #[test]
    fn empty_header_only_and_bad_header_files_are_file_errors() {
        assert_eq!(parse(Format::Csv, b"", 10).0, Err(FileError::Empty));
        assert_eq!(parse(Format::Csv, b"\n\r\n", 10).0, Err(FileError::Empty));
        assert_eq!(parse(Format::Ndjson, b"", 10).0, Err(FileError::Empty));
        assert_eq!(
            parse(Format::Csv, format!("{HEADER}\r\n").as_bytes(), 10).0,
            Err(FileError::HeaderOnly)
        );
        assert!(matches!(
            parse(Format::Csv, b"id,when\n1,2\n", 10).0,
            Err(FileError::BadHeader { .. })
        ));
    }

    #[test]
    fn ndjson_fields_are_checked_by_name() {
        let input = concat!(
            r#"{"txn_id":"t1","booked_at":"2026-10-01T10:00:00+03:00","customer_id":1,"merchant_id":2,"amount_minor":1500,"currency":"RUB","channel":"pos"}"#,
            "\n",
            r#"{"txn_id":"t2","booked_at":"2026-10-01T10:00:00+03:00","customer_id":1,"merchant_id":2,"amount_minor":1500,"currency":"RUB","channel":"pos","extra":1}"#,
            "\n",
            r#"{"txn_id":"t3","booked_at":"2026-10-01T10:00:00+03:00","customer_id":1,"amount_minor":1500,"currency":"RUB","channel":"pos"}"#,
            "\n",
            "[1,2]\n"
        );
        let (counts, out) = parse(Format::Ndjson, input.as_bytes(), 11);
        assert_eq!(
            counts,
            Ok(Counts {
                rows: 4,
                refused: 3
            })
        );
        let refused: Vec<String> = rows(&out)[1..].iter().map(|r| r[..10].join("|")).collect();
        let nulls = "\\N|".repeat(7);
        assert_eq!(
            refused,
            [
                format!("2|{nulls}extra|unexpected field"),
                format!("3|{nulls}merchant_id|missing value"),
                format!(
                    "4|{nulls}-|not a JSON object: invalid type: sequence, expected a map at line 1 column 0"
                ),
            ]
        );
    }

    #[test]
    fn the_accepted_ids_are_kept_and_sorted_in_byte_order_within_a_budget() {
        let input = format!(
            "{HEADER}\nt2,2026-10-01T10:00:00+03:00,1,2,1500,RUB,pos\n\
             bad,2026-10-01T10:00:00+03:00,1,2,0,RUB,pos\n\
             T9,2026-10-01T10:00:00+03:00,1,2,1500,RUB,pos\n\
             t1,2026-10-01T10:00:00+03:00,1,2,1500,RUB,pos\n"
        );
        let mut p = Parser::new(Entity::Transactions, Format::Csv, NOW);
        let mut out = Vec::new();
        p.feed(input.as_bytes(), &mut out).unwrap();
        p.finish(&mut out).unwrap();
        let keys = p.take_keys().unwrap();
        assert_eq!(keys.len(), 3, "the refused row's id is not kept");
        let stream = keys.sorted_copy();
        let sorted: Vec<&str> = copy::read(&stream)
            .unwrap()
            .into_iter()
            .map(|row| copy::read_text(row[0].unwrap()))
            .collect();
        assert_eq!(sorted, ["T9", "t1", "t2"], "C collation: upper case first");
        // Master data keeps none; past the budget the ids are given up.
        assert!(
            Parser::new(Entity::Customers, Format::Csv, NOW)
                .take_keys()
                .is_none()
        );
        let mut keys = Keys::default();
        assert!(keys.push("t1"));
        assert!(!keys.push(&"x".repeat(Keys::BUDGET)));
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(
            split_csv(r#"a,"b,c","d""e""#).unwrap(),
            vec!["a", "b,c", "d\"e"]
        );
        assert!(split_csv(r#"a,"b"#).is_err());
        assert!(split_csv(r#"a,b"c"#).is_err());
        assert_eq!(split_csv("a,,b").unwrap(), vec!["a", "", "b"]);
    }
}
