//! Each kind of bad upload fails validation with a report that names the problem: what was
//! checked, what was expected, what was found. The uploads are the fixture models, spoiled
//! one way at a time.

use std::path::Path;

use lyra_model_svc::registry::read_model_dir;
use lyra_model_svc::validate::{Report, validate};
use serde_json::Value;

fn fixture(name: &str) -> (Vec<u8>, Value, Value) {
    read_model_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

fn refused(name: &str, onnx: &[u8], contract: &Value, sample: &Value) -> Report {
    let report = validate(name, onnx, contract, sample).expect_err("validation should fail");
    assert!(!report.ok);
    assert!(!report.problems.is_empty());
    report
}

fn assert_names(report: &Report, needles: &[&str]) {
    let text = report.text();
    for needle in needles {
        assert!(
            text.contains(needle),
            "{needle:?} not in the report:\n{text}"
        );
    }
}

#[test]
fn the_fixture_passes_as_it_is() {
    let (onnx, contract, sample) = fixture("mlp_spend");
    let v = validate("mlp_spend", &onnx, &contract, &sample).unwrap();
    assert!(v.report.ok && v.report.problems.is_empty());
    assert_eq!(v.report.sample_rows, 16);
    assert_eq!(v.report.passed.len(), 5, "{:?}", v.report.passed);
}

#[test]
fn garbage_instead_of_onnx() {
    let (_, contract, sample) = fixture("mlp_spend");
    let report = refused(
        "mlp_spend",
        b"this is not an ONNX model \x00\xff\x13",
        &contract,
        &sample,
    );
    assert_eq!(report.problems[0].what, "model.onnx", "{}", report.text());
    assert_names(&report, &["model.onnx: expected an ONNX model"]);
}

#[test]
fn a_contract_narrower_than_the_model_input() {
    let (onnx, mut contract, mut sample) = fixture("mlp_spend");
    contract["input"]["columns"].as_array_mut().unwrap().pop();
    for row in sample["input"].as_array_mut().unwrap() {
        row.as_array_mut().unwrap().pop();
    }
    let report = refused("mlp_spend", &onnx, &contract, &sample);
    assert_names(
        &report,
        &[
            "input \"features\" shape: expected [batch, 53]",
            "found [batch, 54]",
        ],
    );
}

#[test]
fn a_sample_row_of_the_wrong_width() {
    let (onnx, contract, mut sample) = fixture("mlp_spend");
    sample["input"][2].as_array_mut().unwrap().push(1.0.into());
    let report = refused("mlp_spend", &onnx, &contract, &sample);
    assert_names(
        &report,
        &["sample.input row 2: expected 54 values", "found 55 values"],
    );
}

#[test]
fn an_output_name_the_model_does_not_have() {
    let (onnx, mut contract, mut sample) = fixture("mlp_spend");
    contract["outputs"][0]["name"] = "spend".into();
    let outputs = sample["outputs"].as_object_mut().unwrap();
    let values = outputs.remove("spend_90d").unwrap();
    outputs.insert("spend".into(), values);
    let report = refused("mlp_spend", &onnx, &contract, &sample);
    assert_names(
        &report,
        &[
            "output \"spend\": expected an output of the model with this name",
            "found model outputs \"spend_90d\"",
            "model output \"spend_90d\": expected only the contract's outputs (\"spend\")",
        ],
    );
}

#[test]
fn an_output_dtype_other_than_the_models() {
    let (onnx, mut contract, mut sample) = fixture("kmeans_segments");
    contract["outputs"][0]["dtype"] = "float32".into();
    let _ = &mut sample;
    let report = refused("kmeans_segments", &onnx, &contract, &sample);
    assert_names(
        &report,
        &["output \"segment\" dtype: expected float32, found int64"],
    );
}

#[test]
fn an_output_narrower_than_the_contract() {
    let (onnx, mut contract, mut sample) = fixture("logistic_propensity");
    contract["outputs"][0]["columns"]
        .as_array_mut()
        .unwrap()
        .push("lottery".into());
    for row in sample["outputs"]["probability"].as_array_mut().unwrap() {
        row.as_array_mut().unwrap().push(0.5.into());
    }
    let report = refused("logistic_propensity", &onnx, &contract, &sample);
    assert_names(
        &report,
        &[
            "output \"probability\" shape: expected [batch, 21]",
            "found [batch, 20]",
        ],
    );
}

#[test]
fn sample_outputs_python_did_not_produce() {
    let (onnx, contract, mut sample) = fixture("mlp_spend");
    let cell = &mut sample["outputs"]["spend_90d"][3][1];
    *cell = (cell.as_f64().unwrap() * 1.01).into();
    let report = refused("mlp_spend", &onnx, &contract, &sample);
    assert_eq!(report.problems.len(), 1, "{}", report.text());
    assert_names(
        &report,
        &[
            "sample output \"spend_90d\" row 3 column \"p50\": expected",
            "(tolerance abs 0.001 + rel 0.0001), found",
        ],
    );
}

#[test]
fn many_wrong_values_are_counted_and_the_first_listed() {
    let (onnx, contract, mut sample) = fixture("logistic_propensity");
    for row in sample["outputs"]["probability"].as_array_mut().unwrap() {
        for v in row.as_array_mut().unwrap() {
            *v = (v.as_f64().unwrap() + 0.5).into();
        }
    }
    let report = refused("logistic_propensity", &onnx, &contract, &sample);
    assert_eq!(report.problems.len(), 6, "{}", report.text());
    assert_names(
        &report,
        &["320 of 320 values outside it (the first 5 are listed)"],
    );
}

#[test]
fn a_contract_for_another_name_or_without_its_fields() {
    let (onnx, contract, sample) = fixture("mlp_spend");
    let report = refused("purchasing_power", &onnx, &contract, &sample);
    assert_names(
        &report,
        &[
            "contract.name: expected \"purchasing_power\"",
            "found \"mlp_spend\"",
        ],
    );
    let mut bare = contract.clone();
    bare.as_object_mut().unwrap().remove("outputs");
    let report = refused("mlp_spend", &onnx, &bare, &sample);
    assert_names(
        &report,
        &[
            "contract.json: expected a model contract",
            "missing field `outputs`",
        ],
    );
    let report = refused("Bad-Name", &onnx, &contract, &sample);
    assert_names(&report, &["model name: expected lower-case letters"]);
}

#[test]
fn any_batch_size_runs_in_chunks_and_matches_each_row_alone() {
    let (onnx, contract, sample) = fixture("kmeans_segments");
    let model = validate("kmeans_segments", &onnx, &contract, &sample)
        .unwrap()
        .model;
    let rows: Vec<Vec<f32>> = sample["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    let width = rows[0].len();
    for batch in [3, 1027, 2100] {
        let input: Vec<f32> = (0..batch)
            .flat_map(|r| rows[r % rows.len()].clone())
            .collect();
        let out = model.infer(&input, batch).unwrap();
        assert_eq!(out.rows, batch);
        assert_eq!(out.values[1].len(), batch * 8);
        for r in [0, 1, batch / 2, batch - 1] {
            let alone = model.infer(&input[r * width..(r + 1) * width], 1).unwrap();
            assert_eq!(
                out.values[0].get_f64(r),
                alone.values[0].get_f64(0),
                "segment of row {r} in a batch of {batch}"
            );
            for c in 0..8 {
                let (a, b) = (out.values[1].get_f64(r * 8 + c), alone.values[1].get_f64(c));
                assert!(
                    (a - b).abs() <= 1e-4 * a.abs().max(1.0),
                    "row {r} of {batch}: {a} vs {b}"
                );
            }
        }
    }
}
