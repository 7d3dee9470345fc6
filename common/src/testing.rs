//! Throwaway databases for integration tests (feature `testing`).
//!
//! The first test in a test binary starts a private cluster in a temporary directory (or
//! uses the server named by `DATABASE_URL`) and migrates a template database once; every
//! call to [`fresh_db`] then copies that template into a new database, which takes a
//! fraction of a second. The private cluster is stopped and deleted when the test process
//! exits, however it exits.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};

use crate::config::{LogFormat, Secret, Settings};
use crate::db::DbRole;
use crate::localpg::{self, Cluster};
use crate::server::Service;

/// Password given to the service roles when tests run against an external `DATABASE_URL`
/// server (the private cluster trusts loopback and needs none).
const EXTERNAL_ROLE_PASSWORD: &str = "lyra-test-only";

struct Server {
    /// Admin URL without a database name.
    admin: url::Url,
    /// Password for the service roles, if the server needs one.
    role_password: Option<&'static str>,
    template: String,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh, migrated database of its own for one test.
#[derive(Debug, Clone)]
pub struct TestDb {
    /// The database name.
    pub name: String,
    admin_url: String,
    app_url: String,
    platform_url: String,
}

/// Creates a fresh database from the migrated template.
pub async fn fresh_db() -> TestDb {
    let server = SERVER.get_or_init(|| {
        std::thread::spawn(start_server)
            .join()
            .expect("cannot set up the test database server")
    });
    let name = format!(
        "lyra_t{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let mut conn = PgConnection::connect(server.url_for("postgres", None).as_str())
        .await
        .expect("connect to test server");
    conn.execute(
        format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{}\" STRATEGY FILE_COPY",
            server.template
        )
        .as_str(),
    )
    .await
    .expect("create test database");
    conn.close().await.ok();
    TestDb {
        admin_url: server.url_for(&name, None).to_string(),
        app_url: server.url_for(&name, Some(DbRole::App)).to_string(),
        platform_url: server.url_for(&name, Some(DbRole::Platform)).to_string(),
        name,
    }
}

impl TestDb {
    /// URL of the owner (admin) role.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// URL of a service role.
    pub fn url(&self, role: DbRole) -> &str {
        match role {
            DbRole::App => &self.app_url,
            DbRole::Platform => &self.platform_url,
        }
    }

    /// A small pool as the owner role, for arranging test data.
    pub async fn admin_pool(&self) -> PgPool {
        self.pool_as(&self.admin_url).await
    }

    /// A small pool as a service role.
    pub async fn pool(&self, role: DbRole) -> PgPool {
        self.pool_as(self.url(role)).await
    }

    async fn pool_as(&self, url: &str) -> PgPool {
        PgPoolOptions::new()
            .max_connections(4)
            .connect(url)
            .await
            .expect("connect to test database")
    }

    /// Settings pointing every service at this database, each on a free port (port 0).
    pub fn settings(&self) -> Settings {
        let mut settings = Settings::defaults();
        settings.database.app_url = Secret::new(self.app_url.clone());
        settings.database.platform_url = Secret::new(self.platform_url.clone());
        settings.database.max_connections = 4;
        settings.log.filter = "warn".into();
        settings.log.format = LogFormat::Pretty;
        for service in Service::ALL {
            settings.services.of_mut(service).port = 0;
        }
        settings
    }
}

impl Server {
    fn url_for(&self, database: &str, role: Option<DbRole>) -> url::Url {
        let mut url = self.admin.clone();
        url.set_path(database);
        if let Some(role) = role {
            url.set_username(role.role_name()).expect("url has a host");
            url.set_password(self.role_password)
                .expect("url has a host");
        }
        url
    }
}

fn start_server() -> Server {
    let (admin, role_password) = match std::env::var("DATABASE_URL") {
        Ok(url) => (
            url::Url::parse(&url).expect("DATABASE_URL is not a URL"),
            Some(EXTERNAL_ROLE_PASSWORD),
        ),
        Err(_) => {
            let dir = std::env::temp_dir().join(format!(
                "lyra-test-pg-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            let cluster = Cluster::new(&dir).unwrap_or_else(|e| panic!("{e}"));
            cluster.init(false).unwrap_or_else(|e| panic!("{e}"));
            cluster
                .remove_when_process_exits(std::process::id())
                .unwrap_or_else(|e| panic!("{e}"));
            let port = localpg::free_port().expect("free port");
            cluster.start(port).unwrap_or_else(|e| panic!("{e}"));
            (
                url::Url::parse(&localpg::url(port, localpg::ADMIN_USER, "postgres")).unwrap(),
                None,
            )
        }
    };
    let server = Server {
        admin,
        role_password,
        template: format!("lyra_tpl_{}", std::process::id()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = PgConnection::connect(server.url_for("postgres", None).as_str())
            .await
            .expect("connect to test server");
        conn.execute(format!("DROP DATABASE IF EXISTS \"{}\"", server.template).as_str())
            .await
            .unwrap();
        conn.execute(format!("CREATE DATABASE \"{}\"", server.template).as_str())
            .await
            .unwrap();
        conn.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(server.url_for(&server.template, None).as_str())
            .await
            .expect("connect to template");
        crate::db::migrate(&pool)
            .await
            .expect("migrate template database");
        if let Some(password) = server.role_password {
            for role in [DbRole::App, DbRole::Platform] {
                pool.execute(
                    format!("ALTER ROLE {} PASSWORD '{password}'", role.role_name()).as_str(),
                )
                .await
                .unwrap();
            }
        }
        pool.close().await;
    });
    server
}

/// A service running in the background of a test, on its own port.
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Runs `app` until [`Running::stop`].
    pub fn start(app: crate::Application) -> Running {
        let base = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Running { base, stop, handle }
    }

    /// The URL of `path` on this service.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Triggers the graceful shutdown and waits for it; panics if serving failed.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.handle
            .await
            .expect("service task")
            .expect("service ran");
    }
}
