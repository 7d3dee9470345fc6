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
    /// The private cluster and its port, when the tests started one.
    cluster: Option<(Cluster, u16)>,
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
    auth_url: String,
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
        auth_url: server.url_for(&name, Some(DbRole::Auth)).to_string(),
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
            DbRole::Auth => &self.auth_url,
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
        settings.database.auth_url = Secret::new(self.auth_url.clone());
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
    let (admin, role_password, cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) => (
            url::Url::parse(&url).expect("DATABASE_URL is not a URL"),
            Some(EXTERNAL_ROLE_PASSWORD),
            None,
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
                Some((cluster, port)),
            )
        }
    };
    let server = Server {
        admin,
        role_password,
        template: format!("lyra_tpl_{}", std::process::id()),
        cluster,
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
            for role in [DbRole::App, DbRole::Platform, DbRole::Auth] {
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

/// Tokens that must all be refused where an access token is expected, made from the real
/// signing key (`private_der`, PKCS#8; `public_raw`, 32 bytes) so that only the one defect
/// named is wrong with each. `valid` is a good token's claims to start from.
pub fn forged_tokens(
    kid: &str,
    private_der: &[u8],
    public_raw: &[u8],
    valid: &crate::token::Claims,
) -> Vec<(&'static str, String)> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

    let key = EncodingKey::from_ed_der(private_der);
    let header = || {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(kid.to_string());
        h
    };
    let sign = |claims: &crate::token::Claims| encode(&header(), claims, &key).expect("sign");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let with = |f: &dyn Fn(&mut crate::token::Claims)| {
        let mut c = valid.clone();
        f(&mut c);
        sign(&c)
    };
    let payload = B64.encode(serde_json::to_vec(valid).unwrap());
    let none = format!(
        "{}.{payload}.",
        B64.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#))
    );
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(kid.to_string());
    let hs256 = encode(&hs, valid, &EncodingKey::from_secret(public_raw)).unwrap();
    let hs256_x = encode(
        &hs,
        valid,
        &EncodingKey::from_secret(B64.encode(public_raw).as_bytes()),
    )
    .unwrap();
    let mut unknown = header();
    unknown.kid = Some("not-a-known-kid".into());
    let unknown_kid = encode(&unknown, valid, &key).unwrap();
    let mut no_kid = header();
    no_kid.kid = None;
    let no_kid = encode(&no_kid, valid, &key).unwrap();
    let good = sign(valid);
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let mut tampered_claims = valid.clone();
    tampered_claims.org = Some(crate::db::OrgId(valid.org.map(|o| o.0 + 1).unwrap_or(1)));
    parts[1] = B64.encode(serde_json::to_vec(&tampered_claims).unwrap());
    let tampered = parts.join(".");
    let leeway = crate::token::LEEWAY_SECS;
    vec![
        ("alg none", none),
        ("HS256 keyed with the raw public key", hs256),
        ("HS256 keyed with the public key's base64", hs256_x),
        (
            "expired just past the leeway",
            with(&|c| {
                c.exp = now - leeway - 2;
                c.iat = c.exp - 900;
            }),
        ),
        ("wrong aud", with(&|c| c.aud = "someone-else".into())),
        ("wrong iss", with(&|c| c.iss = "evil-issuer".into())),
        ("not an access token", with(&|c| c.typ = "refresh".into())),
        ("unknown kid", unknown_kid),
        ("no kid", no_kid),
        ("tampered payload", tampered),
        ("garbage", "not.a.jwt".into()),
    ]
}

/// Restarts the private test cluster (fast shutdown: open sessions are cut), for crash
/// tests. Returns false, doing nothing, when the tests run against `DATABASE_URL`.
pub fn restart_server() -> bool {
    let Some(server) = SERVER.get() else {
        return false;
    };
    let Some((cluster, port)) = &server.cluster else {
        return false;
    };
    cluster.stop().expect("stop the test cluster");
    cluster.start(*port).expect("start the test cluster");
    true
}
