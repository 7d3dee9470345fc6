//! Typed configuration: a TOML file, then `LYRA_…` environment variables, validated at start-up.
//!
//! Keys nest with a double underscore: `LYRA_DATABASE__APP_URL` sets `database.app_url`,
//! `LYRA_SERVICES__INGEST__PORT` sets `services.ingest.port`. A value that does not parse or
//! does not make sense stops the program before it serves anything, with an error that names
//! the key.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::Service;

/// Everything a Lyra process can be configured with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Database connections.
    pub database: DatabaseSettings,
    /// Logging.
    pub log: LogSettings,
    /// Where each service listens.
    pub services: ServicesSettings,
    /// The gateway's limits and upstreams.
    #[serde(default)]
    pub gateway: GatewaySettings,
    /// The pipeline's jobs.
    #[serde(default)]
    pub pipeline: PipelineSettings,
}

/// The pipeline: how it reaches model-svc and when its jobs run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSettings {
    /// A platform API token with scope `models:predict`, exchanged at auth for access
    /// tokens when scoring. Without it the scoring jobs fail with a message that says so.
    pub api_token: Option<Secret>,
    /// Minutes between scheduled runs of all jobs inside the pipeline service; 0 turns the
    /// schedule off.
    pub schedule_minutes: u64,
    /// Rows per prediction request to model-svc.
    pub score_batch_rows: usize,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            api_token: None,
            schedule_minutes: 24 * 60,
            score_batch_rows: 4096,
        }
    }
}

/// The gateway: timeouts, body and rate limits, and where the other services are.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// Longest wait for an upstream's response headers, in milliseconds.
    pub upstream_timeout_ms: u64,
    /// The same for uploads to ingest, which answer once the whole file is stored.
    pub upload_timeout_ms: u64,
    /// Largest request body on ordinary routes, in bytes.
    pub max_body_bytes: u64,
    /// Largest request body on ingest routes (bank files), in bytes.
    pub max_ingest_body_bytes: u64,
    /// Largest request body on model routes (uploads under 10 MB, predict batches), in bytes.
    pub max_model_body_bytes: u64,
    /// Sustained requests per second allowed per client address.
    pub per_address_per_second: u32,
    /// Burst allowed per client address.
    pub per_address_burst: u32,
    /// Sustained requests per second allowed per access token.
    pub per_token_per_second: u32,
    /// Burst allowed per access token.
    pub per_token_burst: u32,
    /// Base URLs of the services; a missing one is `http://<services.X.host>:<port>`.
    pub upstreams: Upstreams,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            upstream_timeout_ms: 30_000,
            upload_timeout_ms: 6 * 3_600_000,
            max_body_bytes: 1 << 20,
            max_ingest_body_bytes: 16 << 30,
            max_model_body_bytes: 32 << 20,
            per_address_per_second: 200,
            per_address_burst: 400,
            per_token_per_second: 100,
            per_token_burst: 200,
            upstreams: Upstreams::default(),
        }
    }
}

/// Explicit upstream base URLs (docker-compose names hosts; locally they are derived).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Upstreams {
    /// The dashboard.
    pub app: Option<String>,
    /// Auth.
    pub auth: Option<String>,
    /// Metrics.
    pub metrics: Option<String>,
    /// Model service.
    pub model_svc: Option<String>,
    /// Ingest.
    pub ingest: Option<String>,
    /// Pipeline.
    pub pipeline: Option<String>,
}

impl Settings {
    /// The base URL the gateway (or another service) uses to reach `service`.
    pub fn upstream(&self, service: Service) -> String {
        let explicit = match service {
            Service::App => &self.gateway.upstreams.app,
            Service::Auth => &self.gateway.upstreams.auth,
            Service::Metrics => &self.gateway.upstreams.metrics,
            Service::ModelSvc => &self.gateway.upstreams.model_svc,
            Service::Ingest => &self.gateway.upstreams.ingest,
            Service::Pipeline => &self.gateway.upstreams.pipeline,
            Service::Gateway => &None,
        };
        if let Some(url) = explicit {
            return url.trim_end_matches('/').to_string();
        }
        let listen = self.services.of(service);
        let host = if listen.host.is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            listen.host.to_string()
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        format!("http://{host}:{}", listen.port)
    }
}

/// Database connections. The services never connect as the migrating (owner) role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// URL for the tenant-facing services (gateway, app, metrics, model-svc): role `lyra_app`.
    pub app_url: Secret,
    /// URL for the bank-wide services (ingest, pipeline): role `lyra_platform`.
    pub platform_url: Secret,
    /// URL for the auth service: role `lyra_auth`.
    pub auth_url: Secret,
    /// Pool size per service.
    pub max_connections: u32,
    /// How long to wait for a pooled connection, in milliseconds.
    pub acquire_timeout_ms: u64,
}

/// Logging settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter such as `info` or `lyra_ingest=debug,info`.
    pub filter: String,
    /// `pretty` for people, `json` for machines.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, one line per event.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Listening addresses of the seven services.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesSettings {
    /// The one public port.
    pub gateway: Listen,
    /// The web dashboard.
    pub app: Listen,
    /// Logins and tokens.
    pub auth: Listen,
    /// The analytics API.
    pub metrics: Listen,
    /// Model serving.
    pub model_svc: Listen,
    /// Transaction intake.
    pub ingest: Listen,
    /// Feature and scoring jobs.
    pub pipeline: Listen,
}

impl ServicesSettings {
    /// The listening address of one service.
    pub fn of(&self, service: Service) -> &Listen {
        match service {
            Service::Gateway => &self.gateway,
            Service::App => &self.app,
            Service::Auth => &self.auth,
            Service::Metrics => &self.metrics,
            Service::ModelSvc => &self.model_svc,
            Service::Ingest => &self.ingest,
            Service::Pipeline => &self.pipeline,
        }
    }

    /// The listening address of one service, for changing it (tests bind port 0).
    pub fn of_mut(&mut self, service: Service) -> &mut Listen {
        match service {
            Service::Gateway => &mut self.gateway,
            Service::App => &mut self.app,
            Service::Auth => &mut self.auth,
            Service::Metrics => &mut self.metrics,
            Service::ModelSvc => &mut self.model_svc,
            Service::Ingest => &mut self.ingest,
            Service::Pipeline => &mut self.pipeline,
        }
    }
}

/// A host and port to listen on. Port 0 asks the system for a free port.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// Address to bind.
    pub host: IpAddr,
    /// Port to bind.
    pub port: u16,
}

/// A configuration error that names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or an environment variable did not parse into the expected type.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// A value parsed but is not acceptable.
    #[error("invalid configuration: `{key}` = {value:?}: {reason}")]
    Invalid {
        /// Dotted key, e.g. `database.max_connections`.
        key: &'static str,
        /// The rejected value (secrets are never shown).
        value: String,
        /// Why it was rejected.
        reason: String,
    },
}

/// The top-level sections, as environment-variable prefixes.
const SECTIONS: [&str; 5] = ["database", "log", "services", "gateway", "pipeline"];

impl Settings {
    /// Built-in defaults: every service on loopback, ports 8080–8086, local database.
    pub fn defaults() -> Settings {
        let listen = |port| Listen {
            host: IpAddr::from([127, 0, 0, 1]),
            port,
        };
        Settings {
            database: DatabaseSettings {
                app_url: Secret::new("postgres://lyra_app@127.0.0.1:5432/lyra"),
                platform_url: Secret::new("postgres://lyra_platform@127.0.0.1:5432/lyra"),
                auth_url: Secret::new("postgres://lyra_auth@127.0.0.1:5432/lyra"),
                max_connections: 10,
                acquire_timeout_ms: 5_000,
            },
            log: LogSettings {
                filter: "info".into(),
                format: LogFormat::Pretty,
            },
            services: ServicesSettings {
                gateway: listen(8080),
                app: listen(8081),
                auth: listen(8082),
                metrics: listen(8083),
                model_svc: listen(8084),
                ingest: listen(8085),
                pipeline: listen(8086),
            },
            gateway: GatewaySettings::default(),
            pipeline: PipelineSettings::default(),
        }
    }

    /// Loads defaults, then `file` (when given, it must exist), then `LYRA_…` variables, and validates.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_from(file, Env::prefixed("LYRA_").split("__"))
    }

    /// The default configuration file: `$LYRA_CONFIG`, else `config/lyra.toml` when it exists.
    pub fn default_file() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("LYRA_CONFIG") {
            return Some(PathBuf::from(path));
        }
        let path = PathBuf::from("config/lyra.toml");
        path.exists().then_some(path)
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::defaults()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Parse(format!(
                    "configuration file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        // Only the sections are configuration; other LYRA_ variables (LYRA_CONFIG, which
        // names the file, or LYRA_API_TOKEN for `lyra ingest`) are not. A misspelt key
        // inside a section is still refused.
        let env = env.filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            SECTIONS.iter().any(|s| {
                key.len() > s.len()
                    && key.starts_with(s)
                    && (key[s.len()..].starts_with('.') || key[s.len()..].starts_with("__"))
            })
        });
        let settings: Settings = figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Parse(describe(e)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let db = &self.database;
        let batch = self.pipeline.score_batch_rows;
        if batch == 0 || batch > 10_000 {
            return Err(invalid(
                "pipeline.score_batch_rows",
                batch,
                "must be between 1 and 10000 (model-svc's batch limit)",
            ));
        }
        check_pg_url("database.app_url", &db.app_url)?;
        check_pg_url("database.platform_url", &db.platform_url)?;
        check_pg_url("database.auth_url", &db.auth_url)?;
        if db.max_connections == 0 || db.max_connections > 1000 {
            return Err(invalid(
                "database.max_connections",
                db.max_connections,
                "must be between 1 and 1000",
            ));
        }
        if db.acquire_timeout_ms == 0 {
            return Err(invalid(
                "database.acquire_timeout_ms",
                0,
                "must be positive",
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.filter) {
            return Err(invalid("log.filter", &self.log.filter, &e.to_string()));
        }
        let g = &self.gateway;
        for (key, value) in [
            ("gateway.upstream_timeout_ms", g.upstream_timeout_ms),
            ("gateway.upload_timeout_ms", g.upload_timeout_ms),
            ("gateway.max_body_bytes", g.max_body_bytes),
            ("gateway.max_ingest_body_bytes", g.max_ingest_body_bytes),
            ("gateway.max_model_body_bytes", g.max_model_body_bytes),
            (
                "gateway.per_address_per_second",
                g.per_address_per_second as u64,
            ),
            ("gateway.per_address_burst", g.per_address_burst as u64),
            (
                "gateway.per_token_per_second",
                g.per_token_per_second as u64,
            ),
            ("gateway.per_token_burst", g.per_token_burst as u64),
        ] {
            if value == 0 {
                return Err(invalid(key, 0, "must be positive"));
            }
        }
        let u = &g.upstreams;
        for (key, url) in [
            ("gateway.upstreams.app", &u.app),
            ("gateway.upstreams.auth", &u.auth),
            ("gateway.upstreams.metrics", &u.metrics),
            ("gateway.upstreams.model_svc", &u.model_svc),
            ("gateway.upstreams.ingest", &u.ingest),
            ("gateway.upstreams.pipeline", &u.pipeline),
        ] {
            if let Some(url) = url {
                let ok =
                    url::Url::parse(url).is_ok_and(|u| u.scheme() == "http" && u.host().is_some());
                if !ok {
                    return Err(invalid(key, url, "must be an http:// URL with a host"));
                }
            }
        }
        let mut seen = std::collections::HashMap::new();
        for service in Service::ALL {
            let listen = self.services.of(service);
            if listen.port != 0
                && let Some(other) = seen.insert(listen.port, service)
            {
                return Err(ConfigError::Invalid {
                    key: service.port_key(),
                    value: listen.port.to_string(),
                    reason: format!("already used by `{}`", other.port_key()),
                });
            }
        }
        Ok(())
    }
}

fn invalid(key: &'static str, value: impl fmt::Display, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn check_pg_url(key: &'static str, url: &Secret) -> Result<(), ConfigError> {
    let url = url.expose();
    let ok = (url.starts_with("postgres://") || url.starts_with("postgresql://"))
        && url.parse::<sqlx::postgres::PgConnectOptions>().is_ok();
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            key,
            value: "<hidden>".into(),
            reason: "must be a postgres:// URL".into(),
        })
    }
}

/// Figment's message names the key ("for key \"default.database.max_connections\"");
/// drop the profile prefix so it reads like the file.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| m.name.to_string())
                .unwrap_or_default();
            if key.is_empty() {
                format!("{} ({source})", e.kind)
            } else {
                format!("`{key}`: {} ({source})", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A string that never prints: database URLs carry passwords.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

#[cfg(test)]
// figment's test jail takes closures that return its (large) `figment::Error`.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    fn load_env(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        // figment's Env reads the process environment; use its test jail for isolation.
        let mut out = None;
        figment::Jail::expect_with(|jail| {
            for (k, v) in vars {
                jail.set_env(k, v);
            }
            out = Some(Settings::load(None));
            Ok(())
        });
        out.unwrap()
    }

    #[test]
    fn defaults_are_valid() {
        Settings::defaults().validate().unwrap();
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let s = load_env(&[
            ("LYRA_SERVICES__INGEST__PORT", "9999"),
            ("LYRA_LOG__FORMAT", "json"),
        ])
        .unwrap();
        assert_eq!(s.services.ingest.port, 9999);
        assert_eq!(s.log.format, LogFormat::Json);
    }

    #[test]
    fn unparsable_value_names_the_key() {
        let err = load_env(&[("LYRA_DATABASE__MAX_CONNECTIONS", "lots")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("database.max_connections"), "{err}");
    }

    #[test]
    fn nonsense_value_names_the_key() {
        let err = load_env(&[("LYRA_DATABASE__MAX_CONNECTIONS", "0")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`database.max_connections` = \"0\""), "{err}");
        let err = load_env(&[("LYRA_DATABASE__APP_URL", "mysql://x")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("database.app_url") && !err.contains("mysql"),
            "{err}"
        );
        let err = load_env(&[("LYRA_LOG__FILTER", "info,[[[")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("log.filter"), "{err}");
        let err = load_env(&[("LYRA_SERVICES__AUTH__PORT", "8080")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("services.auth.port") && err.contains("services.gateway.port"),
            "{err}"
        );
    }

    #[test]
    fn other_lyra_variables_are_not_configuration() {
        let s = load_env(&[("LYRA_API_TOKEN", "lyra_x"), ("LYRA_CONFIG_DIR", "x")]);
        assert!(s.is_ok(), "{:?}", s.err());
    }

    #[test]
    fn unknown_key_is_refused() {
        let err = load_env(&[("LYRA_DATABASE__MAX_CONECTIONS", "3")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_conections"), "{err}");
    }

    #[test]
    fn file_then_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "lyra.toml",
                "[services.app]\nhost = \"0.0.0.0\"\nport = 7000\n",
            )?;
            jail.set_env("LYRA_SERVICES__APP__PORT", "7001");
            let s = Settings::load(Some(Path::new("lyra.toml"))).unwrap();
            assert_eq!(s.services.app.port, 7001);
            assert_eq!(s.services.app.host.to_string(), "0.0.0.0");
            Ok(())
        });
    }

    #[test]
    fn upstreams_are_derived_or_explicit() {
        let s = load_env(&[("LYRA_GATEWAY__UPSTREAMS__AUTH", "http://auth:8082/")]).unwrap();
        assert_eq!(s.upstream(Service::Auth), "http://auth:8082");
        assert_eq!(s.upstream(Service::Ingest), "http://127.0.0.1:8085");
        let err = load_env(&[("LYRA_GATEWAY__UPSTREAMS__INGEST", "ftp://x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("gateway.upstreams.ingest"), "{err}");
        let err = load_env(&[("LYRA_GATEWAY__MAX_BODY_BYTES", "0")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("gateway.max_body_bytes"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("postgres://u:hunter2@h/db");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's test jail, as above
mod example_file {
    use super::*;

    /// The documented example configuration parses and equals the built-in defaults.
    #[test]
    fn example_configuration_is_valid() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/lyra.example.toml"
        ));
        figment::Jail::expect_with(|_| {
            let s = Settings::load(Some(path)).unwrap();
            assert_eq!(
                format!("{:?}", s.services),
                format!("{:?}", Settings::defaults().services)
            );
            Ok(())
        });
    }
}
