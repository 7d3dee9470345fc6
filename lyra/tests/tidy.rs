//! Architecture invariants, checked on the source tree (in the spirit of rust-analyzer's
//! tidy tests): what ARCHITECTURE.md promises is true of the code.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

const SERVICES: [&str; 7] = [
    "gateway",
    "app",
    "auth",
    "metrics",
    "model-svc",
    "ingest",
    "pipeline",
];

fn members() -> Vec<String> {
    let manifest = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let start = manifest.find("members = [").unwrap();
    let end = start + manifest[start..].find(']').unwrap();
    manifest[start..end]
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("target")
                && !path.file_name().unwrap().to_string_lossy().starts_with('.')
            {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_service_folder_is_a_workspace_crate() {
    let members = members();
    for service in SERVICES {
        assert!(
            members.contains(&service.to_string()),
            "{service} is not a workspace member"
        );
    }
}

#[test]
fn every_crate_has_a_module_doc() {
    for member in members() {
        for file in ["src/lib.rs", "src/main.rs"] {
            let path = root().join(&member).join(file);
            if let Ok(text) = fs::read_to_string(&path) {
                assert!(
                    text.starts_with("//!"),
                    "{} does not start with a //! doc",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn no_service_depends_on_another_service() {
    for service in SERVICES {
        let manifest = fs::read_to_string(root().join(service).join("Cargo.toml")).unwrap();
        for other in SERVICES {
            let dependency = format!("lyra-{other}");
            if other != service {
                assert!(
                    !manifest.contains(&dependency),
                    "{service} depends on {dependency}"
                );
            }
        }
        assert!(
            !manifest.contains("lyra-datagen"),
            "{service} depends on the generator"
        );
    }
}

#[test]
fn only_the_shared_crate_sets_the_tenant() {
    let mut files = Vec::new();
    rust_files(&root(), &mut files);
    let allowed = root().join("common/src/db.rs");
    for file in files {
        if file.ends_with("tests/tidy.rs") {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        if (text.contains("app.org_id") || text.contains("app.user_id")) && file != allowed {
            let is_test = file.components().any(|c| c.as_os_str() == "tests");
            // Tests may mention it only to prove the wall holds, never to set it.
            assert!(
                is_test && !text.contains("set_config"),
                "{} sets app.org_id",
                file.display()
            );
        }
    }
}

#[test]
fn polars_stays_in_the_pipeline() {
    for member in members() {
        if member == "pipeline" {
            continue;
        }
        let manifest = fs::read_to_string(root().join(&member).join("Cargo.toml")).unwrap();
        assert!(!manifest.contains("polars"), "{member} depends on polars");
    }
}

#[test]
fn migrations_are_append_only_and_numbered() {
    let mut names: Vec<String> = fs::read_dir(root().join("infra/migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for (i, name) in names.iter().enumerate() {
        let expected = format!("{:04}_", i + 1);
        assert!(
            name.starts_with(&expected) && name.ends_with(".sql"),
            "{name}: expected {expected}….sql"
        );
    }
}

#[test]
fn only_model_svc_touches_the_model_registry() {
    // The models schema is written as lyra_app, a role other services share: the code is
    // the wall. Others reach the registry through model-svc's API or its library (lyra).
    let mut files = Vec::new();
    rust_files(&root(), &mut files);
    for file in files {
        if file.starts_with(root().join("model-svc")) || file.ends_with("tests/tidy.rs") {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        for table in ["models.models", "models.versions", "models.activations"] {
            assert!(
                !text.contains(table),
                "{} names {table}: go through lyra_model_svc::registry",
                file.display()
            );
        }
    }
}
