//! Database access: pools, the one way to open a transaction for an organisation,
//! migrations and reference data.
//!
//! Two walls keep organisations apart. The first is the application: the organisation comes
//! from a verified token. The second is Postgres: every tenant-scoped table has row-level
//! security enabled and forced, with a policy comparing `org_id` to the transaction-local
//! setting `app.org_id`. Services connect as `lyra_app` or `lyra_platform`, roles that own no
//! table and cannot bypass RLS; [`Db::connect_as`] refuses to start otherwise.
//! [`Db::begin_for_org`] is the only code that sets `app.org_id`, and [`Db::begin_for_user`]
//! the only code that sets `app.user_id`.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool, Postgres, Transaction};

use crate::config::DatabaseSettings;
use crate::mcc;

/// Migrations under `infra/migrations`, embedded in every binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../infra/migrations");

/// The database role a service connects as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbRole {
    /// `lyra_app`: tenant-facing services; sees tenant rows only for the organisation set.
    App,
    /// `lyra_platform`: bank-wide services (ingest, pipeline); no access to the truth schema.
    Platform,
    /// `lyra_auth`: the auth service; the only role that reads users, sessions and keys.
    Auth,
}

impl DbRole {
    /// The Postgres role name.
    pub fn role_name(self) -> &'static str {
        match self {
            DbRole::App => "lyra_app",
            DbRole::Platform => "lyra_platform",
            DbRole::Auth => "lyra_auth",
        }
    }
}

/// An organisation (tenant) id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct OrgId(pub i64);

impl std::fmt::Display for OrgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Errors from opening or checking a database connection.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Postgres could not be reached or refused the login.
    #[error("cannot connect to the database as {role}: {source}")]
    Connect {
        /// The role we tried.
        role: String,
        /// What sqlx said.
        source: sqlx::Error,
    },
    /// The role is too powerful for a service: RLS would not protect tenants.
    #[error("refusing to run as database role {role}: {reason}")]
    PrivilegedRole {
        /// The role connected as.
        role: String,
        /// Which privilege it has that it must not.
        reason: String,
    },
    /// Any other database error.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// A pool of connections as one unprivileged role.
#[derive(Clone, Debug)]
pub struct Db {
    pool: PgPool,
}

impl Db {
    /// Connects with the URL configured for `role` and checks that the role it logged in as
    /// owns no table, is no superuser and cannot bypass row-level security.
    pub async fn connect_as(role: DbRole, settings: &DatabaseSettings) -> Result<Db, DbError> {
        let url = match role {
            DbRole::App => &settings.app_url,
            DbRole::Platform => &settings.platform_url,
            DbRole::Auth => &settings.auth_url,
        };
        let options: PgConnectOptions =
            url.expose().parse().map_err(|source| DbError::Connect {
                role: role.role_name().into(),
                source,
            })?;
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(0)
            .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
            .connect_with(options)
            .await
            .map_err(|source| DbError::Connect {
                role: role.role_name().into(),
                source,
            })?;
        check_unprivileged(&pool).await?;
        Ok(Db { pool })
    }

    /// Opens a transaction in which row-level security shows only `org`'s rows.
    ///
    /// This is the only place that sets `app.org_id`; it is transaction-local, so a pooled
    /// connection never carries one organisation's setting into another request.
    pub async fn begin_for_org(
        &self,
        org: OrgId,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('app.org_id', $1, true)")
            .bind(org.0.to_string())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Opens a transaction in which row-level security shows the rows of one user (flows
    /// that start from a credential: login, refresh). Sets `app.user_id`, transaction-local.
    pub async fn begin_for_user(
        &self,
        user: uuid::Uuid,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('app.user_id', $1, true)")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// The pool, for work that is not scoped to one organisation (tenant tables then show
    /// no rows at all).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        conn.ping().await
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn check_unprivileged(pool: &PgPool) -> Result<(), DbError> {
    let (role, superuser, bypass, owned, powerful_member): (String, bool, bool, i64, bool) =
        sqlx::query_as(
            "SELECT r.rolname::text, r.rolsuper, r.rolbypassrls,
                    (SELECT count(*) FROM pg_class c
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE c.relowner = r.oid
                        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                        AND n.nspname NOT LIKE 'pg\\_%'),
                    EXISTS (SELECT 1 FROM pg_roles p
                             WHERE p.oid <> r.oid AND (p.rolsuper OR p.rolbypassrls)
                               AND pg_has_role(r.oid, p.oid, 'MEMBER'))
               FROM pg_roles r WHERE r.rolname = current_user",
        )
        .fetch_one(pool)
        .await?;
    let reason = if superuser {
        Some("it is a superuser".to_string())
    } else if bypass {
        Some("it has BYPASSRLS".to_string())
    } else if owned > 0 {
        Some(format!(
            "it owns {owned} tables (owners are not subject to tenant policies)"
        ))
    } else if powerful_member {
        Some("it is a member of a superuser or BYPASSRLS role".to_string())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(DbError::PrivilegedRole { role, reason }),
        None => Ok(()),
    }
}

/// Runs the pending migrations and brings the reference data (the MCC catalogue) up to
/// date. Needs the owner (admin) role. Safe to run again.
pub async fn migrate(admin: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(admin).await?;
    sync_reference_data(admin).await?;
    Ok(())
}

async fn sync_reference_data(admin: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = admin.begin().await?;
    let groups = mcc::CategoryGroup::ALL;
    sqlx::query(
        "INSERT INTO ingest.category_groups (code, name_en, name_ru, position)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[])
         ON CONFLICT (code) DO UPDATE
            SET name_en = excluded.name_en, name_ru = excluded.name_ru, position = excluded.position",
    )
    .bind(groups.iter().map(|g| g.code()).collect::<Vec<_>>())
    .bind(groups.iter().map(|g| g.name_en()).collect::<Vec<_>>())
    .bind(groups.iter().map(|g| g.name_ru()).collect::<Vec<_>>())
    .bind(groups.iter().map(|g| g.index() as i16).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    let codes = mcc::CATALOGUE;
    sqlx::query(
        "INSERT INTO ingest.mcc_codes (mcc, description, category_group)
         SELECT * FROM unnest($1::smallint[], $2::text[], $3::text[])
         ON CONFLICT (mcc) DO UPDATE
            SET description = excluded.description, category_group = excluded.category_group",
    )
    .bind(codes.iter().map(|m| m.code as i16).collect::<Vec<_>>())
    .bind(codes.iter().map(|m| m.description).collect::<Vec<_>>())
    .bind(codes.iter().map(|m| m.group.code()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
