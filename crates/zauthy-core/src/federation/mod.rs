//! Social login: the organization as an OpenID Connect *client* (relying party) of Google, Apple or any
//! standards-compliant issuer. Admins configure providers (secrets sealed under the master key); users sign
//! in or link an upstream identity through the authorization code flow with state, nonce and PKCE (S256).
//!
//! An upstream identity `(provider, sub)` reaches an existing account only by an explicit link from the
//! signed-in user, or by a verified email when the provider's `link_by_verified_email` allows it. Outbound
//! calls (discovery, JWKS, token, userinfo) go through the [`FederationHttp`] port, which the binary backs
//! with an SSRF-guarded client.

mod apple;
mod client;
mod flow;
mod id_token;
mod link;
mod metadata;
mod outbound;
mod providers;
pub mod store;

pub use apple::{APPLE_AUDIENCE, apple_client_secret};
pub use client::{Federation, ProviderMetadata};
pub use flow::{CallbackInput, CallbackOutcome, InitInput, InitOutcome};
pub use id_token::{IdTokenClaims, IdTokenExpectations, validate_id_token};
pub use outbound::{FederationHttp, FederationSettings, OutboundReply, OutboundRequest, check_outbound_url};
pub use providers::{ProviderInput, ProviderUpdate};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub(crate) use crate::ids::{
    FEDERATED_IDENTITY as IDENTITY_ID, OAUTH_PROVIDER as PROVIDER_ID, OAUTH_STATE as STATE_ID,
};

/// Which preset a provider follows. Presets know their endpoints and quirks; `Oidc` reads them from the
/// issuer's discovery document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Google,
    /// Sign in with Apple: `form_post` responses and an ES256 client-secret JWT signed with the team's key.
    Apple,
    /// Any OpenID provider, by discovery URL.
    Oidc,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Apple => "apple",
            Self::Oidc => "oidc",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "google" => Some(Self::Google),
            "apple" => Some(Self::Apple),
            "oidc" => Some(Self::Oidc),
            _ => None,
        }
    }
}

/// How the upstream returns the authorization response to the redirect URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    FormPost,
}

impl ResponseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::FormPost => "form_post",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "query" => Some(Self::Query),
            "form_post" => Some(Self::FormPost),
            _ => None,
        }
    }
}

/// A configured upstream provider. Secrets are kept only encrypted under the master key.
#[derive(Debug, Clone)]
pub struct OAuthProvider {
    pub id: String,
    pub org_id: String,
    /// The name the API uses for it (`"provider": "google"`), unique in the organization.
    pub slug: String,
    pub kind: ProviderKind,
    pub display_name: String,
    pub client_id: String,
    pub client_secret_enc: Option<String>,
    /// Where the endpoints come from: required for `Oidc`, an override for the presets.
    pub discovery_url: Option<String>,
    /// The issuer ID tokens must name exactly.
    pub issuer: String,
    pub scopes: Vec<String>,
    /// `client_secret_basic` or `client_secret_post`.
    pub token_endpoint_auth_method: String,
    pub response_mode: ResponseMode,
    pub apple_team_id: Option<String>,
    pub apple_key_id: Option<String>,
    pub apple_private_key_enc: Option<String>,
    pub enabled: bool,
    /// Whether an unknown upstream identity creates a new user.
    pub allow_signup: bool,
    /// Whether an upstream identity with a verified email attaches to the (verified) account with that email.
    pub link_by_verified_email: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// An upstream identity attached to a user: one per provider and user, one user per `(provider, subject)`.
#[derive(Debug, Clone)]
pub struct FederatedIdentity {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub provider_id: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: OffsetDateTime,
    pub last_login_at: Option<OffsetDateTime>,
}

/// The server-side half of one authorization request: found by the SHA-256 of `state`, single use,
/// short-lived, bound to the organization, provider and redirect URL (and the user, for a link).
#[derive(Debug, Clone)]
pub struct OAuthStateRecord {
    pub id: String,
    pub org_id: String,
    pub provider_id: String,
    pub state_hash: String,
    pub nonce: String,
    /// The PKCE verifier, sealed under the master key.
    pub code_verifier_enc: String,
    pub redirect_url: String,
    /// Set for a link: only this user may complete it.
    pub user_id: Option<String>,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}
