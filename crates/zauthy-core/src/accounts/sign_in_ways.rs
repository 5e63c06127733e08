//! An account keeps a way to sign in: a passkey is not removed, nor an upstream identity unlinked, when it is
//! the last of the account's password, passkeys and linked identities.

use super::UserWithSecret;
use crate::error::{CoreError, Result};
use crate::store::Repo;

/// What the caller is about to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removing {
    Passkey,
    LinkedIdentity,
}

/// Refuses (409 `last_sign_in_method`) when removing one `what` would leave `user` no way to sign in. The
/// caller holds `user`'s row locked (`find_user_for_update`) in the transaction `repo` until it commits, so
/// two removals at the same moment cannot both count the other's as the way left.
pub(crate) async fn keep_a_way_to_sign_in(repo: &dyn Repo, user: &UserWithSecret, what: Removing) -> Result<()> {
    let (org_id, user_id) = (&user.user.org_id, &user.user.id);
    let passkeys = repo.list_passkeys(org_id, user_id).await?.len();
    let identities = repo.list_federated_identities(org_id, user_id).await?.len();
    let left = usize::from(user.password_hash.is_some())
        + match what {
            Removing::Passkey => passkeys.saturating_sub(1) + identities,
            Removing::LinkedIdentity => passkeys + identities.saturating_sub(1),
        };
    if left == 0 {
        return Err(CoreError::conflict(
            "last_sign_in_method",
            "This is the account's only way to sign in; set a password, add a passkey or link another provider first",
        ));
    }
    Ok(())
}
