//! The signed-in browser's passkeys page (list, add, remove) and the JSON endpoints its script and the
//! sign-in page's script call: the same ceremonies as `/api/v1/passkey/…`, authorized by the browser
//! session (registration) or the hosted page itself (sign-in), each request carrying `X-CSRF-Token`.

use crate::dto::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Client, OptionalApiJson};
use crate::hosted::{BrowserUser, CSRF_FIELD, Csrf, HostedOrg, PageError, Shell, redirect, render, safe_return_to};
use crate::passkeys::{FinishRegistrationRequest, PasskeyOptionsResponse, PasskeyResponse, StartAuthenticationRequest};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use zauthy_core::Actor;
use zauthy_core::accounts::LoginOutcome;

/// CSRF for the JSON endpoints, answered as API errors (the script shows `detail`).
fn verify_script(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    Csrf::verify(state, headers, None).map_err(|e| ApiError::new(e.status, e.code, e.detail))
}

fn signed_in(browser: &BrowserUser) -> ApiResult<Actor> {
    browser
        .actor()
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "missing_authorization", "Sign in on this page first"))
}

async fn passkeys_page(
    State(state): State<AppState>,
    org: HostedOrg,
    browser: BrowserUser,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some(actor) = browser.actor() else {
        return Ok(redirect(&format!("{}?return_to={}", org.path("/login"), org.path("/passkeys"))));
    };
    let csrf = Csrf::for_page(&state, &org.0.id, &headers);
    let passkeys = state.services.list_passkeys(&actor).await?;
    let passkeys = passkeys
        .iter()
        .map(|p| PasskeyItem {
            id: p.id.clone(),
            name: p.name.clone(),
            created: rfc3339(p.created_at),
            used: p.last_used_at.map(rfc3339).unwrap_or_else(|| "never".to_owned()),
            remove: org.path(&format!("/passkeys/{}/remove", p.id)),
        })
        .collect();
    let page = PasskeysPage {
        shell: Shell::new("Your passkeys", &org.0.name).with_scripts(&["/assets/passkey.js"]),
        csrf: &csrf.token,
        passkeys,
        start: org.path("/passkey/register/start"),
        finish: org.path("/passkey/register/finish"),
        account: org.path("/account"),
    };
    Ok(csrf.attach(render(&page)))
}

struct PasskeyItem {
    id: String,
    name: String,
    created: String,
    used: String,
    remove: String,
}

#[derive(Template)]
#[template(path = "passkeys.html")]
struct PasskeysPage<'a> {
    shell: Shell<'a>,
    csrf: &'a str,
    passkeys: Vec<PasskeyItem>,
    start: String,
    finish: String,
    account: String,
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

async fn remove_passkey(
    State(state): State<AppState>,
    org: HostedOrg,
    browser: BrowserUser,
    headers: HeaderMap,
    Path((_, passkey_id)): Path<(String, String)>,
    Form(form): Form<RemoveForm>,
) -> Result<Response, PageError> {
    Csrf::verify(&state, &headers, form.fields.get(CSRF_FIELD).map(String::as_str))?;
    let Some(actor) = browser.actor() else {
        return Ok(redirect(&format!("{}?return_to={}", org.path("/login"), org.path("/passkeys"))));
    };
    state.services.delete_passkey(&actor, &passkey_id).await?;
    Ok(redirect(&org.path("/passkeys")))
}

async fn register_start(
    State(state): State<AppState>,
    browser: BrowserUser,
    headers: HeaderMap,
) -> ApiResult<Json<PasskeyOptionsResponse>> {
    verify_script(&state, &headers)?;
    let actor = signed_in(&browser)?;
    Ok(Json(state.services.start_passkey_registration(&actor).await?.into()))
}

async fn register_finish(
    State(state): State<AppState>,
    browser: BrowserUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<FinishRegistrationRequest>,
) -> ApiResult<(StatusCode, Json<PasskeyResponse>)> {
    verify_script(&state, &headers)?;
    let actor = signed_in(&browser)?;
    let record = state
        .services
        .finish_passkey_registration(&actor, &body.ceremony_id, &body.credential, body.name.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

async fn authenticate_start(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
    OptionalApiJson(body): OptionalApiJson<StartAuthenticationRequest>,
) -> ApiResult<Json<PasskeyOptionsResponse>> {
    verify_script(&state, &headers)?;
    Ok(Json(state.services.start_passkey_authentication(&org.actor(), body.email.as_deref()).await?.into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostedFinishRequest {
    ceremony_id: String,
    credential: serde_json::Value,
    return_to: Option<String>,
}

/// Where the signed-in browser goes next.
#[derive(Debug, Serialize)]
struct SignedIn {
    location: String,
}

/// A passkey sign-in from the hosted page: the browser session cookie and where to go next.
async fn authenticate_finish(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
    Client(client): Client,
    ApiJson(body): ApiJson<HostedFinishRequest>,
) -> ApiResult<Response> {
    verify_script(&state, &headers)?;
    let outcome = state
        .services
        .finish_passkey_authentication(&org.actor(), &body.ceremony_id, &body.credential, &client)
        .await?;
    let LoginOutcome::Success { tokens, .. } = outcome else {
        // A passkey verifies the user, so it is never asked for a second factor.
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Internal server error"));
    };
    let location = safe_return_to(&org.0.id, body.return_to.as_deref());
    Ok(super::signed_in(&state, &headers, &org.0.id, &tokens.session_id, Json(SignedIn { location }).into_response())
        .await?)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/o/{org_id}/passkeys", get(passkeys_page))
        .route("/o/{org_id}/passkeys/{passkey_id}/remove", post(remove_passkey))
        .route("/o/{org_id}/passkey/register/start", post(register_start))
        .route("/o/{org_id}/passkey/register/finish", post(register_finish))
        .route("/o/{org_id}/passkey/authenticate/start", post(authenticate_start))
        .route("/o/{org_id}/passkey/authenticate/finish", post(authenticate_finish))
}
