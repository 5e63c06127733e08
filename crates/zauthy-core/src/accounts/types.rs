//! User, role and the lockout schedule.

use super::{Address, Email};
use crate::error::CoreError;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::User => "user",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        match s {
            "owner" => Ok(Self::Owner),
            "admin" => Ok(Self::Admin),
            "user" => Ok(Self::User),
            _ => Err(CoreError::invalid("invalid_role", "role must be one of owner, admin, user")),
        }
    }
}

/// A user as read models see it: no credential material.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub org_id: String,
    pub email: Email,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// The OIDC address claim's members; `None` when the user gave none.
    pub address: Option<Address>,
    pub role: Role,
    pub is_verified: bool,
    /// The user entered an SMS one-time code sent to `phone` (cleared when the number changes).
    pub phone_verified: bool,
    pub is_blocked: bool,
    pub failed_login_attempts: i32,
    pub locked_until: Option<OffsetDateTime>,
    pub last_login_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl User {
    /// A new account that signs in right away (its first session starts with it).
    pub fn new_signed_in(
        org_id: &str,
        email: Email,
        name: Option<String>,
        phone: Option<String>,
        role: Role,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id: crate::ids::new_id(crate::ids::USER),
            org_id: org_id.to_owned(),
            email,
            name,
            phone,
            address: None,
            role,
            is_verified: false,
            phone_verified: false,
            is_blocked: false,
            failed_login_attempts: 0,
            locked_until: None,
            last_login_at: Some(now),
            created_at: now,
            updated_at: now,
        }
    }
}

/// A user together with the password hash, for the few places that check credentials.
#[derive(Debug, Clone)]
pub struct UserWithSecret {
    pub user: User,
    pub password_hash: Option<String>,
}

/// The API reference's schedule: 5 failures lock for 30 minutes, 10 for 2 hours, 15 and every 5 after for 24 hours.
pub fn lockout_duration_after(failed_attempts: i32) -> Option<Duration> {
    match failed_attempts {
        5 => Some(Duration::minutes(30)),
        10 => Some(Duration::hours(2)),
        n if n >= 15 && n % 5 == 0 => Some(Duration::hours(24)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lockout_schedule_matches_the_api_reference() {
        assert_eq!(lockout_duration_after(4), None);
        assert_eq!(lockout_duration_after(5), Some(Duration::minutes(30)));
        assert_eq!(lockout_duration_after(6), None);
        assert_eq!(lockout_duration_after(10), Some(Duration::hours(2)));
        assert_eq!(lockout_duration_after(15), Some(Duration::hours(24)));
        assert_eq!(lockout_duration_after(20), Some(Duration::hours(24)));
    }
}
