//! The registry in Postgres (schema `models`, migration 0008): versions, the active version
//! per name, and the activation history. All SQL of the schema is here.
//!
//! Versions are numbered per name under a lock on the name's row, are immutable and are
//! never deleted. Activation and rollback update the active version and append to the
//! history in one transaction that also notifies [`CHANNEL`], so every running instance
//! swaps models at once (each also polls, in case a notification is lost). Rollback returns
//! to the version active before the current one: the history is replayed as a stack, an
//! activation pushing and a rollback popping, so repeated rollbacks walk back in time.

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;

use crate::validate::{Report, validate};

/// The notification channel: the payload is the model name whose active version changed.
pub const CHANNEL: &str = "lyra_models";

/// What can go wrong in the registry, apart from the database.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No model of that name was ever uploaded.
    #[error("no model named {0:?}")]
    UnknownModel(String),
    /// The model has no such version.
    #[error("model {0:?} has no version {1}")]
    UnknownVersion(String, i32),
    /// Rollback with no earlier active version.
    #[error("model {0:?} has no earlier active version to roll back to")]
    NothingToRollBack(String),
    /// The database.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// A version as listed.
#[derive(Debug, Clone, Serialize)]
pub struct VersionInfo {
    /// Version number, 1, 2, … per name.
    pub version: i32,
    /// SHA-256 of model.onnx, hex.
    pub sha256: String,
    /// Size of model.onnx.
    pub bytes: i64,
    /// Who uploaded it (the token's subject).
    pub uploaded_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_at: OffsetDateTime,
    /// The contract's description.
    pub description: String,
    /// The validation report.
    pub validation: serde_json::Value,
}

/// One change of the active version.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// `activate` or `rollback`.
    pub action: String,
    /// The version made active.
    pub version: i32,
    /// The version active before, if any.
    pub previous: Option<i32>,
    /// Who did it.
    pub by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A model as listed by `GET /v1/models`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    /// Its name.
    pub name: String,
    /// The version served, if any.
    pub active_version: Option<i32>,
    /// The newest version.
    pub latest_version: Option<i32>,
    /// Number of versions.
    pub versions: i64,
    /// When the active version was set.
    #[serde(with = "time::serde::rfc3339::option")]
    pub activated_at: Option<OffsetDateTime>,
}

/// A model with its versions and history (`GET /v1/models/{name}`).
#[derive(Debug, Clone, Serialize)]
pub struct ModelDetail {
    /// Its name.
    pub name: String,
    /// The version served, if any.
    pub active_version: Option<i32>,
    /// The served version's contract (its input columns, outputs, segment names…), so that
    /// clients such as the pipeline send exactly what it takes.
    pub active_contract: Option<serde_json::Value>,
    /// Every version, newest first.
    pub versions: Vec<VersionInfo>,
    /// Every activation and rollback, newest first.
    pub history: Vec<HistoryEntry>,
}

/// The result of an activation or a rollback.
#[derive(Debug, Clone, Serialize)]
pub struct Activated {
    /// The model.
    pub name: String,
    /// The version now active.
    pub version: i32,
    /// The version active before.
    pub previous: Option<i32>,
    /// False when the version was already active (nothing was recorded).
    pub changed: bool,
}

/// A stored version.
#[derive(Debug, Clone, Serialize)]
pub struct Stored {
    /// The model.
    pub name: String,
    /// The new version number.
    pub version: i32,
    /// SHA-256 of model.onnx, hex.
    pub sha256: String,
}

/// A validated upload, ready to store.
#[derive(Debug)]
pub struct NewVersion<'a> {
    /// Model name.
    pub name: &'a str,
    /// model.onnx.
    pub onnx: &'a [u8],
    /// contract.json as uploaded.
    pub contract: &'a serde_json::Value,
    /// sample.json as uploaded.
    pub sample: &'a serde_json::Value,
    /// Who uploads it.
    pub uploaded_by: &'a str,
    /// The passing validation report.
    pub report: &'a Report,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Stores a validated version under the next number for its name.
pub async fn store(pool: &PgPool, v: NewVersion<'_>) -> Result<Stored, RegistryError> {
    let sha = Sha256::digest(v.onnx).to_vec();
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO models.models (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
        .bind(v.name)
        .execute(&mut *tx)
        .await?;
    lock(&mut tx, v.name).await?;
    let version: i32 = sqlx::query_scalar(
        "SELECT coalesce(max(version), 0) + 1 FROM models.versions WHERE name = $1",
    )
    .bind(v.name)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO models.versions (name, version, onnx, contract, sample, sha256, uploaded_by, validation)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(v.name)
    .bind(version)
    .bind(v.onnx)
    .bind(v.contract)
    .bind(v.sample)
    .bind(&sha)
    .bind(v.uploaded_by)
    .bind(serde_json::to_value(v.report).unwrap_or_default())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Stored {
        name: v.name.to_string(),
        version,
        sha256: hex(&sha),
    })
}

/// Locks the model's row for this transaction; `None` when there is no such model.
async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
) -> Result<Option<i32>, RegistryError> {
    let row: Option<(Option<i32>,)> =
        sqlx::query_as("SELECT active_version FROM models.models WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(&mut **tx)
            .await?;
    match row {
        None => Err(RegistryError::UnknownModel(name.to_string())),
        Some((active,)) => Ok(active),
    }
}

/// Makes `version` the active version of `name` and tells every instance.
pub async fn activate(
    pool: &PgPool,
    name: &str,
    version: i32,
    by: &str,
) -> Result<Activated, RegistryError> {
    let mut tx = pool.begin().await?;
    let previous = lock(&mut tx, name).await?;
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM models.versions WHERE name = $1 AND version = $2)",
    )
    .bind(name)
    .bind(version)
    .fetch_one(&mut *tx)
    .await?;
    if !exists {
        return Err(RegistryError::UnknownVersion(name.to_string(), version));
    }
    if previous == Some(version) {
        return Ok(Activated {
            name: name.to_string(),
            version,
            previous,
            changed: false,
        });
    }
    switch(&mut tx, name, "activate", version, previous, by).await?;
    tx.commit().await?;
    tracing::info!(
        model = name,
        version,
        ?previous,
        by,
        "model {name} version {version} activated"
    );
    Ok(Activated {
        name: name.to_string(),
        version,
        previous,
        changed: true,
    })
}

/// Returns `name` to the version that was active before the current one.
pub async fn rollback(pool: &PgPool, name: &str, by: &str) -> Result<Activated, RegistryError> {
    let mut tx = pool.begin().await?;
    let previous = lock(&mut tx, name).await?;
    let history: Vec<(String, i32)> = sqlx::query_as(
        "SELECT action, version FROM models.activations WHERE name = $1 ORDER BY activation_id",
    )
    .bind(name)
    .fetch_all(&mut *tx)
    .await?;
    let target = rollback_target(&history)
        .ok_or_else(|| RegistryError::NothingToRollBack(name.to_string()))?;
    switch(&mut tx, name, "rollback", target, previous, by).await?;
    tx.commit().await?;
    tracing::info!(
        model = name,
        version = target,
        ?previous,
        by,
        "model {name} rolled back to version {target}"
    );
    Ok(Activated {
        name: name.to_string(),
        version: target,
        previous,
        changed: true,
    })
}

async fn switch(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
    action: &str,
    version: i32,
    previous: Option<i32>,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE models.models SET active_version = $2, activated_at = now() WHERE name = $1",
    )
    .bind(name)
    .bind(version)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO models.activations (name, action, version, previous, activated_by)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(name)
    .bind(action)
    .bind(version)
    .bind(previous)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    // Delivered at commit, to every instance listening.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The version a rollback returns to: the history replayed as a stack (an activation
/// pushes its version, a rollback pops), the element under the top.
pub fn rollback_target(history: &[(String, i32)]) -> Option<i32> {
    let mut stack = Vec::new();
    for (action, version) in history {
        if action == "rollback" {
            stack.pop();
        } else {
            stack.push(*version);
        }
    }
    stack.len().checked_sub(2).map(|i| stack[i])
}

/// Every model with its active and latest version.
pub async fn list(pool: &PgPool) -> Result<Vec<ModelSummary>, sqlx::Error> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        String,
        Option<i32>,
        Option<i32>,
        i64,
        Option<OffsetDateTime>,
    )> = sqlx::query_as(
        "SELECT m.name, m.active_version, max(v.version), count(v.version), m.activated_at
           FROM models.models m LEFT JOIN models.versions v USING (name)
          GROUP BY m.name ORDER BY m.name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(name, active_version, latest_version, versions, activated_at)| ModelSummary {
                name,
                active_version,
                latest_version,
                versions,
                activated_at,
            },
        )
        .collect())
}

/// One model with its versions and history.
pub async fn describe(pool: &PgPool, name: &str) -> Result<ModelDetail, RegistryError> {
    let active: Option<(Option<i32>,)> =
        sqlx::query_as("SELECT active_version FROM models.models WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    let Some((active_version,)) = active else {
        return Err(RegistryError::UnknownModel(name.to_string()));
    };
    #[allow(clippy::type_complexity)]
    let versions: Vec<(
        i32,
        Vec<u8>,
        i64,
        String,
        OffsetDateTime,
        Option<String>,
        serde_json::Value,
    )> = sqlx::query_as(
        "SELECT version, sha256, length(onnx)::bigint, uploaded_by, uploaded_at,
                    contract ->> 'description', validation
               FROM models.versions WHERE name = $1 ORDER BY version DESC",
    )
    .bind(name)
    .fetch_all(pool)
    .await?;
    let active_contract: Option<serde_json::Value> = match active_version {
        Some(version) => {
            sqlx::query_scalar(
                "SELECT contract FROM models.versions WHERE name = $1 AND version = $2",
            )
            .bind(name)
            .bind(version)
            .fetch_optional(pool)
            .await?
        }
        None => None,
    };
    let history: Vec<(String, i32, Option<i32>, String, OffsetDateTime)> = sqlx::query_as(
        "SELECT action, version, previous, activated_by, activated_at FROM models.activations
          WHERE name = $1 ORDER BY activation_id DESC",
    )
    .bind(name)
    .fetch_all(pool)
    .await?;
    Ok(ModelDetail {
        name: name.to_string(),
        active_version,
        active_contract,
        versions: versions
            .into_iter()
            .map(
                |(version, sha, bytes, uploaded_by, uploaded_at, description, validation)| {
                    VersionInfo {
                        version,
                        sha256: hex(&sha),
                        bytes,
                        uploaded_by,
                        uploaded_at,
                        description: description.unwrap_or_default(),
                        validation,
                    }
                },
            )
            .collect(),
        history: history
            .into_iter()
            .map(|(action, version, previous, by, at)| HistoryEntry {
                action,
                version,
                previous,
                by,
                at,
            })
            .collect(),
    })
}

/// The active version of every model that has one.
pub async fn active_versions(pool: &PgPool) -> Result<Vec<(String, i32)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, active_version FROM models.models WHERE active_version IS NOT NULL",
    )
    .fetch_all(pool)
    .await
}

/// When the most recent activation or roll-back of any model happened (`None` before the
/// first): results computed before it may come from a version no longer served.
pub async fn last_activation(pool: &PgPool) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    sqlx::query_scalar("SELECT max(activated_at) FROM models.models")
        .fetch_one(pool)
        .await
}

/// Whether `name` exists, and its active version.
pub async fn active_version(pool: &PgPool, name: &str) -> Result<Option<Option<i32>>, sqlx::Error> {
    let row: Option<(Option<i32>,)> =
        sqlx::query_as("SELECT active_version FROM models.models WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(v,)| v))
}

/// model.onnx and contract.json of a version.
pub async fn load(
    pool: &PgPool,
    name: &str,
    version: i32,
) -> Result<(Vec<u8>, serde_json::Value), RegistryError> {
    sqlx::query_as("SELECT onnx, contract FROM models.versions WHERE name = $1 AND version = $2")
        .bind(name)
        .bind(version)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| RegistryError::UnknownVersion(name.to_string(), version))
}

/// What [`register_dir`] did with one model directory.
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    /// The model (directory name).
    pub name: String,
    /// Its version in the registry.
    pub version: i32,
    /// False when a version with the same model.onnx and contract was registered already.
    pub new: bool,
    /// Whether it is now active.
    pub active: bool,
}

/// The three files of a model directory: model.onnx, contract.json, sample.json.
pub fn read_model_dir(
    dir: &Path,
) -> anyhow::Result<(Vec<u8>, serde_json::Value, serde_json::Value)> {
    use anyhow::Context;
    let read = |file: &str| {
        std::fs::read(dir.join(file))
            .with_context(|| format!("{}: cannot read {file}", dir.display()))
    };
    let json = |file: &str| -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&read(file)?)
            .with_context(|| format!("{}: {file} is not JSON", dir.display()))
    };
    Ok((
        read("model.onnx")?,
        json("contract.json")?,
        json("sample.json")?,
    ))
}

/// Registers every model directory under `dir` (each `<name>/` with model.onnx,
/// contract.json and sample.json): validates it and stores it as a new version unless a
/// version with the same model.onnx and contract is registered already; with `activate_new`
/// the versions it stores become active, and the others are left as they are (so an
/// activation or roll-back made since stays). `lyra up` calls it at every start, so the
/// demo serves the committed models of the checkout once they change. Any invalid model
/// stops the whole call, with its report.
pub async fn register_dir(
    pool: &PgPool,
    dir: &Path,
    activate_new: bool,
) -> anyhow::Result<Vec<Registered>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut done = Vec::new();
    let by = "lyra register_dir";
    for name in names {
        let mut registered = register_one(pool, &dir.join(&name), &name, false, by).await?;
        if activate_new && registered.new {
            activate(pool, &name, registered.version, by).await?;
            registered.active = true;
        }
        done.push(registered);
    }
    Ok(done)
}

/// Registers one model directory under `name` (see [`register_dir`]); with `activate` the
/// version, new or not, becomes the active one.
pub async fn register_one(
    pool: &PgPool,
    path: &Path,
    name: &str,
    activate_new: bool,
    by: &str,
) -> anyhow::Result<Registered> {
    let (onnx, contract, sample) = read_model_dir(path)?;
    let sha = Sha256::digest(&onnx).to_vec();
    let same: Option<i32> = sqlx::query_scalar(
        "SELECT version FROM models.versions WHERE name = $1 AND sha256 = $2 AND contract = $3
          ORDER BY version DESC LIMIT 1",
    )
    .bind(name)
    .bind(&sha)
    .bind(&contract)
    .fetch_optional(pool)
    .await?;
    let (version, new) = match same {
        Some(version) => (version, false),
        None => {
            let (n, o, c, s) = (
                name.to_string(),
                onnx.clone(),
                contract.clone(),
                sample.clone(),
            );
            let checked =
                tokio::task::spawn_blocking(move || validate(&n, &o, &c, &s).map(|v| v.report))
                    .await?;
            let report = checked.map_err(|r| {
                anyhow::anyhow!(
                    "{}: model {name:?} failed validation:\n{}",
                    path.display(),
                    r.text()
                )
            })?;
            let stored = store(
                pool,
                NewVersion {
                    name,
                    onnx: &onnx,
                    contract: &contract,
                    sample: &sample,
                    uploaded_by: by,
                    report: &report,
                },
            )
            .await?;
            (stored.version, true)
        }
    };
    let mut active = active_version(pool, name).await?.flatten() == Some(version);
    if activate_new && !active {
        activate(pool, name, version, by).await?;
        active = true;
    }
    Ok(Registered {
        name: name.to_string(),
        version,
        new,
        active,
    })
}

#[cfg(test)]
mod tests {
    use super::rollback_target;

    fn h(steps: &[(&str, i32)]) -> Vec<(String, i32)> {
        steps.iter().map(|(a, v)| (a.to_string(), *v)).collect()
    }

    #[test]
    fn rollback_walks_back_through_activations() {
        assert_eq!(rollback_target(&h(&[])), None);
        assert_eq!(rollback_target(&h(&[("activate", 1)])), None);
        assert_eq!(
            rollback_target(&h(&[("activate", 1), ("activate", 2)])),
            Some(1)
        );
        let three = [("activate", 1), ("activate", 2), ("activate", 3)];
        assert_eq!(rollback_target(&h(&three)), Some(2));
        let mut once = three.to_vec();
        once.push(("rollback", 2));
        assert_eq!(
            rollback_target(&h(&once)),
            Some(1),
            "a second rollback goes further back"
        );
        once.push(("rollback", 1));
        assert_eq!(rollback_target(&h(&once)), None);
        once.push(("activate", 3));
        assert_eq!(rollback_target(&h(&once)), Some(1));
    }
}
