//! Organization, plan and API key types.

use crate::error::CoreError;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Pro,
    Enterprise,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Pro => "pro",
            Self::Enterprise => "enterprise",
        }
    }
}

impl std::str::FromStr for Plan {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        match s {
            "free" => Ok(Self::Free),
            "pro" => Ok(Self::Pro),
            "enterprise" => Ok(Self::Enterprise),
            _ => Err(CoreError::invalid("invalid_plan", "plan must be one of free, pro, enterprise")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub plan: Plan,
    pub settings: OrgSettings,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KeyEnvironment {
    #[default]
    Live,
    Test,
}

impl KeyEnvironment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }
}

/// An API key as listed: never the secret, only its displayable prefix.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub org_id: String,
    pub name: String,
    /// The first characters of the key (`sk_live_AbCd`), enough to recognise it in a list.
    pub prefix: String,
    pub environment: KeyEnvironment,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrgSettings {
    /// The only URLs a magic link may land on, compared exactly (no prefixes, no wildcards).
    pub allowed_redirect_urls: Vec<String>,
    /// Whether a magic link or one-time code sent to an unknown address creates an account when used.
    pub passwordless_signup: bool,
    /// The WebAuthn relying party id (a registrable domain, e.g. `example.com`); defaults to the host of the
    /// server's public URL.
    pub webauthn_rp_id: Option<String>,
    /// The origins WebAuthn responses may come from (e.g. `https://app.example.com`); defaults to the
    /// server's public URL.
    pub webauthn_origins: Vec<String>,
    /// The mobile network codes (MCC + MNC, 5 or 6 digits) this organization serves as a carrier: carrier
    /// discovery sends a `client_id` + `mccmnc` here. Unique across organizations.
    pub mccmnc: Vec<String>,
    /// Approving a sign-in from another device (the secondary-device flow) needs a second factor.
    pub approval_requires_mfa: bool,
}
