//! DPoP (RFC 9449): a client proves, with each request, that it holds the private key its tokens are bound
//! to. A proof is a JWT (`typ: dpop+jwt`) signed with that key, its public half in the header; it names the
//! request (`htm`, `htu`), is fresh (`iat`, and the server's `nonce`), is used once (`jti`, remembered in the
//! database so every node refuses a replay) and, at a resource, names the access token (`ath`). The key's
//! thumbprint (`jkt`, RFC 7638) is what tokens are bound to (`cnf.jkt`).
//!
//! The nonce is stateless, so any node checks another's: the time window it was made in and a MAC of it
//! under the master key. A nonce is good for its window and the next (`NONCE_WINDOW_SECS` each).

use crate::crypto;
use crate::error::Result;
use crate::services::Services;
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

/// The proof algorithms accepted, as discovery lists them (`dpop_signing_alg_values_supported`).
pub const DPOP_ALGS: &[&str] = &["ES256", "RS256", "PS256", "EdDSA"];
const ALGORITHMS: &[Algorithm] = &[Algorithm::ES256, Algorithm::RS256, Algorithm::PS256, Algorithm::EdDSA];
/// How old a proof's `iat` may be, and how far ahead of the server's clock.
const IAT_PAST: Duration = Duration::seconds(120);
const IAT_FUTURE: Duration = Duration::seconds(30);
const NONCE_WINDOW_SECS: i64 = 300;
/// Longer proofs are refused unread (an RSA-4096 key and the claims fit well within).
const MAX_PROOF_BYTES: usize = 8 * 1024;
/// JWK members that only a private key has: a proof carrying one leaks its key.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The request a proof must be for.
pub struct DpopRequest<'a> {
    pub org_id: &'a str,
    /// The `DPoP` header's value.
    pub proof: &'a str,
    /// `POST`, `GET`, …
    pub method: &'a str,
    /// The endpoint's path under the issuer, e.g. `/token`.
    pub endpoint: &'a str,
    /// The access token presented with the proof, at a resource (userinfo): the proof's `ath` must hash it.
    pub access_token: Option<&'a str>,
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DpopError {
    /// Malformed, wrongly signed, for another request, stale or replayed (`invalid_dpop_proof`).
    Invalid(&'static str),
    /// No nonce, or one this server no longer accepts (`use_dpop_nonce`): retry with the one answered.
    UseNonce,
}

impl DpopError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_dpop_proof",
            Self::UseNonce => "use_dpop_nonce",
        }
    }

    pub fn description(&self) -> &'static str {
        match self {
            Self::Invalid(why) => why,
            Self::UseNonce => "the DPoP proof must carry the nonce given in the DPoP-Nonce header",
        }
    }
}

/// A verified proof: the thumbprint of the key that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopKey {
    pub jkt: String,
}

fn decode_part(part: &str) -> Option<Value> {
    serde_json::from_slice(&BASE64URL_NOPAD.decode(part.as_bytes()).ok()?).ok()
}

/// `url` without query and fragment, scheme and host lowercased, default port dropped (RFC 9449 §4.3).
fn normalised_htu(url: &str) -> Option<String> {
    let mut parsed = url::Url::parse(url).ok()?;
    parsed.set_query(None);
    parsed.set_fragment(None);
    Some(parsed.to_string())
}

impl Services {
    /// A nonce for proofs sent to `org_id`'s endpoints (the `DPoP-Nonce` header).
    pub fn dpop_nonce(&self, org_id: &str) -> String {
        self.nonce_for_window(org_id, self.now().unix_timestamp().div_euclid(NONCE_WINDOW_SECS))
    }

    fn nonce_for_window(&self, org_id: &str, window: i64) -> String {
        let tag = self.keys.master().keyed_digest(&format!("dpop-nonce:{org_id}"), &window.to_be_bytes());
        let mut bytes = window.to_be_bytes().to_vec();
        bytes.extend_from_slice(&tag[..16]);
        BASE64URL_NOPAD.encode(&bytes)
    }

    fn nonce_is_current(&self, org_id: &str, nonce: &str) -> bool {
        let Some(window) = BASE64URL_NOPAD
            .decode(nonce.as_bytes())
            .ok()
            .filter(|b| b.len() == 24)
            .map(|b| i64::from_be_bytes(b[..8].try_into().unwrap_or_default()))
        else {
            return false;
        };
        let current = self.now().unix_timestamp().div_euclid(NONCE_WINDOW_SECS);
        (window == current || window == current - 1)
            && bool::from(self.nonce_for_window(org_id, window).as_bytes().ct_eq(nonce.as_bytes()))
    }

    /// Checks a DPoP proof for `request`; on success its `jti` is spent.
    pub async fn check_dpop_proof(&self, request: &DpopRequest<'_>) -> Result<std::result::Result<DpopKey, DpopError>> {
        let invalid = |why| Ok(Err(DpopError::Invalid(why)));
        let proof = request.proof;
        if proof.len() > MAX_PROOF_BYTES {
            return invalid("the DPoP proof is too long");
        }
        let Some(raw_header) = proof.split('.').next().and_then(decode_part) else {
            return invalid("the DPoP proof is not a JWT");
        };
        if raw_header["typ"] != "dpop+jwt" {
            return invalid("the DPoP proof's typ must be dpop+jwt");
        }
        let Some(raw_jwk) = raw_header.get("jwk").and_then(Value::as_object) else {
            return invalid("the DPoP proof's header must carry the public key (jwk)");
        };
        if PRIVATE_MEMBERS.iter().any(|m| raw_jwk.contains_key(*m)) {
            return invalid("the DPoP proof's jwk must be a public key");
        }
        let Ok(header) = jsonwebtoken::decode_header(proof) else {
            return invalid("the DPoP proof's header is malformed");
        };
        if !ALGORITHMS.contains(&header.alg) {
            return invalid("the DPoP proof's alg is not supported");
        }
        let Some(jwk) = header.jwk.as_ref() else {
            return invalid("the DPoP proof's jwk is not a supported key");
        };
        let Some(claims) = verify_signature(proof, header.alg, jwk) else {
            return invalid("the DPoP proof's signature does not verify with its jwk");
        };
        let Some(jti) = claims["jti"].as_str().filter(|j| !j.is_empty() && j.len() <= 256) else {
            return invalid("the DPoP proof needs a jti");
        };
        if claims["htm"].as_str() != Some(request.method) {
            return invalid("the DPoP proof's htm is not this request's method");
        }
        let expected = normalised_htu(&format!("{}{}", self.issuer(request.org_id), request.endpoint));
        if claims["htu"].as_str().and_then(normalised_htu).is_none_or(|htu| Some(htu) != expected) {
            return invalid("the DPoP proof's htu is not this endpoint");
        }
        let now = self.now();
        let Some(iat) = claims["iat"].as_i64().and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()) else {
            return invalid("the DPoP proof needs an iat");
        };
        if iat < now - IAT_PAST || iat > now + IAT_FUTURE {
            return invalid("the DPoP proof's iat is too far from the server's time");
        }
        if let Some(token) = request.access_token
            && claims["ath"].as_str() != Some(crypto::sha256_base64url(token).as_str())
        {
            return invalid("the DPoP proof's ath does not match the access token");
        }
        if !claims["nonce"].as_str().is_some_and(|n| self.nonce_is_current(request.org_id, n)) {
            return Ok(Err(DpopError::UseNonce));
        }
        let Ok(jkt) = jwk.thumbprint(ThumbprintHash::SHA256) else {
            return invalid("the DPoP proof's jwk is not a supported key");
        };
        // Remembered past the last moment its iat is accepted; a replay is refused on every node.
        let seen = crypto::sha256_hex(&format!("dpop:{jkt}:{jti}"));
        if !self.store.record_jwt_id(&seen, iat + IAT_PAST + Duration::seconds(1), now).await? {
            return invalid("the DPoP proof was used before");
        }
        Ok(Ok(DpopKey { jkt }))
    }
}

/// The claims of `proof` when `jwk` (of a family matching `alg`) verifies its signature.
fn verify_signature(proof: &str, alg: Algorithm, jwk: &Jwk) -> Option<Value> {
    let key = DecodingKey::from_jwk(jwk).ok()?;
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(proof, &key, &validation).ok().map(|d| d.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_is_compared_without_query_or_fragment_and_with_the_host_lowercased() {
        assert_eq!(
            normalised_htu("https://AS.example/o/x/token?a=1#f"),
            normalised_htu("https://as.example/o/x/token")
        );
        assert_eq!(normalised_htu("https://as.example:443/t"), normalised_htu("https://as.example/t"));
        assert_ne!(normalised_htu("https://as.example/o/x/token/"), normalised_htu("https://as.example/o/x/token"));
    }

    #[test]
    fn ath_is_the_base64url_sha256_of_the_token() {
        // RFC 9449 §7.1's example token and its hash.
        assert_eq!(
            crypto::sha256_base64url("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
