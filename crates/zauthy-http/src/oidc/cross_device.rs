//! The secondary-device flow's pages (seed 001). On the laptop, `/o/{org_id}/discovery` shows a QR code and
//! a numeric code and polls until the phone answers, then goes back to the client with a `login_hint_token`.
//! On the phone, `/o/{org_id}/approve` takes the code (typed or scanned; lookups count against the same
//! budget as device codes), lists requests from trusted browsers (approvable from the list) and those sent
//! to the user's phone number (which still need the code), and asks the user to approve, with a second factor
//! when required. Also carrier discovery:
//! `GET /.well-known/openid-configuration?client_id=…&mccmnc=…` at the root.

use super::authorize::ScopeItem;
use super::authorize::to_client;
use super::decision::read_decision;
use super::device::{QrCode, count_code_attempt, qr_code};
use crate::error::{ApiError, ApiResult};
use crate::extract::Client;
use crate::hosted::{
    BrowserUser, CSRF_FIELD, Csrf, DecidedPage, HostedOrg, PageError, Shell, cookie, redirect, render, set_cookie,
};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use std::collections::HashMap;
use zauthy_core::oidc::{ApprovalView, ConsentDecision, CrossDeviceOutcome};

/// The laptop's secret for its pending request (it alone may learn the answer).
const POLL_COOKIE: &str = "zauthy_xd";
/// A browser the user marked trusted: next time the request goes straight to their phone.
const TRUSTED_COOKIE: &str = "zauthy_trusted";

type Params = Query<HashMap<String, String>>;

fn param<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

#[derive(Template)]
#[template(path = "cross_device_start.html")]
struct StartPage<'a> {
    shell: Shell<'a>,
    csrf: &'a str,
    trusted: bool,
    approve: String,
    shown: &'a str,
    qr: Option<QrCode>,
    status_url: String,
    complete_url: String,
    phone_action: String,
}

#[derive(Template)]
#[template(path = "cross_device_sent.html")]
struct SentPage<'a> {
    shell: Shell<'a>,
    approve: String,
    status_url: String,
    complete_url: String,
}

/// What the phone's page shows.
enum Phone<'a> {
    /// A request reached without its code (the laptop typed this user's phone number): the code first.
    NeedsCode(&'a str),
    /// The request, its scopes and the answer buttons: (client, request id, scopes).
    Approve(&'a str, &'a str, Vec<ScopeItem>),
    /// A code that did not work, and the form again.
    Error(String),
    /// The requests waiting for this user as (link, client), and the code form.
    List(Vec<(String, String)>),
}

#[derive(Template)]
#[template(path = "approve.html")]
struct ApprovePage<'a> {
    shell: Shell<'a>,
    csrf: &'a str,
    approve: String,
    view: Phone<'a>,
}

/// The laptop's page: a new request, its QR code and numeric code, and a phone-number form.
async fn discovery_page(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
    Query(q): Params,
) -> Result<Response, PageError> {
    let (Some(client_id), Some(redirect_uri)) = (param(&q, "client_id"), param(&q, "redirect_uri")) else {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id and redirect_uri are required",
        ));
    };
    let trusted = cookie(&headers, TRUSTED_COOKIE);
    let started = state
        .services
        .start_cross_device(&org.0.id, client_id, redirect_uri, param(&q, "state"), param(&q, "scope"), trusted)
        .await?;
    let approve_url = format!(
        "{}/o/{}/approve?code={}",
        state.services.config.public_url.trim_end_matches('/'),
        org.0.id,
        started.code
    );
    let shown = format!("{}-{}", &started.code[..4], &started.code[4..]);
    let csrf = Csrf::for_page(&state, &org.0.id, &headers);
    let page = StartPage {
        shell: Shell::new("Sign in with your phone", &org.0.name).with_scripts(&["/assets/cross-device.js"]),
        csrf: &csrf.token,
        trusted: started.request.target_user_id.is_some(),
        approve: org.path("/approve"),
        shown: &shown,
        qr: qr_code(&approve_url),
        status_url: org.path("/discovery/status"),
        complete_url: org.path("/discovery/complete"),
        phone_action: org.path("/discovery/phone"),
    };
    let mut response = render(&page);
    let secret_cookie = set_cookie(&state, &org.0.id, POLL_COOKIE, &started.poll_secret, "Lax", Some(300));
    response.headers_mut().append(header::SET_COOKIE, secret_cookie);
    Ok(csrf.attach(response))
}

/// Targets the laptop's request at the owner of a phone number; the same answer whether or not one exists.
async fn discovery_phone(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    Csrf::verify(&state, &headers, form.get(CSRF_FIELD).map(String::as_str))?;
    let secret = cookie(&headers, POLL_COOKIE).ok_or_else(gone_page)?;
    state.services.target_cross_device_by_phone(&org.0.id, secret, param(&form, "phone").unwrap_or("")).await?;
    Ok(render(&SentPage {
        shell: Shell::new("Check your phone", &org.0.name).with_scripts(&["/assets/cross-device.js"]),
        approve: org.path("/approve"),
        status_url: org.path("/discovery/status"),
        complete_url: org.path("/discovery/complete"),
    }))
}

fn gone_page() -> PageError {
    PageError::new(StatusCode::BAD_REQUEST, "cross_device_request_expired", "This request has expired; start again")
}

/// The laptop polls: `pending`, `answered` or `expired`.
async fn discovery_status(State(state): State<AppState>, org: HostedOrg, headers: HeaderMap) -> ApiResult<Response> {
    let Some(secret) = cookie(&headers, POLL_COOKIE) else {
        return Err(ApiError::from(zauthy_core::CoreError::invalid(
            "cross_device_request_expired",
            "no pending request",
        )));
    };
    let status = match state.services.cross_device_outcome(&org.0.id, secret, false).await? {
        CrossDeviceOutcome::Pending => "pending",
        CrossDeviceOutcome::Done { .. } => "answered",
        CrossDeviceOutcome::Expired => "expired",
    };
    Ok(axum::Json(serde_json::json!({"status": status})).into_response())
}

/// The laptop, once the phone answered: back to the client with the `login_hint_token` (or the refusal).
async fn discovery_complete(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let secret = cookie(&headers, POLL_COOKIE).ok_or_else(gone_page)?;
    match state.services.cross_device_outcome(&org.0.id, secret, true).await? {
        CrossDeviceOutcome::Done { redirect, trust } => {
            let mut response = to_client(&redirect);
            let clear = set_cookie(&state, &org.0.id, POLL_COOKIE, "", "Lax", Some(0));
            response.headers_mut().append(header::SET_COOKIE, clear);
            if let Some(token) = trust {
                let days = 90 * 24 * 3600;
                response.headers_mut().append(
                    header::SET_COOKIE,
                    set_cookie(&state, &org.0.id, TRUSTED_COOKIE, &token, "Lax", Some(days)),
                );
            }
            Ok(response)
        }
        CrossDeviceOutcome::Pending => {
            Err(PageError::new(StatusCode::CONFLICT, "cross_device_request_expired", "Still waiting for your phone"))
        }
        CrossDeviceOutcome::Expired => Err(gone_page()),
    }
}

/// The phone: the code form and the requests listed for this user; with `code` or `request`, that one.
async fn approve_page(
    State(state): State<AppState>,
    org: HostedOrg,
    browser: BrowserUser,
    headers: HeaderMap,
    client: Client,
    Query(q): Params,
) -> Result<Response, PageError> {
    let Some((user, session)) = browser.0.as_ref() else {
        let here = match param(&q, "code") {
            Some(code) => org.path(&format!("/approve?code={}", zauthy_core::oidc::normalize_code(code))),
            None => org.path("/approve"),
        };
        let target = url::form_urlencoded::Serializer::new(String::new()).append_pair("return_to", &here).finish();
        return Ok(redirect(&format!("{}?{target}", org.path("/login"))));
    };
    let view = match (param(&q, "code"), param(&q, "request")) {
        (Some(code), _) => {
            count_code_attempt(&state, &org, user, &client.0)?;
            Some(state.services.cross_device_by_code(&org.0.id, code, user).await)
        }
        (None, Some(id)) => Some(state.services.cross_device_for_user(&org.0.id, user, id).await),
        (None, None) => None,
    };
    let csrf = Csrf::for_page(&state, &org.0.id, &headers);
    // A code that did not work is shown with the API's words for why.
    let view = view.map(|found| found.map_err(|e| ApiError::from(e).detail));
    let phone = match &view {
        Some(Ok(view)) if view.needs_code => Phone::NeedsCode(&view.client_name),
        Some(Ok(view)) => {
            if state.services.cross_device_needs_mfa(&org.0.id, &view.request_id, session).await? {
                let back = org.path(&format!("/approve?request={}", view.request_id));
                return match state.services.start_step_up(user, session).await? {
                    Some(token) => Ok(crate::pages::mfa_page(&state, &org, &headers, &token, Some(&back), None)),
                    None => Err(PageError::new(
                        StatusCode::FORBIDDEN,
                        "mfa_required",
                        "Set up a second factor to approve sign-ins",
                    )),
                };
            }
            Phone::Approve(&view.client_name, &view.request_id, approval_scopes(view))
        }
        Some(Err(detail)) => Phone::Error(detail.clone()),
        None => {
            let pending = state.services.pending_cross_device(&org.0.id, user).await?;
            let links = pending
                .iter()
                .map(|v| (org.path(&format!("/approve?request={}", v.request_id)), v.client_name.clone()))
                .collect();
            Phone::List(links)
        }
    };
    let page = ApprovePage {
        shell: Shell::new("Approve a sign-in", &org.0.name),
        csrf: &csrf.token,
        approve: org.path("/approve"),
        view: phone,
    };
    Ok(csrf.attach(render(&page)))
}

/// The scopes of a request on the phone, each shown by its name.
fn approval_scopes(view: &ApprovalView) -> Vec<ScopeItem> {
    view.scope.iter().map(|s| ScopeItem { name: s.clone(), text: s.clone(), locked: s == "openid" }).collect()
}

/// The phone's answer.
async fn approve_submit(
    State(state): State<AppState>,
    org: HostedOrg,
    browser: BrowserUser,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let form = read_decision(&state, &headers, &browser, &fields)?;
    let signed_in = form.signed_in;
    let (request, trust) = (form.field("request").unwrap_or(""), form.field("trust") == Some("1"));
    let answer = match form.decision {
        ConsentDecision::Approve(scopes) => Some((scopes, trust)),
        ConsentDecision::Deny => None,
    };
    let approved = answer.is_some();
    state.services.answer_cross_device(&org.0.id, request, signed_in, answer).await?;
    let text = if approved { "Approved. Go back to your other device." } else { "Denied. Nothing was shared." };
    Ok(render(&DecidedPage { shell: Shell::new("Done", &org.0.name), id: "done", text, back: None }))
}

/// Carrier discovery (seed 001): with `mccmnc`, the serving organization's OpenID configuration; without,
/// a redirect to the client's organization's hosted discovery page, which asks on the device itself.
pub async fn carrier_discovery(State(state): State<AppState>, Query(q): Params) -> Result<Response, Response> {
    let error = |status: StatusCode, code: &str, description: &str| {
        (status, axum::Json(serde_json::json!({"error": code, "error_description": description}))).into_response()
    };
    let internal = |e: zauthy_core::CoreError| ApiError::from(e).into_response();
    let Some(client_id) = param(&q, "client_id") else {
        return Err(error(StatusCode::BAD_REQUEST, "invalid_request", "client_id is required"));
    };
    let client = state.services.find_client_anywhere(client_id).await.map_err(internal)?;
    let Some(client) = client else {
        return Err(error(StatusCode::BAD_REQUEST, "invalid_client", "client_id is unknown"));
    };
    match param(&q, "mccmnc") {
        Some(mccmnc) => {
            let Some(org_id) = state.services.store.find_carrier(mccmnc).await.map_err(internal)? else {
                return Err(error(
                    StatusCode::NOT_FOUND,
                    "unknown_mccmnc",
                    &format!("no organization serves mccmnc {mccmnc}"),
                ));
            };
            if org_id != client.org_id {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "invalid_client",
                    "this client is not registered with that carrier",
                ));
            }
            let mut response = axum::Json(state.services.provider_metadata(&org_id)).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        None => {
            let mut target = url::form_urlencoded::Serializer::new(String::new());
            for key in ["client_id", "redirect_uri", "state", "scope"] {
                if let Some(v) = param(&q, key) {
                    target.append_pair(key, v);
                }
            }
            let to = format!("/o/{}/discovery?{}", client.org_id, target.finish());
            Ok((StatusCode::FOUND, [(header::LOCATION, to)]).into_response())
        }
    }
}

const SCRIPT: &str = r#"// Polls the laptop's pending request and moves on once the phone has answered.
(function () {
  const box = document.getElementById('cross-device');
  if (!box) return;
  const tick = async () => {
    try {
      const r = await fetch(box.dataset.status, { credentials: 'same-origin' });
      const body = await r.json();
      if (body.status === 'answered') { window.location.assign(box.dataset.complete); return; }
      if (body.status === 'expired') { document.getElementById('waiting').textContent = 'This request expired: reload the page.'; return; }
    } catch (e) { /* try again */ }
    setTimeout(tick, 2000);
  };
  setTimeout(tick, 2000);
})();
"#;

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        SCRIPT,
    )
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/o/{org_id}/discovery", get(discovery_page))
        .route("/o/{org_id}/discovery/phone", axum::routing::post(discovery_phone))
        .route("/o/{org_id}/discovery/status", get(discovery_status))
        .route("/o/{org_id}/discovery/complete", get(discovery_complete))
        .route("/o/{org_id}/approve", get(approve_page).post(approve_submit))
}

pub fn assets_router() -> Router<AppState> {
    Router::new().route("/assets/cross-device.js", get(script))
}

/// Root-level carrier discovery (not under an organization: the `mccmnc` picks it).
pub fn carrier_router() -> Router<AppState> {
    Router::new().route("/.well-known/openid-configuration", get(carrier_discovery))
}
