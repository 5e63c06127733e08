//! Every organization is an OpenID provider; this module holds its service providers (OIDC clients): how
//! they are registered, which redirect URIs, scopes, grants and client authentication they may use.

mod assertion;
mod authorize;
mod backchannel_logout;
mod cached;
mod ciba;
mod clients;
mod consent;
mod cross_device;
mod device;
mod discovery;
mod dpop;
mod error;
mod group_commit;
mod introspect;
mod issue;
mod logout;
mod polling;
mod records;
pub mod store;
mod token;
mod userinfo;

pub use assertion::{ASSERTION_TYPE, assertion_subject};
pub use authorize::{AuthRedirect, AuthorizeError, REQUEST_URI_PREFIX};
pub use backchannel_logout::{KIND_BACKCHANNEL_LOGOUT, LOGOUT_EVENT, LogoutDelivery};
pub use ciba::{ApprovalStep, BackchannelStarted, PendingApproval};
pub use clients::{ClientInput, ClientUpdate, CreatedClient};
pub use consent::{ACR_MULTI_FACTOR, ACR_SINGLE_FACTOR, AuthorizationStep, ConsentDecision, ConsentPrompt};
pub use cross_device::{ApprovalView, CrossDeviceOutcome, StartedCrossDevice, normalize_code};
pub use device::{DeviceAuthorization, DeviceStep};
pub use dpop::{DPOP_ALGS, DpopError, DpopKey, DpopRequest};
pub use error::{OAuthError, OidcError, OidcResult};
pub use group_commit::TokenWrites;
pub use logout::EndSession;
pub use records::{AuthCode, AuthParams, AuthRequest, ClientRefreshToken, Consent, Grant, Spent, TokenWrite};
pub use store::{ApprovalKind, BackchannelRequest, CrossDeviceRequest, CrossDeviceStatus, DeviceFlow, FlowStatus};
pub use token::{ClientAuth, TokenResponse};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How a client sees its users' `sub` (OIDC Core §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectType {
    /// The user's id, the same for every client.
    Public,
    /// A value derived for the client's sector: clients of different sectors cannot link their users.
    Pairwise,
}

impl SubjectType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Self::Public),
            "pairwise" => Some(Self::Pairwise),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Pairwise => "pairwise",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// A server-side application that can keep a secret.
    Confidential,
    /// A browser or native app: no secret, PKCE (S256) required.
    Public,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "confidential" => Some(Self::Confidential),
            "public" => Some(Self::Public),
            _ => None,
        }
    }
}

/// Scopes the provider knows; each maps to standard claims.
pub const SCOPES: &[&str] = &["openid", "profile", "email", "phone", "address", "offline_access"];
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const GRANT_CIBA: &str = "urn:openid:params:grant-type:ciba";
pub const GRANT_TYPES: &[&str] =
    &[GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE, GRANT_CIBA];
pub const AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];
/// RS256 first: OpenID Connect requires every provider to support it.
pub const ID_TOKEN_ALGS: &[&str] = &["RS256", "ES256", "EdDSA"];

/// A registered service provider. The secret is never kept, only its SHA-256.
#[derive(Debug, Clone)]
pub struct OidcClient {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub client_type: ClientType,
    pub redirect_uris: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    /// The client's public keys, for `private_key_jwt`.
    pub jwks: Option<serde_json::Value>,
    pub id_token_signed_response_alg: String,
    /// Ask for a second factor before consent, whatever the user's own settings.
    pub require_mfa: bool,
    /// Where `end_session` may send the browser after sign-out (exact match).
    pub post_logout_redirect_uris: Vec<String>,
    /// Where the provider POSTs a logout token when a session the client holds ends (OpenID Connect
    /// Back-Channel Logout 1.0); checked like a webhook URL, at registration and again at each send.
    pub backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in its logout tokens (zauthy always sends it: every grant has a session).
    pub backchannel_logout_session_required: bool,
    /// Whether the client sees users under their id or under a pairwise `sub` for its sector.
    pub subject_type: SubjectType,
    /// A pairwise client's sector (OIDC Core §8.1): the one host of its redirect URIs, or its own id when
    /// it has none, fixed when the client became pairwise so that its users' `sub` never changes.
    pub sector_identifier: Option<String>,
    /// Every token request must carry a DPoP proof (RFC 9449 §5.2), so its tokens are always key-bound.
    pub dpop_bound_access_tokens: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// PKCE verifiers and challenges: 43 to 128 unreserved characters (RFC 7636 §4.1).
pub(crate) fn is_pkce_text(s: &str) -> bool {
    (43..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}
