//! `lyra`: the one command for running Lyra locally and for bank-admin chores.
//!
//! - `lyra up` — the demo: database, migrations, demo data, all seven services.
//! - `lyra db start | stop | url | migrate` — a private PostgreSQL cluster under `.lyra/`
//!   (or the server named by `DATABASE_URL`).
//! - `lyra generate` — deterministic synthetic bank data into Postgres or files.
//! - `lyra serve <service>|all` — start one service or all seven in this process.
//! - `lyra report realism` — measure the realism claims of a data set.
//! - `lyra bench generate` — generation throughput against a plain write of the same bytes.

mod bench;
mod db;
mod generate;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use lyra_datagen::{Config, Format, Preset};

#[derive(Parser)]
#[command(name = "lyra", version, about = "Lyra: merchant analytics from card payments")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the demo: start the database, migrate, generate the demo data (once), serve everything.
    Up {
        /// Seed of the demo data.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Manage the database.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Generate synthetic bank data into the database (default) or into files (`--out`).
    Generate(GenerateArgs),
    /// Start a service (`gateway`, `app`, `auth`, `metrics`, `model-svc`, `ingest`, `pipeline`) or `all`.
    Serve {
        /// Service name or `all`.
        service: String,
    },
    /// Reports on data.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Benchmarks that print Lyra's figure next to its peer's, measured in the same run.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Start the private cluster (or check DATABASE_URL) and print the admin URL.
    Start,
    /// Stop the private cluster.
    Stop,
    /// Print the admin URL.
    Url,
    /// Apply pending migrations and sync reference data.
    Migrate,
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Measure weekday, yearly, payday and holiday effects, merchant size tails, customer
    /// heterogeneity, lapses and switching.
    Realism {
        /// A directory with CSV files (`merchants.csv`, `transactions.csv`); without it, the
        /// `small` preset is generated into a temporary directory first.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Seed when generating.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Generate to files and compare with writing the same number of bytes plainly.
    Generate {
        #[command(flatten)]
        data: DataArgs,
        /// Directory for the files (deleted afterwards); default: a temporary directory.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Csv,
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
struct DataArgs {
    /// `small`, `demo` or `bench`.
    #[arg(long, default_value = "demo")]
    preset: String,
    /// Seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Override the preset's number of customers.
    #[arg(long)]
    customers: Option<u64>,
    /// Override the preset's number of merchants.
    #[arg(long)]
    merchants: Option<u64>,
    /// Override the number of months.
    #[arg(long)]
    months: Option<u32>,
    /// Last day of the window (YYYY-MM-DD).
    #[arg(long)]
    end: Option<String>,
    /// Worker threads (the output does not depend on it).
    #[arg(long)]
    threads: Option<usize>,
    /// File format.
    #[arg(long, value_enum, default_value = "csv")]
    format: FormatArg,
}

impl DataArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let preset = Preset::from_name(&self.preset)
            .ok_or_else(|| anyhow::anyhow!("unknown preset {:?}: use small, demo or bench", self.preset))?;
        let mut config = preset.config(self.seed);
        if let Some(n) = self.customers {
            anyhow::ensure!(n > 0, "--customers must be positive");
            config.customers = n;
        }
        if let Some(n) = self.merchants {
            anyhow::ensure!(n >= 20, "--merchants must be at least 20 (one per category group)");
            config.merchants = n;
        }
        if let Some(m) = self.months {
            anyhow::ensure!((1..=120).contains(&m), "--months must be between 1 and 120");
            config.months = m;
        }
        if let Some(end) = &self.end {
            config.end = time::Date::parse(end, time::macros::format_description!("[year]-[month]-[day]"))
                .map_err(|e| anyhow::anyhow!("--end {end:?}: {e} (expected YYYY-MM-DD)"))?;
        }
        Ok(config)
    }

    fn threads(&self) -> usize {
        self.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
    }
}

#[derive(Args)]
struct GenerateArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Write files into this directory instead of loading the database.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Empty the bank tables first when the database already holds data.
    #[arg(long)]
    replace: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = runtime.block_on(run(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lyra: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up { seed } => serve::up(seed).await,
        Command::Db { command } => match command {
            DbCommand::Start => {
                println!("{}", db::start().await?);
                Ok(())
            }
            DbCommand::Stop => db::stop(),
            DbCommand::Url => {
                println!("{}", db::admin_url()?);
                Ok(())
            }
            DbCommand::Migrate => {
                db::migrate().await?;
                println!("migrations applied");
                Ok(())
            }
        },
        Command::Generate(args) => match args.out {
            Some(dir) => generate::to_files(&args.data, &dir).map(|_| ()),
            None => generate::to_database(&args.data, args.replace).await.map(|_| ()),
        },
        Command::Serve { service } => serve::serve(&service).await,
        Command::Report { command } => match command {
            ReportCommand::Realism { dir, seed } => generate::report(dir, seed),
        },
        Command::Bench { command } => match command {
            BenchCommand::Generate { data, dir } => bench::generate(&data, dir),
        },
    }
}
