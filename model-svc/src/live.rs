//! The models this instance serves: the active version of each name, loaded once into a
//! tract plan and shared as an `Arc`.
//!
//! A request clones the `Arc` of the version active when it starts and finishes on it,
//! whatever happens meanwhile. When the active version changes, the new one is loaded
//! beside the old (off the async runtime) and swapped in; the old one is freed when its
//! last request ends. Changes arrive by `LISTEN` on [`registry::CHANNEL`] (at once) and by
//! a poll every [`POLL_INTERVAL`] (in case a notification is lost, or the listening
//! connection is down). A name not yet loaded is loaded on its first request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lyra_common::db::Db;
use sqlx::postgres::PgListener;

use crate::contract::Contract;
use crate::inference::Model;
use crate::registry;

/// How often the active versions are polled, besides notifications.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// One model version, ready to run.
#[derive(Debug)]
pub struct Served {
    /// The model's name.
    pub name: String,
    /// Its version.
    pub version: i32,
    /// The loaded model.
    pub model: Model,
}

/// Why a name cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// No such model in the registry.
    #[error("no model named {0:?}")]
    Unknown(String),
    /// The model has versions but none is active.
    #[error("model {0:?} has no active version; activate one first")]
    NoActiveVersion(String),
    /// The database or loading failed.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The models served by this instance.
pub struct Live {
    db: Db,
    models: RwLock<HashMap<String, Arc<Served>>>,
    /// Loads one at a time, so a burst of first requests loads a model once.
    loading: tokio::sync::Mutex<()>,
}

impl Live {
    /// An empty set over the registry in `db`.
    pub fn new(db: Db) -> Arc<Live> {
        Arc::new(Live {
            db,
            models: RwLock::new(HashMap::new()),
            loading: tokio::sync::Mutex::new(()),
        })
    }

    fn cached(&self, name: &str) -> Option<Arc<Served>> {
        self.models
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    fn put(&self, served: Arc<Served>) {
        self.models
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(served.name.clone(), served);
    }

    /// The active version of `name`, loading it on first use.
    pub async fn get(&self, name: &str) -> Result<Arc<Served>, LookupError> {
        if let Some(served) = self.cached(name) {
            return Ok(served);
        }
        let _one = self.loading.lock().await;
        if let Some(served) = self.cached(name) {
            return Ok(served);
        }
        let active = registry::active_version(self.db.pool(), name)
            .await
            .map_err(anyhow::Error::from)?;
        let version = match active {
            None => return Err(LookupError::Unknown(name.to_string())),
            Some(None) => return Err(LookupError::NoActiveVersion(name.to_string())),
            Some(Some(v)) => v,
        };
        let served = self.load(name, version).await?;
        self.put(served.clone());
        Ok(served)
    }

    async fn load(&self, name: &str, version: i32) -> anyhow::Result<Arc<Served>> {
        let (onnx, contract) = registry::load(self.db.pool(), name, version).await?;
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            let contract = Contract::parse(&contract).map_err(|p| anyhow::anyhow!("{p}"))?;
            let model = Model::load(&onnx, &contract).map_err(|problems| {
                anyhow::anyhow!(
                    "stored model no longer loads: {}",
                    problems
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })?;
            tracing::info!(
                model = name,
                version,
                "model {name} version {version} loaded"
            );
            Ok(Arc::new(Served {
                name,
                version,
                model,
            }))
        })
        .await?
    }

    /// Brings every loaded model to its active version (models never requested here are
    /// left to load on their first request). A version that fails to load is logged and
    /// the previous one keeps serving.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let active = registry::active_versions(self.db.pool()).await?;
        let _one = self.loading.lock().await;
        for (name, version) in active {
            let stale = self.cached(&name).is_some_and(|s| s.version != version);
            if !stale {
                continue;
            }
            match self.load(&name, version).await {
                Ok(served) => {
                    self.put(served);
                    tracing::info!(
                        model = name,
                        version,
                        "now serving {name} version {version}"
                    );
                }
                Err(e) => tracing::error!(
                    model = name,
                    version,
                    error = format!("{e:#}"),
                    "cannot load the active version; the previous one keeps serving"
                ),
            }
        }
        Ok(())
    }

    /// Follows the registry until the pool closes: a refresh on every notification and
    /// every [`POLL_INTERVAL`].
    pub async fn watch(self: Arc<Self>) {
        let mut listener: Option<PgListener> = None;
        loop {
            if self.db.pool().is_closed() {
                break;
            }
            if listener.is_none() {
                listener = match PgListener::connect_with(self.db.pool()).await {
                    Ok(mut l) => match l.listen(registry::CHANNEL).await {
                        Ok(()) => Some(l),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot LISTEN for model changes; polling");
                            None
                        }
                    },
                    Err(sqlx::Error::PoolClosed) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot LISTEN for model changes; polling");
                        None
                    }
                };
            }
            let woke = match listener.as_mut() {
                Some(l) => match tokio::time::timeout(POLL_INTERVAL, l.try_recv()).await {
                    Ok(Ok(Some(n))) => Some(n.payload().to_string()),
                    Ok(Ok(None)) => None, // reconnected: poll to catch what was missed
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "model change listener failed; polling");
                        listener = None;
                        tokio::time::sleep(POLL_INTERVAL).await;
                        None
                    }
                    Err(_) => None, // the poll interval passed
                },
                None => {
                    tokio::time::sleep(POLL_INTERVAL).await;
                    None
                }
            };
            if let Some(name) = woke {
                tracing::debug!(model = name, "model change notified");
            }
            if let Err(e) = self.refresh().await {
                if self.db.pool().is_closed() {
                    break;
                }
                tracing::warn!(error = format!("{e:#}"), "cannot poll the model registry");
            }
        }
    }
}
