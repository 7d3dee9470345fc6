//! The `lyra` command's library: everything the binary does, so that tests drive the same
//! code. Depends on every service crate (it can start them all); no service depends on it.

pub mod admin;
pub mod bench;
pub mod db;
pub mod generate;
pub mod ingest;
pub mod models;
pub mod pipeline;
pub mod serve;

use clap::{Args, ValueEnum};
use lyra_datagen::{Config, Format, Preset};

/// `--format`.
#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// CSV with a header line.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Csv => Format::Csv,
            FormatArg::Ndjson => Format::Ndjson,
        }
    }
}

/// What data to generate.
#[derive(Args, Clone)]
pub struct DataArgs {
    /// `small`, `demo` or `bench`.
    #[arg(long, default_value = "demo")]
    pub preset: String,
    /// Seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Override the preset's number of customers.
    #[arg(long)]
    pub customers: Option<u64>,
    /// Override the preset's number of merchants.
    #[arg(long)]
    pub merchants: Option<u64>,
    /// Override the number of months.
    #[arg(long)]
    pub months: Option<u32>,
    /// Last day of the window (YYYY-MM-DD).
    #[arg(long)]
    pub end: Option<String>,
    /// Worker threads (the output does not depend on it).
    #[arg(long)]
    pub threads: Option<usize>,
    /// File format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: FormatArg,
}

impl DataArgs {
    /// The generator configuration these arguments describe.
    pub fn config(&self) -> anyhow::Result<Config> {
        let preset = Preset::from_name(&self.preset).ok_or_else(|| {
            anyhow::anyhow!("unknown preset {:?}: use small, demo or bench", self.preset)
        })?;
        let mut config = preset.config(self.seed);
        if let Some(n) = self.customers {
            anyhow::ensure!(n > 0, "--customers must be positive");
            config.customers = n;
        }
        if let Some(n) = self.merchants {
            anyhow::ensure!(
                n >= 20,
                "--merchants must be at least 20 (one per category group)"
            );
            config.merchants = n;
        }
        if let Some(m) = self.months {
            anyhow::ensure!((1..=120).contains(&m), "--months must be between 1 and 120");
            config.months = m;
        }
        if let Some(end) = &self.end {
            config.end = time::Date::parse(
                end,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|e| anyhow::anyhow!("--end {end:?}: {e} (expected YYYY-MM-DD)"))?;
        }
        Ok(config)
    }

    /// Worker threads to use.
    pub fn threads(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        })
    }
}
