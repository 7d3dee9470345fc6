//! `lyra ingest FILE`: uploads a bank file through the gateway with a progress bar. The
//! idempotency key defaults to the file's SHA-256, so running the command again after an
//! interruption re-sends the file under the same key: stored once, whatever happened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

/// What to upload and where.
#[derive(clap::Args)]
pub struct IngestArgs {
    /// The file (`transactions`, `customers` or `merchants`, `.csv` or `.ndjson`).
    pub file: PathBuf,
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API token with scope ingest:write (or set LYRA_API_TOKEN).
    #[arg(long, env = "LYRA_API_TOKEN", hide_env_values = true)]
    pub token: String,
    /// transactions, customers or merchants (default: from the file name).
    #[arg(long)]
    pub kind: Option<String>,
    /// strict (default: any bad row rejects the file) or lenient (bad rows are quarantined).
    #[arg(long, default_value = "strict")]
    pub mode: String,
    /// Idempotency key (default: sha256 of the file).
    #[arg(long)]
    pub key: Option<String>,
    /// Attempts before giving up on a broken connection.
    #[arg(long, default_value_t = 5)]
    pub attempts: u32,
}

fn kind_of(path: &Path) -> anyhow::Result<(String, &'static str)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let content_type = match ext {
        "csv" => "text/csv",
        "ndjson" | "jsonl" => "application/x-ndjson",
        other => anyhow::bail!("{name}: unknown extension {other:?} (use .csv or .ndjson)"),
    };
    Ok((stem.to_string(), content_type))
}

async fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Uploads the file, retrying with the same key when the connection breaks.
pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    let (stem, content_type) = kind_of(&args.file)?;
    let kind = args.kind.clone().unwrap_or(stem);
    anyhow::ensure!(
        ["transactions", "customers", "merchants"].contains(&kind.as_str()),
        "--kind {kind:?}: use transactions, customers or merchants"
    );
    let size = tokio::fs::metadata(&args.file)
        .await
        .with_context(|| format!("{}", args.file.display()))?
        .len();
    let key = match &args.key {
        Some(key) => key.clone(),
        None => format!("sha256:{}", sha256_of(&args.file).await?),
    };
    let url = args.url.trim_end_matches('/').to_string();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let token = lyra_common::token::ApiTokenClient::new(http.clone(), &url, &args.token)
        .access_token()
        .await?;
    eprintln!(
        "uploading {} ({size} bytes) as {kind}, idempotency key {key}",
        args.file.display()
    );
    let mut attempt = 0;
    loop {
        attempt += 1;
        let bar = ProgressBar::new(size);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("template"),
        );
        let progress = bar.clone();
        let stream = file_chunks(&args.file, move |n| progress.inc(n)).await?;
        let sent = http
            .post(format!("{url}/v1/{kind}?mode={}", args.mode))
            .bearer_auth(&token)
            .header("idempotency-key", &key)
            .header("content-type", content_type)
            .header("content-length", size)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await;
        bar.finish_and_clear();
        let retry = match sent {
            Ok(response) if response.status().is_server_error() => {
                format!("the server answered {}", response.status())
            }
            Ok(response) => {
                let status = response.status();
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                return report(status, &body);
            }
            Err(e) => format!("the connection broke: {e}"),
        };
        anyhow::ensure!(
            attempt < args.attempts,
            "giving up after {attempt} attempts: {retry}"
        );
        let wait = Duration::from_secs(2u64.pow(attempt.min(5)));
        eprintln!(
            "{retry}; re-sending with the same key in {} s",
            wait.as_secs()
        );
        tokio::time::sleep(wait).await;
    }
}

fn report(status: reqwest::StatusCode, body: &serde_json::Value) -> anyhow::Result<()> {
    if let Some(error) = body["error"].as_str() {
        anyhow::bail!("refused ({status}): {error}");
    }
    let n = |k: &str| body[k].as_i64().unwrap_or(0);
    let replay = if status == reqwest::StatusCode::OK {
        " (already ingested: the original result)"
    } else {
        ""
    };
    eprintln!(
        "batch {}: {}{replay}; {} rows, {} stored, {} duplicates, {} refused",
        body["batch_id"].as_str().unwrap_or("?"),
        body["status"].as_str().unwrap_or("?"),
        n("rows_total"),
        n("rows_stored"),
        n("rows_duplicate"),
        n("rows_rejected")
    );
    for error in body["errors"].as_array().into_iter().flatten() {
        eprintln!(
            "  line {}: {}: {}",
            error["line"],
            error["field"].as_str().unwrap_or("?"),
            error["reason"].as_str().unwrap_or("?")
        );
    }
    println!("{}", body["batch_id"].as_str().unwrap_or_default());
    anyhow::ensure!(body["status"] == "committed", "the batch was rejected");
    Ok(())
}

/// A file as a stream of chunks for an HTTP body; `on_chunk` hears each chunk's size.
pub async fn file_chunks(
    path: &Path,
    on_chunk: impl Fn(u64) + Send + Sync + 'static,
) -> std::io::Result<impl futures::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static> {
    let file = tokio::fs::File::open(path).await?;
    Ok(futures::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    })
    .inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            on_chunk(chunk.len() as u64);
        }
    }))
}
