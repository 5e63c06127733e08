//! Loads, caches and rotates the per-organization signing keys.
//!
//! Public keys are immutable per `kid`, so caching them is safe with many nodes; the active private key is
//! re-read after a short TTL, so a rotation on one node reaches the others within that TTL while the old key
//! stays published and its tokens keep verifying.

use super::{AccessClaims, SigningKeyRecord, TokenRejection};
use crate::crypto::MasterKey;
use crate::error::{CoreError, Result};
use crate::ids;
use crate::store::Repo;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const ACTIVE_KEY_TTL: Duration = Duration::from_secs(30);

struct ActiveKey {
    kid: String,
    encoding: Arc<EncodingKey>,
    loaded: Instant,
}

pub struct KeyRing {
    master: MasterKey,
    active: RwLock<HashMap<String, ActiveKey>>,
    public: RwLock<HashMap<String, (String, Arc<DecodingKey>)>>,
}

impl KeyRing {
    pub fn new(master: MasterKey) -> Self {
        Self { master, active: RwLock::default(), public: RwLock::default() }
    }

    /// The master key, for other keyed digests of the server (e.g. passkey decoys).
    pub(crate) fn master(&self) -> &MasterKey {
        &self.master
    }

    /// Makes a fresh Ed25519 key for `org_id`, private half sealed under the master key.
    pub fn generate(&self, org_id: &str, now: OffsetDateTime) -> Result<SigningKeyRecord> {
        let pair = Ed25519KeyPair::generate().map_err(|_| CoreError::internal("Ed25519 key generation failed"))?;
        let pkcs8 = pair.to_pkcs8v1().map_err(|_| CoreError::internal("Ed25519 PKCS#8 export failed"))?;
        let kid = ids::new_id(ids::SIGNING_KEY);
        let x = BASE64URL_NOPAD.encode(pair.public_key().as_ref());
        let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"});
        Ok(SigningKeyRecord {
            private_key_enc: self.master.encrypt(pkcs8.as_ref(), &format!("signing_key:{kid}")),
            kid,
            org_id: org_id.to_owned(),
            algorithm: "EdDSA".to_owned(),
            public_jwk: jwk.to_string(),
            created_at: now,
            retired_at: None,
            expires_at: None,
        })
    }

    /// Signs `claims` with the organization's active key.
    pub async fn sign(&self, repo: &dyn Repo, org_id: &str, claims: &AccessClaims) -> Result<String> {
        let (kid, key) = self.active_key(repo, org_id).await?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid);
        jsonwebtoken::encode(&header, claims, &key).map_err(|e| CoreError::internal(format!("JWT signing failed: {e}")))
    }

    async fn active_key(&self, repo: &dyn Repo, org_id: &str) -> Result<(String, Arc<EncodingKey>)> {
        if let Some(k) = self.active.read().unwrap_or_else(|e| e.into_inner()).get(org_id)
            && k.loaded.elapsed() < ACTIVE_KEY_TTL
        {
            return Ok((k.kid.clone(), k.encoding.clone()));
        }
        let keys = repo.list_signing_keys(org_id).await?;
        let record = keys
            .iter()
            .filter(|k| k.retired_at.is_none())
            .max_by_key(|k| k.created_at)
            .ok_or_else(|| CoreError::internal(format!("organization {org_id} has no active signing key")))?;
        let der = self.master.decrypt(&record.private_key_enc, &format!("signing_key:{}", record.kid))?;
        let encoding = Arc::new(EncodingKey::from_ed_der(&der));
        self.active.write().unwrap_or_else(|e| e.into_inner()).insert(
            org_id.to_owned(),
            ActiveKey { kid: record.kid.clone(), encoding: encoding.clone(), loaded: Instant::now() },
        );
        Ok((record.kid.clone(), encoding))
    }

    /// Forgets the cached active key so the next signature uses the newest one (after a local rotation).
    pub fn forget_active(&self, org_id: &str) {
        self.active.write().unwrap_or_else(|e| e.into_inner()).remove(org_id);
    }

    async fn decoding_key(&self, repo: &dyn Repo, kid: &str) -> Result<Option<(String, Arc<DecodingKey>)>> {
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
        let entry = (record.org_id.clone(), key);
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
        let Some((org_id, key)) = self.decoding_key(repo, &kid).await? else {
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
