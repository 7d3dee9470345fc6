//! Bank-admin chores, run by the `lyra admin …` commands against the database as the
//! owner role: onboard organisations, attach outlets, create users, issue platform API
//! tokens, rotate signing keys. The same validation as the HTTP API applies.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lyra_common::db::OrgId;
use ring::rand::{SecureRandom, SystemRandom};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit::{self, Event};
use crate::error::AuthError;
use crate::{keys, password, sessions};

/// API token scopes.
pub const SCOPES: [&str; 4] = [
    "ingest:write",
    "metrics:read",
    "models:admin",
    "models:predict",
];

/// A validated new user.
#[derive(Debug)]
pub struct NewUser {
    /// Lower-cased e-mail.
    pub email: String,
    /// Display name.
    pub display_name: String,
}

impl NewUser {
    /// Validates e-mail, name and password (policy included).
    pub fn parse(email: &str, display_name: &str, password: &str) -> Result<NewUser, AuthError> {
        let email = email.trim().to_lowercase();
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
            && !email.contains(char::is_whitespace);
        if !valid {
            return Err(AuthError::BadRequest(format!(
                "email: {email:?} is not an e-mail address"
            )));
        }
        let display_name = display_name.trim().to_string();
        if display_name.is_empty() || display_name.chars().count() > 200 {
            return Err(AuthError::BadRequest(
                "display_name: must be 1 to 200 characters".into(),
            ));
        }
        password::check_policy(password, &[&email, &display_name])?;
        Ok(NewUser {
            email,
            display_name,
        })
    }
}

/// Inserts a user; 409 when the e-mail is taken.
pub async fn insert_user(
    conn: &mut PgConnection,
    user: &NewUser,
    hash: &str,
    bank_admin: bool,
) -> Result<Uuid, AuthError> {
    let id = Uuid::new_v4();
    let inserted = sqlx::query(
        "INSERT INTO auth.users (user_id, email, display_name, password_hash, is_bank_admin)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING",
    )
    .bind(id)
    .bind(&user.email)
    .bind(&user.display_name)
    .bind(hash)
    .bind(bank_admin)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(AuthError::Conflict("email: already registered".into()));
    }
    Ok(id)
}

/// Creates an API token; returns its id and the token itself (shown once, stored hashed).
pub async fn insert_api_token(
    conn: &mut PgConnection,
    org: Option<OrgId>,
    name: &str,
    scopes: &[String],
    created_by: Uuid,
) -> Result<(Uuid, String), AuthError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AuthError::BadRequest(
            "name: must be 1 to 100 characters".into(),
        ));
    }
    if scopes.is_empty() {
        return Err(AuthError::BadRequest(
            "scopes: at least one is required".into(),
        ));
    }
    if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(AuthError::BadRequest(format!(
            "scopes: unknown scope {bad:?} (known: {})",
            SCOPES.join(", ")
        )));
    }
    let mut secret = [0u8; 32];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    let id = Uuid::new_v4();
    let token = format!("lyra_{}_{}", id.simple(), URL_SAFE_NO_PAD.encode(secret));
    sqlx::query(
        "INSERT INTO auth.api_tokens (token_id, org_id, name, scopes, secret_hash, created_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(org.map(|o| o.0))
    .bind(name)
    .bind(scopes)
    .bind(sessions::digest(&token))
    .bind(created_by)
    .execute(&mut *conn)
    .await?;
    Ok((id, token))
}

/// Creates an organisation; its id comes from `id` or the sequence.
pub async fn create_org(pool: &PgPool, name: &str, id: Option<i64>) -> anyhow::Result<OrgId> {
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty() && name.chars().count() <= 200,
        "name: must be 1 to 200 characters"
    );
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO auth.organisations (org_id, name) VALUES (coalesce($1, nextval('auth.organisation_ids')), $2)
         RETURNING org_id",
    )
    .bind(id)
    .bind(name)
    .fetch_one(pool)
    .await?;
    Ok(OrgId(id))
}

/// Attaches outlets to an organisation. Fails, changing nothing, if an outlet is unknown or
/// belongs to another organisation.
pub async fn attach_outlets(pool: &PgPool, org: OrgId, merchants: &[i64]) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    for &m in merchants {
        let owner: Option<Option<i64>> =
            sqlx::query_scalar("SELECT org_id FROM ingest.merchants WHERE merchant_id = $1")
                .bind(m)
                .fetch_optional(&mut *tx)
                .await?;
        match owner {
            None => anyhow::bail!("merchant {m}: no such outlet"),
            Some(Some(other)) if other != org.0 => {
                anyhow::bail!("merchant {m}: belongs to organisation {other}")
            }
            _ => {}
        }
        sqlx::query("UPDATE ingest.merchants SET org_id = $1 WHERE merchant_id = $2")
            .bind(org.0)
            .bind(m)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What a new user is.
pub enum Membership {
    /// A member of an organisation with a role.
    Member(OrgId, lyra_common::token::Role),
    /// A bank admin.
    BankAdmin,
}

/// Creates a user (bank admin or member of an organisation).
pub async fn create_user(
    pool: &PgPool,
    email: &str,
    display_name: &str,
    password: &str,
    membership: Membership,
) -> anyhow::Result<Uuid> {
    let new = NewUser::parse(email, display_name, password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash = password::hash(password.to_string()).await?;
    let mut tx = pool.begin().await?;
    let bank_admin = matches!(membership, Membership::BankAdmin);
    let id = insert_user(&mut tx, &new, &hash, bank_admin)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Membership::Member(org, role) = membership {
        sqlx::query("INSERT INTO auth.memberships (org_id, user_id, role) VALUES ($1, $2, $3)")
            .bind(org.0)
            .bind(id)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Issues a platform API token (no organisation) in the name of a bank admin.
pub async fn create_platform_token(
    pool: &PgPool,
    admin_email: &str,
    name: &str,
    scopes: &[String],
) -> anyhow::Result<String> {
    let mut tx = pool.begin().await?;
    let admin: Uuid =
        sqlx::query_scalar("SELECT user_id FROM auth.users WHERE email = $1 AND is_bank_admin")
            .bind(admin_email.trim().to_lowercase())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{admin_email}: no such bank admin"))?;
    let (id, token) = insert_api_token(&mut tx, None, name, scopes, admin)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    audit::record(
        &mut tx,
        Event::TokenCreated,
        None,
        Some(admin),
        None,
        serde_json::json!({"token_id": id, "scopes": scopes}),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Revokes the platform API tokens called `name` that are still active, then issues a new
/// one (for programs such as `lyra up` that mint their own token at every start).
pub async fn renew_platform_token(
    pool: &PgPool,
    admin_email: &str,
    name: &str,
    scopes: &[String],
) -> anyhow::Result<String> {
    let mut tx = pool.begin().await?;
    let revoked: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE auth.api_tokens SET revoked_at = now()
          WHERE org_id IS NULL AND name = $1 AND revoked_at IS NULL RETURNING token_id",
    )
    .bind(name)
    .fetch_all(&mut *tx)
    .await?;
    for id in revoked {
        audit::record(
            &mut tx,
            Event::TokenRevoked,
            None,
            None,
            None,
            serde_json::json!({"token_id": id, "reason": "renewed"}),
        )
        .await?;
    }
    tx.commit().await?;
    create_platform_token(pool, admin_email, name, scopes).await
}

/// Rotates the signing keys; the previous key stays valid until its tokens expire.
pub async fn rotate_keys(pool: &PgPool) -> anyhow::Result<String> {
    let mut tx = pool.begin().await?;
    let kid = keys::rotate(&mut tx).await?;
    audit::record(
        &mut tx,
        Event::KeyRotation,
        None,
        None,
        None,
        serde_json::json!({ "kid": kid }),
    )
    .await?;
    tx.commit().await?;
    Ok(kid)
}

/// A random password that passes the policy, for users created without one.
pub fn generate_password() -> anyhow::Result<String> {
    let mut bytes = [0u8; 18];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The demo's logins, one per role: (role, e-mail, password). Demo only: printed by
/// `lyra up`, never created anywhere else.
pub const DEMO_LOGINS: [(&str, &str, &str); 4] = [
    (
        "owner",
        "owner@demo.lyra.example",
        "Harbour-Lantern-Owner-26",
    ),
    (
        "marketer",
        "marketer@demo.lyra.example",
        "Orchid-Compass-Marketer-26",
    ),
    (
        "viewer",
        "viewer@demo.lyra.example",
        "Glacier-Meadow-Viewer-26",
    ),
    (
        "bank_admin",
        "admin@bank.lyra.example",
        "Tundra-Beacon-Admin-26",
    ),
];

/// Creates the demo logins (once) for the first client organisation that has outlets.
/// Returns that organisation's id and name.
pub async fn ensure_demo_logins(pool: &PgPool) -> anyhow::Result<(OrgId, String)> {
    let (org, name): (i64, String) = sqlx::query_as(
        "SELECT o.org_id, o.name FROM auth.organisations o
          WHERE EXISTS (SELECT FROM ingest.merchants m WHERE m.org_id = o.org_id)
          ORDER BY o.org_id LIMIT 1",
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        anyhow::anyhow!("no client organisation with outlets: load the demo data first")
    })?;
    for (role, email, password) in DEMO_LOGINS {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT FROM auth.users WHERE email = $1)")
                .bind(email)
                .fetch_one(pool)
                .await?;
        if exists {
            continue;
        }
        let membership = match lyra_common::token::Role::from_membership(role) {
            Some(role) => Membership::Member(OrgId(org), role),
            None => Membership::BankAdmin,
        };
        let display = format!("Demo {role}");
        create_user(pool, email, &display, password, membership).await?;
    }
    Ok((OrgId(org), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_passwords_pass_the_policy() {
        for (_, email, password) in DEMO_LOGINS {
            NewUser::parse(email, "Demo", password).unwrap();
        }
    }

    #[test]
    fn new_users_are_validated_with_named_fields() {
        let err = NewUser::parse("not-an-email", "X", "Tundra-Lantern-Violet-42")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("email:"), "{err}");
        let err = NewUser::parse("a@b.example", " ", "Tundra-Lantern-Violet-42")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("display_name:"), "{err}");
        let err = NewUser::parse("a@b.example", "A", "aaaaaaaaaaaa")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("password:"), "{err}");
    }
}
