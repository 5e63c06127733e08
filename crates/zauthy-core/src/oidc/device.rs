//! The device authorization grant (RFC 8628): a device without a browser gets a `device_code` to poll with and
//! a short `user_code` the user types (or scans) on the hosted `/device` page of a signed-in browser, where
//! they see which service asks for which scopes and approve or deny. Both codes are kept only as digests.

use super::error::{OAuthError, OidcResult};
use super::polling::{
    Approval, POLL_INTERVAL_SECS, PollState, Redemption, StepUp, requested_scopes, second_factor_first,
    wants_second_factor,
};
use super::store::{ApprovalKind, DeviceFlow, FlowStatus};
use super::token::{ClientAuth, TokenResponse, dpop_required};
use super::{ConsentDecision, ConsentPrompt, DpopKey, GRANT_DEVICE_CODE, OidcClient};
use crate::accounts::User;
use crate::error::{CoreError, Result};
use crate::events::types;
use crate::services::Services;
use crate::sessions::Session;
use crate::{crypto, ids};
use serde::Serialize;
use time::Duration;

/// How long a device code waits for the user (RFC 8628 leaves it to the server; ten minutes is common).
pub const DEVICE_CODE_TTL_SECS: i64 = 600;
/// Consonants only: no vowels (no words), none of the look-alikes 0/O, 1/I/L… (RFC 8628 §6.1).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;
const DEVICE_CODE_PREFIX: &str = "dc";
/// The master-key context of user-code digests: 8 letters of 20 are too few for a plain hash to hide them.
const USER_CODE_MAC_CONTEXT: &str = "oidc-device-user-code";

type Answer<T> = OidcResult<T>;

/// The device authorization response (RFC 8628 §3.2).
#[derive(Debug, Clone, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// What the `/device` page shows for a code the user entered.
#[derive(Debug)]
pub enum DeviceStep {
    /// Verify a second factor first, then come back to the page.
    SecondFactor { mfa_token: String },
    /// Which service asks for what; the user approves (possibly unticking scopes) or denies.
    Confirm { user_code: String, prompt: ConsentPrompt },
}

/// `XXXX-XXXX` from 8 uniformly drawn letters of the alphabet.
fn new_user_code() -> String {
    let n = USER_CODE_ALPHABET.len();
    // The largest multiple of 20 below 256: bytes past it are redrawn, so every letter is equally likely.
    let limit = (256 / n * n) as u8;
    let mut code = String::with_capacity(USER_CODE_LEN + 1);
    while code.len() < USER_CODE_LEN + 1 {
        for b in crypto::random_bytes::<16>() {
            if b < limit && code.len() < USER_CODE_LEN + 1 {
                if code.len() == USER_CODE_LEN / 2 {
                    code.push('-');
                }
                code.push(USER_CODE_ALPHABET[usize::from(b) % n] as char);
            }
        }
    }
    code
}

/// The user code as typed, without dashes or spaces, upper case; `None` when it cannot be one of ours.
fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\u{2010}'..='\u{2015}'))
        .flat_map(char::to_uppercase)
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b))).then_some(code)
}

/// The display form `XXXX-XXXX` of a normalized code.
fn display_user_code(normalized: &str) -> String {
    format!("{}-{}", &normalized[..USER_CODE_LEN / 2], &normalized[USER_CODE_LEN / 2..])
}

/// Never more than this: whether a code exists, expired or was decided already looks the same.
fn invalid_user_code() -> CoreError {
    CoreError::invalid("invalid_user_code", "This code is invalid or has expired; check it on your device")
}

impl Services {
    fn user_code_digest(&self, normalized: &str) -> String {
        self.keys.master().mac_hex(USER_CODE_MAC_CONTEXT, normalized.as_bytes())
    }

    /// `POST /device_authorization`: an authenticated client registered for the device grant asks for codes.
    pub async fn start_device_authorization(
        &self,
        org_id: &str,
        auth: &ClientAuth,
        scope: Option<&str>,
    ) -> Answer<DeviceAuthorization> {
        let client = self.client_for_grant(org_id, auth, GRANT_DEVICE_CODE).await?;
        let scope = match requested_scopes(&client, scope) {
            Ok(scope) => scope,
            Err(e) => return Err(e.into()),
        };
        let now = self.now();
        let device_code = crypto::new_opaque_token(DEVICE_CODE_PREFIX);
        // A user code can collide with another flow's (live or long expired): draw again, a few times.
        for _ in 0..4 {
            let user_code = new_user_code();
            let normalized = normalize_user_code(&user_code).unwrap_or_default();
            let flow = DeviceFlow {
                id: ids::new_id(ids::OIDC_DEVICE_FLOW),
                org_id: org_id.to_owned(),
                client_id: client.id.clone(),
                device_code_hash: crypto::sha256_hex(&device_code),
                user_code_hash: self.user_code_digest(&normalized),
                scope: scope.clone(),
                status: FlowStatus::Pending,
                user_id: None,
                grant_id: None,
                interval_secs: POLL_INTERVAL_SECS,
                last_polled_at: None,
                expires_at: now + Duration::seconds(DEVICE_CODE_TTL_SECS),
                used_at: None,
                created_at: now,
                updated_at: now,
            };
            match self.store.insert_device_flow(&flow).await {
                Ok(()) => {}
                Err(CoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
            let verification_uri = format!("{}/device", self.issuer(org_id));
            let query =
                url::form_urlencoded::Serializer::new(String::new()).append_pair("user_code", &user_code).finish();
            return Ok(DeviceAuthorization {
                device_code,
                verification_uri_complete: format!("{verification_uri}?{query}"),
                verification_uri,
                user_code,
                expires_in: DEVICE_CODE_TTL_SECS,
                interval: POLL_INTERVAL_SECS,
            });
        }
        Err(CoreError::internal("could not draw a free user code").into())
    }

    /// The pending, unexpired flow of this organization with the code the user typed, and its client.
    async fn live_device_flow(&self, org_id: &str, typed: &str) -> Result<(DeviceFlow, OidcClient, String)> {
        let normalized = normalize_user_code(typed).ok_or_else(invalid_user_code)?;
        let flow = self.store.find_device_flow_by_user_code(&self.user_code_digest(&normalized)).await?;
        let flow = flow.ok_or_else(invalid_user_code)?;
        if flow.org_id != org_id || flow.status != FlowStatus::Pending || flow.expires_at <= self.now() {
            return Err(invalid_user_code());
        }
        let client = self.org_client(org_id, &flow.client_id).await.map_err(|_| invalid_user_code())?;
        Ok((flow, client, display_user_code(&normalized)))
    }

    /// What the `/device` page shows the signed-in user for the code they entered.
    pub async fn device_step(&self, org_id: &str, typed: &str, browser: &(User, Session)) -> Result<DeviceStep> {
        let (flow, client, user_code) = self.live_device_flow(org_id, typed).await?;
        let (user, session) = browser;
        if user.is_blocked {
            return Err(CoreError::forbidden_code("user_blocked", "This account is blocked"));
        }
        match self.step_up_before_approval(&client, &[], user, session).await? {
            Ok(Some(StepUp::SecondFactor { mfa_token })) => return Ok(DeviceStep::SecondFactor { mfa_token }),
            Ok(None) => {}
            Err(no_factor) => {
                self.answer_device_flow(&flow, &client, user, session, ConsentDecision::Deny).await?;
                return Err(no_factor);
            }
        }
        let prompt =
            ConsentPrompt { client_id: client.id.clone(), client_name: client.name.clone(), scopes: flow.scope };
        Ok(DeviceStep::Confirm { user_code, prompt })
    }

    /// The user's answer on the `/device` page for the code they entered.
    pub async fn decide_device_flow(
        &self,
        org_id: &str,
        typed: &str,
        browser: &(User, Session),
        decision: ConsentDecision,
    ) -> Result<FlowStatus> {
        let (flow, client, _) = self.live_device_flow(org_id, typed).await?;
        let (user, session) = browser;
        if user.is_blocked {
            return Err(CoreError::forbidden_code("user_blocked", "This account is blocked"));
        }
        if matches!(decision, ConsentDecision::Approve(_))
            && wants_second_factor(&client, &[])
            && !session.is_multi_factor()
        {
            return Err(second_factor_first());
        }
        self.answer_device_flow(&flow, &client, user, session, decision).await
    }

    async fn answer_device_flow(
        &self,
        flow: &DeviceFlow,
        client: &OidcClient,
        user: &User,
        session: &Session,
        decision: ConsentDecision,
    ) -> Result<FlowStatus> {
        let approval = Approval { client, user, session, requested: &flow.scope };
        let events = [types::OIDC_DEVICE_APPROVED, types::OIDC_DEVICE_DENIED];
        self.answer_approval(ApprovalKind::Device, &flow.id, approval, decision, events)
            .await?
            .ok_or_else(invalid_user_code)
    }

    /// The token endpoint's `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4–3.5).
    pub async fn device_code_grant(
        &self,
        org_id: &str,
        auth: &ClientAuth,
        device_code: Option<&str>,
        dpop: Option<&DpopKey>,
    ) -> Answer<TokenResponse> {
        let client = self.client_for_grant(org_id, auth, GRANT_DEVICE_CODE).await?;
        dpop_required(&client, dpop)?;
        let Some(code) = device_code else {
            return Err(OAuthError::new("invalid_request", "device_code is required").into());
        };
        // One of a shape never issued is as unknown as any other (RFC 8628 §3.5: invalid_grant).
        if !(code.starts_with("dc_") && code.len() < 100) {
            return Err(OAuthError::new("invalid_grant", "the device code is unknown").into());
        }
        let hash = crypto::sha256_hex(code);
        let Some(flow) = self.store.find_device_flow_by_device_code(&hash).await? else {
            return Err(OAuthError::new("invalid_grant", "the device code is unknown").into());
        };
        if flow.client_id != client.id || flow.org_id != org_id {
            return Err(OAuthError::new("invalid_grant", "the device code was issued to another client").into());
        }
        let state = PollState {
            status: flow.status,
            grant_id: flow.grant_id.clone(),
            interval_secs: flow.interval_secs,
            last_polled_at: flow.last_polled_at,
            expires_at: flow.expires_at,
            used_at: flow.used_at,
        };
        let redemption = Redemption {
            kind: ApprovalKind::Device,
            id: &flow.id,
            state,
            what: "device code",
            reuse_kind: "device_code",
        };
        self.redeem_approval(&client, redemption, dpop).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_use_the_unambiguous_alphabet_and_read_back_however_they_are_typed() {
        let code = new_user_code();
        assert_eq!(code.len(), 9, "{code}");
        assert_eq!(&code[4..5], "-");
        let normalized = normalize_user_code(&code).expect("a fresh code normalizes");
        assert_eq!(display_user_code(&normalized), code);
        assert_eq!(normalize_user_code(&code.to_lowercase().replace('-', " ")), Some(normalized.clone()));
        assert_eq!(normalize_user_code(&normalized), Some(normalized));
        assert_eq!(normalize_user_code("BCDF-GHJA"), None, "vowels are not in the alphabet");
        assert_eq!(normalize_user_code("BCDF-GHJ"), None, "too short");
        assert_ne!(new_user_code(), new_user_code());
    }
}
