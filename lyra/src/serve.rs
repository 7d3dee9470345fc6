//! `lyra serve` and `lyra up`: services in this process, each on its own port.

use futures::FutureExt;
use futures::future::BoxFuture;
use lyra_common::config::Secret;
use lyra_common::db::DbRole;
use lyra_common::{Application, Service, Settings};
use lyra_pipeline::jobs::JobKind;

use crate::db;

/// Builds one service, as `lyra serve` does.
pub fn build(
    service: Service,
    settings: Settings,
) -> BoxFuture<'static, anyhow::Result<Application>> {
    match service {
        Service::Gateway => lyra_gateway::build(settings).boxed(),
        Service::App => lyra_app::build(settings).boxed(),
        Service::Auth => lyra_auth::build(settings).boxed(),
        Service::Metrics => lyra_metrics::build(settings).boxed(),
        Service::ModelSvc => lyra_model_svc::build(settings).boxed(),
        Service::Ingest => lyra_ingest::build(settings).boxed(),
        Service::Pipeline => lyra_pipeline::build(settings).boxed(),
    }
}

/// Starts the named services and runs them until Ctrl-C or SIGTERM.
pub async fn run(services: &[Service], settings: Settings) -> anyhow::Result<()> {
    run_with(services, settings, None).await
}

/// [`run`], with a task started once every service listens (it may call them).
async fn run_with(
    services: &[Service],
    settings: Settings,
    after_start: Option<BoxFuture<'static, ()>>,
) -> anyhow::Result<()> {
    let mut apps = Vec::new();
    for &service in services {
        let app = build(service, settings.clone()).await?;
        let host = settings.services.of(service).host;
        eprintln!("{:<10} http://{host}:{}", service.name(), app.port());
        apps.push(app);
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let handles: Vec<_> = apps
        .into_iter()
        .map(|app| {
            let mut stopped = stopped.clone();
            tokio::spawn(app.run_until_stopped(async move {
                let _ = stopped.wait_for(|s| *s).await;
            }))
        })
        .collect();
    let after = after_start.map(tokio::spawn);
    lyra_common::server::shutdown_signal().await;
    if let Some(after) = after {
        after.abort();
    }
    eprintln!("stopping…");
    stop.send(true).ok();
    for handle in handles {
        handle.await??;
    }
    eprintln!("all services stopped");
    Ok(())
}

/// `lyra serve <service>|all`.
pub async fn serve(which: &str) -> anyhow::Result<()> {
    let services: Vec<Service> = if which == "all" {
        Service::ALL.to_vec()
    } else {
        let names: Vec<&str> = Service::ALL.iter().map(|s| s.name()).collect();
        vec![Service::from_name(which).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown service {which:?}: choose one of {} or all",
                names.join(", ")
            )
        })?]
    };
    let settings = db::settings()?;
    lyra_common::telemetry::init(&settings.log);
    run(&services, settings).await
}

/// `lyra up`: the whole demo from nothing.
pub async fn up(seed: u64) -> anyhow::Result<()> {
    let url = db::start().await?;
    eprintln!("database: {url}");
    db::migrate().await?;
    eprintln!("loading the demo data (seed {seed}) unless it is there already");
    let args = crate::DataArgs {
        preset: "demo".into(),
        seed,
        customers: None,
        merchants: None,
        months: None,
        end: None,
        threads: None,
        format: crate::FormatArg::Csv,
    };
    crate::generate::to_database(&args, false, true).await?;
    let pool = db::admin_pool().await?;
    let (org, org_name) = lyra_auth::admin::ensure_demo_logins(&pool).await?;
    load_committed_models(&pool).await;
    let pending = pending_pipeline_run(&pool).await;
    let (_, admin_email, _) = lyra_auth::admin::DEMO_LOGINS
        .iter()
        .find(|(role, _, _)| *role == "bank_admin")
        .expect("a demo bank admin");
    let pipeline_token = lyra_auth::admin::renew_platform_token(
        &pool,
        admin_email,
        "lyra up pipeline",
        &["models:predict".into()],
    )
    .await?;
    pool.close().await;
    let mut settings = db::settings()?;
    settings.pipeline.api_token = Some(Secret::new(pipeline_token));
    lyra_common::telemetry::init(&settings.log);
    eprintln!("demo logins (organisation {org}, {org_name}):");
    for (role, email, password) in lyra_auth::admin::DEMO_LOGINS {
        eprintln!("  {role:<10} {email:<28} {password}");
    }
    eprintln!("starting all services (Ctrl-C stops everything):");
    let gateway = settings.services.of(Service::Gateway);
    eprintln!("Lyra: http://{}:{}", gateway.host, gateway.port);
    let first_run = match pending {
        Ok(Some(as_of)) => Some(first_pipeline_run(settings.clone(), as_of).boxed()),
        Ok(None) => {
            eprintln!("pipeline: results for the active models are there already");
            None
        }
        Err(e) => {
            eprintln!("pipeline: {e:#} (retry with `lyra pipeline run all`)");
            None
        }
    };
    let result = run_with(&Service::ALL, settings.clone(), first_run).await;
    if std::env::var_os("DATABASE_URL").is_none() {
        db::stop()?;
    }
    result
}

/// Runs every pipeline job once for `as_of` (see [`pending_pipeline_run`]), so that the
/// dashboard shows segments, scores and forecasts. A failure is reported, not fatal: the
/// dashboard still serves what it can.
async fn first_pipeline_run(settings: Settings, as_of: time::Date) {
    let result = async {
        let db = lyra_common::db::Db::connect_as(DbRole::Platform, &settings.database).await?;
        let ctx = lyra_pipeline::context(&db, &settings);
        eprintln!("pipeline: features, scores, forecasts and peer groups as of {as_of}…");
        crate::pipeline::run_jobs(&ctx, "all", Some(as_of)).await?;
        db.close().await;
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = result {
        eprintln!("pipeline: {e:#} (retry with `lyra pipeline run all`)");
    }
}

/// Registers and activates the committed models (`ml/models/<name>/`) that the registry
/// does not hold yet: all of them the first time, and after a checkout whose models changed,
/// those (`register_dir`). A model that fails validation is reported, not fatal.
async fn load_committed_models(pool: &sqlx::PgPool) {
    let dir = std::path::Path::new("ml/models");
    if !dir.is_dir() {
        return;
    }
    match lyra_model_svc::registry::register_dir(pool, dir, true).await {
        Ok(done) => {
            for m in done.iter().filter(|m| m.new) {
                eprintln!(
                    "model {} version {} registered and active",
                    m.name, m.version
                );
            }
        }
        Err(e) => eprintln!("the committed models were not loaded: {e:#}"),
    }
}

/// The cut-off the demo's first pipeline run is for, or `None` when its scores and forecasts
/// are there already and newer than the last model activation.
pub async fn pending_pipeline_run(pool: &sqlx::PgPool) -> anyhow::Result<Option<time::Date>> {
    let as_of = lyra_pipeline::tasks::default_as_of(pool).await?;
    let since = lyra_model_svc::registry::last_activation(pool).await?;
    let current = lyra_pipeline::jobs::all_succeeded_since(
        pool,
        &[JobKind::Score, JobKind::Forecast],
        as_of,
        since,
    )
    .await?;
    Ok((!current).then_some(as_of))
}
