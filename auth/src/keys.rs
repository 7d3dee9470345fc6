//! Ed25519 signing keys: the newest active key signs; `rotate` adds a key and retires the
//! others, which stay in the JWKS until every token they signed has expired.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lyra_common::token::{ACCESS_TTL, Claims, LEEWAY_SECS};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

/// The key that signs new tokens.
pub struct SigningKey {
    /// Key id, published in the JWKS and written into each token header.
    pub kid: String,
    encoding: EncodingKey,
}

impl SigningKey {
    /// Signs `claims` as a compact JWT with this key's `kid`.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

/// Creates a new key and retires every other one. Returns the new `kid`.
pub async fn rotate(conn: &mut PgConnection) -> anyhow::Result<String> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| anyhow::anyhow!("key generation failed"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| anyhow::anyhow!("bad generated key"))?;
    let public = pair.public_key().as_ref().to_vec();
    let kid = Sha256::digest(&public)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    sqlx::query("UPDATE auth.signing_keys SET retired_at = now() WHERE retired_at IS NULL")
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO auth.signing_keys (kid, private_der, public_raw) VALUES ($1, $2, $3)")
        .bind(&kid)
        .bind(pkcs8.as_ref())
        .bind(&public)
        .execute(&mut *conn)
        .await?;
    Ok(kid)
}

/// Makes sure a key exists to sign with (the first start of auth creates one).
pub async fn ensure_active(conn: &mut PgConnection) -> anyhow::Result<()> {
    // Serialise concurrent first starts.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('auth.signing_keys'))")
        .execute(&mut *conn)
        .await?;
    let active: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM auth.signing_keys WHERE retired_at IS NULL)",
    )
    .fetch_one(&mut *conn)
    .await?;
    if !active {
        rotate(conn).await?;
    }
    Ok(())
}

/// The key to sign with now.
pub async fn active(conn: &mut PgConnection) -> anyhow::Result<SigningKey> {
    let (kid, der): (String, Vec<u8>) = sqlx::query_as(
        "SELECT kid, private_der FROM auth.signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| anyhow::anyhow!("no active signing key"))?;
    Ok(SigningKey {
        kid,
        encoding: EncodingKey::from_ed_der(&der),
    })
}

/// The published key set: active keys and keys retired less than a token lifetime ago.
pub async fn jwks(conn: &mut PgConnection) -> anyhow::Result<serde_json::Value> {
    let keep_secs = (ACCESS_TTL.as_secs() + LEEWAY_SECS) as f64;
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT kid, public_raw FROM auth.signing_keys
          WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
          ORDER BY created_at DESC",
    )
    .bind(keep_secs)
    .fetch_all(&mut *conn)
    .await?;
    let keys: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|(kid, public)| {
            serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, public),
                "kid": kid,
                "alg": "EdDSA",
                "use": "sig",
            })
        })
        .collect();
    Ok(serde_json::json!({ "keys": keys }))
}
