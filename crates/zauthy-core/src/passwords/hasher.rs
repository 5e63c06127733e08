//! Argon2id hashing on blocking threads, at most one hash per core at a time, so a login burst queues
//! instead of allocating 19 MiB per request without bound.

use crate::error::{CoreError, Result};
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::{OnceCell, Semaphore};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Params {
    /// Memory in KiB. The OWASP minimum for Argon2id is 19456 (19 MiB).
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

impl Argon2Params {
    pub const MIN_MEMORY_KIB: u32 = 19_456;
    pub const MIN_ITERATIONS: u32 = 2;

    fn argon2(&self) -> Result<Argon2<'static>> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| CoreError::internal(format!("invalid Argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Argon2Params,
    permits: Arc<Semaphore>,
    dummy: Arc<OnceCell<String>>,
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The stored hash used other parameters than today's; store a fresh one.
    pub needs_rehash: bool,
}

impl PasswordHasher {
    pub fn new(params: Argon2Params, max_concurrent: usize) -> Self {
        Self { params, permits: Arc::new(Semaphore::new(max_concurrent.max(1))), dummy: Arc::default() }
    }

    pub fn params(&self) -> Argon2Params {
        self.params
    }

    async fn on_pool<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self.permits.acquire().await.map_err(|_| CoreError::internal("hashing pool closed"))?;
        tokio::task::spawn_blocking(work).await.map_err(|e| CoreError::internal(format!("hashing task failed: {e}")))
    }

    pub async fn hash(&self, password: &str) -> Result<String> {
        let params = self.params;
        let password = zeroize::Zeroizing::new(password.to_owned());
        self.on_pool(move || -> Result<String> {
            let hash = params
                .argon2()?
                .hash_password(password.as_bytes())
                .map_err(|e| CoreError::internal(format!("hashing failed: {e}")))?;
            Ok(hash.to_string())
        })
        .await?
    }

    pub async fn verify(&self, password: &str, stored: &str) -> Result<Verified> {
        let params = self.params;
        let password = zeroize::Zeroizing::new(password.to_owned());
        let stored = stored.to_owned();
        self.on_pool(move || -> Result<Verified> {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return Ok(Verified { ok: false, needs_rehash: false });
            };
            let ok = params.argon2()?.verify_password(password.as_bytes(), &parsed).is_ok();
            let current = Params::try_from(&parsed).ok().map(|p| (p.m_cost(), p.t_cost(), p.p_cost()));
            let wanted = (params.memory_kib, params.iterations, params.parallelism);
            let needs_rehash = ok && (parsed.algorithm.as_str() != "argon2id" || current != Some(wanted));
            Ok(Verified { ok, needs_rehash })
        })
        .await?
    }

    /// Spends the same work as a real check, for users that do not exist.
    pub async fn verify_dummy(&self, password: &str) -> Result<()> {
        let dummy = self.dummy.get_or_try_init(|| self.hash("dummy-password-for-timing")).await?.clone();
        self.verify(password, &dummy).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_not_another() {
        let hasher = PasswordHasher::new(Argon2Params::default(), 2);
        let hash = hasher.hash("SecureP@ss123").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert_eq!(hasher.verify("SecureP@ss123", &hash).await.unwrap(), Verified { ok: true, needs_rehash: false });
        assert!(!hasher.verify("SecureP@ss124", &hash).await.unwrap().ok);
    }

    #[tokio::test]
    async fn a_hash_made_with_older_parameters_asks_for_a_rehash() {
        let old = PasswordHasher::new(Argon2Params { memory_kib: 19_456, iterations: 2, parallelism: 1 }, 1);
        let new = PasswordHasher::new(Argon2Params { memory_kib: 19_456, iterations: 3, parallelism: 1 }, 1);
        let hash = old.hash("SecureP@ss123").await.unwrap();
        assert_eq!(new.verify("SecureP@ss123", &hash).await.unwrap(), Verified { ok: true, needs_rehash: true });
        assert_eq!(new.verify("wrong", &hash).await.unwrap(), Verified { ok: false, needs_rehash: false });
    }
}
