//! Job runs: one row in `pipeline.jobs` per run, with status, progress and the reason of a
//! failure. At most one run per kind at a time; a run whose process died (no heartbeat for
//! [`ABANDONED_AFTER_SECS`]) is marked failed by the next run of its kind.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sqlx::PgPool;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

/// A running job without a heartbeat for this long is considered dead.
pub const ABANDONED_AFTER_SECS: i64 = 120;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Build and store the customer features as of the cut-off.
    Features,
    /// Score every customer with the active segmentation, purchasing-power and propensity
    /// models (through model-svc).
    Score,
    /// Forecast weekly demand per merchant 1–8 weeks ahead (through model-svc).
    Forecast,
    /// Rebuild the peer groups (category group × city).
    Peers,
}

impl JobKind {
    /// Every kind, in the order a full run takes them.
    pub const ALL: [JobKind; 4] = [
        JobKind::Features,
        JobKind::Score,
        JobKind::Forecast,
        JobKind::Peers,
    ];

    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Features => "features",
            JobKind::Score => "score",
            JobKind::Forecast => "forecast",
            JobKind::Peers => "peers",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown job {s:?}: use features, score, forecast or peers"))
    }
}

/// Who started a run.
#[derive(Debug, Clone, Copy)]
pub enum Trigger {
    /// `lyra pipeline run`.
    Cli,
    /// The service's schedule.
    Schedule,
    /// `POST /v1/pipeline/jobs`.
    Api,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Cli => "cli",
            Trigger::Schedule => "schedule",
            Trigger::Api => "api",
        }
    }
}

/// A job run in progress; finish it with [`Run::succeed`] or [`Run::fail`].
pub struct Run {
    pool: PgPool,
    /// The run's id.
    pub id: Uuid,
    /// What it does.
    pub kind: JobKind,
    /// Its cut-off.
    pub as_of: Date,
}

/// A job row as listed by the API.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct JobRecord {
    /// Run id.
    pub job_id: Uuid,
    /// Kind.
    pub kind: String,
    /// Cut-off.
    pub as_of: Date,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    /// Who started it.
    pub trigger: String,
    /// Units done (rows, merchants, groups).
    pub done: i64,
    /// Units in all, once known.
    pub total: Option<i64>,
    /// Start.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// End.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Why it failed.
    pub error: Option<String>,
    /// What it produced.
    pub detail: serde_json::Value,
}

impl Run {
    /// Records a new running job. Fails, naming the other run, when one of the same kind is
    /// already running; a dead one is marked failed first.
    pub async fn start(
        pool: &PgPool,
        kind: JobKind,
        as_of: Date,
        trigger: Trigger,
    ) -> anyhow::Result<Run> {
        sqlx::query(
            "UPDATE pipeline.jobs
             SET status = 'failed', finished_at = now(),
                 error = 'abandoned: its process stopped without finishing'
             WHERE kind = $1 AND status = 'running'
               AND heartbeat_at < now() - make_interval(secs => $2)",
        )
        .bind(kind.as_str())
        .bind(ABANDONED_AFTER_SECS as f64)
        .execute(pool)
        .await?;
        let id = Uuid::new_v4();
        let inserted = sqlx::query(
            "INSERT INTO pipeline.jobs (job_id, kind, as_of, status, trigger)
             VALUES ($1, $2, $3, 'running', $4)",
        )
        .bind(id)
        .bind(kind.as_str())
        .bind(as_of)
        .bind(trigger.as_str())
        .execute(pool)
        .await;
        match inserted {
            Ok(_) => Ok(Run {
                pool: pool.clone(),
                id,
                kind,
                as_of,
            }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                let other: (Uuid, OffsetDateTime) = sqlx::query_as(
                    "SELECT job_id, started_at FROM pipeline.jobs
                     WHERE kind = $1 AND status = 'running'",
                )
                .bind(kind.as_str())
                .fetch_one(pool)
                .await?;
                anyhow::bail!(
                    "a {kind} job is already running (job {}, started {})",
                    other.0,
                    other.1
                )
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Records progress (and that the process is alive).
    pub async fn progress(&self, done: u64, total: Option<u64>) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE pipeline.jobs SET done = $2, total = coalesce($3, total), heartbeat_at = now()
             WHERE job_id = $1",
        )
        .bind(self.id)
        .bind(done as i64)
        .bind(total.map(|t| t as i64))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks the run succeeded with what it produced.
    pub async fn succeed(self, detail: serde_json::Value) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE pipeline.jobs
             SET status = 'succeeded', finished_at = now(), heartbeat_at = now(), detail = $2
             WHERE job_id = $1",
        )
        .bind(self.id)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks the run failed with the reason.
    pub async fn fail(self, error: &str) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE pipeline.jobs SET status = 'failed', finished_at = now(), error = $2
             WHERE job_id = $1",
        )
        .bind(self.id)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// The most recent runs, newest first.
pub async fn recent(pool: &PgPool, limit: i64) -> anyhow::Result<Vec<JobRecord>> {
    Ok(sqlx::query_as(
        "SELECT job_id, kind, as_of, status, trigger, done, total, started_at, finished_at,
                error, detail
         FROM pipeline.jobs ORDER BY started_at DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Whether every kind in `kinds` has a run for `as_of` that succeeded at or after `since`
/// (any time, with `None`): `lyra up` asks it to know whether the scores and forecasts
/// were made with the models active now.
pub async fn all_succeeded_since(
    pool: &PgPool,
    kinds: &[JobKind],
    as_of: Date,
    since: Option<OffsetDateTime>,
) -> anyhow::Result<bool> {
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let succeeded: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT kind) FROM pipeline.jobs
          WHERE kind = ANY($1) AND status = 'succeeded' AND as_of = $2
            AND ($3::timestamptz IS NULL OR finished_at >= $3)",
    )
    .bind(&kinds)
    .bind(as_of)
    .bind(since)
    .fetch_one(pool)
    .await?;
    Ok(succeeded == kinds.len() as i64)
}
