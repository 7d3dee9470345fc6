//! HTTP handlers. Every handler that touches tenant data opens its transaction with
//! `begin_for_org` (the organisation from the verified token) or `begin_for_user`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lyra_common::db::{Db, OrgId};
use lyra_common::server::ClientIp;
use lyra_common::token::{ACCESS_TTL, AUDIENCE, Authenticated, Claims, ISSUER, Role};
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::audit::{self, Event};
use crate::error::AuthError;
use crate::sessions::{self, Session};
use crate::{AuthState, keys, password, throttle};

/// Org API tokens may only read; ingest and model administration are the bank's.
const ORG_TOKEN_SCOPES: [&str; 1] = ["metrics:read"];

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs an access token, creating the first signing key if there is none yet.
async fn access_token(
    db: &Db,
    sub: String,
    org: Option<OrgId>,
    role: Role,
    scopes: Vec<String>,
) -> Result<String, AuthError> {
    let mut conn = db.pool().acquire().await?;
    let key = match keys::active(&mut conn).await {
        Ok(key) => key,
        Err(_) => {
            let mut tx = db.pool().begin().await?;
            keys::ensure_active(&mut tx).await?;
            tx.commit().await?;
            keys::active(&mut conn).await?
        }
    };
    let iat = now_secs();
    let claims = Claims {
        sub,
        org,
        role,
        scopes,
        typ: "access".into(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        exp: iat + ACCESS_TTL.as_secs(),
        iat,
        jti: Uuid::new_v4().to_string(),
    };
    Ok(key.sign(&claims)?)
}

fn token_response(
    access: String,
    refresh: Option<String>,
    org: Option<OrgId>,
    role: Role,
) -> Response {
    let mut body = serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_TTL.as_secs(),
        "org_id": org,
        "role": role,
    });
    if let Some(refresh) = refresh {
        body["refresh_token"] = refresh.into();
    }
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// An owner of the organisation in the token, or 403 (recorded in the audit log). As an
/// extractor it runs before the body is read, so a viewer learns nothing from validation.
pub struct Owner {
    org: OrgId,
    claims: Claims,
}

impl axum::extract::FromRequestParts<AuthState> for Owner {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AuthState,
    ) -> Result<Self, Response> {
        let Authenticated(claims) = Authenticated::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if let (Role::Owner, Some(org)) = (claims.role, claims.org) {
            return Ok(Owner { org, claims });
        }
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state)
            .await
            .unwrap_or(ClientIp("unknown".into()));
        let denied = async {
            let mut conn = state.db.pool().acquire().await?;
            let user = Uuid::parse_str(&claims.sub).ok();
            audit::record(
                &mut conn,
                Event::AccessDenied,
                claims.org,
                user,
                Some(&ip),
                serde_json::json!({
                    "need": "owner", "path": parts.uri.path(),
                }),
            )
            .await?;
            Ok::<_, AuthError>(AuthError::Forbidden)
        };
        Err(match denied.await {
            Ok(e) | Err(e) => e.into_response(),
        })
    }
}

fn user_of(claims: &Claims) -> Result<Uuid, AuthError> {
    Uuid::parse_str(&claims.sub).map_err(|_| AuthError::Forbidden)
}

pub async fn jwks(State(state): State<AuthState>) -> Result<Response, AuthError> {
    let mut conn = state.db.pool().acquire().await?;
    let set = keys::jwks(&mut conn).await?;
    Ok(([(header::CACHE_CONTROL, "public, max-age=60")], Json(set)).into_response())
}

#[derive(Deserialize)]
pub struct Login {
    email: String,
    password: String,
    #[serde(default)]
    org_id: Option<i64>,
}

pub async fn login(
    State(state): State<AuthState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<Login>,
) -> Result<Response, AuthError> {
    let account = body.email.trim().to_lowercase();
    // Attempts on one account take turns from the throttle check to the failure record,
    // so a burst from many addresses cannot get past the account limit together.
    let mut guard = state.db.pool().begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('login ' || $1, 0))")
        .bind(&account)
        .execute(&mut *guard)
        .await?;
    if let Err(e) = throttle::check(&mut guard, &account, &ip).await {
        audit::record(
            &mut guard,
            Event::LoginThrottled,
            None,
            None,
            Some(&ip),
            serde_json::json!({}),
        )
        .await?;
        guard.commit().await?;
        return Err(e);
    }
    let user: Option<(Uuid, String, bool, bool)> = sqlx::query_as(
        "SELECT user_id, password_hash, is_bank_admin, disabled_at IS NOT NULL FROM auth.users WHERE email = $1",
    )
    .bind(&account)
    .fetch_optional(&mut *guard)
    .await?;
    let dummy = state
        .dummy_hash
        .get_or_try_init(|| async {
            tokio::task::spawn_blocking(password::dummy_hash)
                .await?
                .map(Arc::new)
        })
        .await?
        .clone();
    let checked = password::verify(
        body.password.clone(),
        user.as_ref().map(|u| u.1.clone()),
        dummy,
    )
    .await?;
    let refused = match &user {
        None => Some((None, "unknown e-mail")),
        Some((id, ..)) if !checked.ok => Some((Some(*id), "wrong password")),
        Some((id, _, _, true)) => Some((Some(*id), "disabled")),
        Some(_) => None,
    };
    if let Some((user, reason)) = refused {
        failed_login(&mut guard, &account, &ip, user, reason).await?;
        guard.commit().await?;
        return Err(AuthError::InvalidCredentials);
    }
    guard.commit().await?;
    let Some((user_id, _, bank_admin, _)) = user else {
        unreachable!("refused above")
    };
    let mut tx = state.db.begin_for_user(user_id).await?;
    if checked.needs_rehash {
        let rehashed = password::hash(body.password.clone()).await?;
        sqlx::query("UPDATE auth.users SET password_hash = $2 WHERE user_id = $1")
            .bind(user_id)
            .bind(rehashed)
            .execute(&mut *tx)
            .await?;
    }
    let memberships: Vec<(i64, String)> = sqlx::query_as(
        "SELECT org_id, role FROM auth.memberships WHERE user_id = $1 ORDER BY created_at, org_id",
    )
    .bind(user_id)
    .fetch_all(&mut *tx)
    .await?;
    let chosen = match body.org_id {
        Some(org) => memberships.into_iter().find(|(o, _)| *o == org),
        None => memberships.into_iter().next(),
    };
    let (org, role) = match chosen {
        Some((org, role)) => (
            Some(OrgId(org)),
            Role::from_membership(&role).ok_or(AuthError::InvalidCredentials)?,
        ),
        None if bank_admin && body.org_id.is_none() => (None, Role::BankAdmin),
        None => {
            drop(tx);
            let mut conn = state.db.pool().acquire().await?;
            failed_login(&mut conn, &account, &ip, Some(user_id), "no membership").await?;
            return Err(AuthError::InvalidCredentials);
        }
    };
    let session = Session {
        session_id: Uuid::new_v4(),
        user_id,
        org,
        role,
    };
    let refresh = sessions::start(&mut tx, &session).await?;
    audit::record(
        &mut tx,
        Event::LoginSuccess,
        org,
        Some(user_id),
        Some(&ip),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    let access = access_token(&state.db, user_id.to_string(), org, role, vec![]).await?;
    Ok(token_response(access, Some(refresh), org, role))
}

async fn failed_login(
    conn: &mut sqlx::PgConnection,
    account: &str,
    ip: &str,
    user: Option<Uuid>,
    reason: &str,
) -> Result<(), AuthError> {
    throttle::record_failure(conn, account, ip).await?;
    audit::record(
        conn,
        Event::LoginFailure,
        None,
        user,
        Some(ip),
        serde_json::json!({ "reason": reason }),
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct RefreshBody {
    refresh_token: String,
}

pub async fn refresh(
    State(state): State<AuthState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<RefreshBody>,
) -> Result<Response, AuthError> {
    let (session, next) = sessions::rotate(&state.db, &body.refresh_token, &ip).await?;
    let access = access_token(
        &state.db,
        session.user_id.to_string(),
        session.org,
        session.role,
        vec![],
    )
    .await?;
    Ok(token_response(
        access,
        Some(next),
        session.org,
        session.role,
    ))
}

pub async fn logout(
    State(state): State<AuthState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<RefreshBody>,
) -> Result<StatusCode, AuthError> {
    sessions::logout(&state.db, &body.refresh_token, &ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct Exchange {
    api_token: String,
}

/// An API token is `lyra_<token id>_<secret>`.
fn parse_api_token(token: &str) -> Option<Uuid> {
    let rest = token.strip_prefix("lyra_")?;
    let (id, secret) = rest.split_once('_')?;
    (secret.len() == 43).then_some(())?;
    Uuid::parse_str(id).ok()
}

pub async fn exchange(
    State(state): State<AuthState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<Exchange>,
) -> Result<Response, AuthError> {
    // API-token secrets are 256 bits, not guessable: throttle per address only, so that no
    // one can block every script's exchange by failing on purpose.
    let account = format!("api-token from {ip}");
    let mut conn = state.db.pool().acquire().await?;
    throttle::check(&mut conn, &account, &ip).await?;
    let redeemed: Option<(Option<i64>, Vec<String>, Uuid)> = match parse_api_token(&body.api_token)
    {
        Some(id) => {
            sqlx::query_as("SELECT org_id, scopes, created_by FROM auth.redeem_api_token($1, $2)")
                .bind(id)
                .bind(sessions::digest(&body.api_token))
                .fetch_optional(state.db.pool())
                .await?
        }
        None => None,
    };
    let Some((org, scopes, created_by)) = redeemed else {
        throttle::record_failure(&mut conn, &account, &ip).await?;
        return Err(AuthError::InvalidCredentials);
    };
    let token_id = parse_api_token(&body.api_token).expect("parsed above");
    let org = org.map(OrgId);
    {
        let mut conn = state.db.pool().acquire().await?;
        audit::record(
            &mut conn,
            Event::TokenExchanged,
            org,
            Some(created_by),
            Some(&ip),
            serde_json::json!({ "token_id": token_id }),
        )
        .await?;
    }
    let access = access_token(
        &state.db,
        format!("token:{token_id}"),
        org,
        Role::Service,
        scopes,
    )
    .await?;
    Ok(token_response(access, None, org, Role::Service))
}

pub async fn me(Authenticated(claims): Authenticated) -> Json<Claims> {
    Json(claims)
}

#[derive(Deserialize)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

pub async fn change_password(
    State(state): State<AuthState>,
    ClientIp(ip): ClientIp,
    Authenticated(claims): Authenticated,
    Json(body): Json<PasswordChange>,
) -> Result<StatusCode, AuthError> {
    let user = user_of(&claims)?;
    let (stored, email): (String, String) = sqlx::query_as(
        "SELECT password_hash, email FROM auth.users WHERE user_id = $1 AND disabled_at IS NULL",
    )
    .bind(user)
    .fetch_optional(state.db.pool())
    .await?
    .ok_or(AuthError::InvalidCredentials)?;
    let dummy = Arc::new(stored.clone());
    if !password::verify(body.current_password, Some(stored), dummy)
        .await?
        .ok
    {
        return Err(AuthError::InvalidCredentials);
    }
    password::check_policy(&body.new_password, &[&email])?;
    let hash = password::hash(body.new_password).await?;
    let mut tx = state.db.begin_for_user(user).await?;
    sqlx::query(
        "UPDATE auth.users SET password_hash = $2, password_changed_at = now() WHERE user_id = $1",
    )
    .bind(user)
    .bind(hash)
    .execute(&mut *tx)
    .await?;
    sessions::revoke_all(&mut tx, user, "password changed").await?;
    audit::record(
        &mut tx,
        Event::PasswordChanged,
        claims.org,
        Some(user),
        Some(&ip),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_users(
    State(state): State<AuthState>,
    Owner { org, .. }: Owner,
) -> Result<Json<serde_json::Value>, AuthError> {
    let mut tx = state.db.begin_for_org(org).await?;
    let rows: Vec<(Uuid, String, String, String, bool)> = sqlx::query_as(
        "SELECT u.user_id, u.email, u.display_name, m.role, u.disabled_at IS NOT NULL
           FROM auth.memberships m JOIN auth.users u USING (user_id)
          ORDER BY u.email",
    )
    .fetch_all(&mut *tx)
    .await?;
    let users: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|(id, email, name, role, disabled)| {
            serde_json::json!({"user_id": id, "email": email, "display_name": name, "role": role, "disabled": disabled})
        })
        .collect();
    Ok(Json(serde_json::json!({ "users": users })))
}

#[derive(Deserialize)]
pub struct NewUser {
    email: String,
    display_name: String,
    role: String,
    password: String,
}

pub async fn create_user(
    State(state): State<AuthState>,
    ClientIp(ip): ClientIp,
    Owner { org, claims }: Owner,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<serde_json::Value>), AuthError> {
    let new = crate::admin::NewUser::parse(&body.email, &body.display_name, &body.password)?;
    let role = Role::from_membership(&body.role).ok_or_else(|| {
        AuthError::BadRequest(format!(
            "role: {:?} is not one of owner, marketer, viewer",
            body.role
        ))
    })?;
    let hash = password::hash(body.password).await?;
    let mut tx = state.db.begin_for_org(org).await?;
    let user_id = crate::admin::insert_user(&mut tx, &new, &hash, false).await?;
    sqlx::query("INSERT INTO auth.memberships (org_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(org.0)
        .bind(user_id)
        .bind(role.as_str())
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Event::UserCreated,
        Some(org),
        user_of(&claims).ok(),
        Some(&ip),
        serde_json::json!({ "user_id": user_id, "role": role }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "user_id": user_id })),
    ))
}

#[derive(Deserialize)]
pub struct UserChange {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    disabled: Option<bool>,
}

/// Owners left in the organisation after a change (the change must keep at least one).
async fn owners_left(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM auth.memberships m JOIN auth.users u USING (user_id)
          WHERE m.role = 'owner' AND u.disabled_at IS NULL",
    )
    .fetch_one(conn)
    .await
}

pub async fn update_user(
    State(state): State<AuthState>,
    ClientIp(ip): ClientIp,
    Owner { org, claims }: Owner,
    Path(id): Path<String>,
    Json(body): Json<UserChange>,
) -> Result<Json<serde_json::Value>, AuthError> {
    let target = Uuid::parse_str(&id).map_err(|_| AuthError::NotFound)?;
    let mut tx = state.db.begin_for_org(org).await?;
    // RLS shows only this organisation's memberships: another organisation's user is a 404.
    let current: Option<String> = sqlx::query_scalar(
        "SELECT role FROM auth.memberships WHERE org_id = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(org.0)
    .bind(target)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(current) = current else {
        return Err(AuthError::NotFound);
    };
    if let Some(role) = &body.role {
        let role = Role::from_membership(role).ok_or_else(|| {
            AuthError::BadRequest(format!(
                "role: {role:?} is not one of owner, marketer, viewer"
            ))
        })?;
        sqlx::query("UPDATE auth.memberships SET role = $3 WHERE org_id = $1 AND user_id = $2")
            .bind(org.0)
            .bind(target)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
    }
    if let Some(disabled) = body.disabled {
        sqlx::query("UPDATE auth.users SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) END WHERE user_id = $1")
            .bind(target)
            .bind(disabled)
            .execute(&mut *tx)
            .await?;
    }
    if (current == "owner") && owners_left(&mut tx).await? == 0 {
        return Err(AuthError::Conflict(
            "an organisation keeps at least one active owner".into(),
        ));
    }
    audit::record(
        &mut tx,
        Event::UserChanged,
        Some(org),
        user_of(&claims).ok(),
        Some(&ip),
        serde_json::json!({ "user_id": target, "role": body.role, "disabled": body.disabled }),
    )
    .await?;
    tx.commit().await?;
    if body.disabled == Some(true) {
        // A disabled user is out everywhere: end every session, in every organisation.
        // (A changed role takes effect at the next refresh, which reads the membership.)
        let mut tx = state.db.begin_for_user(target).await?;
        sessions::revoke_all(&mut tx, target, "disabled").await?;
        tx.commit().await?;
    }
    Ok(Json(serde_json::json!({ "user_id": target })))
}

/// An API token as listed: id, name, scopes, created, last used, revoked.
type TokenRow = (
    Uuid,
    String,
    Vec<String>,
    time::OffsetDateTime,
    Option<time::OffsetDateTime>,
    bool,
);

pub async fn list_tokens(
    State(state): State<AuthState>,
    Owner { org, .. }: Owner,
) -> Result<Json<serde_json::Value>, AuthError> {
    let mut tx = state.db.begin_for_org(org).await?;
    let rows: Vec<TokenRow> = sqlx::query_as(
        "SELECT token_id, name, scopes, created_at, last_used_at, revoked_at IS NOT NULL
               FROM auth.api_tokens ORDER BY created_at DESC",
    )
    .fetch_all(&mut *tx)
    .await?;
    let tokens: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|(id, name, scopes, created, used, revoked)| {
            serde_json::json!({"token_id": id, "name": name, "scopes": scopes, "created_at": created,
                               "last_used_at": used, "revoked": revoked})
        })
        .collect();
    Ok(Json(serde_json::json!({ "tokens": tokens })))
}

#[derive(Deserialize)]
pub struct NewToken {
    name: String,
    scopes: Vec<String>,
}

pub async fn create_token(
    State(state): State<AuthState>,
    ClientIp(ip): ClientIp,
    Owner { org, claims }: Owner,
    Json(body): Json<NewToken>,
) -> Result<(StatusCode, Json<serde_json::Value>), AuthError> {
    if let Some(bad) = body
        .scopes
        .iter()
        .find(|s| !ORG_TOKEN_SCOPES.contains(&s.as_str()))
    {
        return Err(AuthError::BadRequest(format!(
            "scopes: {bad:?} is not available to organisation tokens (allowed: {})",
            ORG_TOKEN_SCOPES.join(", ")
        )));
    }
    let mut tx = state.db.begin_for_org(org).await?;
    let (token_id, token) = crate::admin::insert_api_token(
        &mut tx,
        Some(org),
        &body.name,
        &body.scopes,
        user_of(&claims)?,
    )
    .await?;
    audit::record(
        &mut tx,
        Event::TokenCreated,
        Some(org),
        user_of(&claims).ok(),
        Some(&ip),
        serde_json::json!({ "token_id": token_id, "scopes": body.scopes }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "token_id": token_id, "token": token })),
    ))
}

pub async fn revoke_token(
    State(state): State<AuthState>,
    ClientIp(ip): ClientIp,
    Owner { org, claims }: Owner,
    Path(id): Path<String>,
) -> Result<StatusCode, AuthError> {
    let token_id = Uuid::parse_str(&id).map_err(|_| AuthError::NotFound)?;
    let mut tx = state.db.begin_for_org(org).await?;
    let done = sqlx::query(
        "UPDATE auth.api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE token_id = $1",
    )
    .bind(token_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AuthError::NotFound);
    }
    audit::record(
        &mut tx,
        Event::TokenRevoked,
        Some(org),
        user_of(&claims).ok(),
        Some(&ip),
        serde_json::json!({ "token_id": token_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An audit entry: when, who, what, from where, details.
type AuditRow = (
    time::OffsetDateTime,
    Option<Uuid>,
    String,
    Option<String>,
    serde_json::Value,
);

pub async fn audit_log(
    State(state): State<AuthState>,
    Owner { org, .. }: Owner,
) -> Result<Json<serde_json::Value>, AuthError> {
    let mut tx = state.db.begin_for_org(org).await?;
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT at, user_id, event, ip, detail FROM auth.audit_log ORDER BY audit_id DESC LIMIT 200",
    )
    .fetch_all(&mut *tx)
    .await?;
    let entries: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|(at, user, event, ip, detail)| {
            serde_json::json!({"at": at, "user_id": user, "event": event, "ip": ip, "detail": detail})
        })
        .collect();
    Ok(Json(serde_json::json!({ "entries": entries })))
}
