//! Backchannel authentication (OpenID CIBA Core 1.0, poll mode): `POST /o/{org_id}/bc-authorize`, where a
//! confidential client asks to sign a user in by their email, and the hosted `/o/{org_id}/approvals` page,
//! where the signed-in user sees each waiting request (service, binding message, scopes) and approves or
//! denies it.

use super::authorize::{ScopeItem, scope_items};
use super::decision::read_decision;
use super::device::to_login;
use super::oauth::{ClientForm, no_store_json, oauth_answer, oauth_error};
use crate::error::ApiResult;
use crate::extract::ApiPath;
use crate::hosted::{BrowserUser, Csrf, DecidedPage, HostedOrg, PageError, Shell, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use std::collections::HashMap;
use zauthy_core::oidc::{ApprovalStep, FlowStatus, OidcError};

/// Ask to authenticate a user out of band. Client-authenticated (confidential clients registered for
/// `urn:openid:params:grant-type:ciba`); the user is named by `login_hint` (their email).
#[utoipa::path(post, path = "/o/{org_id}/bc-authorize", tag = "oidc",
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    request_body(content = HashMap<String, String>, content_type = "application/x-www-form-urlencoded",
        description = "scope (with openid), login_hint, binding_message, acr_values, requested_expiry"),
    responses(
        (status = 200, description = "auth_req_id, expires_in, interval", content_type = "application/json"),
        (status = 400, description = "invalid_request, invalid_scope, unknown_user_id, unauthorized_client, invalid_binding_message"),
        (status = 413, description = "invalid_request: the body is over the size limit"),
        (status = 401, description = "invalid_client"),
        (status = 403, description = "access_denied")))]
pub async fn backchannel_authentication(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    ClientForm { form, auth }: ClientForm<HashMap<String, String>>,
) -> ApiResult<Response> {
    match state.services.backchannel_authorize(&org_id, &auth, &form).await {
        // CIBA Core §13: access_denied is a 403 here.
        Err(OidcError::OAuth(e)) if e.error == "access_denied" => {
            let mut response = oauth_error(&e);
            *response.status_mut() = StatusCode::FORBIDDEN;
            Ok(response)
        }
        other => oauth_answer(other, no_store_json),
    }
}

/// `GET /o/{org_id}/approvals`: the signed-in user's waiting requests.
async fn approvals_page(
    State(state): State<AppState>,
    org: HostedOrg,
    browser: BrowserUser,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some((user, _)) = browser.0.as_ref() else {
        return Ok(to_login(&org, &org.path("/approvals")));
    };
    let pending = state.services.pending_approvals(&org.0.id, user).await?;
    let csrf = Csrf::for_page(&state, &org.0.id, &headers);
    let pending = pending
        .iter()
        .map(|p| ApprovalItem {
            id: p.id.clone(),
            client_name: p.client_name.clone(),
            binding_message: p.binding_message.clone(),
            scopes: scope_items(&p.scopes),
        })
        .collect();
    let page = ApprovalsPage {
        shell: Shell::new("Sign-in requests", &org.0.name),
        csrf: &csrf.token,
        action: org.path("/approvals"),
        pending,
    };
    Ok(csrf.attach(render(&page)))
}

struct ApprovalItem {
    id: String,
    client_name: String,
    binding_message: Option<String>,
    scopes: Vec<ScopeItem>,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage<'a> {
    shell: Shell<'a>,
    csrf: &'a str,
    action: String,
    pending: Vec<ApprovalItem>,
}

/// `POST /o/{org_id}/approvals`: allow (with the scopes left ticked) or deny one request.
async fn decide(
    State(state): State<AppState>,
    org: HostedOrg,
    browser: BrowserUser,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let form = read_decision(&state, &headers, &browser, &fields)?;
    let signed_in = form.signed_in;
    let request = form.field("request").unwrap_or_default();
    let decision = form.decision;
    let here = org.path("/approvals");
    Ok(match state.services.decide_backchannel(&org.0.id, request, signed_in, decision).await? {
        ApprovalStep::SecondFactor { mfa_token } => {
            crate::pages::mfa_page(&state, &org, &headers, &mfa_token, Some(&here), None)
        }
        ApprovalStep::Decided(status) => {
            let (id, text) = if status == FlowStatus::Approved {
                ("request-approved", "Approved: the application is signing you in.")
            } else {
                ("request-denied", "Denied: nothing was shared.")
            };
            let shell = Shell::new("Sign-in requests", &org.0.name);
            render(&DecidedPage { shell, id, text, back: Some(&here) })
        }
    })
}

pub fn router() -> Router<AppState> {
    Router::new().route("/o/{org_id}/approvals", get(approvals_page).post(decide))
}
