//! Browser sessions of the hosted pages: an HttpOnly cookie carries an opaque token bound to an ordinary
//! session, so the same revocation, idle and absolute lifetimes apply to a browser as to an API client.

use super::Session;
use crate::accounts::User;
use crate::crypto;
use crate::error::Result;
use crate::services::Services;

/// Prefix of browser-session cookie tokens.
pub const BROWSER_TOKEN_PREFIX: &str = "bs";

impl Services {
    /// Binds a new cookie token to `session_id` (a session just started by a sign-in) and returns it.
    pub async fn bind_browser_session(&self, org_id: &str, session_id: &str) -> Result<String> {
        let token = crypto::new_opaque_token(BROWSER_TOKEN_PREFIX);
        self.store.insert_browser_session(&crypto::sha256_hex(&token), org_id, session_id, self.now()).await?;
        Ok(token)
    }

    /// The signed-in user behind a browser cookie on `org_id`'s pages, if the session is still live.
    pub async fn browser_session(&self, org_id: &str, token: &str) -> Result<Option<(User, Session)>> {
        if !token.starts_with("bs_") || token.len() > 128 {
            return Ok(None);
        }
        let Some((owner_org, session_id)) = self.store.find_browser_session(&crypto::sha256_hex(token)).await? else {
            return Ok(None);
        };
        if owner_org != org_id {
            return Ok(None);
        }
        let Some(session) = self.store.find_session(&session_id).await? else {
            return Ok(None);
        };
        if !session.is_active(self.now()) {
            return Ok(None);
        }
        let Some(found) = self.store.find_user(org_id, &session.user_id).await? else {
            return Ok(None);
        };
        if found.user.is_blocked {
            return Ok(None);
        }
        Ok(Some((found.user, session)))
    }

    /// Signs a browser out: its session is revoked, so the cookie is worthless even if kept.
    pub async fn end_browser_session(&self, org_id: &str, token: &str) -> Result<()> {
        let Some((user, session)) = self.browser_session(org_id, token).await? else {
            return Ok(());
        };
        self.revoke_with_event(org_id, &user.id, &session.id, "logout").await.map(|_| ())
    }
}
