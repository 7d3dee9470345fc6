//! The body of `POST /v1/models/{name}/predict`, turned into the model's input matrix.
//!
//! Two shapes are accepted: `{"columns": {"<feature>": [numbers…], …}}`, keyed by the
//! contract's input column names in any order, and `{"rows": [[numbers…], …]}`, each row in
//! contract column order. JSON has no NaN: `null` stands for it, and is accepted only in the
//! columns the contract lists in `nan_allowed`. Every refusal names the column and the row
//! (0-based, as the body's JSON path), so the caller can find the bad value.

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
            let missing: Vec<&String> = columns.iter().filter(|c| !given.contains_key(*c)).collect();
            if !missing.is_empty() {
                return Err(invalid(format!("missing column(s): {}", list(&missing))));
            }
            if given.len() > width {
                let extra = given.keys().filter(|k| !columns.contains(k));
                return Err(invalid(format!(
                    "unknown column(s): {} (the model takes {width} columns: {})",
                    list(extra),
                    list(columns)
                )));
            }
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

    fn contract(nan_allowed: &[&str]) -> Contract {
        Contract::parse(&serde_json::json!({
            "name": "m",
            "input": {"name": "features", "dtype": "float32", "columns": ["a", "b", "c"]},
            "outputs": [{"name": "y", "dtype": "float32", "columns": ["y"]}],
            "nan_allowed": nan_allowed,
            "tolerance": {"abs": 1e-3, "rel": 1e-4}
        }))
        .unwrap()
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

    #[test]
    fn a_non_number_is_named_by_its_json_path() {
        let e = parse(br#"{"columns": {"a": [1, "x"]}}"#).unwrap_err();
        assert!(e.starts_with("columns.a[1]: invalid type: string"), "{e}");
        let e = parse(br#"{"rowz": []}"#).unwrap_err();
        assert!(e.contains("unknown field `rowz`"), "{e}");
    }
}
