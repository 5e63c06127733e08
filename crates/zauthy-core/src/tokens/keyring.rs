//! Loads, caches and rotates the per-organization signing keys.
//!
//! Public keys are immutable per `kid`, so caching them is safe with many nodes; the active private key is
//! re-read after a short TTL, so a rotation on one node reaches the others within that TTL while the old key
//! stays published and its tokens keep verifying.

use super::signer::{Signer, SigningAlg};
use super::{AccessClaims, SigningKeyRecord, TokenRejection};
use crate::crypto::MasterKey;
use crate::error::{CoreError, Result};
use crate::ids;
use crate::store::Repo;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use data_encoding::{BASE64, BASE64URL_NOPAD};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const ACTIVE_KEY_TTL: Duration = Duration::from_secs(30);

struct ActiveKey {
    kid: String,
    signer: Arc<Signer>,
    loaded: Instant,
}

#[derive(Clone)]
struct PublicKey {
    org_id: String,
    alg: Option<SigningAlg>,
    key: Arc<DecodingKey>,
}

pub struct KeyRing {
    master: MasterKey,
    active: RwLock<HashMap<String, ActiveKey>>,
    /// Published keys by kid: organization, algorithm and key never change for a kid, so they are cached.
    public: RwLock<HashMap<String, PublicKey>>,
}

impl KeyRing {
    pub fn new(master: MasterKey) -> Self {
        Self { master, active: RwLock::default(), public: RwLock::default() }
    }

    /// The key that seals the other secrets kept at rest (TOTP seeds).
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// Makes a fresh Ed25519 key for `org_id`, private half sealed under the master key.
    pub fn generate(&self, org_id: &str, now: OffsetDateTime) -> Result<SigningKeyRecord> {
        self.generate_for(org_id, SigningAlg::EdDSA, now)
    }

    /// Makes a fresh key of `alg` for `org_id` (RSA 2048 for RS256, P-256 for ES256, Ed25519 for EdDSA); the
    /// private half is kept as PKCS#8, sealed under the master key, the public half as a JWK with kid/alg/use.
    pub fn generate_for(&self, org_id: &str, alg: SigningAlg, now: OffsetDateTime) -> Result<SigningKeyRecord> {
        let fail = |what: &str| CoreError::internal(format!("{} key {what} failed", alg.as_str()));
        let pkcs8: Vec<u8> = match alg {
            SigningAlg::EdDSA => {
                let pair = Ed25519KeyPair::generate().map_err(|_| fail("generation"))?;
                pair.to_pkcs8v1().map_err(|_| fail("export"))?.as_ref().to_vec()
            }
            SigningAlg::ES256 => {
                let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| fail("generation"))?;
                pair.to_pkcs8v1().map_err(|_| fail("export"))?.as_ref().to_vec()
            }
            SigningAlg::RS256 => {
                let pair = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).map_err(|_| fail("generation"))?;
                let der: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| fail("export"))?;
                der.as_ref().to_vec()
            }
        };
        let kid = ids::new_id(ids::SIGNING_KEY);
        let jwk = match alg {
            SigningAlg::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| fail("reload"))?;
                let x = BASE64URL_NOPAD.encode(pair.public_key().as_ref());
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"})
            }
            _ => {
                let encoding = encoding_key(alg, &pkcs8)?;
                let mut jwk = Jwk::from_encoding_key(&encoding, alg.jwt()).map_err(|e| fail(&format!("JWK ({e})")))?;
                jwk.common.key_id = Some(kid.clone());
                jwk.common.public_key_use = Some(PublicKeyUse::Signature);
                serde_json::to_value(&jwk).map_err(|e| fail(&format!("JWK ({e})")))?
            }
        };
        Ok(SigningKeyRecord {
            private_key_enc: self.master.encrypt(&pkcs8, &format!("signing_key:{kid}")),
            kid,
            org_id: org_id.to_owned(),
            algorithm: alg.as_str().to_owned(),
            public_jwk: jwk.to_string(),
            created_at: now,
            retired_at: None,
            expires_at: None,
        })
    }

    /// Signs `claims` with the organization's active EdDSA key (zauthy's own access tokens).
    pub async fn sign(&self, repo: &dyn Repo, org_id: &str, claims: &AccessClaims) -> Result<String> {
        let (kid, signer) = self.active_key(repo, org_id, SigningAlg::EdDSA, None).await?;
        signer.sign_jwt(&kid, claims)
    }

    /// Signs any claims with the organization's active key of `alg`, creating that key on first use.
    pub async fn sign_with(
        &self,
        repo: &dyn Repo,
        org_id: &str,
        alg: SigningAlg,
        now: OffsetDateTime,
        claims: &impl Serialize,
    ) -> Result<String> {
        self.sign_typed(repo, org_id, alg, now, "JWT", claims).await
    }

    /// Like `sign_with`, with the header's `typ` given.
    pub async fn sign_typed(
        &self,
        repo: &dyn Repo,
        org_id: &str,
        alg: SigningAlg,
        now: OffsetDateTime,
        typ: &'static str,
        claims: &impl Serialize,
    ) -> Result<String> {
        let (kid, signer) = self.active_key(repo, org_id, alg, Some(now)).await?;
        signer.sign_typed(&kid, typ, claims)
    }

    /// Makes sure the org has an active key of `alg`, inserting one through `repo` (inside the caller's
    /// transaction) if not, so a client's JWKS is published before its first ID token. Nothing is cached.
    pub async fn ensure_key(&self, repo: &dyn Repo, org_id: &str, alg: SigningAlg, now: OffsetDateTime) -> Result<()> {
        if active_of(&repo.list_signing_keys(org_id).await?, alg).is_none() {
            repo.insert_signing_key(&self.generate_for(org_id, alg, now)?).await?;
        }
        Ok(())
    }

    /// The active key of `alg`; with `create_at`, one is made (at that instant) when the org has none yet.
    async fn active_key(
        &self,
        repo: &dyn Repo,
        org_id: &str,
        alg: SigningAlg,
        create_at: Option<OffsetDateTime>,
    ) -> Result<(String, Arc<Signer>)> {
        let cache_key = format!("{org_id}:{}", alg.as_str());
        if let Some(k) = self.active.read().unwrap_or_else(|e| e.into_inner()).get(&cache_key)
            && k.loaded.elapsed() < ACTIVE_KEY_TTL
        {
            return Ok((k.kid.clone(), k.signer.clone()));
        }
        let keys = repo.list_signing_keys(org_id).await?;
        let record = match (active_of(&keys, alg), create_at) {
            (Some(record), _) => record.clone(),
            // EdDSA keys are made with the organization; the others appear when a client first needs them.
            // Two nodes racing here both insert a key: harmless, the newest wins and both stay published.
            (None, Some(now)) => {
                let record = self.generate_for(org_id, alg, now)?;
                repo.insert_signing_key(&record).await?;
                record
            }
            (None, None) => {
                return Err(CoreError::internal(format!("organization {org_id} has no active {} key", alg.as_str())));
            }
        };
        let der = self.master.decrypt(&record.private_key_enc, &format!("signing_key:{}", record.kid))?;
        let signer = Arc::new(Signer::from_pkcs8(alg, &der)?);
        self.active
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(cache_key, ActiveKey { kid: record.kid.clone(), signer: signer.clone(), loaded: Instant::now() });
        Ok((record.kid.clone(), signer))
    }

    /// A keyed hash under the master key (see `MasterKey::mac_hex`), for secrets too short for plain SHA-256.
    pub fn mac_hex(&self, context: &str, data: &[u8]) -> String {
        self.master.mac_hex(context, data)
    }

    /// Forgets the cached active key so the next signature uses the newest one (after a local rotation).
    pub fn forget_active(&self, org_id: &str) {
        let prefix = format!("{org_id}:");
        self.active.write().unwrap_or_else(|e| e.into_inner()).retain(|k, _| !k.starts_with(&prefix));
    }

    async fn decoding_key(&self, repo: &dyn Repo, kid: &str) -> Result<Option<PublicKey>> {
        if let Some(found) = self.public.read().unwrap_or_else(|e| e.into_inner()).get(kid) {
            return Ok(Some(found.clone()));
        }
        let Some(record) = repo.find_signing_key(kid).await? else {
            return Ok(None);
        };
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(&record.public_jwk)
            .map_err(|e| CoreError::internal(format!("stored JWK is corrupt: {e}")))?;
        let key = Arc::new(
            DecodingKey::from_jwk(&jwk).map_err(|e| CoreError::internal(format!("stored JWK is unusable: {e}")))?,
        );
        let entry = PublicKey { org_id: record.org_id.clone(), alg: SigningAlg::parse(&record.algorithm), key };
        self.public.write().unwrap_or_else(|e| e.into_inner()).insert(kid.to_owned(), entry.clone());
        Ok(Some(entry))
    }

    /// Checks signature, algorithm, audience and issuer. Expiry and session liveness are the caller's.
    pub async fn verify(
        &self,
        repo: &dyn Repo,
        token: &str,
        issuer_for: impl Fn(&str) -> String,
    ) -> Result<std::result::Result<AccessClaims, TokenRejection>> {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(Err(TokenRejection::Malformed));
        };
        let Some(kid) = header.kid.filter(|k| ids::is_valid_id(ids::SIGNING_KEY, k)) else {
            return Ok(Err(TokenRejection::Malformed));
        };
        if header.alg != Algorithm::EdDSA {
            return Ok(Err(TokenRejection::BadSignature));
        }
        let Some(PublicKey { org_id, key, .. }) = self.decoding_key(repo, &kid).await? else {
            return Ok(Err(TokenRejection::BadSignature));
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Expiry is the caller's check, against the service clock (which tests move), for cached claims too.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.set_audience(&[super::API_AUDIENCE]);
        validation.set_issuer(&[issuer_for(&org_id)]);
        let claims = match jsonwebtoken::decode::<AccessClaims>(token, &key, &validation) {
            Ok(data) => data.claims,
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind;
                return Ok(Err(match e.kind() {
                    ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => TokenRejection::BadSignature,
                    ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => TokenRejection::WrongOrganization,
                    _ => TokenRejection::Malformed,
                }));
            }
        };
        if claims.org_id != org_id {
            return Ok(Err(TokenRejection::WrongOrganization));
        }
        Ok(Ok(claims))
    }

    /// Verifies a token the organization issued to a service provider: a published key of `org_id`, the
    /// algorithm that key was made for, issuer and audience. Expiry is the caller's (service clock). `None`
    /// for anything that does not verify.
    pub async fn verify_for_audience(
        &self,
        repo: &dyn Repo,
        org_id: &str,
        token: &str,
        audience: &str,
        issuer: &str,
    ) -> Result<Option<serde_json::Value>> {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(None);
        };
        let Some(kid) = header.kid.filter(|k| ids::is_valid_id(ids::SIGNING_KEY, k)) else {
            return Ok(None);
        };
        let Some(PublicKey { org_id: key_org, alg: Some(alg), key }) = self.decoding_key(repo, &kid).await? else {
            return Ok(None);
        };
        if key_org != org_id || header.alg != alg.jwt() {
            return Ok(None);
        }
        let mut validation = Validation::new(alg.jwt());
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[issuer]);
        Ok(jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).ok().map(|d| d.claims))
    }

    /// The JWKS document for an organization: every key that can still have valid tokens.
    pub async fn jwks(&self, repo: &dyn Repo, org_id: &str, now: OffsetDateTime) -> Result<serde_json::Value> {
        let keys = repo.list_signing_keys(org_id).await?;
        let published: Vec<serde_json::Value> = keys
            .iter()
            .filter(|k| k.expires_at.is_none_or(|e| e > now))
            .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
            .collect();
        Ok(serde_json::json!({ "keys": published }))
    }
}

/// The newest unretired key of `alg`.
pub(crate) fn active_of(keys: &[SigningKeyRecord], alg: SigningAlg) -> Option<&SigningKeyRecord> {
    keys.iter().filter(|k| k.retired_at.is_none() && k.algorithm == alg.as_str()).max_by_key(|k| k.created_at)
}

/// jsonwebtoken wants PKCS#8 for EC and Ed25519 but PKCS#1 for RSA; its PEM reader unwraps a PKCS#8 RSA key.
fn encoding_key(alg: SigningAlg, pkcs8: &[u8]) -> Result<EncodingKey> {
    match alg {
        SigningAlg::EdDSA => Ok(EncodingKey::from_ed_der(pkcs8)),
        SigningAlg::ES256 => Ok(EncodingKey::from_ec_der(pkcs8)),
        SigningAlg::RS256 => {
            let b64 = BASE64.encode(pkcs8);
            let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
            for line in b64.as_bytes().chunks(64) {
                pem.push_str(std::str::from_utf8(line).unwrap_or_default());
                pem.push('\n');
            }
            pem.push_str("-----END PRIVATE KEY-----\n");
            EncodingKey::from_rsa_pem(pem.as_bytes())
                .map_err(|e| CoreError::internal(format!("stored RSA key is unusable: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize)]
    struct Claims {
        sub: String,
        exp: i64,
    }

    #[test]
    fn every_algorithm_signs_and_its_published_jwk_verifies() {
        let ring = KeyRing::new(MasterKey::generate());
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            let record = ring.generate_for("org_1", alg, OffsetDateTime::now_utc()).unwrap();
            assert_eq!(record.algorithm, alg.as_str());
            let der = ring.master.decrypt(&record.private_key_enc, &format!("signing_key:{}", record.kid)).unwrap();
            let claims = Claims { sub: "usr_1".into(), exp: 4_000_000_000 };
            let token = Signer::from_pkcs8(alg, &der).unwrap().sign_jwt(&record.kid, &claims).unwrap();

            let published: serde_json::Value = serde_json::from_str(&record.public_jwk).unwrap();
            assert_eq!(published["kid"], record.kid.as_str());
            assert_eq!(published["alg"], alg.as_str());
            assert_eq!(published["use"], "sig");
            assert!(published.get("d").is_none(), "no private part in {published}");
            let jwk: Jwk = serde_json::from_value(published).unwrap();
            let key = DecodingKey::from_jwk(&jwk).unwrap();
            let mut validation = Validation::new(alg.jwt());
            validation.set_required_spec_claims(&["sub"]);
            let decoded = jsonwebtoken::decode::<Claims>(&token, &key, &validation).unwrap();
            assert_eq!(decoded.claims.sub, "usr_1");
            assert_eq!(jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(), Some(record.kid.as_str()));

            // Another key of the same algorithm must not verify it.
            let other = ring.generate_for("org_1", alg, OffsetDateTime::now_utc()).unwrap();
            let other_jwk: Jwk = serde_json::from_str(&other.public_jwk).unwrap();
            let other_key = DecodingKey::from_jwk(&other_jwk).unwrap();
            assert!(jsonwebtoken::decode::<Claims>(&token, &other_key, &validation).is_err());
        }
    }

    #[test]
    fn the_rsa_key_is_2048_bits() {
        let ring = KeyRing::new(MasterKey::generate());
        let record = ring.generate_for("org_1", SigningAlg::RS256, OffsetDateTime::now_utc()).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&record.public_jwk).unwrap();
        let n = BASE64URL_NOPAD.decode(jwk["n"].as_str().unwrap().as_bytes()).unwrap();
        assert_eq!(n.len(), 256);
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(jwk["kty"], "RSA");
    }
}
