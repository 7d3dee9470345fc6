//! Passwords: argon2id hashing off the async runtime, verification that takes the same
//! time for unknown users, rehash on parameter change, and the password policy.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::AuthError;

/// Memory cost in KiB (OWASP's minimum for argon2id).
pub const MEMORY_KIB: u32 = 19_456;
/// Iterations.
pub const ITERATIONS: u32 = 2;
/// Parallelism.
pub const PARALLELISM: u32 = 1;
/// Shortest acceptable password.
pub const MIN_LENGTH: usize = 12;

fn argon2() -> Argon2<'static> {
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (blocking: call through [`hash`]).
fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string())
}

/// Hashes a password on a blocking thread.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

/// Outcome of checking a password.
pub struct Checked {
    /// Whether it matched.
    pub ok: bool,
    /// Whether the stored hash uses other parameters and should be replaced.
    pub needs_rehash: bool,
}

/// Verifies `password` against `stored`, or against a dummy hash when there is no user, so
/// that unknown e-mails and wrong passwords cost the same time. Runs on a blocking thread.
pub async fn verify(
    password: String,
    stored: Option<String>,
    dummy: std::sync::Arc<String>,
) -> anyhow::Result<Checked> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| dummy.as_str().to_owned());
        let parsed = PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let matches = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(Checked {
            ok: known && matches,
            needs_rehash: known && !current_parameters(&parsed),
        })
    })
    .await?
}

/// A hash of a random password with the current parameters, for unknown users.
pub fn dummy_hash() -> anyhow::Result<String> {
    let mut random = [0u8; 24];
    SystemRandom::new()
        .fill(&mut random)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    hash_blocking(&base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        random,
    ))
}

fn current_parameters(hash: &PasswordHash<'_>) -> bool {
    let get = |name: &str| hash.params.get_decimal(name);
    hash.algorithm.as_str() == "argon2id"
        && hash.version == Some(0x13)
        && get("m") == Some(MEMORY_KIB)
        && get("t") == Some(ITERATIONS)
        && get("p") == Some(PARALLELISM)
}

/// Checks a new password against the policy: at least [`MIN_LENGTH`] characters and not
/// easily guessed (zxcvbn score 3 or more, also against the user's own e-mail and name).
pub fn check_policy(password: &str, user_inputs: &[&str]) -> Result<(), AuthError> {
    if password.chars().count() < MIN_LENGTH {
        return Err(AuthError::BadRequest(format!(
            "password: must be at least {MIN_LENGTH} characters"
        )));
    }
    if password.len() > 1024 {
        return Err(AuthError::BadRequest(
            "password: must be at most 1024 bytes".into(),
        ));
    }
    let estimate = zxcvbn::zxcvbn(password, user_inputs);
    if (estimate.score() as u8) < 3 {
        return Err(AuthError::BadRequest(
            "password: too easy to guess (a common word, name, pattern or the e-mail itself); use a longer passphrase"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_short_and_common_passwords() {
        assert!(check_policy("short", &[]).is_err());
        assert!(check_policy("password1234", &[]).is_err());
        assert!(check_policy("qwertyuiop123", &[]).is_err());
        assert!(check_policy("anna.petrova@example.com", &["anna.petrova@example.com"]).is_err());
        assert!(check_policy("correct horse battery staple", &[]).is_ok());
        assert!(check_policy("Tundra-Lantern-Violet-42", &[]).is_ok());
    }

    #[test]
    fn hashes_carry_the_required_parameters() {
        let phc = hash_blocking("Tundra-Lantern-Violet-42").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(current_parameters(&PasswordHash::new(&phc).unwrap()));
    }

    #[test]
    fn weaker_parameters_are_detected_for_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let phc = weak
            .hash_password(b"Tundra-Lantern-Violet-42", &salt)
            .unwrap()
            .to_string();
        assert!(!current_parameters(&PasswordHash::new(&phc).unwrap()));
    }
}
