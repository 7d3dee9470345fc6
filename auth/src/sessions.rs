//! Sessions and refresh tokens. A refresh token is `rt.<user id>.<256 random bits>`; only
//! its SHA-256 is stored. Every refresh rotates it; presenting a used one revokes the whole
//! family (session). Sessions end absolutely [`SESSION_DAYS`] after login.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lyra_common::db::{Db, OrgId};
use lyra_common::token::Role;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::audit::{self, Event};
use crate::error::AuthError;

/// Absolute lifetime of a session.
pub const SESSION_DAYS: i32 = 30;

/// What a valid refresh token stands for.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session (token family).
    pub session_id: Uuid,
    /// Its user.
    pub user_id: Uuid,
    /// Its organisation (none for bank admins).
    pub org: Option<OrgId>,
    /// Its role.
    pub role: Role,
}

fn random_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a presented secret, as stored.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

async fn issue_token(
    conn: &mut PgConnection,
    session_id: Uuid,
    user_id: Uuid,
) -> anyhow::Result<String> {
    let token = format!("rt.{}.{}", user_id.simple(), random_secret()?);
    sqlx::query(
        "INSERT INTO auth.refresh_tokens (token_hash, session_id, user_id) VALUES ($1, $2, $3)",
    )
    .bind(digest(&token))
    .bind(session_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(token)
}

/// Starts a session and returns its first refresh token.
pub async fn start(conn: &mut PgConnection, session: &Session) -> anyhow::Result<String> {
    sqlx::query(
        "INSERT INTO auth.sessions (session_id, user_id, org_id, role, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(days => $5))",
    )
    .bind(session.session_id)
    .bind(session.user_id)
    .bind(session.org.map(|o| o.0))
    .bind(session.role.as_str())
    .bind(SESSION_DAYS)
    .execute(&mut *conn)
    .await?;
    issue_token(conn, session.session_id, session.user_id).await
}

fn user_of(token: &str) -> Option<Uuid> {
    let mut parts = token.split('.');
    (parts.next()? == "rt").then_some(())?;
    let user = Uuid::parse_str(parts.next()?).ok()?;
    (parts.next()?.len() == 43 && parts.next().is_none()).then_some(user)
}

/// Exchanges a refresh token for a new one. A token that was already used revokes its
/// family and fails; so does an expired or revoked session or a disabled user.
pub async fn rotate(db: &Db, presented: &str, ip: &str) -> Result<(Session, String), AuthError> {
    let user = user_of(presented).ok_or(AuthError::InvalidCredentials)?;
    let mut tx = db.begin_for_user(user).await?;
    let row: Option<(Uuid, Option<time::OffsetDateTime>)> = sqlx::query_as(
        "SELECT session_id, used_at FROM auth.refresh_tokens WHERE token_hash = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(digest(presented))
    .bind(user)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((session_id, used_at)) = row else {
        return Err(AuthError::InvalidCredentials);
    };
    let session: Option<(Option<i64>, String, bool)> = sqlx::query_as(
        "SELECT s.org_id, s.role, (s.revoked_at IS NULL AND s.expires_at > now() AND u.disabled_at IS NULL)
           FROM auth.sessions s JOIN auth.users u USING (user_id)
          WHERE s.session_id = $1",
    )
    .bind(session_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((org, role, alive)) = session else {
        return Err(AuthError::InvalidCredentials);
    };
    if used_at.is_some() {
        if alive {
            revoke_session(&mut tx, session_id, "refresh token reused").await?;
        }
        audit::record(
            &mut tx,
            Event::RefreshTokenReuse,
            org.map(OrgId),
            Some(user),
            Some(ip),
            serde_json::json!({ "session_id": session_id }),
        )
        .await?;
        tx.commit().await?;
        return Err(AuthError::InvalidCredentials);
    }
    if !alive {
        return Err(AuthError::InvalidCredentials);
    }
    // The role may have changed since login: take the membership's current one.
    let role = match org {
        Some(org) => {
            let current: Option<String> = sqlx::query_scalar(
                "SELECT role FROM auth.memberships WHERE org_id = $1 AND user_id = $2",
            )
            .bind(org)
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
            current
                .as_deref()
                .and_then(Role::from_membership)
                .ok_or(AuthError::InvalidCredentials)?
        }
        None if role == Role::BankAdmin.as_str() => Role::BankAdmin,
        None => return Err(AuthError::InvalidCredentials),
    };
    sqlx::query("UPDATE auth.refresh_tokens SET used_at = now() WHERE token_hash = $1")
        .bind(digest(presented))
        .execute(&mut *tx)
        .await?;
    let next = issue_token(&mut tx, session_id, user).await?;
    tx.commit().await?;
    Ok((
        Session {
            session_id,
            user_id: user,
            org: org.map(OrgId),
            role,
        },
        next,
    ))
}

/// Ends the session a refresh token belongs to (logout). Unknown tokens are ignored.
pub async fn logout(db: &Db, presented: &str, ip: &str) -> Result<(), AuthError> {
    let Some(user) = user_of(presented) else {
        return Ok(());
    };
    let mut tx = db.begin_for_user(user).await?;
    let session: Option<(Uuid, Option<i64>)> = sqlx::query_as(
        "SELECT t.session_id, s.org_id FROM auth.refresh_tokens t JOIN auth.sessions s USING (session_id)
          WHERE t.token_hash = $1 AND t.user_id = $2",
    )
    .bind(digest(presented))
    .bind(user)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((session_id, org)) = session {
        revoke_session(&mut tx, session_id, "logout").await?;
        audit::record(
            &mut tx,
            Event::Logout,
            org.map(OrgId),
            Some(user),
            Some(ip),
            serde_json::json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn revoke_session(
    conn: &mut PgConnection,
    session_id: Uuid,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE auth.sessions SET revoked_at = now(), revoked_reason = $2 WHERE session_id = $1 AND revoked_at IS NULL",
    )
    .bind(session_id)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends every session of a user (disabled, or password changed). The connection must see
/// the user's sessions (a transaction from `begin_for_user`, or the owner's organisation).
pub async fn revoke_all(
    conn: &mut PgConnection,
    user: Uuid,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE auth.sessions SET revoked_at = now(), revoked_reason = $2 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_name_their_user_and_nothing_else_parses() {
        let user = Uuid::new_v4();
        let token = format!("rt.{}.{}", user.simple(), random_secret().unwrap());
        assert_eq!(user_of(&token), Some(user));
        assert_eq!(user_of("rt.x.y"), None);
        assert_eq!(
            user_of(&format!(
                "at.{}.{}",
                user.simple(),
                random_secret().unwrap()
            )),
            None
        );
        assert_eq!(user_of("eyJhbGciOiJFZERTQSJ9.e30.sig"), None);
    }
}
