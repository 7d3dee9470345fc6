//! Validation of an upload (`model.onnx`, `contract.json`, `sample.json`) before anything is
//! stored: the contract is sane and carries the name it is uploaded under, the model loads
//! in tract, its input and outputs match the contract, and the sample's expected outputs
//! (computed by the exporting Python code) are reproduced within the contract's tolerance.
//!
//! The [`Report`] lists every problem found as what / expected / found, so that a failed
//! upload says exactly what to fix. Blocking CPU work (tract loads and runs the model).

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::contract::{Contract, Problem, Sample};
use crate::inference::Model;

/// At most this many wrong values are listed per output (the count says how many in all).
const MISMATCHES_LISTED: usize = 5;

/// What validation found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// True when there is no problem.
    pub ok: bool,
    /// Every failed check.
    pub problems: Vec<Problem>,
    /// The checks that passed, in the order they ran.
    pub passed: Vec<String>,
    /// Rows in the sample.
    pub sample_rows: usize,
    /// Largest absolute difference from the expected sample output, per output.
    pub max_abs_error: BTreeMap<String, f64>,
    /// Time to load and optimize the model in tract, in milliseconds.
    pub load_ms: u64,
}

impl Report {
    fn new() -> Report {
        Report {
            ok: false,
            problems: Vec::new(),
            passed: Vec::new(),
            sample_rows: 0,
            max_abs_error: BTreeMap::new(),
            load_ms: 0,
        }
    }

    fn fail(mut self, problems: impl IntoIterator<Item = Problem>) -> Report {
        self.problems.extend(problems);
        self.ok = false;
        self
    }

    /// The problems as text, one per line.
    pub fn text(&self) -> String {
        self.problems
            .iter()
            .map(|p| format!("- {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A model that passed validation.
pub struct Validated {
    /// Loaded and ready to serve.
    pub model: Model,
    /// The parsed contract.
    pub contract: Contract,
    /// What was checked.
    pub report: Report,
}

impl std::fmt::Debug for Validated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validated")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

/// Validates an upload for model `name`. `Err` carries the report with its problems.
pub fn validate(
    name: &str,
    onnx: &[u8],
    contract: &serde_json::Value,
    sample: &serde_json::Value,
) -> Result<Validated, Report> {
    let mut report = Report::new();
    if !crate::contract::valid_name(name) {
        return Err(report.fail([Problem::new(
            "model name",
            "lower-case letters, digits and _, starting with a letter, at most 63 characters",
            format!("{name:?}"),
        )]));
    }
    let parsed = Contract::parse(contract);
    let sample = Sample::parse(sample);
    let (contract, sample) = match (parsed, sample) {
        (Ok(c), Ok(s)) => (c, s),
        (c, s) => return Err(report.fail(c.err().into_iter().chain(s.err()))),
    };
    let problems = contract.check(name);
    if !problems.is_empty() {
        return Err(report.fail(problems));
    }
    report
        .passed
        .push("contract.json is complete and consistent".into());

    let problems = check_sample_shape(&contract, &sample);
    if !problems.is_empty() {
        return Err(report.fail(problems));
    }
    report.sample_rows = sample.input.len();
    report.passed.push(format!(
        "sample.json has {} rows of {} inputs and every contract output",
        sample.input.len(),
        contract.input.width()
    ));

    let started = Instant::now();
    let model = Model::load(onnx, &contract).map_err(|p| report.clone().fail(p))?;
    report.load_ms = started.elapsed().as_millis() as u64;
    report.passed.push(format!(
        "model.onnx loads in tract; input {:?} float32 [batch, {}] and outputs {} match the contract",
        contract.input.name,
        contract.input.width(),
        contract
            .outputs
            .iter()
            .map(|o| format!("{:?} {} [batch, {}]", o.name, o.dtype, o.width()))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let input: Vec<f32> = sample
        .input
        .iter()
        .flatten()
        .map(|v| v.map(|x| x as f32).unwrap_or(f32::NAN))
        .collect();
    let outputs = model.infer(&input, sample.input.len()).map_err(|e| {
        report.clone().fail([Problem::new(
            "running the sample",
            "the model runs on sample.input",
            format!("{e:#}"),
        )])
    })?;
    let mut problems = Vec::new();
    let tolerance = contract.tolerance;
    for (spec, values) in contract.outputs.iter().zip(&outputs.values) {
        let expected = &sample.outputs[&spec.name];
        let width = spec.width();
        let mut wrong = 0usize;
        let mut max_error = 0f64;
        for (row, cells) in expected.iter().enumerate() {
            for (col, cell) in cells.iter().enumerate() {
                let want = cell.unwrap_or(f64::NAN);
                let got = values.get_f64(row * width + col);
                if !(want.is_nan() && got.is_nan()) {
                    let error = (got - want).abs();
                    max_error = if error.is_nan() {
                        f64::INFINITY
                    } else {
                        max_error.max(error)
                    };
                }
                if !tolerance.accepts(want, got) {
                    wrong += 1;
                    if wrong <= MISMATCHES_LISTED {
                        problems.push(Problem::new(
                            format!(
                                "sample output {:?} row {row} column {:?}",
                                spec.name, spec.columns[col]
                            ),
                            format!(
                                "{want} within {} (tolerance abs {} + rel {})",
                                tolerance.abs + tolerance.rel * want.abs(),
                                tolerance.abs,
                                tolerance.rel
                            ),
                            format!("{got}"),
                        ));
                    }
                }
            }
        }
        if wrong > MISMATCHES_LISTED {
            problems.push(Problem::new(
                format!("sample output {:?}", spec.name),
                "every value reproduced within tolerance",
                format!(
                    "{wrong} of {} values outside it (the first {MISMATCHES_LISTED} are listed)",
                    expected.len() * width
                ),
            ));
        }
        report.max_abs_error.insert(spec.name.clone(), max_error);
    }
    if !problems.is_empty() {
        return Err(report.fail(problems));
    }
    report.passed.push(format!(
        "tract reproduces the sample outputs within abs {} + rel {}",
        tolerance.abs, tolerance.rel
    ));

    // Batches run in chunks (inference::CHUNKS): each output row must depend on its input
    // row only, as for MLPs, linear models and k-means. Each sample row alone must give
    // what it gave within the whole sample.
    let width = contract.input.width();
    for r in 0..sample.input.len() {
        let alone = model
            .infer(&input[r * width..(r + 1) * width], 1)
            .map_err(|e| {
                report.clone().fail([Problem::new(
                    format!("running sample row {r} alone"),
                    "the model runs on a batch of one",
                    format!("{e:#}"),
                )])
            })?;
        for ((spec, batch), single) in contract
            .outputs
            .iter()
            .zip(&outputs.values)
            .zip(&alone.values)
        {
            let w = spec.width();
            if let Some(c) =
                (0..w).find(|&c| !tolerance.accepts(batch.get_f64(r * w + c), single.get_f64(c)))
            {
                return Err(report.fail([Problem::new(
                    format!("output {:?} row {r} column {:?}", spec.name, spec.columns[c]),
                    format!(
                        "{} (as computed within the sample batch): each row's outputs depend on that row only",
                        batch.get_f64(r * w + c)
                    ),
                    format!("{} when the row is run alone", single.get_f64(c)),
                )]));
            }
        }
    }
    report
        .passed
        .push("each output row depends on its input row only".into());
    report.ok = true;
    Ok(Validated {
        model,
        contract,
        report,
    })
}

fn check_sample_shape(contract: &Contract, sample: &Sample) -> Vec<Problem> {
    let mut problems = Vec::new();
    let width = contract.input.width();
    let rows = sample.input.len();
    if rows == 0 {
        problems.push(Problem::new("sample.input", "at least one row", "no rows"));
    }
    let nan_ok = contract.nan_mask();
    for (r, row) in sample.input.iter().enumerate() {
        if row.len() != width {
            problems.push(Problem::new(
                format!("sample.input row {r}"),
                format!("{width} values (contract.input.columns)"),
                format!("{} values", row.len()),
            ));
            break;
        }
        if let Some(c) = (0..width).find(|&c| row[c].is_none() && !nan_ok[c]) {
            problems.push(Problem::new(
                format!(
                    "sample.input row {r} column {:?}",
                    contract.input.columns[c]
                ),
                "a number (the column is not in nan_allowed)",
                "null (NaN)",
            ));
            break;
        }
    }
    for spec in &contract.outputs {
        match sample.outputs.get(&spec.name) {
            None => problems.push(Problem::new(
                format!("sample.outputs.{}", spec.name),
                "the expected values of every contract output",
                format!(
                    "outputs for {}",
                    sample
                        .outputs
                        .keys()
                        .map(|k| format!("{k:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            Some(values) => {
                if values.len() != rows {
                    problems.push(Problem::new(
                        format!("sample.outputs.{}", spec.name),
                        format!("{rows} rows (one per sample.input row)"),
                        format!("{} rows", values.len()),
                    ));
                } else if let Some((r, row)) = values
                    .iter()
                    .enumerate()
                    .find(|(_, row)| row.len() != spec.width())
                {
                    problems.push(Problem::new(
                        format!("sample.outputs.{} row {r}", spec.name),
                        format!("{} values (contract columns)", spec.width()),
                        format!("{} values", row.len()),
                    ));
                }
            }
        }
    }
    problems
}
