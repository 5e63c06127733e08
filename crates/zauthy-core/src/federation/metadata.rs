//! Where a provider's endpoints and keys come from: the Google and Apple presets, or the issuer's discovery
//! document; JWKS fetched from its `jwks_uri`. Both are cached briefly; an unknown `kid` fetches the JWKS
//! again (at most every few seconds), so an upstream key rotation is picked up at once.

use super::client::{MAX_KEYS, ProviderMetadata, SUPPORTED_ALGS, remember};
use super::outbound::{OutboundRequest, check_outbound_url};
use super::{OAuthProvider, ProviderKind};
use crate::error::{CoreError, Result};
use crate::services::Services;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use std::sync::Arc;
use std::time::Duration;

pub const DISCOVERY_SUFFIX: &str = "/.well-known/openid-configuration";
/// A JWKS is fetched again for an unknown `kid` only if the cached copy is at least this old.
const JWKS_REFETCH_AFTER: Duration = Duration::from_secs(5);

fn discovery_failed(detail: impl Into<String>) -> CoreError {
    CoreError::Upstream { code: "discovery_failed", detail: detail.into() }
}

impl Services {
    /// GETs `url` (checked against the outbound rules first) and parses the JSON answer.
    pub(crate) async fn fetch_upstream_json(&self, request: OutboundRequest, what: &str) -> Result<serde_json::Value> {
        let settings = &self.config.federation;
        check_outbound_url(&request.url, settings, "invalid_upstream_url")?;
        let reply = self
            .federation
            .http
            .send(request)
            .await
            .map_err(|e| CoreError::Upstream { code: "oauth_upstream_error", detail: format!("{what}: {e}") })?;
        if reply.status != 200 {
            return Err(CoreError::Upstream {
                code: "oauth_upstream_error",
                detail: format!("{what} answered HTTP {}", reply.status),
            });
        }
        serde_json::from_slice(&reply.body)
            .map_err(|_| CoreError::Upstream { code: "oauth_upstream_error", detail: format!("{what} is not JSON") })
    }

    /// Fetches and checks a discovery document: its issuer must be the discovery URL's prefix, its
    /// endpoints must pass the outbound rules, and it must support the code flow (and S256, if it says).
    pub(crate) async fn discover_upstream(
        &self,
        discovery_url: &str,
        use_cache: bool,
    ) -> Result<Arc<ProviderMetadata>> {
        let ttl = Duration::from_secs(self.config.federation.metadata_ttl_secs);
        if use_cache
            && let Some(c) = self.federation.discovery.lock().unwrap_or_else(|e| e.into_inner()).get(discovery_url)
            && c.fetched.elapsed() < ttl
        {
            return Ok(c.value.clone());
        }
        let value = self
            .fetch_upstream_json(OutboundRequest::get(discovery_url), "the discovery document")
            .await
            .map_err(|e| match e {
                CoreError::Upstream { detail, .. } => discovery_failed(detail),
                other => other,
            })?;
        let metadata: ProviderMetadata = serde_json::from_value(value).map_err(|e| {
            discovery_failed(format!("the discovery document lacks a required field or has the wrong type: {e}"))
        })?;
        let expected_issuer = discovery_url.strip_suffix(DISCOVERY_SUFFIX).unwrap_or(discovery_url);
        if metadata.issuer.trim_end_matches('/') != expected_issuer.trim_end_matches('/') {
            return Err(discovery_failed(format!(
                "the discovery document names issuer {:?}, but was served for {expected_issuer:?}",
                metadata.issuer
            )));
        }
        let settings = &self.config.federation;
        for (name, url) in [
            ("authorization_endpoint", Some(&metadata.authorization_endpoint)),
            ("token_endpoint", Some(&metadata.token_endpoint)),
            ("jwks_uri", Some(&metadata.jwks_uri)),
            ("userinfo_endpoint", metadata.userinfo_endpoint.as_ref()),
        ] {
            if let Some(url) = url {
                check_outbound_url(url, settings, "discovery_failed")
                    .map_err(|e| discovery_failed(format!("{name}: {e}")))?;
            }
        }
        if !metadata.response_types_supported.is_empty()
            && !metadata.response_types_supported.iter().any(|r| r == "code")
        {
            return Err(discovery_failed("the provider does not support the authorization code flow"));
        }
        if metadata.code_challenge_methods_supported.as_ref().is_some_and(|m| !m.iter().any(|m| m == "S256")) {
            return Err(discovery_failed("the provider does not support PKCE with S256"));
        }
        if metadata.allowed_algs().is_empty() {
            return Err(discovery_failed("the provider signs ID tokens with no algorithm zauthy accepts"));
        }
        // Only what the checks above and `allowed_algs` read is kept: a document padded with long lists
        // costs no memory in the cache.
        let mut metadata = metadata;
        metadata.response_types_supported.retain(|r| r == "code");
        if let Some(methods) = metadata.code_challenge_methods_supported.as_mut() {
            methods.retain(|m| m == "S256");
        }
        metadata.id_token_signing_alg_values_supported.retain(|a| SUPPORTED_ALGS.contains(&a.as_str()));
        let metadata = Arc::new(metadata);
        remember(&self.federation.discovery, discovery_url, metadata.clone(), ttl);
        Ok(metadata)
    }

    /// The provider's endpoints: from its discovery URL if it has one, else its preset's.
    pub(crate) async fn upstream_metadata(&self, provider: &OAuthProvider) -> Result<Arc<ProviderMetadata>> {
        match &provider.discovery_url {
            Some(url) => self.discover_upstream(url, true).await,
            None => ProviderMetadata::preset(provider.kind)
                .map(Arc::new)
                .ok_or_else(|| CoreError::internal("an OIDC provider without a discovery URL")),
        }
    }

    /// The preset endpoints of a kind, for configuration without a discovery URL.
    pub(crate) fn preset_metadata(kind: ProviderKind) -> Option<ProviderMetadata> {
        ProviderMetadata::preset(kind)
    }

    /// The upstream's keys; `refresh` fetches again unless the cached copy is only seconds old.
    pub(crate) async fn upstream_jwks(&self, jwks_uri: &str, refresh: bool) -> Result<Arc<JwkSet>> {
        let ttl = Duration::from_secs(self.config.federation.metadata_ttl_secs);
        if let Some(c) = self.federation.jwks.lock().unwrap_or_else(|e| e.into_inner()).get(jwks_uri) {
            let age = c.fetched.elapsed();
            if age < ttl && !(refresh && age >= JWKS_REFETCH_AFTER) {
                return Ok(c.value.clone());
            }
        }
        let value = self.fetch_upstream_json(OutboundRequest::get(jwks_uri), "the JWKS").await?;
        // Keys we cannot read (encryption keys, unknown types) are skipped rather than failing the set; a
        // provider publishes a few keys at a time, so more than `MAX_KEYS` are not kept.
        let keys: Vec<Jwk> = value["keys"]
            .as_array()
            .map(|keys| keys.iter().filter_map(|k| serde_json::from_value(k.clone()).ok()).take(MAX_KEYS).collect())
            .unwrap_or_default();
        let set = Arc::new(JwkSet { keys });
        remember(&self.federation.jwks, jwks_uri, set.clone(), ttl);
        Ok(set)
    }
}
