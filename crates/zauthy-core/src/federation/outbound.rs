//! The outbound HTTP port of social login (discovery, JWKS, token and userinfo requests) and the rules an
//! upstream URL must follow before anything is sent: https, no credentials, no literal or local addresses.
//! The binary's client checks the resolved addresses again at connect time.

use crate::error::{CoreError, Result};
use async_trait::async_trait;
use std::net::IpAddr;

#[derive(Debug, Clone)]
pub struct FederationSettings {
    /// Accept `http://` upstream URLs (development and tests only).
    pub allow_http: bool,
    /// Reach upstreams on loopback, private and other non-public addresses (development and tests only).
    pub allow_private_addresses: bool,
    /// How long an authorization request (its state) stays usable.
    pub state_ttl_secs: i64,
    /// How long discovery documents and JWKS are reused before being fetched again.
    pub metadata_ttl_secs: u64,
}

impl Default for FederationSettings {
    fn default() -> Self {
        Self { allow_http: false, allow_private_addresses: false, state_ttl_secs: 600, metadata_ttl_secs: 300 }
    }
}

/// One request to an upstream: a GET (with an optional bearer token) or a form POST.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub url: String,
    /// `Some` makes it a POST of `application/x-www-form-urlencoded`.
    pub form: Option<Vec<(String, String)>>,
    pub headers: Vec<(&'static str, String)>,
}

impl OutboundRequest {
    pub fn get(url: &str) -> Self {
        Self { url: url.to_owned(), form: None, headers: vec![("accept", "application/json".to_owned())] }
    }
}

#[derive(Debug, Clone)]
pub struct OutboundReply {
    pub status: u16,
    /// At most the transport's size cap.
    pub body: Vec<u8>,
}

/// Sends one request; an `Err` is a failure before any status (refused address, timeout, TLS, DNS, too big).
#[async_trait]
pub trait FederationHttp: Send + Sync {
    async fn send(&self, request: OutboundRequest) -> std::result::Result<OutboundReply, String>;
}

/// Checks an upstream URL against the outbound rules; `code` is the error code to refuse with.
pub fn check_outbound_url(raw: &str, settings: &FederationSettings, code: &'static str) -> Result<url::Url> {
    let invalid = |why: &str| CoreError::invalid(code, format!("{raw:?} {why}"));
    if raw.len() > 2000 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("is not a valid URL"));
    }
    let url = url::Url::parse(raw).map_err(|_| invalid("is not an absolute URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if settings.allow_http => {}
        _ => return Err(invalid("must use https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(invalid("must not have a fragment"));
    }
    let literal = match url.host() {
        None => return Err(invalid("needs a host")),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if !settings.allow_private_addresses && (d == "localhost" || d.ends_with(".localhost")) {
                return Err(invalid("must not point at this machine"));
            }
            None
        }
    };
    if let Some(ip) = literal
        && !settings.allow_private_addresses
    {
        let why =
            if crate::webhooks::is_public_address(ip) { "a host name, not an IP address" } else { "a public host" };
        return Err(invalid(&format!("must name {why}")));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_must_be_https_to_a_public_host_name_unless_development_allows_more() {
        let strict = FederationSettings::default();
        for bad in [
            "http://accounts.example.com/.well-known/openid-configuration",
            "https://127.0.0.1/x",
            "https://169.254.169.254/latest",
            "https://[::1]/x",
            "https://localhost/x",
            "https://a.localhost/x",
            "https://u:p@example.com/x",
            "https://example.com/x#f",
            "ftp://example.com/x",
            "/relative",
        ] {
            assert!(check_outbound_url(bad, &strict, "c").is_err(), "{bad}");
        }
        assert!(
            check_outbound_url("https://accounts.google.com/.well-known/openid-configuration", &strict, "c").is_ok()
        );
        let dev = FederationSettings { allow_http: true, allow_private_addresses: true, ..Default::default() };
        assert!(
            check_outbound_url("http://127.0.0.1:8080/o/org_x/.well-known/openid-configuration", &dev, "c").is_ok()
        );
    }
}
