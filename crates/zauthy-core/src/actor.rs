//! Who is calling: an organization's API key or a signed-in user. Services authorize against it first.

use crate::accounts::Role;
use crate::error::{CoreError, Result};

#[derive(Debug, Clone)]
pub enum Actor {
    ApiKey {
        org_id: String,
        key_id: String,
    },
    User {
        org_id: String,
        user_id: String,
        role: Role,
        session_id: String,
    },
    /// A browser on the organization's hosted pages (sign-in, magic-link landing): it may run the public
    /// sign-in flows of that one organization, exactly like the API key would on the application's behalf.
    Hosted {
        org_id: String,
    },
}

impl Actor {
    pub fn org_id(&self) -> &str {
        match self {
            Self::ApiKey { org_id, .. } | Self::User { org_id, .. } | Self::Hosted { org_id } => org_id,
        }
    }

    /// The organization's API key, or one of its users with at least `role`.
    pub fn require_admin(&self, role: Role) -> Result<&str> {
        match self {
            Self::ApiKey { org_id, .. } => Ok(org_id),
            Self::User { org_id, role: have, .. } if *have >= role => Ok(org_id),
            Self::User { .. } | Self::Hosted { .. } => {
                Err(CoreError::forbidden(format!("this needs the {} role or an API key", role.as_str())))
            }
        }
    }

    /// A signed-in user (not an API key): for "my sessions", "change my password".
    pub fn require_user(&self) -> Result<(&str, &str, &str)> {
        match self {
            Self::User { org_id, user_id, session_id, .. } => Ok((org_id, user_id, session_id)),
            Self::ApiKey { .. } | Self::Hosted { .. } => Err(CoreError::unauthenticated(
                "user_token_required",
                "this endpoint needs a user's access token, not an API key",
            )),
        }
    }

    /// An API key: for public-facing flows (signup, login) that must name the organization.
    pub fn require_api_key(&self) -> Result<&str> {
        match self {
            Self::ApiKey { org_id, .. } => Ok(org_id),
            Self::User { .. } | Self::Hosted { .. } => {
                Err(CoreError::unauthenticated("api_key_required", "this endpoint needs the organization's API key"))
            }
        }
    }

    /// The organization whose public sign-in flows (login, magic link, OTP, passkey sign-in) the caller may
    /// run: its API key, or a browser on its hosted pages.
    pub fn require_sign_in_flow(&self) -> Result<&str> {
        match self {
            Self::ApiKey { org_id, .. } | Self::Hosted { org_id } => Ok(org_id),
            Self::User { .. } => {
                Err(CoreError::unauthenticated("api_key_required", "this endpoint needs the organization's API key"))
            }
        }
    }

    pub fn user_id(&self) -> Option<&str> {
        match self {
            Self::User { user_id, .. } => Some(user_id),
            Self::ApiKey { .. } | Self::Hosted { .. } => None,
        }
    }
}
