//! CSV for downloads ("download CSV" under every chart and table), safe to open in a
//! spreadsheet.
//!
//! [`Table::from_rows`] turns any slice of `Serialize` structs into columns, in field order:
//! a nested struct's fields become `parent_field` columns, except a nested field named
//! `value`, which takes the parent's name (so a figure `revenue: {value, hidden}` gives
//! `revenue` and `revenue_hidden`); `None` is an empty cell; unit enum variants are their
//! names. Numbers are written as numbers. Every text cell that starts with `=`, `+`, `-`,
//! `@`, a tab, a carriage return or NUL is neutralised with a leading `'`, so that no
//! spreadsheet evaluates it as a formula (PRODUCT.md §7); numbers we format ourselves cannot
//! start a formula and stay numbers. Quoting follows RFC 4180, lines end with CRLF.

use std::fmt::Write as _;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// Characters that make a spreadsheet treat a cell as a formula (or that hide one).
const FORMULA_STARTS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\0'];

/// `text` made safe to open in a spreadsheet: prefixed with `'` if it starts like a formula.
pub fn neutralise(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// One cell: a number (written as it is) or text (neutralised, quoted when needed).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Formatted by us from a number: digits, an optional sign and decimal point.
    Number(String),
    /// Anything else.
    Text(String),
    /// No value.
    Empty,
}

/// A table with a header, ready to write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Rows of cells, each as long as the header.
    pub rows: Vec<Vec<Cell>>,
}

/// Why rows could not be turned into a table (a programming error: a row type with a
/// sequence or map in it, or rows of different shapes).
#[derive(Debug, thiserror::Error)]
#[error("cannot write CSV: {0}")]
pub struct CsvError(String);

impl ser::Error for CsvError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        CsvError(msg.to_string())
    }
}

impl Table {
    /// The table of `rows` (structs of scalars, options, unit enums and nested structs).
    /// With no rows the header is unknown and the table is empty.
    pub fn from_rows<T: Serialize>(rows: &[T]) -> Result<Table, CsvError> {
        let mut table = Table::default();
        for (i, row) in rows.iter().enumerate() {
            let mut flat = Flattener::default();
            row.serialize(FieldSerializer {
                out: &mut flat,
                name: String::new(),
            })?;
            if i == 0 {
                table.header = flat.names;
            } else if flat.names != table.header {
                return Err(CsvError("rows of different shapes".into()));
            }
            table.rows.push(flat.cells);
        }
        Ok(table)
    }

    /// The table as CSV text (header first, CRLF line ends).
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        if self.header.is_empty() {
            return out;
        }
        let header: Vec<Cell> = self.header.iter().map(|h| Cell::Text(h.clone())).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match cell {
                    Cell::Number(n) => out.push_str(n),
                    Cell::Text(t) => write_text(&mut out, t),
                    Cell::Empty => {}
                }
            }
            out.push_str("\r\n");
        }
        out
    }
}

fn write_text(out: &mut String, text: &str) {
    let text = neutralise(text);
    if text.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&text);
    }
}

#[derive(Default)]
struct Flattener {
    names: Vec<String>,
    cells: Vec<Cell>,
}

/// Serializes one value into the cell named `name` (or, for a struct, its fields' cells).
struct FieldSerializer<'a> {
    out: &'a mut Flattener,
    name: String,
}

impl FieldSerializer<'_> {
    fn cell(self, cell: Cell) -> Result<(), CsvError> {
        self.out.names.push(self.name);
        self.out.cells.push(cell);
        Ok(())
    }

    fn number(self, n: impl std::fmt::Display) -> Result<(), CsvError> {
        let mut s = String::new();
        write!(s, "{n}").expect("write to a string");
        self.cell(Cell::Number(s))
    }
}

/// A nested struct's fields.
struct StructFields<'a> {
    out: &'a mut Flattener,
    prefix: String,
}

impl ser::SerializeStruct for StructFields<'_> {
    type Ok = ();
    type Error = CsvError;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CsvError> {
        let name = match (self.prefix.as_str(), key) {
            ("", key) => key.to_string(),
            (prefix, "value") => prefix.to_string(),
            (prefix, key) => format!("{prefix}_{key}"),
        };
        value.serialize(FieldSerializer {
            out: self.out,
            name,
        })
    }

    fn end(self) -> Result<(), CsvError> {
        Ok(())
    }
}

impl<'a> ser::Serializer for FieldSerializer<'a> {
    type Ok = ();
    type Error = CsvError;
    type SerializeSeq = Impossible<(), CsvError>;
    type SerializeTuple = Impossible<(), CsvError>;
    type SerializeTupleStruct = Impossible<(), CsvError>;
    type SerializeTupleVariant = Impossible<(), CsvError>;
    type SerializeMap = Impossible<(), CsvError>;
    type SerializeStruct = StructFields<'a>;
    type SerializeStructVariant = Impossible<(), CsvError>;

    fn serialize_bool(self, v: bool) -> Result<(), CsvError> {
        self.cell(Cell::Text(v.to_string()))
    }
    fn serialize_i8(self, v: i8) -> Result<(), CsvError> {
        self.number(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), CsvError> {
        self.number(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), CsvError> {
        self.number(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), CsvError> {
        self.number(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), CsvError> {
        self.number(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), CsvError> {
        self.number(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), CsvError> {
        self.number(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), CsvError> {
        self.number(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), CsvError> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), CsvError> {
        if v.is_finite() {
            // Rust prints floats without an exponent: digits, sign and point only.
            self.number(v)
        } else {
            self.cell(Cell::Empty)
        }
    }
    fn serialize_char(self, v: char) -> Result<(), CsvError> {
        self.cell(Cell::Text(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<(), CsvError> {
        self.cell(Cell::Text(v.to_string()))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), CsvError> {
        Err(CsvError("bytes in a CSV row".into()))
    }
    fn serialize_none(self) -> Result<(), CsvError> {
        self.cell(Cell::Empty)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), CsvError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), CsvError> {
        self.cell(Cell::Empty)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), CsvError> {
        self.cell(Cell::Empty)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), CsvError> {
        self.cell(Cell::Text(variant.to_string()))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), CsvError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), CsvError> {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, CsvError> {
        Err(CsvError(format!("{}: a list in a CSV row", self.name)))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, CsvError> {
        Err(CsvError(format!("{}: a tuple in a CSV row", self.name)))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, CsvError> {
        Err(CsvError(format!("{}: a tuple in a CSV row", self.name)))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, CsvError> {
        Err(CsvError(format!("{}: a tuple in a CSV row", self.name)))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, CsvError> {
        Err(CsvError(format!("{}: a map in a CSV row", self.name)))
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, CsvError> {
        Ok(StructFields {
            out: self.out,
            prefix: self.name,
        })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, CsvError> {
        Err(CsvError(format!(
            "{}: a struct variant in a CSV row",
            self.name
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Figure {
        value: Option<i64>,
        hidden: Option<&'static str>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Revenue,
    }

    #[derive(Serialize)]
    struct Row {
        name: String,
        kind: Kind,
        revenue: Figure,
        share: f64,
        note: Option<String>,
    }

    fn row(name: &str, value: Option<i64>) -> Row {
        Row {
            name: name.into(),
            kind: Kind::Revenue,
            revenue: Figure {
                value,
                hidden: value.is_none().then_some("fewer_than_10_customers"),
            },
            share: -0.25,
            note: None,
        }
    }

    #[test]
    fn rows_become_columns_in_field_order() {
        let table = Table::from_rows(&[row("Main street", Some(-1200)), row("b", None)]).unwrap();
        assert_eq!(
            table.to_csv(),
            "name,kind,revenue,revenue_hidden,share,note\r\n\
             Main street,revenue,-1200,,-0.25,\r\n\
             b,revenue,,fewer_than_10_customers,-0.25,\r\n"
        );
    }

    #[test]
    fn formulas_are_neutralised_and_quotes_escaped() {
        for (text, expected) in [
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("+1", "'+1"),
            ("-1+2", "'-1+2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\0x", "'\0x"),
            ("\r=1", "\"'\r=1\""),
            ("a,b", "\"a,b\""),
            ("plain", "plain"),
        ] {
            let table = Table::from_rows(&[row(text, Some(1))]).unwrap();
            let line = table.to_csv().lines().nth(1).unwrap().to_string();
            assert!(line.starts_with(expected), "{text:?} → {line:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_text_cell_can_start_a_formula(texts in proptest::collection::vec(".*", 1..8)) {
            let rows: Vec<Row> = texts.iter().map(|t| row(t, Some(1))).collect();
            let csv = Table::from_rows(&rows).unwrap().to_csv();
            // Every cell of the name column, unquoted, starts with something harmless.
            for (text, line) in texts.iter().zip(csv.split("\r\n").skip(1)) {
                let cell = line.strip_prefix('"').unwrap_or(line);
                let safe = !cell.starts_with(FORMULA_STARTS);
                proptest::prop_assert!(safe, "{:?} written as {:?}", text, line);
            }
        }
    }

    #[test]
    fn no_rows_no_table_and_lists_are_refused() {
        assert_eq!(Table::from_rows::<Row>(&[]).unwrap().to_csv(), "");
        #[derive(Serialize)]
        struct Bad {
            list: Vec<i64>,
        }
        assert!(Table::from_rows(&[Bad { list: vec![1] }]).is_err());
    }
}
