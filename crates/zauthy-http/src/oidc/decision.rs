//! The opening every approve-or-deny page of the provider shares (consent, device, backchannel approvals,
//! the secondary-device approval): the form's CSRF token checked, the browser signed in, and the decision read
//! (`approve` with the scopes left ticked, or `deny`).

use crate::hosted::{BrowserUser, CSRF_FIELD, Csrf, PageError};
use crate::state::AppState;
use axum::http::{HeaderMap, StatusCode};
use zauthy_core::accounts::User;
use zauthy_core::oidc::ConsentDecision;
use zauthy_core::sessions::Session;

/// A checked approve-or-deny form.
pub(super) struct DecisionForm<'a> {
    pub signed_in: &'a (User, Session),
    pub decision: ConsentDecision,
    fields: &'a [(String, String)],
}

impl<'a> DecisionForm<'a> {
    /// Another field of the form (`request`, `user_code`, `trust`).
    pub fn field(&self, name: &str) -> Option<&'a str> {
        field(self.fields, name)
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Checks and reads the form a hosted approve-or-deny page posted.
pub(super) fn read_decision<'a>(
    state: &AppState,
    headers: &HeaderMap,
    browser: &'a BrowserUser,
    fields: &'a [(String, String)],
) -> Result<DecisionForm<'a>, PageError> {
    Csrf::verify(state, headers, field(fields, CSRF_FIELD))?;
    let Some(signed_in) = browser.0.as_ref() else {
        return Err(PageError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Sign in first"));
    };
    let decision = match field(fields, "decision") {
        Some("approve") => {
            ConsentDecision::Approve(fields.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()).collect())
        }
        Some("deny") => ConsentDecision::Deny,
        _ => {
            return Err(PageError::new(StatusCode::BAD_REQUEST, "invalid_request", "decision must be approve or deny"));
        }
    };
    Ok(DecisionForm { signed_in, decision, fields })
}
