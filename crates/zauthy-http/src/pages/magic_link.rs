//! The hosted landing page of a magic link. Opening the link (GET) spends nothing — mail scanners fetch
//! links — it asks "Sign in as …?"; the CSRF-protected POST spends the token and signs the browser in.

use super::{CSRF_FIELD, Csrf, HostedOrg, PageError, esc, page, redirect, sign_in_cookie};
use crate::extract::Client;
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
    let token = query
        .as_deref()
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v))
        .unwrap_or_default();
    let email = state.services.preview_magic_link(&org.actor(), &token).await?;
    let csrf = Csrf::for_page(&state, &org.0.id, &headers);
    let body = format!(
        r#"<p>Sign in as <strong id="magic-link-email">{email}</strong>?</p>
<form method="post" action="{action}" id="magic-link-form">{field}<input type="hidden" name="token" value="{token}">
<button type="submit" id="confirm-sign-in">Sign in</button></form>"#,
        email = esc(email.as_str()),
        action = esc(&org.path("/magic-link")),
        field = csrf.field(),
        token = esc(&token),
    );
    Ok(with_csrf_cookie(page("Sign in", &org.0.name, &body, &[]).into_response(), &csrf))
}

/// Spends the token: a signed-in browser goes to its account page; a user with a second factor gets the
/// code form of the MFA step.
async fn confirm(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
    Client(client): Client,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    Csrf::verify(&state, &headers, form.get(CSRF_FIELD).map(String::as_str))?;
    let token = form.get("token").map(String::as_str).unwrap_or_default();
    match state.services.verify_magic_link(&org.actor(), token, &client).await? {
        LoginOutcome::Success { tokens, .. } => {
            let cookie = sign_in_cookie(&state, &org.0.id, &tokens.session_id).await?;
            let mut response = redirect(&org.path("/account"));
            response.headers_mut().append(header::SET_COOKIE, cookie);
            Ok(response)
        }
        LoginOutcome::MfaRequired { mfa_token, .. } => {
            Ok(super::mfa_page(&state, &org, &headers, &mfa_token, None, None))
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/o/{org_id}/magic-link", get(landing).post(confirm))
}
