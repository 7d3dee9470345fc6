//! `lyra`: the one command for running Lyra locally and for bank-admin chores.
//!
//! - `lyra up` — the demo: database, migrations, demo data, all seven services.
//! - `lyra db start | stop | url | migrate` — a private PostgreSQL cluster under `.lyra/`
//!   (or the server named by `DATABASE_URL`).
//! - `lyra admin …` — onboard organisations, outlets, users; API tokens; key rotation.
//! - `lyra generate` — deterministic synthetic bank data into Postgres or files.
//! - `lyra ingest FILE` — upload a bank file; re-running resumes under the same key.
//! - `lyra models upload | activate | rollback | list` — the model registry.
//! - `lyra serve <service>|all` — start one service or all seven in this process.
//! - `lyra features export` — feature snapshots as Parquet, for training in ml/.
//! - `lyra pipeline run JOB|all` — features, scoring, forecasts, peer groups.
//! - `lyra report realism` — measure the realism claims of a data set.
//! - `lyra bench generate | gateway | ingest | metrics | models` — each figure next to its
//!   peer (or its budget), measured in one run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use lyra::{DataArgs, bench, db, generate, serve};

#[derive(Parser)]
#[command(
    name = "lyra",
    version,
    about = "Lyra: merchant analytics from card payments"
)]
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
    /// Bank-admin onboarding: organisations, outlets, users, API tokens, signing keys.
    Admin {
        #[command(subcommand)]
        command: lyra::admin::AdminCommand,
    },
    /// Manage the database.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Generate synthetic bank data into the database (default) or into files (`--out`).
    Generate(GenerateArgs),
    /// Upload a bank file (transactions, customers, merchants) through the gateway.
    Ingest(lyra::ingest::IngestArgs),
    /// The model registry: upload, activate, roll back, list.
    Models {
        #[command(subcommand)]
        command: lyra::models::ModelsCommand,
    },
    /// Start a service (`gateway`, `app`, `auth`, `metrics`, `model-svc`, `ingest`, `pipeline`) or `all`.
    Serve {
        /// Service name or `all`.
        service: String,
    },
    /// Feature snapshots: what the models see (the pipeline's one feature implementation).
    Features {
        #[command(subcommand)]
        command: FeaturesCommand,
    },
    /// Pipeline jobs: features, score, forecast, peers.
    Pipeline {
        #[command(subcommand)]
        command: PipelineCommand,
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
    Migrate {
        /// Also set the login passwords of the service roles from the environment variables
        /// DATABASE_APP_PASSWORD, DATABASE_PLATFORM_PASSWORD and DATABASE_AUTH_PASSWORD (for servers that do not trust
        /// loopback, such as the docker-compose one).
        #[arg(long)]
        set_role_passwords: bool,
    },
}

#[derive(Subcommand)]
enum FeaturesCommand {
    /// Write customer and merchant-week features (with the labels that follow the cut-off)
    /// as Parquet, for training in ml/.
    Export {
        /// Cut-off date: history is everything before this day (Moscow time).
        #[arg(long, value_parser = lyra::pipeline::parse_date)]
        as_of: time::Date,
        /// Output directory (customers.parquet, merchant_weeks.parquet, snapshot.json).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum PipelineCommand {
    /// Run a job (`features`, `score`, `forecast`, `peers`) or `all` of them in order.
    Run {
        /// The job, or `all`.
        job: String,
        /// Cut-off date; default: the day after the last day with transactions.
        #[arg(long, value_parser = lyra::pipeline::parse_date)]
        as_of: Option<time::Date>,
    },
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
    /// The same transactions file through `psql \copy` and through the ingest service.
    Ingest {
        #[command(flatten)]
        data: DataArgs,
        /// Rounds of (\copy, then Lyra); the median ratio is the figure.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// The same requests straight to auth and through the gateway: latency and throughput.
    Gateway {
        /// Requests per measurement.
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        /// Concurrent connections.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// Every model through model-svc's inference (tract) and through ONNX Runtime, batch
    /// sizes 1, 64 and 1024 (needs a Python venv with onnxruntime: $LYRA_ML_VENV).
    Models {
        /// Directory of model directories (default: ml/models, or the test fixtures while
        /// it is empty).
        #[arg(long)]
        models_dir: Option<PathBuf>,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
        /// Rounds, each measuring tract and then ONNX Runtime; medians are printed.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Every metrics page as the demo owner: cold, p50 and p99 against the page budget.
    Metrics {
        /// Requests per page.
        #[arg(long, default_value_t = 640)]
        requests: usize,
        /// Concurrent users.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Logged-in browser sessions on the overview and customers pages through the gateway,
    /// next to the same KPI queries run directly in Postgres.
    App {
        /// Seconds of load.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Concurrent logged-in sessions.
        #[arg(long, default_value_t = 64)]
        sessions: usize,
    },
    /// Generate to files and compare with writing the same number of bytes plainly.
    Generate {
        #[command(flatten)]
        data: DataArgs,
        /// Directory for the files (deleted afterwards); default: a temporary directory.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Args)]
struct GenerateArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Write files into this directory instead of loading the database.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Empty the bank tables first when the database already holds data.
    #[arg(long, conflicts_with = "if_empty")]
    replace: bool,
    /// Do nothing (successfully) when the database already holds data.
    #[arg(long)]
    if_empty: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
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
        Command::Admin { command } => lyra::admin::run(command).await,
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
            DbCommand::Migrate { set_role_passwords } => {
                db::migrate().await?;
                if set_role_passwords {
                    db::set_role_passwords().await?;
                }
                println!("migrations applied");
                Ok(())
            }
        },
        Command::Generate(args) => match args.out {
            Some(dir) => generate::to_files(&args.data, &dir).map(|_| ()),
            None => generate::to_database(&args.data, args.replace, args.if_empty)
                .await
                .map(|_| ()),
        },
        Command::Serve { service } => serve::serve(&service).await,
        Command::Ingest(args) => lyra::ingest::run(args).await,
        Command::Features { command } => match command {
            FeaturesCommand::Export { as_of, out } => lyra::pipeline::export(as_of, &out).await,
        },
        Command::Pipeline { command } => match command {
            PipelineCommand::Run { job, as_of } => lyra::pipeline::run(&job, as_of).await,
        },
        Command::Models { command } => lyra::models::run(command).await,
        Command::Report { command } => match command {
            ReportCommand::Realism { dir, seed } => generate::report(dir, seed),
        },
        Command::Bench { command } => match command {
            BenchCommand::Generate { data, dir } => bench::generate(&data, dir),
            BenchCommand::Ingest { data, rounds } => bench::ingest(&data, rounds).await,
            BenchCommand::Models {
                models_dir,
                seconds,
                rounds,
            } => bench::models(models_dir, seconds, rounds),
            BenchCommand::Gateway {
                requests,
                concurrency,
            } => bench::gateway(requests, concurrency).await,
            BenchCommand::Metrics {
                requests,
                concurrency,
            } => bench::metrics(requests, concurrency).await,
            BenchCommand::App { seconds, sessions } => bench::app(seconds, sessions).await,
        },
    }
}
