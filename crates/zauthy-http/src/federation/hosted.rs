//! Social sign-in on the hosted pages: the "Continue with …" buttons of `/o/{org}/login` lead to
//! `/o/{org}/oauth/start`, and the provider comes back to `/o/{org}/oauth/callback` (a GET, or Apple's
//! `form_post` POST). A cookie ties the flow to the browser that started it, so nobody can finish their own
//! sign-in in someone else's browser (login CSRF).

use crate::extract::Client;
use crate::hosted::{HostedOrg, PageError, cookie, redirect, safe_return_to, set_cookie};
use crate::pages::{mfa_page, signed_in};
use crate::state::AppState;
use axum::Router;
use axum::extract::{Query, RawForm, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use data_encoding::BASE64URL_NOPAD;
use std::collections::HashMap;
use zauthy_core::accounts::LoginOutcome;
use zauthy_core::crypto::constant_time_eq;
use zauthy_core::federation::{CallbackInput, CallbackOutcome};

/// `{state}.{base64url(return_to)}` of the flow this browser started.
const FLOW_COOKIE: &str = "zauthy_oauth";

/// A flow cookie must come back on a cross-site `form_post`; browsers send `SameSite=None` only when `Secure`.
fn flow_cookie(state: &AppState, org_id: &str, value: &str, max_age: i64) -> axum::http::HeaderValue {
    let same_site = if state.services.config.public_url.starts_with("https://") { "None" } else { "Lax" };
    set_cookie(state, org_id, FLOW_COOKIE, value, same_site, Some(max_age))
}

async fn start(
    State(state): State<AppState>,
    org: HostedOrg,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let provider = query.get("provider").map(String::as_str).unwrap_or_default();
    let return_to = safe_return_to(&org.0.id, query.get("return_to").map(String::as_str));
    let started = state.services.oauth_hosted_init(&org.actor(), provider).await?;
    let value = format!("{}.{}", started.state, BASE64URL_NOPAD.encode(return_to.as_bytes()));
    let mut response = redirect(&started.authorization_url);
    let ttl = state.services.config.federation.state_ttl_secs;
    response.headers_mut().append(header::SET_COOKIE, flow_cookie(&state, &org.0.id, &value, ttl));
    Ok(response)
}

async fn finish(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
    Client(meta): Client,
    method: Method,
    Query(query): Query<Vec<(String, String)>>,
    RawForm(body): RawForm,
) -> Result<Response, PageError> {
    let pairs: Vec<(String, String)> =
        if method == Method::POST { url::form_urlencoded::parse(&body).into_owned().collect() } else { query };
    let param = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let state_param = param("state").unwrap_or_default();
    let (bound_state, return_to) = cookie(&headers, FLOW_COOKIE)
        .and_then(|v| v.split_once('.'))
        .map(|(s, r)| {
            let r = BASE64URL_NOPAD.decode(r.as_bytes()).ok().and_then(|b| String::from_utf8(b).ok());
            (s.to_owned(), safe_return_to(&org.0.id, r.as_deref()))
        })
        .unwrap_or_default();
    if bound_state.is_empty() || !constant_time_eq(bound_state.as_bytes(), state_param.as_bytes()) {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "invalid_oauth_state",
            "This sign-in was not started in this browser; start it again from the sign-in page",
        ));
    }
    let input = CallbackInput {
        state: state_param,
        code: param("code"),
        iss: param("iss"),
        error: param("error"),
        error_description: param("error_description"),
        user: param("user"),
        provider: None,
        redirect_url: None,
    };
    let outcome = state.services.oauth_callback(&org.actor(), input, &meta).await;
    let clear = flow_cookie(&state, &org.0.id, "", 0);
    let mut response = match outcome? {
        CallbackOutcome::SignedIn(LoginOutcome::Success { tokens, .. }) => {
            signed_in(&state, &headers, &org.0.id, &tokens.session_id, redirect(&return_to)).await?
        }
        CallbackOutcome::SignedIn(LoginOutcome::MfaRequired { mfa_token, .. }) => {
            mfa_page(&state, &org, &headers, &mfa_token, Some(&return_to), None)
        }
        CallbackOutcome::Linked { .. } => {
            return Err(PageError::new(StatusCode::BAD_REQUEST, "invalid_oauth_state", "Not a sign-in"));
        }
    };
    response.headers_mut().append(header::SET_COOKIE, clear);
    Ok(response.into_response())
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/o/{org_id}/oauth/start", get(start))
        .route("/o/{org_id}/oauth/callback", get(finish).post(finish))
}
