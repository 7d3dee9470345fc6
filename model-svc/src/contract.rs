//! The model contract (`contract.json`) and the sample (`sample.json`) that come with every
//! `model.onnx`, as the interface spec defines them, and the checks that need neither the
//! model nor tract: fields present, known dtypes, unique column names, a sane tolerance.
//!
//! Every check failure is a [`Problem`]: what was checked, what was expected, what was found.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::DatumType;

/// One failed check, readable by a person: what, expected, found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// What was checked (`contract.input.columns`, `output "spend_90d"`, …).
    pub what: String,
    /// What the check wanted.
    pub expected: String,
    /// What it found.
    pub found: String,
}

impl Problem {
    /// A problem from its three parts.
    pub fn new(
        what: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Problem {
        Problem {
            what: what.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: expected {}, found {}",
            self.what, self.expected, self.found
        )
    }
}

/// Element types a contract may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// `float32`.
    Float32,
    /// `float64`.
    Float64,
    /// `int64`.
    Int64,
    /// `int32`.
    Int32,
}

impl Dtype {
    /// Every dtype, for messages.
    pub const ALL: [Dtype; 4] = [Dtype::Float32, Dtype::Float64, Dtype::Int64, Dtype::Int32];

    /// As written in contracts.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Float32 => "float32",
            Dtype::Float64 => "float64",
            Dtype::Int64 => "int64",
            Dtype::Int32 => "int32",
        }
    }

    /// Parses a contract dtype.
    pub fn parse(s: &str) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.name() == s)
    }

    /// tract's datum type.
    pub fn datum(self) -> DatumType {
        match self {
            Dtype::Float32 => DatumType::F32,
            Dtype::Float64 => DatumType::F64,
            Dtype::Int64 => DatumType::I64,
            Dtype::Int32 => DatumType::I32,
        }
    }

    /// From tract's datum type.
    pub fn from_datum(d: DatumType) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|t| t.datum() == d)
    }

    /// From an ONNX `TensorProto.DataType` number.
    pub fn from_onnx(elem_type: i32) -> Option<Dtype> {
        match elem_type {
            1 => Some(Dtype::Float32),
            6 => Some(Dtype::Int32),
            7 => Some(Dtype::Int64),
            11 => Some(Dtype::Float64),
            _ => None,
        }
    }
}

/// Name of an ONNX element type, for messages.
pub fn onnx_type_name(elem_type: i32) -> String {
    match elem_type {
        0 => "undefined".into(),
        1 => "float32".into(),
        2 => "uint8".into(),
        3 => "int8".into(),
        5 => "int16".into(),
        6 => "int32".into(),
        7 => "int64".into(),
        8 => "string".into(),
        9 => "bool".into(),
        10 => "float16".into(),
        11 => "float64".into(),
        other => format!("ONNX type {other}"),
    }
}

/// A tensor of the contract: `[batch, len(columns)]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TensorSpec {
    /// The ONNX input or output name.
    pub name: String,
    /// Element type, as written (`float32`, `int64`, …).
    pub dtype: String,
    /// One name per column of the second dimension.
    pub columns: Vec<String>,
}

impl TensorSpec {
    /// The parsed dtype (checked by [`Contract::check`]).
    pub fn dtype(&self) -> Dtype {
        Dtype::parse(&self.dtype).unwrap_or(Dtype::Float32)
    }

    /// Columns per row.
    pub fn width(&self) -> usize {
        self.columns.len()
    }
}

/// How close a reproduced output must be: `|found − expected| ≤ abs + rel·|expected|`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Tolerance {
    /// Absolute part.
    pub abs: f64,
    /// Relative part.
    pub rel: f64,
}

impl Tolerance {
    /// Whether `found` reproduces `expected`. NaN matches NaN only.
    pub fn accepts(self, expected: f64, found: f64) -> bool {
        if expected.is_nan() || found.is_nan() {
            return expected.is_nan() && found.is_nan();
        }
        if expected == found {
            return true;
        }
        (found - expected).abs() <= self.abs + self.rel * expected.abs()
    }
}

/// `contract.json`. Fields the service does not use (training, metrics, segments) are kept in
/// the registry as uploaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Contract {
    /// The model's name; must equal the name it is uploaded under.
    pub name: String,
    /// What it predicts.
    #[serde(default)]
    pub description: String,
    /// The one input tensor.
    pub input: TensorSpec,
    /// The output tensors.
    pub outputs: Vec<TensorSpec>,
    /// Input columns that may be NaN (normally none).
    #[serde(default)]
    pub nan_allowed: Vec<String>,
    /// How closely the sample outputs must be reproduced.
    pub tolerance: Tolerance,
}

/// Longest model name; names are also URL segments and identifiers in logs.
pub const MAX_NAME_LEN: usize = 63;

/// Whether `name` is a valid model name: lower-case letters, digits and `_`, starting with a
/// letter, at most [`MAX_NAME_LEN`] characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Contract {
    /// Parses `contract.json`; a parse failure is one problem.
    pub fn parse(json: &serde_json::Value) -> Result<Contract, Problem> {
        serde_json::from_value(json.clone()).map_err(|e| {
            Problem::new(
                "contract.json",
                "a model contract with name, input {name, dtype, columns}, outputs [{name, dtype, columns}], tolerance {abs, rel}",
                e.to_string(),
            )
        })
    }

    /// The checks that need neither the model nor the sample. `name` is the name the model
    /// is uploaded under.
    pub fn check(&self, name: &str) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.name != name {
            problems.push(Problem::new(
                "contract.name",
                format!("{name:?} (the name it is uploaded under)"),
                format!("{:?}", self.name),
            ));
        }
        let known = || {
            Dtype::ALL
                .iter()
                .map(|d| d.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.input.dtype != "float32" {
            problems.push(Problem::new(
                "contract.input.dtype",
                "float32",
                format!("{:?}", self.input.dtype),
            ));
        }
        let tensors = std::iter::once(("contract.input".to_string(), &self.input)).chain(
            self.outputs
                .iter()
                .enumerate()
                .map(|(i, o)| (format!("contract.outputs[{i}]"), o)),
        );
        for (place, spec) in tensors {
            if spec.name.trim().is_empty() {
                problems.push(Problem::new(
                    format!("{place}.name"),
                    "a tensor name",
                    "an empty name",
                ));
            }
            if Dtype::parse(&spec.dtype).is_none() {
                problems.push(Problem::new(
                    format!("{place}.dtype"),
                    format!("one of {}", known()),
                    format!("{:?}", spec.dtype),
                ));
            }
            if spec.columns.is_empty() {
                problems.push(Problem::new(
                    format!("{place}.columns"),
                    "at least one column",
                    "none",
                ));
            }
            let mut seen = HashSet::new();
            for column in &spec.columns {
                if column.is_empty() {
                    problems.push(Problem::new(
                        format!("{place}.columns"),
                        "non-empty column names",
                        "an empty name",
                    ));
                } else if !seen.insert(column.as_str()) {
                    problems.push(Problem::new(
                        format!("{place}.columns"),
                        "unique column names",
                        format!("{column:?} more than once"),
                    ));
                }
            }
        }
        if self.outputs.is_empty() {
            problems.push(Problem::new(
                "contract.outputs",
                "at least one output",
                "none",
            ));
        }
        let mut names = HashSet::new();
        for output in &self.outputs {
            if !names.insert(output.name.as_str()) {
                problems.push(Problem::new(
                    "contract.outputs",
                    "unique output names",
                    format!("{:?} more than once", output.name),
                ));
            }
        }
        for column in &self.nan_allowed {
            if !self.input.columns.contains(column) {
                problems.push(Problem::new(
                    "contract.nan_allowed",
                    "input column names",
                    format!("{column:?}, which is not an input column"),
                ));
            }
        }
        let t = self.tolerance;
        if !(t.abs.is_finite() && t.abs >= 0.0 && t.rel.is_finite() && t.rel >= 0.0) {
            problems.push(Problem::new(
                "contract.tolerance",
                "finite, non-negative abs and rel",
                format!("abs {}, rel {}", t.abs, t.rel),
            ));
        }
        problems
    }

    /// For each input column, whether it may be NaN.
    pub fn nan_mask(&self) -> Vec<bool> {
        self.input
            .columns
            .iter()
            .map(|c| self.nan_allowed.contains(c))
            .collect()
    }
}

/// `sample.json`: inputs and the outputs the exporting Python code computed for them. A NaN
/// is written `null` (JSON has no NaN).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    /// Rows of input, in contract column order.
    pub input: Vec<Vec<Option<f64>>>,
    /// Expected values per output name: rows of that output's columns.
    pub outputs: std::collections::BTreeMap<String, Vec<Vec<Option<f64>>>>,
}

impl Sample {
    /// Parses `sample.json`; a parse failure is one problem.
    pub fn parse(json: &serde_json::Value) -> Result<Sample, Problem> {
        serde_json::from_value(json.clone()).map_err(|e| {
            Problem::new(
                "sample.json",
                "{\"input\": [[numbers…], …], \"outputs\": {\"<output>\": [[numbers…], …]}}",
                e.to_string(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> serde_json::Value {
        serde_json::json!({
            "name": "m",
            "input": {"name": "features", "dtype": "float32", "columns": ["a", "b"]},
            "outputs": [{"name": "y", "dtype": "float32", "columns": ["p50"]}],
            "tolerance": {"abs": 1e-3, "rel": 1e-4}
        })
    }

    #[test]
    fn a_sane_contract_has_no_problems() {
        let c = Contract::parse(&contract()).unwrap();
        assert!(c.check("m").is_empty());
    }

    #[test]
    fn each_insane_field_is_named() {
        let mut j = contract();
        j["name"] = "other".into();
        j["input"]["columns"] = serde_json::json!(["a", "a"]);
        j["outputs"][0]["dtype"] = "int8".into();
        j["nan_allowed"] = serde_json::json!(["zzz"]);
        j["tolerance"]["abs"] = (-1.0).into();
        let problems = Contract::parse(&j).unwrap().check("m");
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        let all = text.join("\n");
        for needle in [
            "contract.name: expected \"m\"",
            "unique column names, found \"a\" more than once",
            "contract.outputs[0].dtype",
            "\"int8\"",
            "\"zzz\", which is not an input column",
            "contract.tolerance",
        ] {
            assert!(all.contains(needle), "{needle} not in\n{all}");
        }
    }

    #[test]
    fn a_missing_field_is_one_readable_problem() {
        let mut j = contract();
        j.as_object_mut().unwrap().remove("tolerance");
        let p = Contract::parse(&j).unwrap_err();
        assert!(p.found.contains("tolerance"), "{p}");
    }

    #[test]
    fn tolerance_is_absolute_plus_relative() {
        let t = Tolerance {
            abs: 1e-3,
            rel: 1e-2,
        };
        assert!(t.accepts(100.0, 101.0));
        assert!(!t.accepts(100.0, 101.1));
        assert!(t.accepts(0.0, 0.001));
        assert!(t.accepts(f64::NAN, f64::NAN));
        assert!(!t.accepts(1.0, f64::NAN));
    }

    #[test]
    fn names_are_lower_case_identifiers() {
        assert!(valid_name("purchasing_power"));
        assert!(!valid_name("Purchasing"));
        assert!(!valid_name("1abc"));
        assert!(!valid_name("a-b"));
        assert!(!valid_name(""));
        assert!(!valid_name(&"a".repeat(64)));
    }
}
