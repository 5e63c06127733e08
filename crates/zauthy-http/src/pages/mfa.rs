//! The hosted second step of a sign-in: a form for the authenticator (or backup) code that a first factor's
//! `mfa_token` waits for.

use crate::hosted::{CSRF_FIELD, Csrf, HostedOrg, PageError, Shell, redirect, render, safe_return_to};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;
use std::collections::HashMap;
use zauthy_core::accounts::LoginOutcome;
use zauthy_core::mfa::MfaProof;

/// The code form for a pending sign-in; `error` is shown above it. Pages whose first factor answered
/// `MfaRequired` render this.
pub fn mfa_page(
    state: &AppState,
    org: &HostedOrg,
    headers: &HeaderMap,
    mfa_token: &str,
    return_to: Option<&str>,
    error: Option<&str>,
) -> Response {
    let csrf = Csrf::for_page(state, &org.0.id, headers);
    let page = MfaPage {
        shell: Shell::new("Two-step verification", &org.0.name),
        csrf: &csrf.token,
        error,
        action: org.path("/login/mfa"),
        mfa_token,
        return_to: return_to.unwrap_or(""),
    };
    csrf.attach(render(&page))
}

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaPage<'a> {
    shell: Shell<'a>,
    csrf: &'a str,
    error: Option<&'a str>,
    action: String,
    mfa_token: &'a str,
    return_to: &'a str,
}

#[derive(Deserialize)]
struct MfaForm {
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

/// Verifies the code; on success the browser is signed in and sent on, otherwise the form comes back with
/// the reason (the same `mfa_token` stays usable until it expires or the account locks).
async fn verify(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
    client: crate::extract::Client,
    Form(form): Form<MfaForm>,
) -> Result<Response, PageError> {
    let field = |name: &str| form.fields.get(name).map(String::as_str);
    Csrf::verify(&state, &headers, field(CSRF_FIELD))?;
    let token = field("mfa_token").unwrap_or_default();
    let return_to = field("return_to").filter(|r| !r.is_empty());
    let code = field("code").unwrap_or_default();
    match state.services.verify_mfa(&org.actor(), token, MfaProof::parse(code), &client.0).await {
        Ok(LoginOutcome::Success { tokens, .. }) => {
            let to = redirect(&safe_return_to(&org.0.id, return_to));
            Ok(super::signed_in(&state, &headers, &org.0.id, &tokens.session_id, to).await?)
        }
        Ok(LoginOutcome::MfaRequired { mfa_token, .. }) => {
            Ok(mfa_page(&state, &org, &headers, &mfa_token, return_to, None))
        }
        Err(e) => {
            let e = PageError::from(e);
            // A dead token cannot be retried: show the error page; a wrong code gets the form again.
            if matches!(e.code, "invalid_mfa_code" | "mfa_code_reused" | "backup_code_used") {
                let mut r = mfa_page(&state, &org, &headers, token, return_to, Some(&e.detail));
                *r.status_mut() = e.status;
                Ok(r)
            } else {
                Err(e)
            }
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/o/{org_id}/login/mfa", post(verify))
}
