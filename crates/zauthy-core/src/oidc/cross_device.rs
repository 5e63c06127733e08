//! The secondary-device flow (seed 001): a laptop shows a QR code and a numeric code; the user, signed in
//! on their phone, enters or scans it, sees which service asks for what, and approves (with a second factor
//! when the client or the organization demands one). The laptop, polling, then goes back to the client with
//! a `login_hint_token`: single use, two minutes, bound to that client, which `/authorize` accepts in place
//! of a sign-in. A laptop marked trusted skips the code: the request appears on the phone's approval list.

use super::authorize::AuthRedirect;
use super::store::{CrossDeviceRequest, CrossDeviceStatus};
use super::{OidcClient, SCOPES};
use crate::accounts::User;
use crate::error::{CoreError, Result};
use crate::services::Services;
use crate::sessions::Session;
use crate::{crypto, ids};
use time::{Duration, OffsetDateTime};

/// How long the laptop waits for the phone.
pub const CROSS_DEVICE_TTL: Duration = Duration::minutes(5);
/// How long a `login_hint_token` waits for `/authorize`.
pub const LOGIN_HINT_TTL: Duration = Duration::minutes(2);
/// How long a browser stays trusted.
pub const TRUSTED_BROWSER_TTL: Duration = Duration::days(90);
pub const LOGIN_HINT_PREFIX: &str = "lht";

/// What the laptop page needs: the request, the code to show and the cookie secret.
pub struct StartedCrossDevice {
    pub request: CrossDeviceRequest,
    pub code: String,
    pub poll_secret: String,
}

/// What the phone's approval page shows.
#[derive(Debug, Clone)]
pub struct ApprovalView {
    pub request_id: String,
    pub client_name: String,
    pub scope: Vec<String>,
    pub created_at: OffsetDateTime,
    /// Only notified (phone number), not yet reached with the code: the phone must ask for the code first.
    pub needs_code: bool,
}

/// Where the laptop goes when the phone has answered.
pub enum CrossDeviceOutcome {
    Pending,
    /// Back to the client; `trust` carries the new trusted-browser token to set as a cookie.
    Done {
        redirect: AuthRedirect,
        trust: Option<String>,
    },
    Expired,
}

fn gone() -> CoreError {
    CoreError::invalid("cross_device_request_expired", "This request has expired or was answered; start again")
}

fn wrong_code() -> CoreError {
    CoreError::invalid("invalid_user_code", "That code is not valid or has expired")
}

/// Eight digits, shown as 1234-5678.
fn numeric_code() -> String {
    let bytes = crypto::random_bytes::<8>();
    let n = u64::from_be_bytes(bytes) % 100_000_000;
    format!("{n:08}")
}

/// The code as typed: digits only.
pub fn normalize_code(raw: &str) -> String {
    raw.chars().filter(char::is_ascii_digit).collect()
}

impl Services {
    fn cross_device_code_hash(&self, org_id: &str, code: &str) -> String {
        self.keys.mac_hex("cross_device_code", format!("{org_id}:{code}").as_bytes())
    }

    /// The laptop opens the hosted discovery page: the client and exact redirect URI must be registered.
    /// A trusted-browser token (its cookie) targets the request at that user.
    pub async fn start_cross_device(
        &self,
        org_id: &str,
        client_id: &str,
        redirect_uri: &str,
        state: Option<&str>,
        scope: Option<&str>,
        trusted: Option<&str>,
    ) -> Result<StartedCrossDevice> {
        let client = self
            .org_client(org_id, client_id)
            .await
            .map_err(|_| CoreError::invalid("invalid_client", "client_id is unknown for this organization"))?;
        if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
            return Err(CoreError::invalid("invalid_redirect_uri", "redirect_uri is not registered for this client"));
        }
        let mut wanted: Vec<String> = Vec::new();
        for s in scope.unwrap_or("openid").split(' ').filter(|s| !s.is_empty()) {
            if !SCOPES.contains(&s) || !client.allowed_scopes.iter().any(|a| a == s) {
                return Err(CoreError::invalid("invalid_scope", format!("scope {s:?} is not allowed for this client")));
            }
            if !wanted.iter().any(|w| w == s) {
                wanted.push(s.to_owned());
            }
        }
        let now = self.now();
        let target_user_id = match trusted {
            Some(token) => self
                .store
                .find_trusted_browser(&crypto::sha256_hex(token), now)
                .await?
                .filter(|(org, _)| org == org_id)
                .map(|(_, user)| user),
            None => None,
        };
        let code = numeric_code();
        let poll_secret = crypto::new_opaque_token("xdp");
        let request = CrossDeviceRequest {
            id: ids::new_id(ids::CROSS_DEVICE),
            org_id: org_id.to_owned(),
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            state: state.map(str::to_owned),
            scope: wanted,
            code_hash: self.cross_device_code_hash(org_id, &code),
            poll_hash: crypto::sha256_hex(&poll_secret),
            target_user_id,
            notified_user_id: None,
            status: CrossDeviceStatus::Pending,
            user_id: None,
            session_id: None,
            approved_scope: Vec::new(),
            trust_browser: false,
            hint_hash: None,
            hint_used_at: None,
            hint_expires_at: None,
            expires_at: now + CROSS_DEVICE_TTL,
            created_at: now,
        };
        self.store.insert_cross_device(&request).await?;
        Ok(StartedCrossDevice { request, code, poll_secret })
    }

    /// The laptop typed a phone number: when it belongs to a user, the request is listed on their phone, to be
    /// approved with the laptop's code. The answer is the same either way (no enumeration).
    pub async fn target_cross_device_by_phone(&self, org_id: &str, poll_secret: &str, phone: &str) -> Result<()> {
        let request = self.polled_request(org_id, poll_secret).await?;
        let Ok(phone) = crate::accounts::parse_phone(phone) else {
            return Ok(());
        };
        let users = self.store.find_users_by_phone(org_id, &phone, 2).await?;
        if let [user] = users.as_slice() {
            self.store.notify_cross_device(&request.id, &user.id, self.now()).await?;
        }
        Ok(())
    }

    async fn polled_request(&self, org_id: &str, poll_secret: &str) -> Result<CrossDeviceRequest> {
        let request = self.store.find_cross_device_by_poll(&crypto::sha256_hex(poll_secret)).await?.ok_or_else(gone)?;
        if request.org_id != org_id {
            return Err(gone());
        }
        Ok(request)
    }

    /// The phone: the pending request behind a typed or scanned code. The code proves the user is looking at
    /// that laptop, so the request becomes theirs to answer (and the step-up second factor can come back to it
    /// by id); a request another user has already claimed is not found.
    pub async fn cross_device_by_code(&self, org_id: &str, code: &str, user: &User) -> Result<ApprovalView> {
        let code = normalize_code(code);
        if code.len() != 8 {
            return Err(wrong_code());
        }
        let request = self.store.find_cross_device_by_code(org_id, &self.cross_device_code_hash(org_id, &code)).await?;
        let request = request.filter(|r| r.status == CrossDeviceStatus::Pending && r.expires_at > self.now());
        let mut request = request.ok_or_else(wrong_code)?;
        if request.target_user_id.is_none() && self.store.target_cross_device(&request.id, &user.id, self.now()).await?
        {
            request.target_user_id = Some(user.id.clone());
        }
        if request.target_user_id.as_deref() != Some(&user.id) {
            return Err(wrong_code());
        }
        self.approval_view(request).await
    }

    /// The phone: a pending request listed for this user (trusted laptop, reached with its code, or notified
    /// by phone number; the last one with `needs_code`).
    pub async fn cross_device_for_user(&self, org_id: &str, user: &User, request_id: &str) -> Result<ApprovalView> {
        let request = self.store.find_cross_device(request_id).await?.filter(|r| {
            r.org_id == org_id
                && (r.target_user_id.as_deref() == Some(&user.id)
                    || (r.target_user_id.is_none() && r.notified_user_id.as_deref() == Some(&user.id)))
                && r.status == CrossDeviceStatus::Pending
                && r.expires_at > self.now()
        });
        self.approval_view(request.ok_or_else(gone)?).await
    }

    /// A client of any organization (carrier discovery starts from the client alone).
    pub async fn find_client_anywhere(&self, client_id: &str) -> Result<Option<OidcClient>> {
        if !ids::is_valid_id(ids::OIDC_CLIENT, client_id) {
            return Ok(None);
        }
        Ok(self.store.find_oidc_client(client_id).await?.map(|(c, _)| c))
    }

    /// The pending requests listed for the signed-in user.
    pub async fn pending_cross_device(&self, org_id: &str, user: &User) -> Result<Vec<ApprovalView>> {
        let mut out = Vec::new();
        for r in self.store.list_cross_device_for_user(org_id, &user.id, self.now()).await? {
            // Notified, but another user has since claimed it with the code: not theirs any more.
            if r.target_user_id.as_ref().is_none_or(|t| *t == user.id) {
                out.push(self.approval_view(r).await?);
            }
        }
        Ok(out)
    }

    async fn approval_view(&self, r: CrossDeviceRequest) -> Result<ApprovalView> {
        let client = self.org_client(&r.org_id, &r.client_id).await.map_err(|_| gone())?;
        Ok(ApprovalView {
            needs_code: r.target_user_id.is_none(),
            request_id: r.id,
            client_name: client.name,
            scope: r.scope,
            created_at: r.created_at,
        })
    }

    /// Whether approving for `client_id` needs a second factor this session does not have.
    pub async fn cross_device_needs_mfa(&self, org_id: &str, request_id: &str, session: &Session) -> Result<bool> {
        let request =
            self.store.find_cross_device(request_id).await?.filter(|r| r.org_id == org_id).ok_or_else(gone)?;
        let client = self.org_client(org_id, &request.client_id).await.map_err(|_| gone())?;
        let org = self.org_settings(org_id).await?;
        Ok((client.require_mfa || org.approval_requires_mfa) && !session.is_multi_factor())
    }

    /// The phone's answer. Approving remembers consent for the scopes left ticked, so the client's
    /// `/authorize` with the `login_hint_token` goes straight through.
    pub async fn answer_cross_device(
        &self,
        org_id: &str,
        request_id: &str,
        signed_in: &(User, Session),
        approve: Option<(Vec<String>, bool)>,
    ) -> Result<()> {
        let (user, session) = signed_in;
        let now = self.now();
        let request = self.store.find_cross_device(request_id).await?.filter(|r| {
            r.org_id == org_id
                && r.status == CrossDeviceStatus::Pending
                && r.expires_at > now
                // Trusted by this user, or reached by them with the code: never just by knowing the id.
                && r.target_user_id.as_deref() == Some(&user.id)
        });
        let request = request.ok_or_else(gone)?;
        if approve.is_some() && self.cross_device_needs_mfa(org_id, request_id, session).await? {
            return Err(CoreError::forbidden_code("mfa_required", "Confirm with your second factor first"));
        }
        let client: OidcClient = self.org_client(org_id, &request.client_id).await.map_err(|_| gone())?;
        let tx = self.store.begin().await?;
        let answered = match &approve {
            Some((chosen, trust)) => {
                let granted: Vec<String> =
                    request.scope.iter().filter(|s| *s == "openid" || chosen.contains(s)).cloned().collect();
                self.remember_consent(&*tx, user, &client, &request.scope, &granted).await?;
                tx.answer_cross_device(
                    &request.id,
                    CrossDeviceStatus::Approved,
                    &user.id,
                    &session.id,
                    &granted,
                    *trust,
                    now,
                )
                .await?
            }
            None => {
                tx.answer_cross_device(&request.id, CrossDeviceStatus::Denied, &user.id, &session.id, &[], false, now)
                    .await?
            }
        };
        if !answered {
            return Err(gone());
        }
        tx.commit().await
    }

    /// The laptop asks how it stands; once answered, the approved request yields the `login_hint_token`
    /// (issued once) and the way back to the client.
    pub async fn cross_device_outcome(
        &self,
        org_id: &str,
        poll_secret: &str,
        finish: bool,
    ) -> Result<CrossDeviceOutcome> {
        let request = self.polled_request(org_id, poll_secret).await?;
        let now = self.now();
        let back = |params: Vec<(&'static str, String)>| {
            let mut params = params;
            if let Some(state) = &request.state {
                params.push(("state", state.clone()));
            }
            AuthRedirect { redirect_uri: request.redirect_uri.clone(), form_post: false, params }
        };
        match request.status {
            CrossDeviceStatus::Pending if request.expires_at <= now => Ok(CrossDeviceOutcome::Expired),
            CrossDeviceStatus::Pending => Ok(CrossDeviceOutcome::Pending),
            _ if !finish => Ok(CrossDeviceOutcome::Done { redirect: back(vec![]), trust: None }),
            CrossDeviceStatus::Denied => Ok(CrossDeviceOutcome::Done {
                redirect: back(vec![
                    ("error", "access_denied".into()),
                    ("error_description", "the user declined".into()),
                ]),
                trust: None,
            }),
            CrossDeviceStatus::Approved => {
                if request.hint_hash.is_some() {
                    return Err(gone());
                }
                let token = crypto::new_opaque_token(LOGIN_HINT_PREFIX);
                let trust = match (request.trust_browser, &request.user_id) {
                    (true, Some(_)) => Some(crypto::new_opaque_token("tb")),
                    _ => None,
                };
                let tx = self.store.begin().await?;
                if !tx.issue_login_hint(&request.id, &crypto::sha256_hex(&token), now + LOGIN_HINT_TTL, now).await? {
                    return Err(gone());
                }
                if let (Some(t), Some(user_id)) = (&trust, &request.user_id) {
                    tx.insert_trusted_browser(&crypto::sha256_hex(t), org_id, user_id, now + TRUSTED_BROWSER_TTL, now)
                        .await?;
                }
                tx.commit().await?;
                let mut params = vec![("login_hint_token", token)];
                let org = self.org_settings(org_id).await?;
                if let Some(mccmnc) = org.mccmnc.first() {
                    params.push(("mccmnc", mccmnc.clone()));
                }
                Ok(CrossDeviceOutcome::Done { redirect: back(params), trust })
            }
        }
    }

    /// `/authorize?login_hint_token=…`: spends the token (this client's, unexpired, unused) and returns the
    /// approving session, which then stands in for a sign-in on this browser.
    pub(crate) async fn spend_login_hint(&self, org_id: &str, client_id: &str, token: &str) -> Result<Option<String>> {
        if !token.starts_with("lht_") || token.len() > 100 {
            return Ok(None);
        }
        let hash = crypto::sha256_hex(token);
        let Some(request) = self.store.find_cross_device_by_hint(&hash).await? else {
            return Ok(None);
        };
        let now = self.now();
        let fresh = request.hint_expires_at.is_some_and(|e| e > now) && request.hint_used_at.is_none();
        if request.org_id != org_id || request.client_id != client_id || !fresh {
            return Ok(None);
        }
        if !self.store.spend_login_hint(&request.id, now).await? {
            return Ok(None);
        }
        Ok(request.session_id)
    }
}
