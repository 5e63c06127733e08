//! The storage ports: what services need from a database, split by feature. `zauthy-store` implements them
//! once for SQLite and PostgreSQL. A `Transaction` has the same methods and commits all-or-nothing.

use crate::accounts::{Email, User, UserWithSecret};
use crate::email::{OutboxLane, OutboxMessage};
use crate::error::Result;
use crate::events::Event;
use crate::mfa::{BackupCodeRecord, MfaChallenge, TotpRecord};
use crate::oidc::{
    AuthCode, AuthRequest, BackchannelRequest, ClientRefreshToken, Consent, CrossDeviceRequest, CrossDeviceStatus,
    DeviceFlow, FlowStatus, Grant, OidcClient, TokenWrite,
};
use crate::orgs::{ApiKey, OrgSettings, Organization, Plan};
use crate::passkeys::{CeremonyRecord, PasskeyRecord};
use crate::passwordless::{MagicLinkRecord, OneTimeCode, SendRecord};
use crate::passwords::PasswordResetRecord;
use crate::sessions::{RefreshTokenRecord, Session};
use crate::tokens::SigningKeyRecord;
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
pub trait OrgRepo {
    async fn insert_org(&self, org: &Organization) -> Result<()>;
    async fn find_org(&self, id: &str) -> Result<Option<Organization>>;
    async fn list_orgs(&self) -> Result<Vec<Organization>>;
    async fn set_org_plan(&self, id: &str, plan: Plan, now: OffsetDateTime) -> Result<bool>;
    async fn set_org_settings(&self, id: &str, settings: &OrgSettings, now: OffsetDateTime) -> Result<bool>;
    async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<()>;
    async fn find_api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>>;
    async fn list_api_keys(&self, org_id: &str) -> Result<Vec<ApiKey>>;
    async fn delete_api_key(&self, org_id: &str, key_id: &str) -> Result<bool>;
}

#[async_trait]
pub trait UserRepo {
    /// Fails with `CoreError::Conflict` when the email is taken in the organization.
    async fn insert_user(&self, user: &User, password_hash: Option<&str>) -> Result<()>;
    async fn find_user(&self, org_id: &str, user_id: &str) -> Result<Option<UserWithSecret>>;
    /// Like `find_user`, and holds the user's row locked until the transaction ends, so a check about the
    /// account and the write it allows cannot interleave with another transaction doing the same for that
    /// user (PostgreSQL `FOR UPDATE`; a SQLite transaction already holds the database's write lock).
    async fn find_user_for_update(&self, org_id: &str, user_id: &str) -> Result<Option<UserWithSecret>>;
    async fn find_user_by_email(&self, org_id: &str, email: &Email) -> Result<Option<UserWithSecret>>;
    async fn list_users(
        &self,
        org_id: &str,
        email_contains: Option<&str>,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<User>, u64)>;
    /// The places guesses at this user's password or second factor hold while they are checked, after
    /// dropping the lapsed ones (`expires_at` passed).
    async fn count_pending_guesses(&self, user_id: &str, now: OffsetDateTime) -> Result<u64>;
    async fn insert_pending_guess(
        &self,
        id: &str,
        user_id: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()>;
    async fn delete_pending_guess(&self, id: &str) -> Result<bool>;
    /// The same for an email without an account (a keyed hash of it): the new failure count, or `None` and
    /// the lock's end while it is locked.
    async fn reserve_unknown_login_attempt(
        &self,
        org_id: &str,
        email_hash: &str,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<i32, OffsetDateTime>>;
    /// Locks an email without an account until `until` (the reservation reached a threshold of the schedule).
    async fn lock_unknown_login(&self, org_id: &str, email_hash: &str, until: OffsetDateTime) -> Result<()>;
    /// Sets the failure counter and lock (the caller holds the row locked).
    async fn set_failed_logins(
        &self,
        user_id: &str,
        attempts: i32,
        locked_until: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// Resets the failure counter and lock, and stamps the login time.
    async fn record_successful_login(&self, user_id: &str, now: OffsetDateTime) -> Result<()>;
    async fn set_password_hash(&self, user_id: &str, hash: &str, now: OffsetDateTime) -> Result<()>;
    async fn set_blocked(&self, org_id: &str, user_id: &str, blocked: bool, now: OffsetDateTime) -> Result<bool>;
    async fn unlock_user(&self, org_id: &str, user_id: &str, now: OffsetDateTime) -> Result<bool>;
    /// Writes name, phone and role as given (the caller merged them with the current values).
    async fn update_user_profile(&self, user: &User, now: OffsetDateTime) -> Result<bool>;
    /// Deletes the user and everything that hangs off it (sessions, tokens).
    async fn delete_user(&self, org_id: &str, user_id: &str) -> Result<bool>;
}

#[async_trait]
pub trait SessionRepo {
    async fn insert_session(&self, session: &Session) -> Result<()>;
    async fn find_session(&self, session_id: &str) -> Result<Option<Session>>;
    async fn list_active_sessions(&self, org_id: &str, user_id: &str, now: OffsetDateTime) -> Result<Vec<Session>>;
    async fn touch_session(&self, session_id: &str, now: OffsetDateTime, idle_expires_at: OffsetDateTime)
    -> Result<()>;
    /// Revokes one live session of the user; false when there is none with that id.
    async fn revoke_session(
        &self,
        org_id: &str,
        user_id: &str,
        session_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// Revokes every live session of the user, except `keep` if given; returns how many.
    async fn revoke_user_sessions(
        &self,
        org_id: &str,
        user_id: &str,
        keep: Option<&str>,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<u64>;
    /// The `sid`s of the user's sessions revoked at `now` for `reason`: what the two revocations above just
    /// ended, read back inside the same transaction.
    async fn sids_revoked_at(
        &self,
        org_id: &str,
        user_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<String>>;
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<()>;
    async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshTokenRecord>>;
    /// Marks the token used only if it was unused: false means someone presented it before (reuse).
    async fn mark_refresh_token_used(&self, token_id: &str, now: OffsetDateTime) -> Result<bool>;
}

#[async_trait]
pub trait BrowserSessionRepo {
    async fn insert_browser_session(
        &self,
        token_hash: &str,
        org_id: &str,
        session_id: &str,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// `(org_id, session_id)` of the cookie token with this hash.
    async fn find_browser_session(&self, token_hash: &str) -> Result<Option<(String, String)>>;
}

#[async_trait]
pub trait MfaRepo {
    /// Stores a new unconfirmed seed, replacing an earlier unconfirmed one of the user.
    async fn put_pending_totp(&self, record: &TotpRecord) -> Result<()>;
    async fn find_totp(&self, user_id: &str) -> Result<Option<TotpRecord>>;
    /// Confirms the pending seed, accepting `step` as its first code; false when nothing was pending.
    async fn confirm_totp(&self, user_id: &str, step: i64, now: OffsetDateTime) -> Result<bool>;
    /// Accepts `step` only if it is later than the last accepted step; false means a replay.
    async fn accept_totp_step(&self, user_id: &str, step: i64, now: OffsetDateTime) -> Result<bool>;
    async fn delete_totp(&self, user_id: &str) -> Result<bool>;
    /// Replaces every backup code of the user with these hashes.
    async fn replace_backup_codes(
        &self,
        org_id: &str,
        user_id: &str,
        code_hashes: &[String],
        now: OffsetDateTime,
    ) -> Result<()>;
    async fn find_backup_code(&self, code_hash: &str) -> Result<Option<BackupCodeRecord>>;
    /// Spends the code if unused; false when it was already used.
    async fn spend_backup_code(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
    async fn count_unused_backup_codes(&self, user_id: &str) -> Result<u64>;
    async fn delete_backup_codes(&self, user_id: &str) -> Result<()>;
    async fn insert_mfa_challenge(&self, challenge: &MfaChallenge) -> Result<()>;
    async fn find_mfa_challenge(&self, token_hash: &str) -> Result<Option<MfaChallenge>>;
    /// Spends the challenge if unused; false when it was already used.
    /// Counts one code tried against the challenge, unless it is spent or had `max_attempts` already; false then.
    async fn count_mfa_attempt(&self, id: &str, max_attempts: i32, now: OffsetDateTime) -> Result<bool>;
    async fn spend_mfa_challenge(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
}

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
    /// Stamps a poll and the interval the client must keep from now on.
    async fn record_device_poll(&self, id: &str, now: OffsetDateTime, interval_secs: i64) -> Result<()>;
    /// Moves a pending, unexpired flow to `status`, by `user_id` (with the grant an approval made); false
    /// when it was answered before or has expired.
    async fn decide_device_flow(
        &self,
        id: &str,
        status: FlowStatus,
        user_id: &str,
        grant_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// Single use: false when the device code was exchanged before.
    async fn spend_device_flow(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
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
    async fn record_backchannel_poll(&self, id: &str, now: OffsetDateTime, interval_secs: i64) -> Result<()>;
    /// Moves a pending, unexpired request to `status`; false when it was answered before or has expired.
    async fn decide_backchannel_request(
        &self,
        id: &str,
        status: FlowStatus,
        grant_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool>;
    async fn spend_backchannel_request(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
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

#[async_trait]
pub trait SigningKeyRepo {
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<()>;
    async fn find_signing_key(&self, kid: &str) -> Result<Option<SigningKeyRecord>>;
    async fn list_signing_keys(&self, org_id: &str) -> Result<Vec<SigningKeyRecord>>;
    /// Retires every active key of the org but those in `keep`; they stay published until `expires_at`.
    async fn retire_signing_keys(
        &self,
        org_id: &str,
        keep: &[String],
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<u64>;
}

#[async_trait]
pub trait PasswordResetRepo {
    async fn insert_reset_token(&self, token: &PasswordResetRecord) -> Result<()>;
    async fn find_reset_token(&self, token_hash: &str) -> Result<Option<PasswordResetRecord>>;
    /// Marks the token used only if it was unused; false means it was already spent.
    async fn mark_reset_token_used(&self, token_id: &str, now: OffsetDateTime) -> Result<bool>;
    /// Spends every outstanding token of the user (after a reset or change).
    async fn invalidate_reset_tokens(&self, user_id: &str, now: OffsetDateTime) -> Result<()>;
}

#[async_trait]
pub trait PasskeyRepo {
    async fn insert_ceremony(&self, ceremony: &CeremonyRecord) -> Result<()>;
    async fn find_ceremony(&self, ceremony_id: &str) -> Result<Option<CeremonyRecord>>;
    /// Marks the ceremony used only if it was unused; false means it was already spent.
    async fn mark_ceremony_used(&self, ceremony_id: &str, now: OffsetDateTime) -> Result<bool>;
    /// Fails with `CoreError::Conflict` when the credential id is already registered in the organization.
    async fn insert_passkey(&self, passkey: &PasskeyRecord) -> Result<()>;
    async fn list_passkeys(&self, org_id: &str, user_id: &str) -> Result<Vec<PasskeyRecord>>;
    async fn find_passkey_by_credential(&self, org_id: &str, credential_id: &str) -> Result<Option<PasskeyRecord>>;
    /// Saves the credential state after a sign-in (counter, backup flags) and stamps `last_used_at`.
    async fn update_passkey_use(&self, passkey: &PasskeyRecord, now: OffsetDateTime) -> Result<bool>;
    async fn delete_passkey(&self, org_id: &str, user_id: &str, passkey_id: &str) -> Result<bool>;
}

#[async_trait]
pub trait EventRepo {
    async fn insert_event(&self, event: &Event) -> Result<()>;
    async fn list_events(&self, org_id: &str, event_type: Option<&str>, limit: u64) -> Result<Vec<Event>>;
    /// A page of the organization's events, newest first, and how many match in all.
    async fn query_events(
        &self,
        org_id: &str,
        filter: &crate::events::EventFilter,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<Event>, u64)>;
}

#[async_trait]
pub trait WebhookRepo {
    async fn insert_webhook(&self, webhook: &crate::webhooks::Webhook) -> Result<()>;
    async fn find_webhook(&self, org_id: &str, webhook_id: &str) -> Result<Option<crate::webhooks::Webhook>>;
    async fn list_webhooks(&self, org_id: &str) -> Result<Vec<crate::webhooks::Webhook>>;
    /// Writes url, events, active, secrets and failing_since.
    async fn update_webhook(&self, webhook: &crate::webhooks::Webhook) -> Result<bool>;
    async fn delete_webhook(&self, org_id: &str, webhook_id: &str) -> Result<bool>;
    async fn set_webhook_failing(
        &self,
        webhook_id: &str,
        since: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// Turns an active endpoint off; false when it already was (another worker got there first).
    async fn disable_webhook(&self, webhook_id: &str, now: OffsetDateTime) -> Result<bool>;
    async fn insert_webhook_delivery(&self, delivery: &crate::webhooks::WebhookDelivery) -> Result<()>;
    async fn find_webhook_delivery(
        &self,
        org_id: &str,
        delivery_id: &str,
    ) -> Result<Option<crate::webhooks::WebhookDelivery>>;
    /// Claims up to `limit` of the oldest due pending deliveries under a lease, oldest first; no other worker
    /// takes them until `lease_until`.
    async fn claim_webhook_deliveries(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<crate::webhooks::WebhookDelivery>>;
    /// Stores the attempt and moves the delivery to `status` (its next attempt at `attempt.next_retry_at`).
    async fn record_webhook_attempt(
        &self,
        attempt: &crate::webhooks::WebhookAttempt,
        status: &str,
        attempts: i32,
        now: OffsetDateTime,
    ) -> Result<()>;
    async fn list_webhook_deliveries(
        &self,
        webhook_id: &str,
        limit: u64,
    ) -> Result<Vec<crate::webhooks::WebhookDelivery>>;
    async fn list_webhook_attempts(&self, delivery_ids: &[String]) -> Result<Vec<crate::webhooks::WebhookAttempt>>;
}

#[async_trait]
pub trait OutboxRepo {
    /// Writes the message as given; `Services::queue_message` seals its payload first, and is what to call.
    async fn enqueue(&self, message: &OutboxMessage) -> Result<()>;
    /// Claims the oldest due message of `lane` with a lease so no other worker takes it until `lease_until`.
    async fn claim_next_outbox(
        &self,
        lane: OutboxLane,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Option<OutboxMessage>>;
    /// Marks the message sent and erases its payload.
    async fn complete_outbox(&self, id: &str, now: OffsetDateTime) -> Result<()>;
    /// Records a failed attempt; `retry_at: None` gives up on the message and erases its payload.
    async fn fail_outbox(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()>;
}

#[async_trait]
pub trait PasswordlessRepo {
    async fn insert_magic_link(&self, link: &MagicLinkRecord) -> Result<()>;
    async fn find_magic_link(&self, token_hash: &str) -> Result<Option<MagicLinkRecord>>;
    /// Marks the link used only if it was unused; false means it was already spent.
    async fn mark_magic_link_used(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
    async fn find_one_time_code(
        &self,
        org_id: &str,
        channel: &str,
        destination_hash: &str,
    ) -> Result<Option<OneTimeCode>>;
    /// Stores the code in place of any earlier one for the same destination (one code per destination).
    async fn replace_one_time_code(&self, code: &OneTimeCode) -> Result<()>;
    /// Counts one try, only while the code is unused and below `max_attempts`; false when it was not counted.
    async fn count_otp_attempt(&self, id: &str, max_attempts: i32, now: OffsetDateTime) -> Result<bool>;
    /// Marks the code used only if it was unused.
    async fn mark_one_time_code_used(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
    /// How many sends the destination had since `since`, and when the oldest and the newest of them were.
    /// Holds the organization's row locked until the transaction ends, so that concurrent sends of one
    /// organization are counted one after another on PostgreSQL too (SQLite runs writers one at a time).
    async fn passwordless_sends_since(
        &self,
        org_id: &str,
        destination_hash: &str,
        since: OffsetDateTime,
    ) -> Result<(u64, Option<OffsetDateTime>, Option<OffsetDateTime>)>;
    /// Records a send (old ones are pruned: `crate::prune::Prunable::PasswordlessSends`).
    async fn record_passwordless_send(&self, send: &SendRecord) -> Result<()>;
    /// Up to `limit` users of the organization with this phone number.
    async fn find_users_by_phone(&self, org_id: &str, phone: &str, limit: u64) -> Result<Vec<User>>;
    /// Sets `is_verified`; false when it already was.
    async fn mark_email_verified(&self, user_id: &str, now: OffsetDateTime) -> Result<bool>;
    /// Sets `phone_verified` if the user's number is still `phone`; false when it was set already, or the
    /// number changed meanwhile.
    async fn mark_phone_verified(&self, user_id: &str, phone: &str, now: OffsetDateTime) -> Result<bool>;
}

#[async_trait]
pub trait FederationRepo {
    /// Fails with `CoreError::Conflict` when the organization already has a provider with that slug.
    async fn insert_oauth_provider(&self, provider: &crate::federation::OAuthProvider) -> Result<()>;
    async fn find_oauth_provider(&self, org_id: &str, slug: &str) -> Result<Option<crate::federation::OAuthProvider>>;
    async fn find_oauth_provider_by_id(
        &self,
        org_id: &str,
        provider_id: &str,
    ) -> Result<Option<crate::federation::OAuthProvider>>;
    async fn list_oauth_providers(&self, org_id: &str) -> Result<Vec<crate::federation::OAuthProvider>>;
    /// Writes every field but id, org, slug, kind and created_at.
    async fn update_oauth_provider(&self, provider: &crate::federation::OAuthProvider) -> Result<bool>;
    /// Deletes the provider with its linked identities and pending authorization requests.
    async fn delete_oauth_provider(&self, org_id: &str, provider_id: &str) -> Result<bool>;
    async fn insert_oauth_state(&self, state: &crate::federation::OAuthStateRecord) -> Result<()>;
    async fn find_oauth_state(&self, state_hash: &str) -> Result<Option<crate::federation::OAuthStateRecord>>;
    /// Marks the state used only if it was unused; false means it was already spent.
    async fn spend_oauth_state(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
    /// Fails with `CoreError::Conflict` when `(provider, subject)` or `(user, provider)` is already linked.
    async fn insert_federated_identity(&self, identity: &crate::federation::FederatedIdentity) -> Result<()>;
    async fn find_federated_identity(
        &self,
        org_id: &str,
        provider_id: &str,
        subject: &str,
    ) -> Result<Option<crate::federation::FederatedIdentity>>;
    async fn list_federated_identities(
        &self,
        org_id: &str,
        user_id: &str,
    ) -> Result<Vec<crate::federation::FederatedIdentity>>;
    /// Stamps a sign-in and refreshes the email the upstream reported.
    async fn touch_federated_identity(&self, id: &str, email: Option<&str>, now: OffsetDateTime) -> Result<()>;
    async fn delete_federated_identity(&self, org_id: &str, user_id: &str, id: &str) -> Result<bool>;
}

/// Deleting short-lived records that are dead (`crate::prune` states the rule of each kind).
#[async_trait]
pub trait PruneRepo {
    /// Deletes up to `limit` dead rows of `kind`, oldest first, and returns how many. Rows another
    /// transaction holds locked are skipped, so several nodes can prune at once without waiting on each other.
    async fn prune_expired(
        &self,
        kind: crate::prune::Prunable,
        cutoffs: &crate::prune::PruneCutoffs,
        limit: u64,
    ) -> Result<u64>;
}

pub trait Repo:
    OrgRepo
    + UserRepo
    + SessionRepo
    + BrowserSessionRepo
    + MfaRepo
    + OidcClientRepo
    + OidcGrantRepo
    + CrossDeviceRepo
    + OidcDeviceRepo
    + OidcBackchannelRepo
    + SigningKeyRepo
    + PasswordResetRepo
    + PasskeyRepo
    + EventRepo
    + WebhookRepo
    + OutboxRepo
    + PasswordlessRepo
    + FederationRepo
    + PruneRepo
    + Send
    + Sync
{
}

impl<T> Repo for T where
    T: OrgRepo
        + UserRepo
        + SessionRepo
        + BrowserSessionRepo
        + MfaRepo
        + OidcClientRepo
        + OidcGrantRepo
        + CrossDeviceRepo
        + OidcDeviceRepo
        + OidcBackchannelRepo
        + SigningKeyRepo
        + PasswordResetRepo
        + PasskeyRepo
        + EventRepo
        + WebhookRepo
        + OutboxRepo
        + PasswordlessRepo
        + FederationRepo
        + PruneRepo
        + Send
        + Sync
{
}

#[async_trait]
pub trait Store: Repo {
    /// Starts a write transaction. Dropping it without `commit` rolls it back.
    async fn begin(&self) -> Result<Box<dyn Transaction>>;
    async fn ping(&self) -> Result<()>;
}

#[async_trait]
pub trait Transaction: Repo {
    async fn commit(self: Box<Self>) -> Result<()>;
}
