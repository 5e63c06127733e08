//! Passkeys (WebAuthn): registration by a signed-in user, sign-in with or without an email (discoverable
//! credentials), listing and removal. Ceremony state lives server side, single use, bound to the org.
//!
//! The relying party is per organization: `OrgSettings.webauthn_rp_id` / `webauthn_origins`, defaulting to
//! the host and origin of the server's public URL. A passkey of one organization never works in another:
//! credentials are looked up within the ceremony's organization only.

mod authentication;
mod ceremony;
mod manage;
mod registration;
pub mod store;

pub use ceremony::{CEREMONY_TTL_SECS, PasskeyChallenge};
pub use store::{CeremonyKind, CeremonyRecord, PasskeyRecord};

use crate::error::{CoreError, Result};
use crate::orgs::Organization;
use crate::services::Services;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{Passkey, Url, Uuid, Webauthn, WebauthnBuilder};

pub const PASSKEY_ID: &str = "pk";
const DEFAULT_NAME: &str = "Passkey";
const MAX_NAME_CHARS: usize = 100;

/// The WebAuthn user handle of a user: derived from the user id, so every passkey of the user carries the
/// same opaque handle, and it reveals nothing (no email, no id) to the authenticator.
pub(crate) fn user_handle(user_id: &str) -> Uuid {
    let digest = Sha256::digest(format!("zauthy-user-handle:{user_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

pub(crate) fn encode_credential_id(raw: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(raw)
}

/// Counter and backup flags of a webauthn-rs `Passkey`, read from its serialized form (the crate keeps
/// them private).
pub(crate) fn passkey_facts(passkey: &Passkey) -> Result<(i64, bool, bool)> {
    let value = serde_json::to_value(passkey).map_err(|e| CoreError::internal(format!("passkey: {e}")))?;
    let cred = &value["cred"];
    Ok((
        cred["counter"].as_i64().unwrap_or(0),
        cred["backup_eligible"].as_bool().unwrap_or(false),
        cred["backup_state"].as_bool().unwrap_or(false),
    ))
}

pub(crate) fn parse_passkey(record: &PasskeyRecord) -> Result<Passkey> {
    serde_json::from_str(&record.passkey)
        .map_err(|e| CoreError::internal(format!("stored passkey {} is unreadable: {e}", record.id)))
}

fn clean_passkey_name(name: Option<&str>) -> Result<String> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(DEFAULT_NAME.to_owned());
    };
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "invalid_name",
            format!("a passkey name has at most {MAX_NAME_CHARS} characters and no control characters"),
        ));
    }
    Ok(name.to_owned())
}

/// Brings a browser's credential JSON to the shape webauthn-rs reads. `PublicKeyCredential.toJSON()` and
/// common libraries send base64url without padding; some send padded or standard base64, which webauthn-rs
/// rejects, so binary members are re-encoded. `toJSON()`'s extra members (`authenticatorAttachment`,
/// `response.publicKey`, …) are ignored by webauthn-rs; `clientExtensionResults` wins over `extensions`.
pub(crate) fn normalise_response(credential: &serde_json::Value) -> serde_json::Value {
    fn base64url(value: &mut serde_json::Value) {
        if let Some(text) = value.as_str() {
            let fixed: String = text
                .trim_end_matches('=')
                .chars()
                .map(|c| match c {
                    '+' => '-',
                    '/' => '_',
                    c => c,
                })
                .collect();
            *value = serde_json::Value::String(fixed);
        }
    }
    let mut credential = credential.clone();
    if let Some(object) = credential.as_object_mut() {
        if object.contains_key("clientExtensionResults") {
            object.remove("extensions");
        }
        if let Some(raw_id) = object.get_mut("rawId") {
            base64url(raw_id);
        }
        if let Some(response) = object.get_mut("response").and_then(serde_json::Value::as_object_mut) {
            for key in ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"] {
                if let Some(v) = response.get_mut(key) {
                    base64url(v);
                }
            }
        }
    }
    credential
}

pub(crate) fn verification_failed(what: &str, e: impl std::fmt::Display) -> CoreError {
    tracing::info!(error = %e, "passkey {what} failed verification");
    CoreError::unauthenticated("passkey_verification_failed", format!("The passkey {what} could not be verified"))
}

pub(crate) fn invalid_response(e: impl std::fmt::Display) -> CoreError {
    CoreError::invalid("invalid_passkey_response", format!("credential is not a WebAuthn credential response: {e}"))
}

impl Services {
    /// The relying party of `org`: its configured RP id and origins, or the public URL's host and origin.
    pub(crate) fn webauthn_for(&self, org: &Organization) -> Result<Webauthn> {
        let misconfigured = |why: String| CoreError::invalid("invalid_rp_id", why);
        let public = Url::parse(&self.config.public_url)
            .map_err(|e| CoreError::internal(format!("public_url is not a URL: {e}")))?;
        let rp_id = match &org.settings.webauthn_rp_id {
            Some(rp) => rp.clone(),
            None => public.host_str().ok_or_else(|| CoreError::internal("public_url has no host"))?.to_owned(),
        };
        let origins: Vec<Url> = if org.settings.webauthn_origins.is_empty() {
            let origin = public.origin().ascii_serialization();
            vec![Url::parse(&origin).map_err(|e| CoreError::internal(format!("public origin: {e}")))?]
        } else {
            org.settings
                .webauthn_origins
                .iter()
                .map(|o| Url::parse(o).map_err(|e| misconfigured(format!("origin {o}: {e}"))))
                .collect::<Result<_>>()?
        };
        let mut builder = WebauthnBuilder::new(&rp_id, &origins[0])
            .map_err(|_| misconfigured(format!("origin {} is not within the relying party id {rp_id}", origins[0])))?
            .allow_subdomains(false)
            .rp_name(&org.name);
        for origin in &origins[1..] {
            builder = builder.append_allowed_origin(origin);
        }
        builder.build().map_err(|e| misconfigured(format!("WebAuthn relying party {rp_id}: {e}")))
    }

    pub(crate) async fn org_for_passkeys(&self, org_id: &str) -> Result<Organization> {
        self.store.find_org(org_id).await?.ok_or(CoreError::NotFound { entity: "organization" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn padded_or_standard_base64_is_read_as_base64url() {
        let sent = json!({"rawId": "ab+/cd==", "extensions": {}, "clientExtensionResults": {"credProps": {"rk": true}},
                          "response": {"signature": "x/y+z=", "userHandle": null}});
        let fixed = normalise_response(&sent);
        assert_eq!(fixed["rawId"], "ab-_cd");
        assert_eq!(fixed["response"]["signature"], "x_y-z");
        assert_eq!(fixed["response"]["userHandle"], serde_json::Value::Null);
        assert!(fixed.get("extensions").is_none(), "clientExtensionResults wins");
    }

    #[test]
    fn a_users_handle_is_stable_and_differs_between_users() {
        assert_eq!(user_handle("usr_a"), user_handle("usr_a"));
        assert_ne!(user_handle("usr_a"), user_handle("usr_b"));
    }

    #[test]
    fn passkey_names_default_and_are_bounded() {
        assert_eq!(clean_passkey_name(None).unwrap(), "Passkey");
        assert_eq!(clean_passkey_name(Some("  ")).unwrap(), "Passkey");
        assert_eq!(clean_passkey_name(Some(" Laptop ")).unwrap(), "Laptop");
        assert!(clean_passkey_name(Some("a\u{7}b")).is_err());
        assert!(clean_passkey_name(Some(&"x".repeat(101))).is_err());
    }
}
