//! The hosted landing page of a magic link. Opening the link (GET) spends nothing — mail scanners fetch
//! links — it asks "Sign in as …?"; the CSRF-protected POST spends the token and signs the browser in.

use crate::extract::Client;
use crate::hosted::{CSRF_FIELD, Csrf, HostedOrg, PageError, esc, page, redirect, safe_return_to};
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use std::collections::HashMap;
use zauthy_core::accounts::LoginOutcome;

fn with_csrf_cookie(mut response: Response, csrf: &Csrf) -> Response {
    if let Some(c) = &csrf.set_cookie {
        response.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    response
}

/// Shows whom the link signs in, with a button that posts the token back.
async fn landing(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let param = |name: &str| {
        query
            .as_deref()
            .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v))
            .unwrap_or_default()
    };
    let (token, return_to) = (param("token"), param("return_to"));
    let email = state.services.preview_magic_link(&org.actor(), &token).await?;
    let csrf = Csrf::for_page(&state, &org.0.id, &headers);
    let body = format!(
        r#"<p>Sign in as <strong id="magic-link-email">{email}</strong>?</p>
<form method="post" action="{action}" id="magic-link-form">{field}<input type="hidden" name="token" value="{token}">
<input type="hidden" name="return_to" value="{return_to}">
<button type="submit" id="confirm-sign-in">Sign in</button></form>"#,
        email = esc(email.as_str()),
        action = esc(&org.path("/magic-link")),
        field = csrf.field(),
        token = esc(&token),
        return_to = esc(&return_to),
    );
    Ok(with_csrf_cookie(page("Sign in", &org.0.name, &body, &[]).into_response(), &csrf))
}

/// Spends the token: the signed-in browser goes on to `return_to` (the organization's pages only; its
/// account page by default); a user with a second factor gets the code form of the MFA step first.
async fn confirm(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
    Client(client): Client,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    Csrf::verify(&state, &headers, form.get(CSRF_FIELD).map(String::as_str))?;
    let token = form.get("token").map(String::as_str).unwrap_or_default();
    let return_to = safe_return_to(&org.0.id, form.get("return_to").map(String::as_str).filter(|r| !r.is_empty()));
    match state.services.verify_magic_link(&org.actor(), token, &client).await? {
        LoginOutcome::Success { tokens, .. } => {
            Ok(super::signed_in(&state, &headers, &org.0.id, &tokens.session_id, redirect(&return_to)).await?)
        }
        LoginOutcome::MfaRequired { mfa_token, .. } => {
            Ok(super::mfa_page(&state, &org, &headers, &mfa_token, Some(&return_to), None))
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/o/{org_id}/magic-link", get(landing).post(confirm))
}
