//! Prefixed random identifiers (`org_…`, `usr_…`) as the API reference shows them.

use crate::crypto::random_bytes;
use data_encoding::BASE32_NOPAD;

/// 120 random bits, lowercase base32: unguessable and URL-safe.
pub fn new_id(prefix: &str) -> String {
    let encoded = BASE32_NOPAD.encode(&random_bytes::<15>()).to_ascii_lowercase();
    format!("{prefix}_{encoded}")
}

/// True when `id` looks like an id with this prefix; rejects garbage before it reaches the store.
pub fn is_valid_id(prefix: &str, id: &str) -> bool {
    id.len() == prefix.len() + 25
        && id.starts_with(prefix)
        && id.as_bytes()[prefix.len()] == b'_'
        && id[prefix.len() + 1..].bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

pub const ORG: &str = "org";
pub const USER: &str = "usr";
pub const API_KEY: &str = "key";
pub const SESSION: &str = "sess";
pub const REFRESH: &str = "rt";
pub const SIGNING_KEY: &str = "sk";
pub const RESET: &str = "prt";
pub const EVENT: &str = "evt";
pub const OUTBOX: &str = "obx";
pub const BACKUP_CODE: &str = "bkc";
pub const MFA_CHALLENGE: &str = "mfa";
pub const OIDC_CLIENT: &str = "cli";
pub const MAGIC_LINK: &str = "mlk";
pub const ONE_TIME_CODE: &str = "otp";
pub const PASSWORDLESS_SEND: &str = "pls";
pub const WEBHOOK: &str = "wh";
pub const WEBHOOK_DELIVERY: &str = "whd";
pub const WEBHOOK_ATTEMPT: &str = "wha";
pub const OIDC_AUTH_REQUEST: &str = "areq";
pub const OIDC_GRANT: &str = "grt";
pub const OIDC_CONSENT: &str = "cns";
pub const CROSS_DEVICE: &str = "xdr";
pub const OIDC_DEVICE_FLOW: &str = "dvf";
pub const OIDC_BACKCHANNEL_REQUEST: &str = "bca";
pub const OAUTH_PROVIDER: &str = "idp";
pub const FEDERATED_IDENTITY: &str = "fid";
pub const OAUTH_STATE: &str = "ost";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_carry_their_prefix_and_validate() {
        let id = new_id(USER);
        assert!(id.starts_with("usr_"), "{id}");
        assert!(is_valid_id(USER, &id));
        assert!(!is_valid_id(ORG, &id));
        assert!(!is_valid_id(USER, "usr_../../etc"));
        assert_ne!(new_id(USER), new_id(USER));
    }
}
