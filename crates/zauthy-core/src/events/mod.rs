//! The domain event log: every state change records an event in the same transaction, ready for webhooks.

use crate::ids;
use serde_json::Value;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub org_id: String,
    pub event_type: String,
    pub user_id: Option<String>,
    pub data: Value,
    pub created_at: OffsetDateTime,
}

impl Event {
    pub fn new(org_id: &str, event_type: &str, user_id: Option<&str>, data: Value, now: OffsetDateTime) -> Self {
        Self {
            id: ids::new_id(ids::EVENT),
            org_id: org_id.to_owned(),
            event_type: event_type.to_owned(),
            user_id: user_id.map(str::to_owned),
            data,
            created_at: now,
        }
    }
}

/// The event types the product emits, so names are not retyped across modules.
pub mod types {
    pub const ORGANIZATION_CREATED: &str = "organization.created";
    pub const ORGANIZATION_SETTINGS_UPDATED: &str = "organization.settings_updated";
    pub const API_KEY_CREATED: &str = "api_key.created";
    pub const API_KEY_DELETED: &str = "api_key.deleted";
    pub const SIGNING_KEY_ROTATED: &str = "signing_key.rotated";
    pub const USER_SIGNUP: &str = "user.signup";
    pub const USER_LOGIN: &str = "user.login";
    pub const USER_LOGIN_FAILED: &str = "user.login_failed";
    pub const USER_LOCKED: &str = "user.locked";
    pub const USER_UNLOCKED: &str = "user.unlocked";
    pub const USER_BLOCKED: &str = "user.blocked";
    pub const USER_UNBLOCKED: &str = "user.unblocked";
    pub const USER_DELETED: &str = "user.deleted";
    pub const USER_UPDATED: &str = "user.updated";
    pub const SESSION_REVOKED: &str = "session.revoked";
    pub const REFRESH_TOKEN_REUSED: &str = "security.refresh_token_reused";
    pub const PASSWORD_RESET_REQUESTED: &str = "password.reset_requested";
    pub const PASSWORD_RESET: &str = "password.reset";
    pub const PASSWORD_CHANGED: &str = "password.changed";
    pub const OIDC_CLIENT_CREATED: &str = "oidc_client.created";
    pub const OIDC_CLIENT_UPDATED: &str = "oidc_client.updated";
    pub const OIDC_CLIENT_DELETED: &str = "oidc_client.deleted";
    pub const OIDC_CLIENT_SECRET_ROTATED: &str = "oidc_client.secret_rotated";
    pub const OIDC_CONSENT_GRANTED: &str = "oidc.consent.granted";
    pub const OIDC_CONSENT_REVOKED: &str = "oidc.consent.revoked";
    pub const OIDC_TOKEN_REUSE: &str = "security.oidc_token_reuse";
    pub const OIDC_DEVICE_APPROVED: &str = "oidc.device.approved";
    pub const OIDC_DEVICE_DENIED: &str = "oidc.device.denied";
    pub const OIDC_BACKCHANNEL_APPROVED: &str = "oidc.backchannel.approved";
    pub const OIDC_BACKCHANNEL_DENIED: &str = "oidc.backchannel.denied";
    pub const MFA_ENABLED: &str = "mfa.enabled";
    pub const MFA_DISABLED: &str = "mfa.disabled";
    pub const MFA_BACKUP_CODE_USED: &str = "mfa.backup_code_used";
    pub const MFA_BACKUP_CODES_REGENERATED: &str = "mfa.backup_codes_regenerated";
    pub const MAGIC_LINK_SENT: &str = "magic_link.sent";
    pub const OTP_SENT: &str = "otp.sent";
    pub const EMAIL_VERIFIED: &str = "email.verified";
    pub const PASSKEY_ADDED: &str = "passkey.added";
    pub const PASSKEY_REMOVED: &str = "passkey.removed";
    pub const PASSKEY_CLONED: &str = "security.passkey_cloned";
    pub const WEBHOOK_CREATED: &str = "webhook.created";
    pub const WEBHOOK_UPDATED: &str = "webhook.updated";
    pub const WEBHOOK_DELETED: &str = "webhook.deleted";
    pub const WEBHOOK_SECRET_ROTATED: &str = "webhook.secret_rotated";
    pub const WEBHOOK_DISABLED: &str = "webhook.disabled";
    pub const OAUTH_LINKED: &str = "oauth.linked";
    pub const OAUTH_UNLINKED: &str = "oauth.unlinked";
    pub const OAUTH_PROVIDER_CREATED: &str = "oauth_provider.created";
    pub const OAUTH_PROVIDER_UPDATED: &str = "oauth_provider.updated";
    pub const OAUTH_PROVIDER_DELETED: &str = "oauth_provider.deleted";
    /// Reserved by the API reference; no producer yet (KYC and risk scoring are not built).
    pub const KYC_SESSION_CREATED: &str = "kyc.session.created";
    pub const KYC_COMPLETED: &str = "kyc.completed";
    pub const KYC_FAILED: &str = "kyc.failed";
    pub const SUSPICIOUS_LOGIN: &str = "security.suspicious_login";
}

pub mod catalogue;
mod query;
pub mod store;

pub use catalogue::{CATALOGUE, EventKind};
pub use query::EventList;
pub use store::{EventFilter, EventQuery};
