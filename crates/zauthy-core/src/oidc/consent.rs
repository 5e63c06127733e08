//! The interactive part of an authorization: is the browser signed in (recently enough, with the factors the
//! client or `acr_values` demand), has the user consented to these scopes, then the code. Consent is
//! remembered per client and revocable by the user, which also revokes the client's tokens.

use super::authorize::{AuthRedirect, error_redirect};
use super::error::OAuthError;
use super::{AuthCode, AuthRequest, Consent, Grant, OidcClient};
use crate::accounts::{SignInMethod, User};
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::services::Services;
use crate::sessions::Session;
use crate::store::Repo;
use crate::{crypto, ids};
use serde_json::json;
use std::sync::Arc;
use time::Duration;

/// Single-factor and multi-factor authentication, the two `acr` values the provider issues and accepts.
pub const ACR_SINGLE_FACTOR: &str = "urn:zauthy:acr:sfa";
pub const ACR_MULTI_FACTOR: &str = "urn:zauthy:acr:mfa";
/// Codes are exchanged by the client's back end right away; a minute is plenty (RFC 6749 says at most ten).
pub const CODE_TTL: Duration = Duration::seconds(60);

/// What the browser must do next on its way through an authorization request.
#[derive(Debug)]
pub enum AuthorizationStep {
    /// Sign in first; `again` when a session exists but is too old (`max_age`) or `prompt=login` asked.
    SignIn { again: bool, login_hint: Option<String> },
    /// `prompt=select_account`: choose among the browser's signed-in accounts, or sign in with another one.
    ChooseAccount,
    /// A second factor before consent; the token goes with the code to the hosted MFA form.
    SecondFactor { mfa_token: String },
    /// Ask which scopes to share.
    Consent(ConsentPrompt),
    /// Back to the client with a code or an error.
    Finish(AuthRedirect),
}

/// The consent screen: who asks, for what; `openid` cannot be unticked, the rest can.
#[derive(Debug, Clone)]
pub struct ConsentPrompt {
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
}

/// The user's answer on the consent screen.
pub enum ConsentDecision {
    /// The scopes left ticked (`openid` is added back when it was asked for).
    Approve(Vec<String>),
    Deny,
}

fn request_gone() -> CoreError {
    CoreError::invalid(
        "authorization_request_expired",
        "This sign-in request has expired or was already used; go back to the application and start again",
    )
}

pub(crate) fn acr_of(session_amr: &[String]) -> &'static str {
    if session_amr.iter().any(|m| m == "mfa") { ACR_MULTI_FACTOR } else { ACR_SINGLE_FACTOR }
}

/// The sign-in method to resume with after a step-up second factor, from the session's `amr`.
fn first_factor_of(session: &Session) -> SignInMethod {
    let has = |m: &str| session.amr.iter().any(|a| a == m);
    if has("sms") {
        SignInMethod::SmsOtp
    } else if has("otp") && has("email") {
        SignInMethod::EmailOtp
    } else if has("email") {
        SignInMethod::MagicLink
    } else {
        SignInMethod::Password
    }
}

impl Services {
    /// The pending request `request_id` and its client (through the node's cache, as at `authorize`).
    async fn live_request(&self, org_id: &str, request_id: &str) -> Result<(AuthRequest, Arc<OidcClient>)> {
        if !request_id.starts_with("areq_") || request_id.len() > 100 {
            return Err(request_gone());
        }
        let request = self.store.find_auth_request(request_id).await?.ok_or_else(request_gone)?;
        if request.org_id != org_id || request.used_at.is_some() || request.expires_at <= self.now() {
            return Err(request_gone());
        }
        match self.cached_oidc_client(&request.client_id).await? {
            Some((client, _)) if client.org_id == org_id => Ok((request, client)),
            _ => Err(request_gone()),
        }
    }

    fn finish_with_error(&self, request: &AuthRequest, error: &'static str, description: &str) -> AuthorizationStep {
        let p = &request.params;
        AuthorizationStep::Finish(error_redirect(
            &self.issuer(&request.org_id),
            &p.redirect_uri,
            p.response_mode == "form_post",
            p.state.as_deref(),
            OAuthError::new(error, description),
        ))
    }

    /// Where the browser stands on request `request_id`, given its signed-in user (if any).
    pub async fn authorization_step(
        &self,
        org_id: &str,
        request_id: &str,
        browser: Option<&(User, Session)>,
        account_chosen: bool,
    ) -> Result<AuthorizationStep> {
        let (request, client) = self.live_request(org_id, request_id).await?;
        let p = &request.params;
        let silent = p.prompt.iter().any(|v| v == "none");
        // A login_hint_token's approving session stands in for this browser's (secondary-device flow).
        let hinted = match &p.hinted_session {
            Some(session_id) => self.hinted_identity(org_id, session_id).await?,
            None => None,
        };
        if p.hinted_session.is_some() && hinted.is_none() {
            return Ok(self.finish_with_error(&request, "login_required", "the approving session has ended"));
        }
        let browser = hinted.as_ref().or(browser);
        let Some((user, session)) = browser else {
            if silent {
                return Ok(self.finish_with_error(&request, "login_required", "the user is not signed in"));
            }
            return Ok(AuthorizationStep::SignIn { again: false, login_hint: p.login_hint.clone() });
        };
        let now = self.now();
        // A sign-in made during this request is the re-authentication `max_age` asks for, however short:
        // otherwise `max_age=0` (OIDC Core 3.1.2.1: "equivalent to prompt=login") could never be met.
        let signed_in_before = session.created_at < request.created_at;
        let too_old =
            signed_in_before && p.max_age.is_some_and(|max| now - session.created_at > Duration::seconds(max));
        // A sign-in made during this request chose its account; so did a choice on the chooser.
        if p.prompt.iter().any(|v| v == "select_account")
            && !account_chosen
            && signed_in_before
            && p.hinted_session.is_none()
        {
            return Ok(AuthorizationStep::ChooseAccount);
        }
        let forced = p.prompt.iter().any(|v| v == "login") && signed_in_before && p.hinted_session.is_none();
        if too_old || forced {
            if silent {
                return Ok(self.finish_with_error(&request, "login_required", "the sign-in is older than max_age"));
            }
            return Ok(AuthorizationStep::SignIn { again: true, login_hint: p.login_hint.clone() });
        }
        if user.is_blocked {
            return Ok(self.finish_with_error(&request, "access_denied", "this account is blocked"));
        }
        let wants_mfa = client.require_mfa || p.acr_values.iter().any(|a| a == ACR_MULTI_FACTOR);
        if wants_mfa && !session.is_multi_factor() {
            if silent {
                return Ok(self.finish_with_error(&request, "interaction_required", "a second factor is required"));
            }
            if p.hinted_session.is_some() {
                let e = "a second factor is required; approve again with it";
                return Ok(self.finish_with_error(&request, "interaction_required", e));
            }
            return Ok(match self.start_step_up(user, session).await? {
                Some(mfa_token) => AuthorizationStep::SecondFactor { mfa_token },
                None => self.finish_with_error(
                    &request,
                    "access_denied",
                    "this service requires a second factor and the user has none set up",
                ),
            });
        }
        let remembered = self.store.find_consent(&user.id, &client.id).await?;
        let covered = remembered.is_some_and(|c| p.scope.iter().all(|s| c.scope.contains(s)));
        if !covered || p.prompt.iter().any(|v| v == "consent") {
            if silent {
                return Ok(self.finish_with_error(&request, "consent_required", "the user has not consented"));
            }
            return Ok(AuthorizationStep::Consent(ConsentPrompt {
                client_id: client.id.clone(),
                client_name: client.name.clone(),
                scopes: p.scope.clone(),
            }));
        }
        // Covered by the remembered consent: nothing was asked, so the consent stays as it is.
        let redirect = self.issue_code(&request, &client, user, session, p.scope.clone(), false).await?;
        Ok(AuthorizationStep::Finish(redirect))
    }

    /// A second factor for a signed-in user whose session lacks one: the `mfa_token` for the hosted code
    /// form (which opens a multi-factor session in place of this one), or `None` when the user has no second
    /// factor set up.
    pub async fn start_step_up(&self, user: &User, session: &Session) -> Result<Option<String>> {
        let tx = self.store.begin().await?;
        let first_factor = first_factor_of(session);
        let challenge = self.start_mfa_challenge(&*tx, user, first_factor, Some(&session.id), self.now()).await?;
        tx.commit().await?;
        Ok(match challenge {
            Some(crate::accounts::LoginOutcome::MfaRequired { mfa_token, .. }) => Some(mfa_token),
            _ => None,
        })
    }

    /// The user and live session behind a spent `login_hint_token`.
    async fn hinted_identity(&self, org_id: &str, session_id: &str) -> Result<Option<(User, Session)>> {
        let Some(session) = self.store.find_session(session_id).await? else {
            return Ok(None);
        };
        if session.org_id != org_id || !session.is_active(self.now()) {
            return Ok(None);
        }
        let user = self.store.find_user(org_id, &session.user_id).await?.map(|f| f.user);
        Ok(user.map(|u| (u, session)))
    }

    /// The answer on the consent screen. Only a request that is at its consent step can be decided.
    pub async fn decide_consent(
        &self,
        org_id: &str,
        request_id: &str,
        browser: &(User, Session),
        decision: ConsentDecision,
    ) -> Result<AuthRedirect> {
        // Deciding comes after the chooser (if any): the browser's account is the chosen one.
        let step = self.authorization_step(org_id, request_id, Some(browser), true).await?;
        let AuthorizationStep::Consent(_) = step else {
            return match step {
                AuthorizationStep::Finish(redirect) => Ok(redirect),
                _ => Err(request_gone()),
            };
        };
        let (request, client) = self.live_request(org_id, request_id).await?;
        let (user, session) = browser;
        let chosen = match decision {
            ConsentDecision::Deny => {
                if !self.store.spend_auth_request(&request.id, self.now()).await? {
                    return Err(request_gone());
                }
                return match self.finish_with_error(&request, "access_denied", "the user declined") {
                    AuthorizationStep::Finish(r) => Ok(r),
                    _ => Err(request_gone()),
                };
            }
            ConsentDecision::Approve(chosen) => chosen,
        };
        let granted: Vec<String> =
            request.params.scope.iter().filter(|s| *s == "openid" || chosen.contains(s)).cloned().collect();
        self.issue_code(&request, &client, user, session, granted, true).await
    }

    /// Spends the request and makes the grant and its code, in one transaction; when the user `decided` on the
    /// consent page, their decision is remembered in the same transaction.
    async fn issue_code(
        &self,
        request: &AuthRequest,
        client: &OidcClient,
        user: &User,
        session: &Session,
        granted: Vec<String>,
        decided: bool,
    ) -> Result<AuthRedirect> {
        let now = self.now();
        let p = &request.params;
        let tx = self.store.begin().await?;
        if !tx.spend_auth_request(&request.id, now).await? {
            return Err(request_gone());
        }
        if decided {
            self.remember_consent(&*tx, user, client, &p.scope, &granted).await?;
        }
        let grant = Grant {
            id: ids::new_id(ids::OIDC_GRANT),
            org_id: request.org_id.clone(),
            client_id: client.id.clone(),
            user_id: user.id.clone(),
            session_id: Some(session.sid.clone()),
            scope: granted,
            claims: p.claims.clone(),
            nonce: p.nonce.clone(),
            auth_time: session.created_at,
            amr: session.amr.clone(),
            acr: acr_of(&session.amr).to_owned(),
            revoked_at: None,
            created_at: now,
        };
        tx.insert_grant(&grant).await?;
        let code = crypto::new_opaque_token("ac");
        let record = AuthCode {
            hash: crypto::sha256_hex(&code),
            grant_id: grant.id.clone(),
            redirect_uri: p.redirect_uri.clone(),
            code_challenge: p.code_challenge.clone(),
            dpop_jkt: p.dpop_jkt.clone(),
            expires_at: now + CODE_TTL,
            used_at: None,
            created_at: now,
        };
        tx.insert_auth_code(&record).await?;
        tx.commit().await?;
        self.cache.codes.keep(record, Arc::new(grant));
        let mut params = vec![("code", code)];
        if let Some(state) = &p.state {
            params.push(("state", state.clone()));
        }
        params.push(("iss", self.issuer(&request.org_id)));
        Ok(AuthRedirect { redirect_uri: p.redirect_uri.clone(), form_post: p.response_mode == "form_post", params })
    }

    /// Remembers what the user decided when `offered` these scopes and left `granted` ticked: the granted ones,
    /// plus those consented to earlier that were not offered this time, so a narrower request never shrinks
    /// the consent (and an unticked scope leaves it). Writes nothing when that changes nothing.
    pub(super) async fn remember_consent(
        &self,
        repo: &dyn Repo,
        user: &User,
        client: &OidcClient,
        offered: &[String],
        granted: &[String],
    ) -> Result<()> {
        let previous = repo.find_consent(&user.id, &client.id).await?;
        let mut scope: Vec<String> =
            previous.iter().flat_map(|c| &c.scope).filter(|s| !offered.contains(s)).cloned().collect();
        for s in granted {
            if !scope.contains(s) {
                scope.push(s.clone());
            }
        }
        if previous.as_ref().is_some_and(|c| c.scope.len() == scope.len() && scope.iter().all(|s| c.scope.contains(s)))
        {
            return Ok(());
        }
        let now = self.now();
        let (id, created_at) =
            previous.map(|c| (c.id, c.created_at)).unwrap_or_else(|| (ids::new_id(ids::OIDC_CONSENT), now));
        repo.insert_event(&Event::new(
            &user.org_id,
            types::OIDC_CONSENT_GRANTED,
            Some(&user.id),
            json!({"user_id": user.id, "client_id": client.id, "scopes": scope}),
            now,
        ))
        .await?;
        repo.save_consent(&Consent {
            id,
            org_id: user.org_id.clone(),
            user_id: user.id.clone(),
            client_id: client.id.clone(),
            scope,
            created_at,
            updated_at: now,
        })
        .await
    }

    /// The signed-in user's remembered consents, each with the client's name.
    pub async fn list_consents(&self, actor: &Actor) -> Result<Vec<(Consent, String)>> {
        let (org_id, user_id, _) = actor.require_user()?;
        let mut out = Vec::new();
        for consent in self.store.list_consents(org_id, user_id).await? {
            let name = self.org_client(org_id, &consent.client_id).await.map(|c| c.name).unwrap_or_default();
            out.push((consent, name));
        }
        Ok(out)
    }

    /// Withdraws the signed-in user's consent to a client and revokes every token the client holds for them.
    pub async fn revoke_consent(&self, actor: &Actor, client_id: &str) -> Result<()> {
        let (org_id, user_id, _) = actor.require_user()?;
        let now = self.now();
        let tx = self.store.begin().await?;
        if !tx.delete_consent(org_id, user_id, client_id).await? {
            return Err(CoreError::NotFound { entity: "consent" });
        }
        let revoked = tx.revoke_client_grants(user_id, client_id, now).await?;
        tx.insert_event(&Event::new(
            org_id,
            types::OIDC_CONSENT_REVOKED,
            Some(user_id),
            json!({"user_id": user_id, "client_id": client_id, "grants_revoked": revoked}),
            now,
        ))
        .await?;
        tx.commit().await?;
        self.cache.invalidate();
        Ok(())
    }
}
