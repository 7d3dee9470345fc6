//! `lyra models …`: the model registry from the command line, against the database (the
//! owner role, like `lyra admin`), through model-svc's registry functions. Activations and
//! rollbacks notify running model-svc instances, which swap models at once.

use std::path::PathBuf;

use clap::Subcommand;
use lyra_model_svc::registry;

use crate::db;

/// The model commands.
#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Validate and store a model directory (model.onnx, contract.json, sample.json) as a
    /// new version; nothing is stored when validation fails, and re-uploading the newest
    /// version's files stores nothing new.
    Upload {
        /// The directory.
        dir: PathBuf,
        /// The model's name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Also make it the active version.
        #[arg(long)]
        activate: bool,
    },
    /// Make a version the active one.
    Activate {
        /// Model name.
        name: String,
        /// Version number.
        version: i32,
    },
    /// Return to the version active before the current one.
    Rollback {
        /// Model name.
        name: String,
    },
    /// Every model with its active and latest version.
    List,
}

fn who() -> String {
    format!(
        "lyra-cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

/// Runs a models command.
pub async fn run(command: ModelsCommand) -> anyhow::Result<()> {
    let pool = db::admin_pool().await?;
    match command {
        ModelsCommand::Upload {
            dir,
            name,
            activate,
        } => {
            let name = match name {
                Some(n) => n,
                None => dir
                    .canonicalize()?
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| anyhow::anyhow!("{}: give --name", dir.display()))?,
            };
            let done = registry::register_one(&pool, &dir, &name, activate, &who()).await?;
            println!(
                "{} version {}: {}{}",
                done.name,
                done.version,
                if done.new {
                    "validated and stored"
                } else {
                    "already the newest version"
                },
                if done.active { ", active" } else { "" }
            );
        }
        ModelsCommand::Activate { name, version } => {
            let done = registry::activate(&pool, &name, version, &who()).await?;
            println!(
                "{name}: version {} active (was {})",
                done.version,
                done.previous
                    .map(|v| v.to_string())
                    .unwrap_or("none".into())
            );
        }
        ModelsCommand::Rollback { name } => {
            let done = registry::rollback(&pool, &name, &who()).await?;
            println!(
                "{name}: rolled back to version {} (was {})",
                done.version,
                done.previous
                    .map(|v| v.to_string())
                    .unwrap_or("none".into())
            );
        }
        ModelsCommand::List => {
            println!(
                "{:<24} {:>7} {:>7} {:>9}",
                "model", "active", "latest", "versions"
            );
            for m in registry::list(&pool).await? {
                let show = |v: Option<i32>| v.map(|v| v.to_string()).unwrap_or("-".into());
                println!(
                    "{:<24} {:>7} {:>7} {:>9}",
                    m.name,
                    show(m.active_version),
                    show(m.latest_version),
                    m.versions
                );
            }
        }
    }
    pool.close().await;
    Ok(())
}
