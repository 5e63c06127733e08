//! Randomness, hashing of opaque tokens, constant-time comparison and encryption of secrets at rest.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use data_encoding::{BASE64, BASE64URL_NOPAD, HEXLOWER};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Bytes from aws-lc's CSPRNG (a DRBG seeded and reseeded from the operating system, fork-safe): the same
/// quality as asking the kernel each time, without a `getrandom` system call for every id and token.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    aws_lc_rs::rand::fill(&mut buf).expect("the random source failed");
    buf
}

/// A 256-bit opaque token with a readable prefix, e.g. `rt_…`.
pub fn new_opaque_token(prefix: &str) -> String {
    format!("{prefix}_{}", BASE64URL_NOPAD.encode(&random_bytes::<32>()))
}

/// Opaque tokens are stored as SHA-256: they carry 256 bits of entropy, so a slow hash adds nothing.
pub fn sha256_hex(input: &str) -> String {
    HEXLOWER.encode(&Sha256::digest(input.as_bytes()))
}

/// Unpadded base64url of the SHA-256 of `input`: PKCE's S256 challenge (RFC 7636) and DPoP's `ath` (RFC 9449).
pub fn sha256_base64url(input: &str) -> String {
    data_encoding::BASE64URL_NOPAD.encode(&Sha256::digest(input.as_bytes()))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The key that encrypts secrets the server must read back (signing keys, later TOTP seeds).
#[derive(Clone)]
pub struct MasterKey {
    key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl MasterKey {
    pub fn from_bytes(key: [u8; 32]) -> Self {
        Self { key }
    }

    pub fn generate() -> Self {
        Self { key: random_bytes::<32>() }
    }

    /// Accepts the key as standard base64 (what `generate` writes) or 64 hex digits.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        let bytes = BASE64
            .decode(text.as_bytes())
            .or_else(|_| HEXLOWER.decode(text.to_ascii_lowercase().as_bytes()))
            .map_err(|_| anyhow::anyhow!("the master key must be 32 bytes as base64 or hex"))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| anyhow::anyhow!("the master key must be exactly 32 bytes"))?;
        Ok(Self { key })
    }

    /// A keyed digest of `data` under a key derived for `context` (HMAC-SHA-256): stable across restarts
    /// and nodes, unpredictable without the master key.
    pub fn keyed_digest(&self, context: &str, data: &[u8]) -> [u8; 32] {
        use aws_lc_rs::hmac;
        let subkey = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &self.key), context.as_bytes());
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, subkey.as_ref()), data);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.key)
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.key).expect("32-byte AES key"))
    }

    /// AES-256-GCM with a random nonce; `context` is bound as associated data so a ciphertext
    /// cannot be moved to another row.
    pub fn encrypt(&self, plaintext: &[u8], context: &str) -> String {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut buf = plaintext.to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .expect("AES-GCM sealing cannot fail for in-memory buffers");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        format!("v1.{}", BASE64URL_NOPAD.encode(&out))
    }

    /// HMAC-SHA256 under the master key, hex; `context` separates uses (a MAC for one purpose never
    /// verifies for another). For short secrets (one-time codes) that must not be brute-forced from a
    /// database dump alone.
    pub fn mac_hex(&self, context: &str, data: &[u8]) -> String {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.key);
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
        ctx.update(context.as_bytes());
        ctx.update(&[0]);
        ctx.update(data);
        HEXLOWER.encode(ctx.sign().as_ref())
    }

    pub fn decrypt(&self, ciphertext: &str, context: &str) -> anyhow::Result<Vec<u8>> {
        let body = ciphertext.strip_prefix("v1.").ok_or_else(|| anyhow::anyhow!("unknown ciphertext version"))?;
        let raw = BASE64URL_NOPAD.decode(body.as_bytes())?;
        if raw.len() < NONCE_LEN + 16 {
            anyhow::bail!("ciphertext too short");
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow::anyhow!("bad nonce"))?;
        let mut buf = sealed.to_vec();
        let plain = self
            .aead()
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| anyhow::anyhow!("secret could not be decrypted: wrong master key or tampered data"))?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_secrets_round_trip_only_with_the_same_key_and_context() {
        let key = MasterKey::generate();
        let sealed = key.encrypt(b"secret", "signing_key:sk_1");
        assert_eq!(key.decrypt(&sealed, "signing_key:sk_1").unwrap(), b"secret");
        assert!(key.decrypt(&sealed, "signing_key:sk_2").is_err());
        assert!(MasterKey::generate().decrypt(&sealed, "signing_key:sk_1").is_err());
    }

    #[test]
    fn a_master_key_survives_its_base64_form() {
        let key = MasterKey::generate();
        let again = MasterKey::parse(&key.to_base64()).unwrap();
        let sealed = key.encrypt(b"x", "c");
        assert_eq!(again.decrypt(&sealed, "c").unwrap(), b"x");
        assert!(MasterKey::parse("too short").is_err());
    }
}
