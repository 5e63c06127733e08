//! `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9): the client signs a short-lived
//! JWT with a key from the JWKS it registered; issuer and subject are its client_id, the audience is this
//! issuer or one of its endpoints, and each `jti` is accepted once.

use super::OidcClient;
use crate::crypto;
use crate::error::Result;
use crate::services::Services;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use time::Duration;

/// How far ahead an assertion may expire: they are meant for one request.
const MAX_LIFETIME: Duration = Duration::minutes(10);
const ALGORITHMS: &[Algorithm] = &[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::EdDSA];
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The `sub` of an assertion, read without checking it: which client claims to have signed.
pub fn assertion_subject(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = data_encoding::BASE64URL_NOPAD.decode(payload.as_bytes()).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub").and_then(Value::as_str).map(str::to_owned)
}

impl Services {
    /// True when `assertion` is a valid, unreplayed `private_key_jwt` of `client`.
    pub(crate) async fn check_client_assertion(&self, client: &OidcClient, assertion: &str) -> Result<bool> {
        let Ok(header) = jsonwebtoken::decode_header(assertion) else {
            return Ok(false);
        };
        let Some(jwks) = client.jwks.clone().and_then(|j| serde_json::from_value::<JwkSet>(j).ok()) else {
            return Ok(false);
        };
        if !ALGORITHMS.contains(&header.alg) {
            return Ok(false);
        }
        let candidates: Vec<_> = match &header.kid {
            Some(kid) => jwks.find(kid).into_iter().collect(),
            None => jwks.keys.iter().collect(),
        };
        let issuer = self.issuer(&client.org_id);
        let audiences: Vec<String> =
            ["", "/token", "/introspect", "/revoke", "/par", "/device_authorization", "/bc-authorize"]
                .iter()
                .map(|p| format!("{issuer}{p}"))
                .collect();
        let mut validation = Validation::new(header.alg);
        // Expiry against the service clock below (tests move it); issuer, subject and audience here.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.set_issuer(&[&client.id]);
        validation.sub = Some(client.id.clone());
        validation.set_audience(&audiences);
        let claims = candidates.iter().find_map(|jwk| {
            let key = DecodingKey::from_jwk(jwk).ok()?;
            jsonwebtoken::decode::<Value>(assertion, &key, &validation).ok().map(|d| d.claims)
        });
        let Some(claims) = claims else {
            return Ok(false);
        };
        let now = self.now();
        let Some(exp) = claims["exp"].as_i64() else {
            return Ok(false);
        };
        if exp <= now.unix_timestamp() || exp > (now + MAX_LIFETIME).unix_timestamp() {
            return Ok(false);
        }
        let Some(jti) = claims["jti"].as_str().filter(|j| !j.is_empty() && j.len() <= 200) else {
            return Ok(false);
        };
        let key = crypto::sha256_hex(&format!("{}:{jti}", client.id));
        let expires_at = time::OffsetDateTime::from_unix_timestamp(exp).unwrap_or(now + MAX_LIFETIME);
        self.store.record_jwt_id(&key, expires_at, now).await
    }
}
