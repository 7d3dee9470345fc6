//! The pipeline's client of model-svc: which version of a model is active, with which input
//! columns, and batch predictions over HTTP.

use std::collections::HashMap;

use anyhow::Context;
use lyra_common::token::ApiTokenClient;
use serde::Deserialize;

/// A model's active version and what it takes and gives.
#[derive(Debug, Clone)]
pub struct ActiveModel {
    /// The model's name.
    pub name: String,
    /// The active version.
    pub version: i64,
    /// Input columns, in contract order.
    pub columns: Vec<String>,
    /// The full contract (outputs, segment names, …).
    pub contract: serde_json::Value,
}

/// One output tensor of a prediction, by column.
pub type Output = HashMap<String, Vec<f64>>;

#[derive(Deserialize)]
struct PredictAnswer {
    version: i64,
    outputs: HashMap<String, Output>,
}

/// Talks to model-svc with a platform API token (scope `models:predict`).
pub struct ModelClient {
    http: reqwest::Client,
    base: String,
    token: ApiTokenClient,
}

impl ModelClient {
    /// `model_svc` and `auth` are base URLs; `api_token` a platform API token.
    pub fn new(model_svc: &str, auth: &str, api_token: &str) -> ModelClient {
        let http = reqwest::Client::new();
        ModelClient {
            token: ApiTokenClient::new(http.clone(), auth, api_token),
            http,
            base: model_svc.trim_end_matches('/').to_string(),
        }
    }

    async fn get_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.token.access_token().await?)
            .send()
            .await
            .with_context(|| format!("cannot reach model-svc at {}", self.base))?;
        let status = response.status();
        let body = response.text().await?;
        anyhow::ensure!(
            status.is_success(),
            "model-svc answered {status} to GET {path}: {body}"
        );
        Ok(serde_json::from_str(&body)?)
    }

    /// The active version of `name` and its contract.
    pub async fn active(&self, name: &str) -> anyhow::Result<ActiveModel> {
        let model = self.get_json(&format!("/v1/models/{name}")).await?;
        let version = model["active_version"]
            .as_i64()
            .with_context(|| format!("model {name} has no active version"))?;
        let contract = model["active_contract"].clone();
        let columns = contract["input"]["columns"]
            .as_array()
            .with_context(|| format!("model {name} v{version}: contract without input columns"))?
            .iter()
            .map(|c| c.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .with_context(|| format!("model {name} v{version}: input columns are not strings"))?;
        Ok(ActiveModel {
            name: name.to_string(),
            version,
            columns,
            contract,
        })
    }

    /// Predicts rows `[start, end)` of `columns` (every input column of `model`, by name).
    /// Fails when model-svc answers with another version than `model.version` (an
    /// activation during the run): results of one run never mix versions.
    pub async fn predict(
        &self,
        model: &ActiveModel,
        columns: &HashMap<String, Vec<f64>>,
        start: usize,
        end: usize,
    ) -> anyhow::Result<HashMap<String, Output>> {
        let mut body = serde_json::Map::new();
        for name in &model.columns {
            let values = columns.get(name).with_context(|| {
                format!(
                    "model {} needs column {name}, which the pipeline does not build",
                    model.name
                )
            })?;
            body.insert(name.clone(), serde_json::json!(&values[start..end]));
        }
        let response = self
            .http
            .post(format!("{}/v1/models/{}/predict", self.base, model.name))
            .bearer_auth(self.token.access_token().await?)
            .json(&serde_json::json!({ "columns": body }))
            .send()
            .await
            .with_context(|| format!("cannot reach model-svc at {}", self.base))?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(
            status.is_success(),
            "model-svc answered {status} for {}: {text}",
            model.name
        );
        let answer: PredictAnswer = serde_json::from_str(&text)
            .with_context(|| format!("unexpected answer from model-svc for {}", model.name))?;
        anyhow::ensure!(
            answer.version == model.version,
            "model {} changed from version {} to {} during the run; run the job again",
            model.name,
            model.version,
            answer.version
        );
        Ok(answer.outputs)
    }
}
