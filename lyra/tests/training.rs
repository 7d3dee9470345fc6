//! Training end to end, as the team retrains the demo models: a generated bank, `ml/train`
//! exporting its features with the lyra binary and training the four models in the pinned
//! Python environment (`ml/venv`), and model-svc's registry accepting what it wrote — tract
//! loads every model and reproduces the sample outputs Python computed. A cut-off too early
//! for the data is refused with what it needs and writes nothing; exporting again gives the
//! same bytes.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use lyra_common::testing::{TestDb, fresh_db};

const MODELS: [(&str, &str); 4] = [
    ("segmentation", "adjusted Rand"),
    ("purchasing_power", "BG/NBD"),
    ("category_propensity", "popularity"),
    ("demand_forecast", "AutoETS"),
];

fn ml_train(db: &TestDb, cutoff: &str, work: &Path) -> Output {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    Command::new(repo.join("ml/train"))
        .env("LYRA_BIN", env!("CARGO_BIN_EXE_lyra"))
        .env_remove("LYRA_CONFIG")
        .stdin(Stdio::null())
        .args(["--database-url", db.admin_url(), "--cutoff", cutoff])
        .arg("--work")
        .arg(work.join(format!("snapshots-{cutoff}")))
        .arg("--out")
        .arg(work.join("models"))
        .arg("--reports")
        .arg(work.join("reports"))
        .output()
        .expect("running ml/train")
}

fn printed(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ml_train_turns_a_bank_into_four_models_model_svc_accepts() {
    let db = fresh_db().await;
    support::small_bank(&db).await;
    let work = tempfile::tempdir().unwrap();

    // The data starts on 1 May 2025: four months are too few weeks for the demand model's
    // validation split. The run says so before training anything.
    let early = ml_train(&db, "2025-09-01", work.path());
    let said = printed(&early);
    assert!(!early.status.success(), "{said}");
    assert!(
        said.contains(
            "demand: the weeks from 2025-04-28 to the cut-off 2025-09-01 give 10 training origins"
        ) && said.contains("pick a cut-off at least 26 weeks after 2025-04-28"),
        "{said}"
    );
    assert!(!work.path().join("models").exists(), "nothing written");

    let run = ml_train(&db, "2026-08-03", work.path());
    let said = printed(&run);
    assert!(run.status.success(), "{said}");
    // Purchasing power stacks earlier 90-day windows only where a whole year of history
    // precedes them; this bank's 18 months hold none.
    assert!(
        said.contains("no purchasing-power snapshot as of 2026-02-02: the data starts on"),
        "{said}"
    );
    for (name, baseline) in MODELS {
        let dir = work.path().join("models").join(name);
        for file in ["model.onnx", "contract.json", "sample.json"] {
            assert!(dir.join(file).is_file(), "{name}/{file} missing:\n{said}");
        }
        let contract: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("contract.json")).unwrap()).unwrap();
        assert_eq!(contract["training"]["cutoff"], "2026-08-03", "{name}");
        assert!(
            !contract["metrics"]["goals"].as_array().unwrap().is_empty(),
            "{name}: the contract carries the goals"
        );
        let report =
            std::fs::read_to_string(work.path().join("reports").join(format!("{name}.md")))
                .unwrap();
        assert!(
            report.contains("## Goals") && report.contains(baseline),
            "{name}'s report names its goals and its baseline {baseline}"
        );
    }

    // A generated bank carries the generator's truth: ml/train hands it to the
    // purchasing-power report, which scores it as the forecast no model can beat. Every goal
    // with a baseline comes with the interval of the comparison.
    let reports = work.path().join("reports");
    let pp = std::fs::read_to_string(reports.join("purchasing_power.md")).unwrap();
    assert!(
        pp.contains("## Against the generator's truth") && pp.contains("| the truth (oracle) |"),
        "{pp}"
    );
    let summary = std::fs::read_to_string(reports.join("summary.md")).unwrap();
    assert!(
        summary.contains("vs baseline (95% interval)") && summary.contains("% .. "),
        "{summary}"
    );

    // The export is reproducible to the byte, so retraining on the same data gives the same
    // models (the BG/NBD spend was once a float sum in no fixed order).
    let again = work.path().join("again");
    let export = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .env_remove("LYRA_CONFIG")
        .env("DATABASE_URL", db.admin_url())
        .args(["features", "export", "--as-of", "2026-08-03", "--out"])
        .arg(&again)
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", printed(&export));
    let used = work.path().join("snapshots-2026-08-03/holdout");
    for file in ["customers.parquet", "merchant_weeks.parquet"] {
        assert!(
            std::fs::read(used.join(file)).unwrap() == std::fs::read(again.join(file)).unwrap(),
            "a second export wrote another {file}"
        );
    }

    let admin = db.admin_pool().await;
    let registered =
        lyra_model_svc::registry::register_dir(&admin, &work.path().join("models"), true)
            .await
            .expect("every trained model passes the registry's validation in tract");
    assert_eq!(registered.len(), 4, "{registered:?}");
    let active = lyra_model_svc::registry::active_versions(&admin)
        .await
        .unwrap();
    assert_eq!(active.len(), 4, "{active:?}");
}
