//! Social login's outbound side as every node holds it: the HTTP client, and the discovery documents and key
//! sets it fetched recently (bounded, per node). `metadata.rs` fetches and reads them.

use super::ProviderKind;
use super::outbound::FederationHttp;
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The ID token algorithms we verify; `none` and the HMAC family never.
pub const SUPPORTED_ALGS: &[&str] = &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/// The parts of an OpenID provider's metadata that a relying party needs.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
}

impl ProviderMetadata {
    pub(super) fn preset(kind: ProviderKind) -> Option<Self> {
        let (issuer, authorize, token, jwks, userinfo) = match kind {
            ProviderKind::Google => (
                "https://accounts.google.com",
                "https://accounts.google.com/o/oauth2/v2/auth",
                "https://oauth2.googleapis.com/token",
                "https://www.googleapis.com/oauth2/v3/certs",
                Some("https://openidconnect.googleapis.com/v1/userinfo"),
            ),
            ProviderKind::Apple => (
                "https://appleid.apple.com",
                "https://appleid.apple.com/auth/authorize",
                "https://appleid.apple.com/auth/token",
                "https://appleid.apple.com/auth/keys",
                None,
            ),
            ProviderKind::Oidc => return None,
        };
        Some(Self {
            issuer: issuer.to_owned(),
            authorization_endpoint: authorize.to_owned(),
            token_endpoint: token.to_owned(),
            jwks_uri: jwks.to_owned(),
            userinfo_endpoint: userinfo.map(str::to_owned),
            response_types_supported: vec!["code".to_owned()],
            code_challenge_methods_supported: Some(vec!["S256".to_owned()]),
            id_token_signing_alg_values_supported: vec!["RS256".to_owned()],
        })
    }

    /// The algorithms an ID token of this provider may use: what it announces (RS256 when silent, as OpenID
    /// Connect requires it) within what we verify.
    pub fn allowed_algs(&self) -> Vec<jsonwebtoken::Algorithm> {
        let announced: Vec<&str> = if self.id_token_signing_alg_values_supported.is_empty() {
            vec!["RS256"]
        } else {
            self.id_token_signing_alg_values_supported.iter().map(String::as_str).collect()
        };
        announced
            .into_iter()
            .filter(|a| SUPPORTED_ALGS.contains(a))
            .filter_map(|a| a.parse::<jsonwebtoken::Algorithm>().ok())
            .collect()
    }
}

pub(super) struct Cached<T> {
    pub(super) value: Arc<T>,
    pub(super) fetched: Instant,
}

/// Documents kept per node, of each kind (discovery, JWKS). Any organization can name any URL, so the caches
/// are bounded: past this, expired entries go first, then the oldest.
const MAX_CACHED: usize = 256;

/// Keys kept of one provider's JWKS.
pub(super) const MAX_KEYS: usize = 32;

/// Keeps `value` for `key`, within `MAX_CACHED` entries.
pub(super) fn remember<T>(cache: &Mutex<HashMap<String, Cached<T>>>, key: &str, value: Arc<T>, ttl: Duration) {
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= MAX_CACHED && !cache.contains_key(key) {
        cache.retain(|_, c| c.fetched.elapsed() < ttl);
        if cache.len() >= MAX_CACHED
            && let Some(oldest) = cache.iter().min_by_key(|(_, c)| c.fetched).map(|(k, _)| k.clone())
        {
            cache.remove(&oldest);
        }
    }
    cache.insert(key.to_owned(), Cached { value, fetched: Instant::now() });
}

/// The outbound client and what it fetched recently.
pub struct Federation {
    pub http: Arc<dyn FederationHttp>,
    pub(super) discovery: Mutex<HashMap<String, Cached<ProviderMetadata>>>,
    pub(super) jwks: Mutex<HashMap<String, Cached<JwkSet>>>,
}

impl Federation {
    pub fn new(http: Arc<dyn FederationHttp>) -> Self {
        Self { http, discovery: Mutex::default(), jwks: Mutex::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_cache_keeps_at_most_max_cached_entries_and_always_the_newest() {
        let cache: Mutex<HashMap<String, Cached<u32>>> = Mutex::default();
        let ttl = Duration::from_secs(3600);
        for n in 0..(MAX_CACHED as u32 + 40) {
            remember(&cache, &format!("https://idp{n}.example/"), Arc::new(n), ttl);
        }
        let cache = cache.lock().unwrap();
        assert_eq!(cache.len(), MAX_CACHED);
        let newest = format!("https://idp{}.example/", MAX_CACHED + 39);
        assert_eq!(cache.get(&newest).map(|c| *c.value), Some(MAX_CACHED as u32 + 39));
    }
}
