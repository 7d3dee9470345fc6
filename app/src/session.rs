//! Browser sessions and CSRF protection.
//!
//! A logged-in browser holds two `__Host-` cookies (HttpOnly, Secure, SameSite=Lax, path
//! `/`): the access token (15 minutes) and the refresh token (30 days). The app verifies the
//! access token like every service (JWKS, EdDSA, `iss`/`aud`/`exp`); when it has expired,
//! the app rotates the refresh token at auth and sets both cookies again. Refreshes take turns
//! and remember their result for a minute, so two requests of one page arriving with the
//! same old refresh token do not look like a stolen token being replayed (auth revokes the
//! whole family when a used refresh token comes back).
//!
//! Every form carries a CSRF token equal to the `__Host-lyra-csrf` cookie (double submit:
//! another site can neither read nor, with the `__Host-` prefix, plant the cookie), and a
//! request that the browser marks `Sec-Fetch-Site: cross-site` is refused as well.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use lyra_common::token::Claims;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::AppState;

/// The access token cookie.
pub const ACCESS: &str = "__Host-lyra-access";
/// The refresh token cookie.
pub const REFRESH: &str = "__Host-lyra-refresh";
/// The CSRF cookie (double submit).
pub const CSRF: &str = "__Host-lyra-csrf";
/// The language preference.
pub const LANG: &str = "__Host-lyra-lang";
/// The theme preference.
pub const THEME: &str = "__Host-lyra-theme";

/// How long the refresh cookie lives (auth's absolute expiry of a session).
const REFRESH_MAX_AGE: u64 = 30 * 24 * 3600;
/// How long a refresh's result is reused for requests that still carry the old token.
const REFRESH_REUSE: Duration = Duration::from_secs(60);

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` for one of our cookies (`max_age` 0 deletes it).
pub fn set_cookie(name: &str, value: &str, max_age: u64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax"
    ))
    .expect("cookie values are base64url, JWTs or fixed words")
}

/// A random token, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random number generator");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The CSRF token for this browser, and the cookie to set when it had none.
pub fn csrf_token(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, CSRF) {
        Some(token) if token.len() >= 32 => (token.to_string(), None),
        _ => {
            let token = random_token();
            let set = set_cookie(CSRF, &token, REFRESH_MAX_AGE);
            (token, Some(set))
        }
    }
}

/// Whether a form submission is the user's own: its token matches the cookie and the
/// browser does not mark it cross-site.
pub fn csrf_ok(headers: &HeaderMap, submitted: &str) -> bool {
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site");
    match cookie(headers, CSRF) {
        Some(expected) if !cross_site && expected.len() >= 32 => {
            // Constant time: every byte is compared whatever the first difference.
            expected.len() == submitted.len()
                && expected
                    .bytes()
                    .zip(submitted.bytes())
                    .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                    == 0
        }
        _ => false,
    }
}

/// The tokens auth answers a login or refresh with.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    /// The access token.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// The next refresh token.
    pub refresh_token: String,
}

impl Tokens {
    /// The cookies that hold them.
    pub fn cookies(&self) -> [HeaderValue; 2] {
        [
            set_cookie(ACCESS, &self.access_token, self.expires_in),
            set_cookie(REFRESH, &self.refresh_token, REFRESH_MAX_AGE),
        ]
    }
}

/// The cookies that end a session.
pub fn cleared() -> [HeaderValue; 2] {
    [set_cookie(ACCESS, "", 0), set_cookie(REFRESH, "", 0)]
}

/// Refreshes that happened lately, by the refresh token they used.
#[derive(Default)]
pub struct Refreshes(Mutex<HashMap<String, (Instant, Tokens)>>);

impl Refreshes {
    /// Forgets a logged-out session's refreshes, so its old tokens renew nothing.
    pub async fn forget(&self, refresh: &str) {
        self.0
            .lock()
            .await
            .retain(|old, (_, tokens)| old != refresh && tokens.refresh_token != refresh);
    }
}

/// A logged-in person.
#[derive(Debug, Clone)]
pub struct Session {
    /// Their access token (sent on to metrics and auth).
    pub access: String,
    /// What it says.
    pub claims: Claims,
    /// Cookies to set on the response (after a refresh).
    pub set_cookies: Vec<HeaderValue>,
}

/// Why there is no session: the browser goes to the login page.
pub struct LoggedOut {
    /// Where to come back to.
    pub next: String,
}

impl IntoResponse for LoggedOut {
    fn into_response(self) -> Response {
        let location = format!("/login?next={}", encode(&self.next));
        let mut response = StatusCode::SEE_OTHER.into_response();
        let headers = response.headers_mut();
        headers.insert(
            LOCATION,
            HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static("/login")),
        );
        for c in cleared() {
            headers.append(SET_COOKIE, c);
        }
        response
    }
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Only a path of this site: `/x?y`, never `//host` or `/\host`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

impl AppState {
    /// The session of this request, refreshing an expired access token; `here` is where
    /// the login page sends the browser back to.
    pub async fn session(&self, headers: &HeaderMap, here: &str) -> Result<Session, LoggedOut> {
        let logged_out = || LoggedOut {
            next: here.to_string(),
        };
        if let Some(access) = cookie(headers, ACCESS)
            && let Ok(claims) = self.verifier.verify(access).await
        {
            return Ok(Session {
                access: access.to_string(),
                claims,
                set_cookies: Vec::new(),
            });
        }
        let refresh = cookie(headers, REFRESH).ok_or_else(logged_out)?;
        let tokens = self
            .refresh(refresh, headers)
            .await
            .ok_or_else(logged_out)?;
        let claims = self
            .verifier
            .verify(&tokens.access_token)
            .await
            .map_err(|_| logged_out())?;
        Ok(Session {
            access: tokens.access_token.clone(),
            claims,
            set_cookies: tokens.cookies().to_vec(),
        })
    }

    /// Rotates `refresh` at auth, once per token however many requests carry it.
    async fn refresh(&self, refresh: &str, headers: &HeaderMap) -> Option<Tokens> {
        let mut recent = self.refreshes.0.lock().await;
        recent.retain(|_, (at, _)| at.elapsed() < REFRESH_REUSE);
        if let Some((_, tokens)) = recent.get(refresh) {
            return Some(tokens.clone());
        }
        let response = self
            .auth_post("/v1/auth/refresh", headers, None)
            .json(&serde_json::json!({ "refresh_token": refresh }))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let tokens: Tokens = response.json().await.ok()?;
        recent.insert(refresh.to_string(), (Instant::now(), tokens.clone()));
        Some(tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("x__Host-lyra-csrf=evil; __Host-lyra-csrf=good; a=b"),
        );
        assert_eq!(cookie(&headers, CSRF), Some("good"));
        assert_eq!(cookie(&headers, ACCESS), None);
    }

    #[test]
    fn csrf_needs_the_cookie_and_a_same_site_request() {
        let token = random_token();
        let mut headers = HeaderMap::new();
        assert!(!csrf_ok(&headers, &token), "no cookie");
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("{CSRF}={token}")).unwrap(),
        );
        assert!(csrf_ok(&headers, &token));
        assert!(!csrf_ok(&headers, &random_token()));
        assert!(!csrf_ok(&headers, ""));
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!csrf_ok(&headers, &token));
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie(ACCESS, "abc", 900);
        assert_eq!(
            c.to_str().unwrap(),
            "__Host-lyra-access=abc; Path=/; Max-Age=900; HttpOnly; Secure; SameSite=Lax"
        );
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/customers?days=7")), "/customers?days=7");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(encode("/a?b=c&d"), "/a%3Fb%3Dc%26d");
    }
}
