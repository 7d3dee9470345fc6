//! Access tokens: EdDSA-signed JWTs issued by auth, verified by the gateway and again by
//! every service, with the same code.
//!
//! Verification accepts only `EdDSA`, requires a `kid` found in auth's JWKS, and checks
//! `iss`, `aud`, `exp` (with [`LEEWAY_SECS`]) and `typ`. The organisation of a request comes
//! from a verified token only.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};

use crate::db::OrgId;

/// `iss` of every Lyra access token.
pub const ISSUER: &str = "lyra-auth";
/// `aud` of every Lyra access token.
pub const AUDIENCE: &str = "lyra-api";
/// Lifetime of an access token.
pub const ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
/// Clock skew tolerated on `exp`.
pub const LEEWAY_SECS: u64 = 30;
/// How often an unknown `kid` may trigger a JWKS refetch.
const REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// Who the bearer is within Lyra.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// SME owner: everything in their organisation, including users and API tokens.
    Owner,
    /// Builds and exports audiences, reads dashboards.
    Marketer,
    /// Reads dashboards.
    Viewer,
    /// The bank's platform administrator (no organisation).
    BankAdmin,
    /// A script or service using an API token; what it may do is in its scopes.
    Service,
}

impl Role {
    /// As stored and written in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Marketer => "marketer",
            Role::Viewer => "viewer",
            Role::BankAdmin => "bank_admin",
            Role::Service => "service",
        }
    }

    /// Parses a membership role.
    pub fn from_membership(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "marketer" => Some(Role::Marketer),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// Subject: a user id, or `token:<id>` for an API token.
    pub sub: String,
    /// The organisation the token acts for; none for bank admins and platform tokens.
    pub org: Option<OrgId>,
    /// Role within the organisation (or platform).
    pub role: Role,
    /// Scopes of an API token (empty for people).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Always `access`: no other token kind is accepted where an access token is expected.
    pub typ: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Unique token id.
    pub jti: String,
}

impl Claims {
    /// Whether the token carries `scope` (people's tokens carry what their role allows).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Why a token was refused. The client learns only "invalid token".
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Malformed, wrong algorithm, unknown key, bad signature, expired, wrong iss/aud/typ.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The key set could not be fetched.
    #[error("cannot fetch signing keys: {0}")]
    Keys(String),
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let status = match self {
            TokenError::Keys(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        };
        tracing::info!(error = %self, "token refused");
        let body = match self {
            TokenError::Keys(_) => "authentication unavailable",
            _ => "invalid or missing access token",
        };
        (
            status,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"lyra\"")],
            axum::Json(serde_json::json!({ "error": body })),
        )
            .into_response()
    }
}

type Fetch =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<JwkSet, String>> + Send>> + Send + Sync>;

/// Verifies access tokens against a cached JWKS, refetched when an unknown `kid` appears
/// (at most every few seconds, so garbage tokens cannot hammer auth).
pub struct TokenVerifier {
    fetch: Fetch,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_fetch: Mutex<Option<Instant>>,
    /// Tokens whose signature has been checked, with their claims: a page's several
    /// requests carry the same token, and the signature check is most of the cost. Expiry
    /// is checked again on every use; failures are never kept.
    verified: std::sync::Mutex<HashMap<String, Claims>>,
}

/// At most this many verified tokens are remembered (then the memory starts over).
const VERIFIED_CAPACITY: usize = 10_000;

impl TokenVerifier {
    /// A verifier that fetches the JWKS from `url` (auth's `/.well-known/jwks.json`).
    pub fn remote(url: String) -> Arc<TokenVerifier> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("http client");
        TokenVerifier::with_fetch(Arc::new(move || {
            let (http, url) = (http.clone(), url.clone());
            Box::pin(async move {
                let response = http.get(&url).send().await.map_err(|e| e.to_string())?;
                if !response.status().is_success() {
                    return Err(format!("{url}: {}", response.status()));
                }
                response.json::<JwkSet>().await.map_err(|e| e.to_string())
            })
        }))
    }

    /// A verifier with its own way of getting the key set (auth reads its database).
    pub fn with_fetch(fetch: Fetch) -> Arc<TokenVerifier> {
        Arc::new(TokenVerifier {
            fetch,
            keys: RwLock::new(HashMap::new()),
            last_fetch: Mutex::new(None),
            verified: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Verifies a compact JWT and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let known = self
            .verified
            .lock()
            .expect("verified tokens")
            .get(token)
            .cloned();
        if let Some(claims) = known {
            if now <= claims.exp + LEEWAY_SECS {
                return Ok(claims);
            }
            return Err(TokenError::Invalid("ExpiredSignature".into()));
        }
        let claims = self.verify_signed(token).await?;
        let mut verified = self.verified.lock().expect("verified tokens");
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(token.to_string(), claims.clone());
        Ok(claims)
    }

    async fn verify_signed(&self, token: &str) -> Result<Claims, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid(format!(
                "algorithm {:?} not allowed",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| TokenError::Invalid("no kid".into()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        if data.claims.typ != "access" {
            return Err(TokenError::Invalid(format!(
                "token type {:?}",
                data.claims.typ
            )));
        }
        Ok(data.claims)
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, TokenError> {
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(key.clone());
        }
        {
            let mut last = self.last_fetch.lock().await;
            // Another request may have fetched the keys while this one waited for the lock.
            if let Some(key) = self.keys.read().await.get(kid) {
                return Ok(key.clone());
            }
            if last.is_some_and(|t| t.elapsed() < REFRESH_INTERVAL) {
                return Err(TokenError::Invalid(format!("unknown kid {kid}")));
            }
            let set = (self.fetch)().await.map_err(TokenError::Keys)?;
            *last = Some(Instant::now());
            let mut keys = HashMap::new();
            for jwk in &set.keys {
                if let (Some(id), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk))
                {
                    keys.insert(id, key);
                }
            }
            *self.keys.write().await = keys;
        }
        self.keys
            .read()
            .await
            .get(kid)
            .cloned()
            .ok_or_else(|| TokenError::Invalid(format!("unknown kid {kid}")))
    }

    /// Forgets cached keys, so the next token refetches (used after a key rotation).
    pub async fn forget_keys(&self) {
        self.verified.lock().expect("verified tokens").clear();
        self.keys.write().await.clear();
        *self.last_fetch.lock().await = None;
    }
}

/// The bearer token from an `Authorization` header value.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// An extractor for handlers: the request's verified claims, or 401.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Claims);

impl<S> FromRequestParts<S> for Authenticated
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = TokenError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(TokenError::Missing)?;
        let verifier = Arc::<TokenVerifier>::from_ref(state);
        Ok(Authenticated(verifier.verify(token).await?))
    }
}

/// A script's or service's API token, exchanged at auth (`POST /v1/auth/token`) for access
/// tokens, which are cached until shortly before they expire.
pub struct ApiTokenClient {
    http: reqwest::Client,
    auth_url: String,
    api_token: String,
    cached: Mutex<Option<(String, Instant)>>,
}

impl ApiTokenClient {
    /// `auth_url` is auth's (or the gateway's) base URL. A token that is not an API token
    /// (`lyra_…`) is taken to be an access token already and used as it is.
    pub fn new(http: reqwest::Client, auth_url: &str, api_token: &str) -> ApiTokenClient {
        ApiTokenClient {
            http,
            auth_url: auth_url.trim_end_matches('/').to_string(),
            api_token: api_token.to_string(),
            cached: Mutex::new(None),
        }
    }

    /// A valid access token, exchanging the API token when the cached one is near expiry.
    pub async fn access_token(&self) -> anyhow::Result<String> {
        if !self.api_token.starts_with("lyra_") {
            return Ok(self.api_token.clone());
        }
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let response = self
            .http
            .post(format!("{}/v1/auth/token", self.auth_url))
            .json(&serde_json::json!({ "api_token": self.api_token }))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach auth at {}: {e}", self.auth_url))?;
        anyhow::ensure!(
            response.status().is_success(),
            "the API token was refused ({})",
            response.status()
        );
        let body: serde_json::Value = response.json().await?;
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no access token in auth's answer"))?
            .to_string();
        // Renew a minute early, so a token never expires in flight.
        let until = Instant::now() + ACCESS_TTL - Duration::from_secs(60);
        *cached = Some((token.clone(), until));
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[tokio::test]
    async fn a_remembered_token_still_expires() {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key());
        let jwks: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "EdDSA", "use": "sig", "x": x}
        ]}))
        .unwrap();
        let verifier = TokenVerifier::with_fetch(Arc::new(move || {
            let jwks = jwks.clone();
            Box::pin(async move { Ok(jwks) })
        }));
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        let claims = Claims {
            sub: "u".into(),
            org: Some(OrgId(1)),
            role: Role::Owner,
            scopes: vec![],
            typ: "access".into(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            // Valid for about two more seconds, leeway included.
            exp: now() + 2 - LEEWAY_SECS,
            iat: now() - 10,
            jti: "j".into(),
        };
        let token = encode(&header, &claims, &EncodingKey::from_ed_der(pkcs8.as_ref())).unwrap();
        assert_eq!(verifier.verify(&token).await.unwrap().sub, "u");
        assert_eq!(
            verifier.verify(&token).await.unwrap().sub,
            "u",
            "remembered"
        );
        // A changed signature is another string: checked, and refused.
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(verifier.verify(&forged).await.is_err());
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(
            verifier.verify(&token).await.is_err(),
            "expired, though remembered"
        );
    }
}
