//! The audit log: logins, failures, token reuse, denied access, key rotation, token and
//! user changes. Never a secret: no password, no token, no hash.

use lyra_common::db::OrgId;
use sqlx::PgConnection;
use uuid::Uuid;

/// Events, as stored.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// A successful login.
    LoginSuccess,
    /// A failed login (unknown e-mail or wrong password — the log knows which, the client not).
    LoginFailure,
    /// A login refused by throttling.
    LoginThrottled,
    /// A refresh token presented a second time; its family was revoked.
    RefreshTokenReuse,
    /// A request refused for lack of role or scope.
    AccessDenied,
    /// Signing keys rotated.
    KeyRotation,
    /// An API token created.
    TokenCreated,
    /// An API token revoked.
    TokenRevoked,
    /// An API token exchanged for an access token.
    TokenExchanged,
    /// A user created.
    UserCreated,
    /// A user's role or status changed.
    UserChanged,
    /// A password changed (all sessions ended).
    PasswordChanged,
    /// A session ended by logout.
    Logout,
}

impl Event {
    fn as_str(self) -> &'static str {
        match self {
            Event::LoginSuccess => "login_success",
            Event::LoginFailure => "login_failure",
            Event::LoginThrottled => "login_throttled",
            Event::RefreshTokenReuse => "refresh_token_reuse",
            Event::AccessDenied => "access_denied",
            Event::KeyRotation => "key_rotation",
            Event::TokenCreated => "token_created",
            Event::TokenRevoked => "token_revoked",
            Event::TokenExchanged => "token_exchanged",
            Event::UserCreated => "user_created",
            Event::UserChanged => "user_changed",
            Event::PasswordChanged => "password_changed",
            Event::Logout => "logout",
        }
    }
}

/// Appends one entry.
pub async fn record(
    conn: &mut PgConnection,
    event: Event,
    org: Option<OrgId>,
    user: Option<Uuid>,
    ip: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    tracing::info!(event = event.as_str(), org = ?org.map(|o| o.0), user = ?user, "audit: {}", event.as_str());
    sqlx::query("INSERT INTO auth.audit_log (org_id, user_id, event, ip, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(org.map(|o| o.0))
        .bind(user)
        .bind(event.as_str())
        .bind(ip)
        .bind(detail)
        .execute(conn)
        .await?;
    Ok(())
}
