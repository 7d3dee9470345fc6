//! `lyra db …`: the admin database URL, the private cluster under `.lyra/`, migrations.

use std::path::PathBuf;

use anyhow::Context;
use lyra_common::Settings;
use lyra_common::config::Secret;
use lyra_common::db::DbRole;
use lyra_common::localpg::{self, Cluster};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};

/// Name of the database Lyra uses in the private cluster.
const DATABASE: &str = "lyra";

/// Where the private cluster lives: `.lyra/pg` in the current directory, or — when we are
/// root and the server's user cannot reach that path — a directory under /tmp, recorded in
/// `.lyra/pg-location`.
fn cluster() -> anyhow::Result<Cluster> {
    let state = std::env::current_dir()?.join(".lyra");
    std::fs::create_dir_all(&state)
        .with_context(|| format!("cannot create {}", state.display()))?;
    let pointer = state.join("pg-location");
    if let Ok(dir) = std::fs::read_to_string(&pointer) {
        return Ok(Cluster::new(PathBuf::from(dir.trim()))?);
    }
    let local = Cluster::new(state.join("pg"))?;
    if local.server_can_reach(local.dir()) {
        return Ok(local);
    }
    let hash = state
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
    let dir = std::env::temp_dir().join(format!("lyra-pg-{hash:016x}"));
    std::fs::write(&pointer, dir.to_string_lossy().as_bytes())?;
    Ok(Cluster::new(dir)?)
}

/// `DATABASE_URL` when set; otherwise the running private cluster's admin URL.
pub fn admin_url() -> anyhow::Result<String> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return Ok(url);
    }
    let cluster = cluster()?;
    let port = cluster
        .running_port()
        .context("the database is not running: start it with `lyra db start`")?;
    Ok(localpg::url(port, localpg::ADMIN_USER, DATABASE))
}

/// Starts the private cluster (creating it the first time) and the `lyra` database;
/// with `DATABASE_URL`, checks that server answers instead. Returns the admin URL.
pub async fn start() -> anyhow::Result<String> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        PgConnection::connect(&url)
            .await
            .context("DATABASE_URL is set but its server does not answer")?;
        eprintln!("using the server named by DATABASE_URL");
        return Ok(url);
    }
    let cluster = cluster()?;
    if !cluster.is_initialised() {
        eprintln!(
            "creating a private PostgreSQL cluster in {}",
            cluster.dir().display()
        );
        cluster.init(true)?;
    }
    let port = match cluster.running_port() {
        Some(port) => port,
        None => {
            let port = localpg::free_port()?;
            cluster.start(port)?;
            eprintln!("PostgreSQL started on 127.0.0.1:{port}");
            port
        }
    };
    let mut conn =
        PgConnection::connect(&localpg::url(port, localpg::ADMIN_USER, "postgres")).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)")
            .bind(DATABASE)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        conn.execute(format!("CREATE DATABASE {DATABASE}").as_str())
            .await?;
    }
    Ok(localpg::url(port, localpg::ADMIN_USER, DATABASE))
}

/// Stops the private cluster.
pub fn stop() -> anyhow::Result<()> {
    anyhow::ensure!(
        std::env::var("DATABASE_URL").is_err(),
        "DATABASE_URL is set: that server is not Lyra's to stop"
    );
    let cluster = cluster()?;
    if cluster.running_port().is_none() {
        eprintln!("the database is not running");
        return Ok(());
    }
    cluster.stop()?;
    eprintln!("PostgreSQL stopped");
    Ok(())
}

/// A small pool as the admin role.
pub async fn admin_pool() -> anyhow::Result<PgPool> {
    let url = admin_url()?;
    PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .context("cannot connect to the database")
}

/// Applies migrations and syncs reference data.
pub async fn migrate() -> anyhow::Result<()> {
    let pool = admin_pool().await?;
    lyra_common::db::migrate(&pool).await?;
    pool.close().await;
    Ok(())
}

/// The service-role URL derived from the admin URL: same server and database, other user,
/// no password (the private cluster trusts loopback).
pub fn role_url(admin: &str, role: &str) -> anyhow::Result<String> {
    let options: sqlx::postgres::PgConnectOptions = admin.parse()?;
    Ok(format!(
        "postgres://{role}@{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(DATABASE)
    ))
}

/// Sets the service roles' passwords from DATABASE_APP_PASSWORD, DATABASE_PLATFORM_PASSWORD
/// and DATABASE_AUTH_PASSWORD.
pub async fn set_role_passwords() -> anyhow::Result<()> {
    let pool = admin_pool().await?;
    for (role, var) in [
        ("lyra_app", "DATABASE_APP_PASSWORD"),
        ("lyra_platform", "DATABASE_PLATFORM_PASSWORD"),
        ("lyra_auth", "DATABASE_AUTH_PASSWORD"),
    ] {
        let password = std::env::var(var).with_context(|| format!("{var} is not set"))?;
        anyhow::ensure!(password.len() >= 12, "{var} must be at least 12 characters");
        // ALTER ROLE takes no bind parameters; quote_literal does the escaping server-side.
        let statement: String =
            sqlx::query_scalar("SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)")
                .bind(role)
                .bind(&password)
                .fetch_one(&pool)
                .await?;
        pool.execute(statement.as_str()).await?;
    }
    pool.close().await;
    Ok(())
}

/// Settings from the configuration file and environment. When neither names the service
/// databases, they are derived from the admin URL (`DATABASE_URL` or the private cluster).
pub fn settings() -> anyhow::Result<Settings> {
    let file = Settings::default_file();
    let mut settings = Settings::load(file.as_deref())?;
    if file.is_none() {
        let roles = [
            ("LYRA_DATABASE__APP_URL", DbRole::App),
            ("LYRA_DATABASE__PLATFORM_URL", DbRole::Platform),
            ("LYRA_DATABASE__AUTH_URL", DbRole::Auth),
        ];
        let missing: Vec<DbRole> = roles
            .iter()
            .filter(|(var, _)| std::env::var_os(var).is_none())
            .map(|(_, role)| *role)
            .collect();
        if !missing.is_empty() {
            let admin = admin_url()?;
            for role in missing {
                let url = Secret::new(role_url(&admin, role.role_name())?);
                match role {
                    DbRole::App => settings.database.app_url = url,
                    DbRole::Platform => settings.database.platform_url = url,
                    DbRole::Auth => settings.database.auth_url = url,
                }
            }
        }
    }
    Ok(settings)
}
