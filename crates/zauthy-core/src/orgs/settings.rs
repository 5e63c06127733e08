//! An organization's sign-in settings: where passwordless links may send users, whether a passwordless
//! sign-in may create an account, and the WebAuthn relying party its passkeys belong to.

use super::{OrgSettings, Organization};
use crate::accounts::Role;
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::services::Services;
use serde_json::json;

/// A partial update: each field present replaces the stored value.
#[derive(Debug, Default)]
pub struct OrgSettingsUpdate {
    pub allowed_redirect_urls: Option<Vec<String>>,
    pub passwordless_signup: Option<bool>,
    pub webauthn_rp_id: Option<Option<String>>,
    pub webauthn_origins: Option<Vec<String>>,
    pub mccmnc: Option<Vec<String>>,
    pub approval_requires_mfa: Option<bool>,
}

const MAX_URLS: usize = 50;

/// An absolute http(s) URL without credentials or fragment; plain http only for localhost.
pub fn parse_web_url(raw: &str, what: &str) -> Result<url::Url> {
    let invalid = |why: &str| CoreError::invalid("invalid_url", format!("{what} {raw:?} {why}"));
    if raw.len() > 2000 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("is not a valid URL"));
    }
    let url = url::Url::parse(raw).map_err(|_| invalid("is not an absolute URL"))?;
    let host = url.host_str().ok_or_else(|| invalid("has no host"))?;
    let local = host == "localhost" || host == "127.0.0.1" || host == "[::1]";
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        "http" => return Err(invalid("must use https (http is allowed only for localhost)")),
        _ => return Err(invalid("must be an http(s) URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not contain credentials"));
    }
    if url.fragment().is_some() {
        return Err(invalid("must not contain a fragment"));
    }
    Ok(url)
}

/// An origin is scheme, host and port only.
fn parse_origin(raw: &str) -> Result<String> {
    let url = parse_web_url(raw, "origin")?;
    if url.path() != "/" || url.query().is_some() {
        return Err(CoreError::invalid("invalid_url", format!("origin {raw:?} must not have a path or query")));
    }
    Ok(url.origin().ascii_serialization())
}

fn parse_rp_id(raw: &str) -> Result<String> {
    let rp = raw.trim().to_ascii_lowercase();
    let ok = !rp.is_empty()
        && rp.len() <= 253
        && rp
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !ok {
        return Err(CoreError::invalid("invalid_rp_id", "webauthn_rp_id must be a domain name such as example.com"));
    }
    Ok(rp)
}

impl Services {
    pub async fn get_org_settings(&self, actor: &Actor) -> Result<OrgSettings> {
        Ok(self.get_organization(actor).await?.settings)
    }

    pub async fn update_org_settings(&self, actor: &Actor, update: OrgSettingsUpdate) -> Result<OrgSettings> {
        let org_id = actor.require_admin(Role::Admin)?.to_owned();
        let now = self.now();
        let tx = self.store.begin().await?;
        let org: Organization = tx.find_org(&org_id).await?.ok_or(CoreError::NotFound { entity: "organization" })?;
        let settings = org.settings.apply(update)?;
        if settings.mccmnc != org.settings.mccmnc {
            tx.set_carrier_codes(&org_id, &settings.mccmnc, now).await?;
        }
        tx.set_org_settings(&org_id, &settings, now).await?;
        tx.insert_event(&Event::new(
            &org_id,
            types::ORGANIZATION_SETTINGS_UPDATED,
            actor.user_id(),
            json!({"organization_id": org_id, "by": actor.user_id(), "settings": settings}),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(settings)
    }

    /// The organization's settings for a flow that already knows the org id.
    pub async fn org_settings(&self, org_id: &str) -> Result<OrgSettings> {
        Ok(self.store.find_org(org_id).await?.ok_or(CoreError::NotFound { entity: "organization" })?.settings)
    }
}

impl OrgSettings {
    /// Applies an update and validates the result as a whole.
    pub fn apply(&self, update: OrgSettingsUpdate) -> Result<Self> {
        let mut next = self.clone();
        if let Some(urls) = update.allowed_redirect_urls {
            if urls.len() > MAX_URLS {
                return Err(CoreError::invalid("invalid_url", format!("at most {MAX_URLS} redirect URLs")));
            }
            // Stored as given (after validation), because matching is exact.
            for u in &urls {
                parse_web_url(u, "redirect URL")?;
            }
            next.allowed_redirect_urls = urls;
        }
        if let Some(flag) = update.passwordless_signup {
            next.passwordless_signup = flag;
        }
        if let Some(rp) = update.webauthn_rp_id {
            next.webauthn_rp_id = rp.as_deref().map(parse_rp_id).transpose()?;
        }
        if let Some(origins) = update.webauthn_origins {
            if origins.len() > MAX_URLS {
                return Err(CoreError::invalid("invalid_url", format!("at most {MAX_URLS} origins")));
            }
            next.webauthn_origins = origins.iter().map(|o| parse_origin(o)).collect::<Result<_>>()?;
        }
        if let Some(codes) = update.mccmnc {
            let mut clean: Vec<String> = Vec::new();
            for code in codes {
                if !(5..=6).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CoreError::invalid("invalid_mccmnc", format!("mccmnc {code:?} must be 5 or 6 digits")));
                }
                if !clean.contains(&code) {
                    clean.push(code);
                }
            }
            if clean.len() > MAX_URLS {
                return Err(CoreError::invalid("invalid_mccmnc", format!("at most {MAX_URLS} mccmnc codes")));
            }
            next.mccmnc = clean;
        }
        if let Some(flag) = update.approval_requires_mfa {
            next.approval_requires_mfa = flag;
        }
        if let Some(rp) = &next.webauthn_rp_id {
            for origin in &next.webauthn_origins {
                let host =
                    url::Url::parse(origin).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
                if host != *rp && !host.ends_with(&format!(".{rp}")) {
                    return Err(CoreError::invalid(
                        "invalid_rp_id",
                        format!("origin {origin} is not within the relying party id {rp}"),
                    ));
                }
            }
        }
        Ok(next)
    }

    /// True when `url` is one of the allowed redirect URLs, byte for byte.
    pub fn allows_redirect(&self, url: &str) -> bool {
        self.allowed_redirect_urls
            .iter()
            .any(|allowed| crate::crypto::constant_time_eq(allowed.as_bytes(), url.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_urls_must_be_https_except_for_localhost() {
        let s = OrgSettings::default();
        let ok = s.apply(OrgSettingsUpdate {
            allowed_redirect_urls: Some(vec!["https://app.example.com/cb".into(), "http://localhost:3000/cb".into()]),
            ..Default::default()
        });
        assert!(ok.is_ok());
        for bad in ["http://app.example.com/cb", "javascript:alert(1)", "https://u:p@x.com/", "https://x.com/#f", "/cb"]
        {
            let r = s.apply(OrgSettingsUpdate { allowed_redirect_urls: Some(vec![bad.into()]), ..Default::default() });
            assert!(r.is_err(), "{bad}");
        }
    }

    #[test]
    fn redirects_match_exactly() {
        let s = OrgSettings { allowed_redirect_urls: vec!["https://app.example.com/cb".into()], ..Default::default() };
        assert!(s.allows_redirect("https://app.example.com/cb"));
        assert!(!s.allows_redirect("https://app.example.com/cb/"));
        assert!(!s.allows_redirect("https://app.example.com/cb?x=1"));
        assert!(!s.allows_redirect("https://app.example.com.evil.com/cb"));
    }

    #[test]
    fn origins_must_sit_within_the_relying_party() {
        let s = OrgSettings::default();
        let ok = s.apply(OrgSettingsUpdate {
            webauthn_rp_id: Some(Some("example.com".into())),
            webauthn_origins: Some(vec!["https://login.example.com".into()]),
            ..Default::default()
        });
        assert_eq!(ok.unwrap().webauthn_origins, vec!["https://login.example.com".to_owned()]);
        let bad = s.apply(OrgSettingsUpdate {
            webauthn_rp_id: Some(Some("example.com".into())),
            webauthn_origins: Some(vec!["https://evil.com".into()]),
            ..Default::default()
        });
        assert!(bad.is_err());
    }
}
