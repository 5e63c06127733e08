//! The storage port (trait and record types) of the OpenID provider: clients, authorization requests, grants,
//! codes, client refresh tokens, consents, the device grant, CIBA and the secondary-device flow. `zauthy-store`
//! implements it for SQLite and PostgreSQL; `crate::store` composes every feature's port into one `Repo`.

use super::{AuthCode, AuthRequest, ClientRefreshToken, Consent, Grant, OidcClient, TokenWrite};
use crate::error::Result;
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
pub trait OidcClientRepo {
    async fn insert_oidc_client(&self, client: &OidcClient, secret_hash: Option<&str>) -> Result<()>;
    /// The client and its secret hash.
    async fn find_oidc_client(&self, client_id: &str) -> Result<Option<(OidcClient, Option<String>)>>;
    async fn list_oidc_clients(&self, org_id: &str) -> Result<Vec<OidcClient>>;
    /// Writes every field but id, org, type and secret.
    async fn update_oidc_client(&self, client: &OidcClient) -> Result<bool>;
    async fn delete_oidc_client(&self, org_id: &str, client_id: &str) -> Result<bool>;
    async fn set_oidc_client_secret(&self, client_id: &str, secret_hash: &str, now: OffsetDateTime) -> Result<()>;
    /// Records the id of a JWT accepted once (a `private_key_jwt` assertion's, hashed with the client id; a
    /// DPoP proof's, hashed with its key's thumbprint); false when it was seen before. The pruning job forgets
    /// ids once the JWT could no longer be accepted (`expires_at`).
    async fn record_jwt_id(&self, id: &str, expires_at: OffsetDateTime, now: OffsetDateTime) -> Result<bool>;
    /// Remembers that the access token `jti` (issued to `client_id`, with no grant behind it) is revoked until
    /// it expires; revoking it again changes nothing.
    async fn revoke_access_token(
        &self,
        org_id: &str,
        client_id: &str,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()>;
    async fn is_access_token_revoked(&self, jti: &str) -> Result<bool>;
}

#[async_trait]
pub trait OidcGrantRepo {
    async fn insert_auth_request(&self, request: &AuthRequest) -> Result<()>;
    async fn find_auth_request(&self, id: &str) -> Result<Option<AuthRequest>>;
    /// Single use: false when it was spent before.
    async fn spend_auth_request(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
    async fn insert_grant(&self, grant: &Grant) -> Result<()>;
    async fn find_grant(&self, id: &str) -> Result<Option<Grant>>;
    /// Revokes the grant (and so every token issued from it); false when it already was.
    async fn revoke_grant(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
    /// Revokes every live grant of the user to the client; returns how many.
    async fn revoke_client_grants(&self, user_id: &str, client_id: &str, now: OffsetDateTime) -> Result<u64>;
    /// The clients holding a live grant of the user under one of `sids`, each with that `sid` (distinct).
    async fn clients_of_sessions(&self, org_id: &str, user_id: &str, sids: &[String]) -> Result<Vec<(String, String)>>;
    async fn insert_auth_code(&self, code: &AuthCode) -> Result<()>;
    /// The code with its grant, read together (one statement on the token endpoint's hot path).
    async fn find_auth_code(&self, hash: &str) -> Result<Option<(AuthCode, Option<Grant>)>>;
    async fn insert_client_refresh_token(&self, token: &ClientRefreshToken) -> Result<()>;
    async fn find_client_refresh_token(&self, hash: &str) -> Result<Option<ClientRefreshToken>>;
    /// Carries out `writes` in order (through the caller's transaction): each spends its unspent code or
    /// refresh token and, if it did, stores the refresh token it issues. True for each write that spent its
    /// token; false when it was spent before, is unknown, or an earlier write in `writes` spent it.
    async fn write_tokens(&self, writes: &[&TokenWrite], now: OffsetDateTime) -> Result<Vec<bool>>;
    /// Inserts or replaces the user's consent to the client.
    async fn save_consent(&self, consent: &Consent) -> Result<()>;
    async fn find_consent(&self, user_id: &str, client_id: &str) -> Result<Option<Consent>>;
    async fn list_consents(&self, org_id: &str, user_id: &str) -> Result<Vec<Consent>>;
    async fn delete_consent(&self, org_id: &str, user_id: &str, client_id: &str) -> Result<bool>;
}

/// Device authorization grant flows (RFC 8628).
#[async_trait]
pub trait OidcDeviceRepo {
    /// Fails with `CoreError::Conflict` when the device code or user code digest is taken.
    async fn insert_device_flow(&self, flow: &DeviceFlow) -> Result<()>;
    async fn find_device_flow_by_device_code(&self, hash: &str) -> Result<Option<DeviceFlow>>;
    async fn find_device_flow_by_user_code(&self, digest: &str) -> Result<Option<DeviceFlow>>;
}

/// Which kind of "approve on another device" authorization: both are polled by their client at the token
/// endpoint, decided by the user on a hosted page and spent once for tokens, the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalKind {
    /// The device authorization grant (RFC 8628).
    Device,
    /// A CIBA backchannel authentication request (poll mode).
    Backchannel,
}

/// The life of an authorization approved on another device, whatever its kind: the client's polls, the
/// user's decision and the one redemption for tokens.
#[async_trait]
pub trait ApprovalRepo {
    /// Stamps a poll and the interval the client must keep from now on.
    async fn record_approval_poll(
        &self,
        kind: ApprovalKind,
        id: &str,
        now: OffsetDateTime,
        interval_secs: i64,
    ) -> Result<()>;
    /// Moves a pending, unexpired authorization to `status`, decided by `user_id` (a backchannel request can
    /// only be decided by the user it names), with the grant an approval made; false when it was answered
    /// before or has expired.
    async fn decide_approval(
        &self,
        kind: ApprovalKind,
        id: &str,
        status: FlowStatus,
        user_id: &str,
        grant_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// Single use: false when it was exchanged for tokens before.
    async fn spend_approval(&self, kind: ApprovalKind, id: &str, now: OffsetDateTime) -> Result<bool>;
}

/// Backchannel authentication requests (CIBA poll mode).
#[async_trait]
pub trait OidcBackchannelRepo {
    async fn insert_backchannel_request(&self, request: &BackchannelRequest) -> Result<()>;
    async fn find_backchannel_request(&self, id: &str) -> Result<Option<BackchannelRequest>>;
    async fn find_backchannel_request_by_auth_req_id(&self, hash: &str) -> Result<Option<BackchannelRequest>>;
    /// The user's pending requests that have not expired at `now`, oldest first.
    async fn list_pending_backchannel_requests(
        &self,
        org_id: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<BackchannelRequest>>;
}

#[async_trait]
pub trait CrossDeviceRepo {
    async fn insert_cross_device(&self, request: &CrossDeviceRequest) -> Result<()>;
    async fn find_cross_device(&self, id: &str) -> Result<Option<CrossDeviceRequest>>;
    async fn find_cross_device_by_poll(&self, poll_hash: &str) -> Result<Option<CrossDeviceRequest>>;
    /// The newest pending request of the organization with this code.
    async fn find_cross_device_by_code(&self, org_id: &str, code_hash: &str) -> Result<Option<CrossDeviceRequest>>;
    async fn find_cross_device_by_hint(&self, hint_hash: &str) -> Result<Option<CrossDeviceRequest>>;
    /// Pending, unexpired requests listed for the user (targeted: trusted browser or reached by code; or
    /// notified: the laptop typed their phone number).
    async fn list_cross_device_for_user(
        &self,
        org_id: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<CrossDeviceRequest>>;
    /// Makes a pending request approvable by this user, unless it already is by someone (false then).
    async fn target_cross_device(&self, id: &str, user_id: &str, now: OffsetDateTime) -> Result<bool>;
    /// Lists a pending, untargeted request on this user's phone, approvable only with the laptop's code; once.
    async fn notify_cross_device(&self, id: &str, user_id: &str, now: OffsetDateTime) -> Result<bool>;
    /// Records the phone's answer if the request is still pending; false otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn answer_cross_device(
        &self,
        id: &str,
        status: CrossDeviceStatus,
        user_id: &str,
        session_id: &str,
        scope: &[String],
        trust_browser: bool,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// Stores the login_hint_token's hash, once: false when one was issued already.
    async fn issue_login_hint(
        &self,
        id: &str,
        hint_hash: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool>;
    async fn spend_login_hint(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
    async fn insert_trusted_browser(
        &self,
        token_hash: &str,
        org_id: &str,
        user_id: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// `(org_id, user_id)` of an unexpired trusted browser.
    async fn find_trusted_browser(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<(String, String)>>;
    /// Replaces the organization's mccmnc codes; a code another organization serves is `mccmnc_taken`.
    async fn set_carrier_codes(&self, org_id: &str, codes: &[String], now: OffsetDateTime) -> Result<()>;
    /// The organization serving `mccmnc`.
    async fn find_carrier(&self, mccmnc: &str) -> Result<Option<String>>;
}

/// A backchannel authentication request for one user.
#[derive(Debug, Clone)]
pub struct BackchannelRequest {
    /// The id the user's approvals page uses (`bca_…`); not the client's `auth_req_id`.
    pub id: String,
    pub org_id: String,
    pub client_id: String,
    pub user_id: String,
    /// SHA-256 of the `auth_req_id` the client polls with.
    pub auth_req_id_hash: String,
    pub scope: Vec<String>,
    pub acr_values: Vec<String>,
    pub binding_message: Option<String>,
    pub status: FlowStatus,
    pub grant_id: Option<String>,
    pub interval_secs: i64,
    pub last_polled_at: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A laptop's request waiting for the phone.
#[derive(Debug, Clone)]
pub struct CrossDeviceRequest {
    pub id: String,
    pub org_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scope: Vec<String>,
    /// Keyed hash of the numeric code.
    pub code_hash: String,
    /// SHA-256 of the laptop's secret (its cookie), which alone may learn the result.
    pub poll_hash: String,
    /// The one user who may approve it: the one who trusted the laptop, or who reached it with its code.
    pub target_user_id: Option<String>,
    /// The owner of the phone number the laptop typed: listed on their phone, but only the code lets them
    /// approve (seed 001: an untrusted browser needs the code, so nobody can push a sign-in to a phone).
    pub notified_user_id: Option<String>,
    pub status: CrossDeviceStatus,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub approved_scope: Vec<String>,
    pub trust_browser: bool,
    /// SHA-256 of the login_hint_token once issued, and when it was spent at `/authorize`.
    pub hint_hash: Option<String>,
    pub hint_used_at: Option<OffsetDateTime>,
    pub hint_expires_at: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrossDeviceStatus {
    Pending,
    Approved,
    Denied,
}

impl CrossDeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            "denied" => Some(Self::Denied),
            _ => None,
        }
    }
}

/// A device authorization waiting for (or answered by) the user.
#[derive(Debug, Clone)]
pub struct DeviceFlow {
    pub id: String,
    pub org_id: String,
    pub client_id: String,
    /// SHA-256 of the device code.
    pub device_code_hash: String,
    /// Keyed digest (HMAC under the master key) of the normalized user code.
    pub user_code_hash: String,
    pub scope: Vec<String>,
    pub status: FlowStatus,
    /// Who approved or denied.
    pub user_id: Option<String>,
    /// The grant an approval made.
    pub grant_id: Option<String>,
    pub interval_secs: i64,
    pub last_polled_at: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    /// When the device code was exchanged for tokens (once).
    pub used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Where a pending device or backchannel authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStatus {
    Pending,
    Approved,
    Denied,
}

impl FlowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            "denied" => Some(Self::Denied),
            _ => None,
        }
    }
}
