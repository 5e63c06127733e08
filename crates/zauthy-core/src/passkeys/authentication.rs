//! Signing in with a passkey: for a user named by email (their credentials allowed), or username-less,
//! where a discoverable credential names the user. A passkey verifies the user (PIN or biometric), so it
//! satisfies MFA on its own.

use super::store::CeremonyKind;
use super::{
    PasskeyChallenge, encode_credential_id, normalise_response, parse_passkey, passkey_facts, user_handle,
    verification_failed,
};
use crate::accounts::{Email, LoginOutcome, SignInMethod};
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::services::{ClientMeta, Services};
use serde_json::{Value, json};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, PasskeyAuthentication, PublicKeyCredential, RequestChallengeResponse, WebauthnError,
};

/// `{"publicKey": …}` for a plain (modal) `navigator.credentials.get()`: webauthn-rs marks discoverable
/// requests for conditional mediation (autofill), which a "Sign in with a passkey" button does not use.
/// Transport hints are dropped so a known user's options look like an unknown one's.
fn request_options(challenge: &RequestChallengeResponse) -> Result<Value> {
    let mut options =
        serde_json::to_value(challenge).map_err(|e| CoreError::internal(format!("request options: {e}")))?;
    if let Some(object) = options.as_object_mut() {
        object.remove("mediation");
    }
    if let Some(allowed) = options.pointer_mut("/publicKey/allowCredentials").and_then(Value::as_array_mut) {
        for credential in allowed.iter_mut().filter_map(Value::as_object_mut) {
            credential.remove("transports");
        }
    }
    Ok(options)
}

fn cloned() -> CoreError {
    CoreError::unauthenticated(
        "passkey_possibly_cloned",
        "This passkey's signature counter went backwards, a sign that it was copied; sign in another way",
    )
}

impl Services {
    /// Options for `navigator.credentials.get()`. With `email`, the user's credentials are allowed; an unknown
    /// address (or one without passkeys) gets a decoy credential id derived from the address, so the answer
    /// looks the same and reveals nothing. Without `email`, any discoverable credential of the organization.
    pub async fn start_passkey_authentication(&self, actor: &Actor, email: Option<&str>) -> Result<PasskeyChallenge> {
        let org_id = actor.require_sign_in_flow()?;
        let org = self.org_for_passkeys(org_id).await?;
        let webauthn = self.webauthn_for(&org)?;
        let Some(raw_email) = email.map(str::trim).filter(|e| !e.is_empty()) else {
            return self.start_discoverable(org_id, &webauthn, None).await;
        };
        let found = match Email::parse(raw_email) {
            Ok(email) => self.store.find_user_by_email(org_id, &email).await?,
            Err(_) => None,
        };
        if let Some(found) = found {
            let passkeys = self.store.list_passkeys(org_id, &found.user.id).await?;
            if !passkeys.is_empty() {
                let passkeys = passkeys.iter().map(parse_passkey).collect::<Result<Vec<_>>>()?;
                let (challenge, state) = webauthn
                    .start_passkey_authentication(&passkeys)
                    .map_err(|e| CoreError::internal(format!("starting a passkey sign-in: {e}")))?;
                let options = request_options(&challenge)?;
                let (ceremony_id, expires_at) =
                    self.save_ceremony(org_id, Some(&found.user.id), CeremonyKind::Authentication, &state).await?;
                return Ok(PasskeyChallenge { ceremony_id, options, expires_at });
            }
        }
        let normalised = crate::accounts::Email::key_of(raw_email);
        let decoy = self.keys.master().keyed_digest("passkey-decoy", format!("{org_id}:{normalised}").as_bytes());
        self.start_discoverable(org_id, &webauthn, Some(&decoy)).await
    }

    async fn start_discoverable(
        &self,
        org_id: &str,
        webauthn: &webauthn_rs::Webauthn,
        decoy: Option<&[u8]>,
    ) -> Result<PasskeyChallenge> {
        let (challenge, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|e| CoreError::internal(format!("starting a passkey sign-in: {e}")))?;
        let mut options = request_options(&challenge)?;
        if let (Some(decoy), Some(public_key)) = (decoy, options.get_mut("publicKey").and_then(Value::as_object_mut)) {
            public_key.insert(
                "allowCredentials".to_owned(),
                json!([{"type": "public-key", "id": encode_credential_id(decoy)}]),
            );
            // A known user's options carry no extensions; neither does the decoy.
            public_key.remove("extensions");
        }
        let (ceremony_id, expires_at) = self.save_ceremony(org_id, None, CeremonyKind::Discoverable, &state).await?;
        Ok(PasskeyChallenge { ceremony_id, options, expires_at })
    }

    /// Verifies the browser's assertion (its `toJSON()`), updates the passkey's counter and flags, and signs
    /// the user in (`user.login` with method `passkey`). Blocked or locked users are refused as at password
    /// login; a counter that went backwards is refused and recorded as `security.passkey_cloned`.
    pub async fn finish_passkey_authentication(
        &self,
        actor: &Actor,
        ceremony_id: &str,
        credential: &Value,
        meta: &ClientMeta,
    ) -> Result<LoginOutcome> {
        let org_id = actor.require_sign_in_flow()?;
        let response: PublicKeyCredential =
            serde_json::from_value(normalise_response(credential)).map_err(super::invalid_response)?;
        let ceremony = self
            .claim_ceremony(org_id, ceremony_id, &[CeremonyKind::Authentication, CeremonyKind::Discoverable], None)
            .await?;
        let credential_id = encode_credential_id(&response.raw_id);
        let not_verified = |why: &str| verification_failed("sign-in", why);
        // Looked up within the ceremony's organization only: another org's passkey is simply unknown here.
        let mut stored = self
            .store
            .find_passkey_by_credential(org_id, &credential_id)
            .await?
            .ok_or_else(|| not_verified("unknown credential"))?;
        let mut passkey = parse_passkey(&stored)?;
        let org = self.org_for_passkeys(org_id).await?;
        let webauthn = self.webauthn_for(&org)?;
        let verified = match ceremony.kind {
            CeremonyKind::Authentication => {
                if ceremony.user_id.as_deref() != Some(stored.user_id.as_str()) {
                    return Err(not_verified("credential of another user"));
                }
                let state: PasskeyAuthentication = ceremony.state()?;
                webauthn.finish_passkey_authentication(&response, &state)
            }
            CeremonyKind::Discoverable | CeremonyKind::Registration => {
                let (handle, _) = webauthn
                    .identify_discoverable_authentication(&response)
                    .map_err(|e| verification_failed("sign-in", e))?;
                if handle != user_handle(&stored.user_id) {
                    return Err(not_verified("user handle does not match the credential"));
                }
                let state: DiscoverableAuthentication = ceremony.state()?;
                webauthn.finish_discoverable_authentication_v2(&response, state, &passkey)
            }
        };
        let result = match verified {
            Ok(result) => result,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                self.record_cloned_passkey(&stored, meta).await?;
                return Err(cloned());
            }
            Err(e) => return Err(verification_failed("sign-in", e)),
        };
        let user =
            self.store.find_user(org_id, &stored.user_id).await?.ok_or_else(|| not_verified("the user is gone"))?.user;
        let now = self.now();
        if let Some(until) = user.locked_until.filter(|until| *until > now) {
            return Err(CoreError::locked(until, now));
        }
        if user.is_blocked {
            return Err(CoreError::forbidden_code("user_blocked", "This account has been blocked"));
        }
        passkey.update_credential(&result);
        let (_, backup_eligible, backup_state) = passkey_facts(&passkey)?;
        stored.sign_count = i64::from(result.counter());
        stored.backup_eligible = backup_eligible;
        stored.backup_state = backup_state;
        stored.passkey = serde_json::to_string(&passkey).map_err(|e| CoreError::internal(format!("passkey: {e}")))?;
        stored.last_used_at = Some(now);
        let tx = self.store.begin().await?;
        if !tx.update_passkey_use(&stored, now).await? {
            // Removed between the lookup and now.
            return Err(not_verified("the passkey was removed"));
        }
        let outcome = self.complete_sign_in(&*tx, user, SignInMethod::Passkey, meta).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// webauthn-rs's advice for a counter that did not increase: treat the credential as possibly cloned and
    /// refuse it. The event lets the organization alert the user; the passkey stays until they remove it.
    async fn record_cloned_passkey(&self, stored: &super::PasskeyRecord, meta: &ClientMeta) -> Result<()> {
        let now = self.now();
        let tx = self.store.begin().await?;
        tx.insert_event(&Event::new(
            &stored.org_id,
            types::PASSKEY_CLONED,
            Some(&stored.user_id),
            json!({"user_id": stored.user_id, "passkey_id": stored.id, "stored_sign_count": stored.sign_count,
                   "ip": meta.ip}),
            now,
        ))
        .await?;
        tx.commit().await
    }
}
