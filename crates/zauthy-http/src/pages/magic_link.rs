//! The hosted landing page of a magic link. Opening the link (GET) spends nothing — mail scanners fetch
//! links — it asks "Sign in as …?"; the CSRF-protected POST spends the token and signs the browser in.

use crate::extract::Client;
use crate::hosted::{CSRF_FIELD, Csrf, HostedOrg, PageError, Shell, redirect, render, safe_return_to};
use crate::state::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use std::collections::HashMap;
use zauthy_core::accounts::LoginOutcome;

#[derive(Template)]
#[template(path = "magic_link.html")]
struct LandingPage<'a> {
    shell: Shell<'a>,
    csrf: &'a str,
    email: &'a str,
    action: String,
    token: &'a str,
    return_to: &'a str,
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
    let page = LandingPage {
        shell: Shell::new("Sign in", &org.0.name),
        csrf: &csrf.token,
        email: email.as_str(),
        action: org.path("/magic-link"),
        token: &token,
        return_to: &return_to,
    };
    Ok(csrf.attach(render(&page)))
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
