//! Login throttling: at most [`ACCOUNT_LIMIT`] failures per account per hour, whatever the
//! addresses they come from, and an exponential backoff per address. Attempts are refused
//! while throttled (429 with Retry-After) rather than the account being locked: the limits
//! slide, so nothing an attacker does keeps a user out for longer than the window.
//!
//! The caller holds a per-account advisory lock (see `api::login`) from the check to the
//! record, so concurrent attempts cannot slip past the account limit together.

use sqlx::PgConnection;

use crate::error::AuthError;

/// Failed logins allowed per account in a sliding hour.
pub const ACCOUNT_LIMIT: i64 = 100;
/// Failures from one address (in 15 minutes) before backoff starts.
pub const ADDRESS_FREE_FAILURES: i64 = 10;
/// Longest backoff per address, seconds.
pub const ADDRESS_MAX_BACKOFF: u64 = 900;

/// Refuses the attempt if the account or the address is throttled.
pub async fn check(conn: &mut PgConnection, account: &str, ip: &str) -> Result<(), AuthError> {
    let (account_failures, oldest_age): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), extract(epoch FROM now() - min(at))::float8 FROM (
             SELECT at FROM auth.login_failures
              WHERE account = $1 AND at > now() - interval '1 hour'
              ORDER BY at DESC LIMIT $2) recent",
    )
    .bind(account)
    .bind(ACCOUNT_LIMIT)
    .fetch_one(&mut *conn)
    .await?;
    if account_failures >= ACCOUNT_LIMIT {
        let retry_after = (3600.0 - oldest_age.unwrap_or(0.0)).max(1.0) as u64;
        return Err(AuthError::Throttled { retry_after });
    }
    let (address_failures, last_age): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), extract(epoch FROM now() - max(at))::float8 FROM auth.login_failures
          WHERE ip = $1 AND at > now() - interval '15 minutes'",
    )
    .bind(ip)
    .fetch_one(&mut *conn)
    .await?;
    if address_failures >= ADDRESS_FREE_FAILURES {
        let exponent = (address_failures - ADDRESS_FREE_FAILURES).min(20) as u32;
        let wait = 2u64.saturating_pow(exponent).min(ADDRESS_MAX_BACKOFF) as f64;
        let since = last_age.unwrap_or(f64::MAX);
        if since < wait {
            return Err(AuthError::Throttled {
                retry_after: (wait - since).ceil().max(1.0) as u64,
            });
        }
    }
    Ok(())
}

/// Records a failed attempt.
pub async fn record_failure(
    conn: &mut PgConnection,
    account: &str,
    ip: &str,
) -> Result<(), AuthError> {
    sqlx::query("INSERT INTO auth.login_failures (account, ip) VALUES ($1, $2)")
        .bind(account)
        .bind(ip)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
