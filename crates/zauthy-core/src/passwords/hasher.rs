//! Argon2id hashing on blocking threads, at most one hash per core at a time, so a login burst queues
//! instead of allocating 19 MiB per request without bound.

use crate::error::{CoreError, Result};
use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
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

/// Argon2 working memory (`memory_kib` KiB), kept between hashes. Allocating and zeroing 19 MiB per
/// login made the allocator hold hundreds of MiB after a burst; a buffer per pool slot keeps memory at
/// `slots × memory_kib` and saves the page faults.
type Blocks = Vec<argon2::Block>;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Argon2Params,
    permits: Arc<Semaphore>,
    buffers: Arc<Mutex<Vec<Blocks>>>,
    dummy: Arc<OnceCell<String>>,
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The stored hash used other parameters than today's; store a fresh one.
    pub needs_rehash: bool,
}

const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;

impl PasswordHasher {
    pub fn new(params: Argon2Params, max_concurrent: usize) -> Self {
        Self {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            buffers: Arc::default(),
            dummy: Arc::default(),
        }
    }

    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// Runs `work` on a blocking thread with a pooled Argon2 buffer, at most `max_concurrent` at a time.
    async fn on_pool<T: Send + 'static>(&self, work: impl FnOnce(&mut Blocks) -> T + Send + 'static) -> Result<T> {
        let _permit = self.permits.acquire().await.map_err(|_| CoreError::internal("hashing pool closed"))?;
        let mut blocks = self.buffers.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
        let (result, blocks) = tokio::task::spawn_blocking(move || {
            let result = work(&mut blocks);
            (result, blocks)
        })
        .await
        .map_err(|e| CoreError::internal(format!("hashing task failed: {e}")))?;
        self.buffers.lock().unwrap_or_else(|e| e.into_inner()).push(blocks);
        Ok(result)
    }

    pub async fn hash(&self, password: &str) -> Result<String> {
        let params = self.params;
        let password = zeroize::Zeroizing::new(password.to_owned());
        self.on_pool(move |blocks| -> Result<String> {
            let argon2 = params.argon2()?;
            let argon2_params = argon2.params().clone();
            let salt = crate::crypto::random_bytes::<SALT_LEN>();
            let mut out = [0u8; OUTPUT_LEN];
            raw_hash(&argon2, password.as_bytes(), &salt, &mut out, blocks)?;
            let internal = |e: &dyn std::fmt::Display| CoreError::internal(format!("hash encoding failed: {e}"));
            let phc = PasswordHash {
                algorithm: argon2::ARGON2ID_IDENT,
                version: Some(Version::V0x13.into()),
                params: (&argon2_params).try_into().map_err(|e| internal(&e))?,
                salt: Some(Salt::new(&salt).map_err(|e| internal(&e))?),
                hash: Some(Output::new(&out).map_err(|e| internal(&e))?),
            };
            Ok(phc.to_string())
        })
        .await?
    }

    pub async fn verify(&self, password: &str, stored: &str) -> Result<Verified> {
        let params = self.params;
        let password = zeroize::Zeroizing::new(password.to_owned());
        let stored = stored.to_owned();
        self.on_pool(move |blocks| -> Result<Verified> {
            let refused = Verified { ok: false, needs_rehash: false };
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return Ok(refused);
            };
            let (Some(salt), Some(expected), Ok(stored_params)) = (parsed.salt, parsed.hash, Params::try_from(&parsed))
            else {
                return Ok(refused);
            };
            let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
                return Ok(refused);
            };
            let version = parsed.version.and_then(|v| Version::try_from(v).ok()).unwrap_or(Version::V0x13);
            let argon2 = Argon2::new(algorithm, version, stored_params.clone());
            let mut out = vec![0u8; expected.len()];
            if raw_hash(&argon2, password.as_bytes(), salt.as_ref(), &mut out, blocks).is_err() {
                return Ok(refused);
            }
            let ok = crate::crypto::constant_time_eq(&out, expected.as_bytes());
            let current = (stored_params.m_cost(), stored_params.t_cost(), stored_params.p_cost());
            let wanted = (params.memory_kib, params.iterations, params.parallelism);
            let needs_rehash = ok && (algorithm != Algorithm::Argon2id || current != wanted);
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

/// Argon2 into `out`, reusing `blocks` (grown when a stored hash asks for more memory than today's).
fn raw_hash(argon2: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8], blocks: &mut Blocks) -> Result<()> {
    let needed = argon2.params().block_count();
    if blocks.len() < needed {
        blocks.resize(needed, argon2::Block::new());
    }
    argon2
        .hash_password_into_with_memory(password, salt, out, &mut blocks[..needed])
        .map_err(|e| CoreError::internal(format!("hashing failed: {e}")))
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
    async fn hashes_interoperate_with_the_argon2_crates_own_phc_implementation() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(Argon2Params::default(), 1);
        let theirs = Argon2::default().hash_password(b"SecureP@ss123").unwrap().to_string();
        assert!(hasher.verify("SecureP@ss123", &theirs).await.unwrap().ok);
        assert!(!hasher.verify("SecureP@ss12", &theirs).await.unwrap().ok);
        let ours = hasher.hash("SecureP@ss123").await.unwrap();
        Argon2::default().verify_password(b"SecureP@ss123", &PasswordHash::new(&ours).unwrap()).unwrap();
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
