//! The contract test of every model: for each directory under `ml/models/` (the committed,
//! trained models) and under `model-svc/tests/fixtures/`, tract must load `model.onnx`,
//! match `contract.json` and reproduce the outputs Python wrote to `sample.json` within the
//! contract's tolerance — the same validation an upload goes through. A model directory
//! missing one of the three files fails the test.

use std::path::{Path, PathBuf};

use lyra_model_svc::registry::read_model_dir;
use lyra_model_svc::validate::validate;

const FILES: [&str; 3] = ["model.onnx", "contract.json", "sample.json"];

fn model_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn check(dir: &Path) -> String {
    for file in FILES {
        assert!(
            dir.join(file).is_file(),
            "{}: {file} is missing (a model directory holds {})",
            dir.display(),
            FILES.join(", ")
        );
    }
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let (onnx, contract, sample) = read_model_dir(dir).unwrap();
    match validate(&name, &onnx, &contract, &sample) {
        Ok(v) => format!(
            "{name}: {} sample rows reproduced, max abs error {:?}",
            v.report.sample_rows, v.report.max_abs_error
        ),
        Err(report) => panic!(
            "{}: tract does not honour the contract:\n{}",
            dir.display(),
            report.text()
        ),
    }
}

#[test]
fn every_committed_model_reproduces_pythons_outputs_in_tract() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let committed = model_dirs(&root.join("ml/models"));
    for dir in &committed {
        eprintln!("{}", check(dir));
    }
    eprintln!("{} committed model(s) under ml/models", committed.len());
}

#[test]
fn every_fixture_model_reproduces_pythons_outputs_in_tract() {
    let fixtures = model_dirs(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    assert!(fixtures.len() >= 3, "the fixtures are missing");
    for dir in &fixtures {
        eprintln!("{}", check(dir));
    }
}
