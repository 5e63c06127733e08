//! Client-initiated backchannel authentication (OpenID CIBA Core 1.0), poll mode: a confidential client names
//! a user (`login_hint`, their email) at `/bc-authorize`; the request waits on the user's hosted `/approvals`
//! page (and an email tells them so) until they approve or deny there, signed in; the client polls the token
//! endpoint with its `auth_req_id`, which is kept only as a SHA-256.

use super::error::{OAuthError, OidcResult};
use super::polling::{Approval, POLL_INTERVAL_SECS, PollState, Redemption, StepUp, requested_scopes};
use super::store::{ApprovalKind, BackchannelRequest, FlowStatus};
use super::token::{ClientAuth, TokenResponse, dpop_required};
use super::{ClientType, ConsentDecision, DpopKey, GRANT_CIBA, OidcClient};
use crate::accounts::{Email, User};
use crate::error::{CoreError, Result};
use crate::events::types;
use crate::outbox::{EmailMessage, OutboxMessage};
use crate::services::Services;
use crate::sessions::Session;
use crate::{crypto, ids};
use serde::Serialize;
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};

/// How long a request waits for the user unless the client asks for less (`requested_expiry`).
pub const BACKCHANNEL_TTL_SECS: i64 = 300;
/// The longest `requested_expiry` accepted.
pub const BACKCHANNEL_MAX_TTL_SECS: i64 = 600;
const AUTH_REQ_ID_PREFIX: &str = "bcr";
/// A binding message is shown on a phone screen: short text, no markup, no control characters.
const BINDING_MESSAGE_MAX: usize = 100;

type Answer<T> = OidcResult<T>;

/// The successful authentication request response (CIBA Core §7.3).
#[derive(Debug, Clone, Serialize)]
pub struct BackchannelStarted {
    pub auth_req_id: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// A request waiting on the signed-in user's approvals page.
#[derive(Debug, Clone)]
pub struct PendingApproval {
    pub id: String,
    pub client_name: String,
    pub binding_message: Option<String>,
    pub scopes: Vec<String>,
    pub expires_at: OffsetDateTime,
}

/// Where an answer on the approvals page led.
#[derive(Debug)]
pub enum ApprovalStep {
    Decided(FlowStatus),
    /// Verify a second factor first, then approve again.
    SecondFactor {
        mfa_token: String,
    },
}

fn bad(error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError::new(error, description)
}

fn request_gone() -> CoreError {
    CoreError::invalid(
        "approval_request_expired",
        "This request has expired or was already answered; the application can ask again",
    )
}

fn backchannel_email(to: &str, org_name: &str, client_name: &str, binding: Option<&str>, url: &str) -> EmailMessage {
    let binding = binding.map(|b| format!("It shows this message: {b}\r\n\r\n")).unwrap_or_default();
    EmailMessage {
        to: to.to_owned(),
        subject: format!("{client_name} asks to sign you in with {org_name}"),
        text: format!(
            "{client_name} asks to sign you in with your {org_name} account.\r\n\r\n{binding}\
             To approve or deny, open:\r\n{url}\r\n\r\n\
             If you did not start this, deny it: nothing is shared unless you approve.\r\n"
        ),
    }
}

impl Services {
    /// `POST /bc-authorize` (CIBA Core §7): validates the request, finds the user, keeps the request and tells
    /// the user. Only `login_hint` (the user's email) identifies the user.
    pub async fn backchannel_authorize(
        &self,
        org_id: &str,
        auth: &ClientAuth,
        p: &HashMap<String, String>,
    ) -> Answer<BackchannelStarted> {
        let client = self.client_for_grant(org_id, auth, GRANT_CIBA).await?;
        if client.client_type != ClientType::Confidential {
            return Err(bad("unauthorized_client", "backchannel authentication needs a confidential client").into());
        }
        let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
        if get("request").is_some() {
            return Err(bad("invalid_request", "signed authentication requests are not supported").into());
        }
        let scope = match requested_scopes(&client, get("scope")) {
            Ok(scope) if scope.iter().any(|s| s == "openid") => scope,
            Ok(_) => return Err(bad("invalid_scope", "scope must include openid").into()),
            Err(e) => return Err(e.into()),
        };
        let hints = ["login_hint", "login_hint_token", "id_token_hint"].map(|h| get(h).is_some());
        let login_hint = match hints {
            [true, false, false] => get("login_hint").unwrap_or_default(),
            [false, false, false] => return Err(bad("invalid_request", "login_hint is required").into()),
            [false, _, _] => {
                return Err(bad("invalid_request", "only login_hint (the user's email) is supported").into());
            }
            _ => {
                return Err(
                    bad("invalid_request", "give exactly one of login_hint, login_hint_token, id_token_hint").into()
                );
            }
        };
        let binding_message = get("binding_message").map(str::trim).filter(|m| !m.is_empty());
        if binding_message.is_some_and(|m| m.chars().count() > BINDING_MESSAGE_MAX || m.chars().any(char::is_control)) {
            return Err(bad(
                "invalid_binding_message",
                format!("binding_message must be at most {BINDING_MESSAGE_MAX} characters of plain text"),
            )
            .into());
        }
        let ttl = match get("requested_expiry") {
            None => BACKCHANNEL_TTL_SECS,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (1..=BACKCHANNEL_MAX_TTL_SECS).contains(&n) => n,
                _ => {
                    return Err(bad(
                        "invalid_request",
                        format!(
                            "requested_expiry must be a whole number of seconds from 1 to {BACKCHANNEL_MAX_TTL_SECS}"
                        ),
                    )
                    .into());
                }
            },
        };
        let acr_values: Vec<String> =
            get("acr_values").unwrap_or("").split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        // CIBA requires telling the client that a hint matches no user (`unknown_user_id`), so this endpoint
        // answers whether an email has an account. It is limited to authenticated confidential clients the
        // organization registered for CIBA, and counts against the organization's auth rate limit.
        let found = match Email::parse(login_hint) {
            Ok(email) => self.store.find_user_by_email(org_id, &email).await?,
            Err(_) => None,
        };
        let Some(found) = found else {
            return Err(bad("unknown_user_id", "login_hint does not name a user of this organization").into());
        };
        let user = found.user;
        if user.is_blocked {
            return Err(bad("access_denied", "this account is blocked").into());
        }
        let now = self.now();
        let auth_req_id = crypto::new_opaque_token(AUTH_REQ_ID_PREFIX);
        let request = BackchannelRequest {
            id: ids::new_id(ids::OIDC_BACKCHANNEL_REQUEST),
            org_id: org_id.to_owned(),
            client_id: client.id.clone(),
            user_id: user.id.clone(),
            auth_req_id_hash: crypto::sha256_hex(&auth_req_id),
            scope,
            acr_values,
            binding_message: binding_message.map(str::to_owned),
            status: FlowStatus::Pending,
            grant_id: None,
            interval_secs: POLL_INTERVAL_SECS,
            last_polled_at: None,
            expires_at: now + Duration::seconds(ttl),
            used_at: None,
            created_at: now,
            updated_at: now,
        };
        let org_name = self.store.find_org(org_id).await?.map(|o| o.name).unwrap_or_default();
        let url = format!("{}/approvals", self.issuer(org_id));
        let message = backchannel_email(user.email.as_str(), &org_name, &client.name, binding_message, &url);
        let tx = self.store.begin().await?;
        tx.insert_backchannel_request(&request).await?;
        self.queue_message(&*tx, OutboxMessage::email(Some(org_id), &message, now)).await?;
        tx.commit().await?;
        self.wake_outbox();
        Ok(BackchannelStarted { auth_req_id, expires_in: ttl, interval: POLL_INTERVAL_SECS })
    }

    /// The requests waiting for the signed-in user, oldest first.
    pub async fn pending_approvals(&self, org_id: &str, user: &User) -> Result<Vec<PendingApproval>> {
        let mut out = Vec::new();
        for r in self.store.list_pending_backchannel_requests(org_id, &user.id, self.now()).await? {
            let client_name = self.org_client(org_id, &r.client_id).await.map(|c| c.name).unwrap_or_default();
            out.push(PendingApproval {
                id: r.id,
                client_name,
                binding_message: r.binding_message,
                scopes: r.scope,
                expires_at: r.expires_at,
            });
        }
        Ok(out)
    }

    /// The signed-in user's answer to one of their pending requests. Approving may first need a second factor.
    pub async fn decide_backchannel(
        &self,
        org_id: &str,
        request_id: &str,
        browser: &(User, Session),
        decision: ConsentDecision,
    ) -> Result<ApprovalStep> {
        let (user, session) = browser;
        if !ids::is_valid_id(ids::OIDC_BACKCHANNEL_REQUEST, request_id) {
            return Err(request_gone());
        }
        let request = self.store.find_backchannel_request(request_id).await?.ok_or_else(request_gone)?;
        if request.org_id != org_id
            || request.user_id != user.id
            || request.status != FlowStatus::Pending
            || request.expires_at <= self.now()
        {
            return Err(request_gone());
        }
        let client = self.org_client(org_id, &request.client_id).await.map_err(|_| request_gone())?;
        if user.is_blocked {
            return Err(CoreError::forbidden_code("user_blocked", "This account is blocked"));
        }
        if let ConsentDecision::Approve(_) = decision {
            match self.step_up_before_approval(&client, &request.acr_values, user, session).await? {
                Ok(Some(StepUp::SecondFactor { mfa_token })) => return Ok(ApprovalStep::SecondFactor { mfa_token }),
                Ok(None) => {}
                Err(no_factor) => {
                    self.answer_backchannel(&request, &client, user, session, ConsentDecision::Deny).await?;
                    return Err(no_factor);
                }
            }
        }
        let status = self.answer_backchannel(&request, &client, user, session, decision).await?;
        Ok(ApprovalStep::Decided(status))
    }

    async fn answer_backchannel(
        &self,
        request: &BackchannelRequest,
        client: &OidcClient,
        user: &User,
        session: &Session,
        decision: ConsentDecision,
    ) -> Result<FlowStatus> {
        let approval = Approval { client, user, session, requested: &request.scope };
        let events = [types::OIDC_BACKCHANNEL_APPROVED, types::OIDC_BACKCHANNEL_DENIED];
        self.answer_approval(ApprovalKind::Backchannel, &request.id, approval, decision, events)
            .await?
            .ok_or_else(request_gone)
    }

    /// The token endpoint's `urn:openid:params:grant-type:ciba` (CIBA Core §10.1, poll mode).
    pub async fn ciba_grant(
        &self,
        org_id: &str,
        auth: &ClientAuth,
        auth_req_id: Option<&str>,
        dpop: Option<&DpopKey>,
    ) -> Answer<TokenResponse> {
        let client = self.client_for_grant(org_id, auth, GRANT_CIBA).await?;
        dpop_required(&client, dpop)?;
        let Some(id) = auth_req_id else {
            return Err(bad("invalid_request", "auth_req_id is required").into());
        };
        // One of a shape never issued is as unknown as any other (CIBA Core §11: invalid_grant).
        if !(id.starts_with("bcr_") && id.len() < 100) {
            return Err(bad("invalid_grant", "the auth_req_id is unknown").into());
        }
        let Some(request) = self.store.find_backchannel_request_by_auth_req_id(&crypto::sha256_hex(id)).await? else {
            return Err(bad("invalid_grant", "the auth_req_id is unknown").into());
        };
        if request.client_id != client.id || request.org_id != org_id {
            return Err(bad("invalid_grant", "the auth_req_id was issued to another client").into());
        }
        let state = PollState {
            status: request.status,
            grant_id: request.grant_id.clone(),
            interval_secs: request.interval_secs,
            last_polled_at: request.last_polled_at,
            expires_at: request.expires_at,
            used_at: request.used_at,
        };
        let redemption = Redemption {
            kind: ApprovalKind::Backchannel,
            id: &request.id,
            state,
            what: "auth_req_id",
            reuse_kind: "auth_req_id",
        };
        self.redeem_approval(&client, redemption, dpop).await
    }
}
