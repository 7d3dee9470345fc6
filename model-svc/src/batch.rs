//! The body of `POST /v1/models/{name}/predict`, turned into the model's input matrix.
//!
//! JSON in two shapes: `{"columns": {"<feature>": [numbers…], …}}`, keyed by the contract's
//! input column names in any order, and `{"rows": [[numbers…], …]}`, each row in contract
//! column order. JSON has no NaN: `null` stands for it, and is accepted only in the columns
//! the contract lists in `nan_allowed`. Or Arrow ([`ARROW_STREAM`]): an IPC stream whose
//! fields are the contract's columns in any order, float32 or float64, where a null or a NaN
//! is NaN (with the same rule). Every refusal names the column and the row (0-based), so the
//! caller can find the bad value.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::contract::Contract;

/// The predict request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictBody {
    /// Columnar input: one array per contract column.
    #[serde(default)]
    pub columns: Option<BTreeMap<String, Vec<Option<f64>>>>,
    /// Row input, in contract column order.
    #[serde(default)]
    pub rows: Option<Vec<Vec<Option<f64>>>>,
}

/// Why a body cannot be run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchError {
    /// The body does not fit the contract (422).
    #[error("{0}")]
    Invalid(String),
    /// More rows than one request may carry (413).
    #[error("{rows} rows is more than the {limit} a request may carry; split the batch")]
    TooMany {
        /// Rows sent.
        rows: usize,
        /// The limit.
        limit: usize,
    },
}

fn invalid(message: String) -> BatchError {
    BatchError::Invalid(message)
}

/// Parses a predict body; the error names the JSON path of what is wrong.
pub fn parse(body: &[u8]) -> Result<PredictBody, String> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("the body is not a predict request: {}", e.inner())
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}

/// The media type of Arrow input: the IPC streaming format.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// Refuses a set of column names that is not exactly the contract's.
fn check_names<'a>(
    columns: &[String],
    given: impl Iterator<Item = &'a str> + Clone,
) -> Result<(), BatchError> {
    let missing: Vec<&String> = columns
        .iter()
        .filter(|c| !given.clone().any(|g| g == c.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!("missing column(s): {}", list(&missing))));
    }
    let extra: Vec<&str> = given.filter(|g| !columns.iter().any(|c| c == g)).collect();
    if !extra.is_empty() {
        return Err(invalid(format!(
            "unknown column(s): {} (the model takes {} columns: {})",
            list(extra),
            columns.len(),
            list(columns)
        )));
    }
    Ok(())
}

fn list(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let names: Vec<String> = names
        .into_iter()
        .map(|n| format!("{:?}", n.as_ref()))
        .collect();
    const SHOWN: usize = 12;
    if names.len() > SHOWN {
        format!("{} … ({} in all)", names[..SHOWN].join(", "), names.len())
    } else {
        names.join(", ")
    }
}

/// Checks one value and converts it to float32.
fn value(v: Option<f64>, nan_ok: bool, place: impl Fn() -> String) -> Result<f32, BatchError> {
    match v {
        None if nan_ok => Ok(f32::NAN),
        None => Err(invalid(format!(
            "{}: null (NaN) is not allowed in this column (the contract's nan_allowed does not list it)",
            place()
        ))),
        Some(x) => {
            let f = x as f32;
            if f.is_finite() {
                Ok(f)
            } else {
                Err(invalid(format!(
                    "{}: {x:?} does not fit a float32",
                    place()
                )))
            }
        }
    }
}

/// The row-major float32 matrix the model takes, and its number of rows.
pub fn matrix(
    contract: &Contract,
    body: PredictBody,
    max_rows: usize,
) -> Result<(Vec<f32>, usize), BatchError> {
    let columns = &contract.input.columns;
    let width = columns.len();
    let nan_ok = contract.nan_mask();
    match (body.columns, body.rows) {
        (Some(_), Some(_)) | (None, None) => Err(invalid(
            "send either \"columns\" (an array per input column) or \"rows\" (arrays in contract column order)".into(),
        )),
        (Some(mut given), None) => {
            check_names(columns, given.keys().map(String::as_str))?;
            let rows = given[&columns[0]].len();
            if let Some(c) = columns.iter().find(|c| given[*c].len() != rows) {
                return Err(invalid(format!(
                    "columns of unequal length: {:?} has {} values, {:?} has {rows}",
                    c,
                    given[c].len(),
                    columns[0]
                )));
            }
            check_rows(rows, max_rows)?;
            let mut out = vec![0f32; rows * width];
            for (j, name) in columns.iter().enumerate() {
                let values = given.remove(name).unwrap_or_default();
                for (r, v) in values.into_iter().enumerate() {
                    out[r * width + j] =
                        value(v, nan_ok[j], || format!("columns.{name}[{r}]"))?;
                }
            }
            Ok((out, rows))
        }
        (None, Some(given)) => {
            let rows = given.len();
            check_rows(rows, max_rows)?;
            let mut out = Vec::with_capacity(rows * width);
            for (r, row) in given.into_iter().enumerate() {
                if row.len() != width {
                    return Err(invalid(format!(
                        "rows[{r}] has {} values, expected {width} (in contract order: {})",
                        row.len(),
                        list(columns)
                    )));
                }
                for (j, v) in row.into_iter().enumerate() {
                    out.push(value(v, nan_ok[j], || {
                        format!("rows[{r}][{j}] (column {:?})", columns[j])
                    })?);
                }
            }
            Ok((out, rows))
        }
    }
}

/// The row-major float32 matrix from an Arrow IPC stream, and its number of rows.
pub fn matrix_from_arrow(
    contract: &Contract,
    body: &[u8],
    max_rows: usize,
) -> Result<(Vec<f32>, usize), BatchError> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float32Type, Float64Type};
    use arrow_schema::DataType;

    let reader = arrow_ipc::reader::StreamReader::try_new(body, None)
        .map_err(|e| invalid(format!("the body is not an Arrow IPC stream: {e}")))?;
    let schema = reader.schema();
    let columns = &contract.input.columns;
    check_names(columns, schema.fields().iter().map(|f| f.name().as_str()))?;
    let mut fields = Vec::with_capacity(columns.len());
    for name in columns {
        let (i, field) = schema.column_with_name(name).expect("checked above");
        if !matches!(field.data_type(), DataType::Float32 | DataType::Float64) {
            return Err(invalid(format!(
                "column {name:?} is {}; send float32 or float64",
                field.data_type()
            )));
        }
        fields.push(i);
    }
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("the Arrow stream is broken: {e}")))?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    check_rows(rows, max_rows)?;
    let width = columns.len();
    let nan_ok = contract.nan_mask();
    let mut out = vec![0f32; rows * width];
    let mut first = 0;
    for batch in &batches {
        for (j, (&i, name)) in fields.iter().zip(columns).enumerate() {
            let column = batch.column(i);
            let get = |r: usize| -> f64 {
                match column.data_type() {
                    DataType::Float32 => column.as_primitive::<Float32Type>().value(r) as f64,
                    _ => column.as_primitive::<Float64Type>().value(r),
                }
            };
            for r in 0..batch.num_rows() {
                let v = Some(get(r)).filter(|x| !x.is_nan() && column.is_valid(r));
                out[(first + r) * width + j] = value(v, nan_ok[j], || {
                    format!("column {name:?}, row {}", first + r)
                })?;
            }
        }
        first += batch.num_rows();
    }
    Ok((out, rows))
}

fn check_rows(rows: usize, limit: usize) -> Result<(), BatchError> {
    if rows == 0 {
        return Err(invalid("the batch has no rows".into()));
    }
    if rows > limit {
        return Err(BatchError::TooMany { rows, limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-output contract taking `columns`.
    fn contract_of(columns: &[&str], nan_allowed: &[&str]) -> Contract {
        Contract::parse(&serde_json::json!({
            "name": "m",
            "input": {"name": "features", "dtype": "float32", "columns": columns},
            "outputs": [{"name": "y", "dtype": "float32", "columns": ["y"]}],
            "nan_allowed": nan_allowed,
            "tolerance": {"abs": 1e-3, "rel": 1e-4}
        }))
        .unwrap()
    }

    fn contract(nan_allowed: &[&str]) -> Contract {
        contract_of(&["a", "b", "c"], nan_allowed)
    }

    fn run(body: serde_json::Value, nan: &[&str]) -> Result<(Vec<f32>, usize), BatchError> {
        matrix(
            &contract(nan),
            parse(body.to_string().as_bytes()).unwrap(),
            4,
        )
    }

    fn message(body: serde_json::Value) -> String {
        run(body, &[]).unwrap_err().to_string()
    }

    #[test]
    fn columns_in_any_order_become_rows_in_contract_order() {
        let (m, rows) = run(
            serde_json::json!({"columns": {"c": [3, 6], "a": [1, 4], "b": [2, 5]}}),
            &[],
        )
        .unwrap();
        assert_eq!(rows, 2);
        assert_eq!(m, vec![1., 2., 3., 4., 5., 6.]);
        let (r, _) = run(serde_json::json!({"rows": [[1, 2, 3], [4, 5, 6]]}), &[]).unwrap();
        assert_eq!(r, m);
    }

    #[test]
    fn every_refusal_names_the_place() {
        let cases = [
            (
                serde_json::json!({"columns": {"a": [1], "b": [2]}}),
                "missing column(s): \"c\"",
            ),
            (
                serde_json::json!({"columns": {"a": [1], "b": [2], "c": [3], "d": [4]}}),
                "unknown column(s): \"d\"",
            ),
            (
                serde_json::json!({"columns": {"a": [1, 2], "b": [2], "c": [3, 4]}}),
                "\"b\" has 1 values, \"a\" has 2",
            ),
            (
                serde_json::json!({"columns": {"a": [1, 2], "b": [2, null], "c": [3, 4]}}),
                "columns.b[1]: null (NaN) is not allowed",
            ),
            (
                serde_json::json!({"rows": [[1, 2, 3], [1, 2]]}),
                "rows[1] has 2 values, expected 3",
            ),
            (
                serde_json::json!({"rows": [[1, 2, 1e300]]}),
                "rows[0][2] (column \"c\"): 1e300 does not fit a float32",
            ),
            (serde_json::json!({"rows": []}), "no rows"),
            (serde_json::json!({}), "either \"columns\""),
            (
                serde_json::json!({"rows": vec![vec![1, 2, 3]; 5]}),
                "5 rows is more than the 4",
            ),
        ];
        for (body, needle) in cases {
            let m = message(body.clone());
            assert!(m.contains(needle), "{body}: {m}");
        }
    }

    #[test]
    fn null_is_nan_where_the_contract_allows_it() {
        let (m, _) = run(serde_json::json!({"rows": [[1, null, 3]]}), &["b"]).unwrap();
        assert!(m[1].is_nan());
    }

    type Column<'a> = (&'a str, Vec<Option<f64>>);

    /// An Arrow IPC stream of `batches`, each a list of (column, values) — float64, or
    /// float32 for a name ending in `_f32`, or int64 for one ending in `_i64`.
    fn arrow(batches: &[Vec<Column>]) -> Vec<u8> {
        use arrow_array::{ArrayRef, Float32Array, Float64Array, Int64Array, RecordBatch};
        use arrow_schema::{DataType, Field, Schema};
        use std::sync::Arc;
        let kind = |name: &str| {
            if name.ends_with("_f32") {
                DataType::Float32
            } else if name.ends_with("_i64") {
                DataType::Int64
            } else {
                DataType::Float64
            }
        };
        let schema = Arc::new(Schema::new(
            batches[0]
                .iter()
                .map(|(n, _)| Field::new(*n, kind(n), true))
                .collect::<Vec<_>>(),
        ));
        let mut out = Vec::new();
        let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema).unwrap();
        for batch in batches {
            let arrays: Vec<ArrayRef> = batch
                .iter()
                .map(|(n, v)| -> ArrayRef {
                    match kind(n) {
                        DataType::Float32 => Arc::new(Float32Array::from(
                            v.iter().map(|x| x.map(|x| x as f32)).collect::<Vec<_>>(),
                        )),
                        DataType::Int64 => Arc::new(Int64Array::from(
                            v.iter().map(|x| x.map(|x| x as i64)).collect::<Vec<_>>(),
                        )),
                        _ => Arc::new(Float64Array::from(v.clone())),
                    }
                })
                .collect();
            writer
                .write(&RecordBatch::try_new(schema.clone(), arrays).unwrap())
                .unwrap();
        }
        writer.finish().unwrap();
        drop(writer);
        out
    }

    fn arrow_contract(nan_allowed: &[&str]) -> Contract {
        contract_of(&["a", "b_f32", "c"], nan_allowed)
    }

    #[test]
    fn arrow_batches_in_any_column_order_become_rows_in_contract_order() {
        let stream = arrow(&[
            vec![
                ("c", vec![Some(3.), Some(6.)]),
                ("a", vec![Some(1.), Some(4.)]),
                ("b_f32", vec![Some(2.), Some(5.)]),
            ],
            vec![
                ("c", vec![Some(9.)]),
                ("a", vec![Some(7.)]),
                ("b_f32", vec![Some(8.)]),
            ],
        ]);
        let (m, rows) = matrix_from_arrow(&arrow_contract(&[]), &stream, 4).unwrap();
        assert_eq!(rows, 3);
        assert_eq!(m, vec![1., 2., 3., 4., 5., 6., 7., 8., 9.]);
        // A null or a NaN is NaN where the contract allows it.
        let stream = arrow(&[vec![
            ("a", vec![Some(1.), None]),
            ("b_f32", vec![Some(f64::NAN), Some(2.)]),
            ("c", vec![Some(3.), Some(4.)]),
        ]]);
        let (m, _) = matrix_from_arrow(&arrow_contract(&["a", "b_f32"]), &stream, 4).unwrap();
        assert!(m[1].is_nan() && m[3].is_nan());
    }

    #[test]
    fn arrow_refusals_name_the_column_and_the_row() {
        let ok = |n: usize| vec![Some(1.); n];
        let cases = [
            (
                arrow(&[vec![("a", ok(1)), ("b_f32", ok(1))]]),
                "missing column(s): \"c\"",
            ),
            (
                arrow(&[vec![
                    ("a", ok(1)),
                    ("b_f32", ok(1)),
                    ("c", ok(1)),
                    ("d", ok(1)),
                ]]),
                "unknown column(s): \"d\"",
            ),
            (
                arrow(&[
                    vec![("a", ok(2)), ("b_f32", ok(2)), ("c", ok(2))],
                    vec![("a", ok(1)), ("b_f32", ok(1)), ("c", vec![None])],
                ]),
                "column \"c\", row 2: null (NaN) is not allowed",
            ),
            (
                arrow(&[vec![
                    ("a", ok(1)),
                    ("b_f32", vec![Some(f64::NAN)]),
                    ("c", ok(1)),
                ]]),
                "column \"b_f32\", row 0: null (NaN) is not allowed",
            ),
            (
                arrow(&[vec![
                    ("a", ok(1)),
                    ("b_f32", ok(1)),
                    ("c", vec![Some(1e300)]),
                ]]),
                "column \"c\", row 0: 1e300 does not fit a float32",
            ),
            (
                arrow(&[vec![("a", ok(5)), ("b_f32", ok(5)), ("c", ok(5))]]),
                "5 rows is more than the 4",
            ),
            (
                arrow(&[vec![("a", ok(0)), ("b_f32", ok(0)), ("c", ok(0))]]),
                "no rows",
            ),
            (
                br#"{"rows": [[1, 2, 3]]}"#.to_vec(),
                "the body is not an Arrow IPC stream",
            ),
        ];
        for (stream, needle) in cases {
            let m = matrix_from_arrow(&arrow_contract(&[]), &stream, 4)
                .unwrap_err()
                .to_string();
            assert!(m.contains(needle), "{needle:?} not in {m:?}");
        }
        let typed = contract_of(&["n_i64"], &[]);
        let m = matrix_from_arrow(&typed, &arrow(&[vec![("n_i64", ok(1))]]), 4)
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("column \"n_i64\" is Int64; send float32 or float64"),
            "{m}"
        );
    }

    #[test]
    fn a_non_number_is_named_by_its_json_path() {
        let e = parse(br#"{"columns": {"a": [1, "x"]}}"#).unwrap_err();
        assert!(e.starts_with("columns.a[1]: invalid type: string"), "{e}");
        let e = parse(br#"{"rowz": []}"#).unwrap_err();
        assert!(e.contains("unknown field `rowz`"), "{e}");
    }
}
