//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): where `end_session` may send the browser
//! afterwards (a post-logout redirect URI registered by the client, exactly), and whether the request proves
//! it comes from the browser's own session (an `id_token_hint` naming it), so no confirmation is needed.

use super::error::{OAuthError, OidcResult};
use crate::services::Services;
use serde_json::Value;
use std::collections::HashMap;

/// A checked `end_session` request.
#[derive(Debug, Clone)]
pub struct EndSession {
    /// The client's page to go to afterwards, with `state`, if one was asked for and is registered.
    pub redirect: Option<String>,
    /// The session the `id_token_hint` was issued for.
    pub hinted_session: Option<String>,
    pub client_name: Option<String>,
}

impl Services {
    pub async fn check_end_session(&self, org_id: &str, p: &HashMap<String, String>) -> OidcResult<EndSession> {
        let bad = |d: &str| Err(OAuthError::new("invalid_request", d).into());
        let mut client_id = p.get("client_id").cloned();
        let mut hinted_session = None;
        if let Some(hint) = p.get("id_token_hint").filter(|h| !h.is_empty()) {
            // The hint may have expired; only its signature, issuer and audience matter here.
            let aud = hint
                .split('.')
                .nth(1)
                .and_then(|b| data_encoding::BASE64URL_NOPAD.decode(b.as_bytes()).ok())
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|c| c.get("aud").and_then(Value::as_str).map(str::to_owned));
            let Some(aud) = aud else {
                return bad("id_token_hint is not an ID token of this issuer");
            };
            let verified =
                self.keys.verify_for_audience(&*self.store, org_id, hint, &aud, &self.issuer(org_id)).await?;
            let Some(claims) = verified else {
                return bad("id_token_hint is not an ID token of this issuer");
            };
            if client_id.as_ref().is_some_and(|c| *c != aud) {
                return bad("client_id differs from the id_token_hint's audience");
            }
            hinted_session = claims.get("sid").and_then(Value::as_str).map(str::to_owned);
            client_id = Some(aud);
        }
        let client = match &client_id {
            Some(id) => match self.org_client(org_id, id).await {
                Ok(client) => Some(client),
                Err(_) => return bad("client_id is unknown"),
            },
            None => None,
        };
        let redirect = match p.get("post_logout_redirect_uri").filter(|u| !u.is_empty()) {
            None => None,
            Some(uri) => {
                let Some(_) = client.as_ref().filter(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri)) else {
                    return bad("post_logout_redirect_uri is not registered for this client");
                };
                let mut url = uri.clone();
                if let Some(state) = p.get("state") {
                    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("state", state).finish();
                    url.push(if url.contains('?') { '&' } else { '?' });
                    url.push_str(&q);
                }
                Some(url)
            }
        };
        Ok(EndSession { redirect, hinted_session, client_name: client.map(|c| c.name) })
    }
}
