//! The secondary-device flow's pages (seed 001). On the laptop, `/o/{org_id}/discovery` shows a QR code and
//! a numeric code and polls until the phone answers, then goes back to the client with a `login_hint_token`.
//! On the phone, `/o/{org_id}/approve` takes the code (typed or scanned; lookups count against the same
//! budget as device codes), lists requests from trusted browsers (approvable from the list) and those sent
//! to the user's phone number (which still need the code), and asks the user to approve, with a second factor
//! when required. Also carrier discovery:
//! `GET /.well-known/openid-configuration?client_id=…&mccmnc=…` at the root.

use super::authorize::to_client;
use super::device::count_code_attempt;
use crate::error::{ApiError, ApiResult};
use crate::extract::Client;
use crate::hosted::{BrowserUser, CSRF_FIELD, Csrf, HostedOrg, PageError, cookie, esc, page, redirect, set_cookie};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use std::collections::HashMap;
use zauthy_core::oidc::{ApprovalView, CrossDeviceOutcome};

/// The laptop's secret for its pending request (it alone may learn the answer).
const POLL_COOKIE: &str = "zauthy_xd";
/// A browser the user marked trusted: next time the request goes straight to their phone.
const TRUSTED_COOKIE: &str = "zauthy_trusted";

type Params = Query<HashMap<String, String>>;

fn param<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

fn waiting(org: &HostedOrg) -> String {
    format!(
        r#"<div id="cross-device" data-status="{status}" data-complete="{complete}"><p class="muted" id="waiting">Waiting for your phone…</p></div>"#,
        status = esc(&org.path("/discovery/status")),
        complete = esc(&org.path("/discovery/complete")),
    )
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
    let targeted = if started.request.target_user_id.is_some() {
        r#"<p id="trusted">This browser is trusted: approve the request waiting on your phone.</p>"#
    } else {
        ""
    };
    let body = format!(
        r#"{targeted}<p>On your phone, scan this code or open <strong>{approve}</strong> and enter:</p>
<p class="code" id="user-code">{shown}</p>
{qr}
{waiting}
<form method="post" action="{phone_action}">{field}
<label for="phone">Or send it to your phone by number (you still enter the code above there)</label>
<input type="tel" id="phone" name="phone" autocomplete="tel" placeholder="+14155550100">
<button type="submit" class="secondary">Send to my phone</button>
</form>"#,
        approve = esc(&org.path("/approve")),
        qr = super::device::qr_svg(&approve_url),
        waiting = waiting(&org),
        phone_action = esc(&org.path("/discovery/phone")),
        field = csrf.field(),
    );
    let mut response =
        page("Sign in with your phone", &org.0.name, &body, &["/assets/cross-device.js"]).into_response();
    let secret_cookie = set_cookie(&state, &org.0.id, POLL_COOKIE, &started.poll_secret, "Lax", Some(300));
    response.headers_mut().append(header::SET_COOKIE, secret_cookie);
    if let Some(c) = csrf.set_cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
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
    let body = format!(
        r#"<p id="sent">If this number belongs to an account, the request is waiting on that phone: open {approve} there.</p>{waiting}"#,
        approve = esc(&org.path("/approve")),
        waiting = waiting(&org),
    );
    Ok(page("Check your phone", &org.0.name, &body, &["/assets/cross-device.js"]).into_response())
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
    let body = match view {
        Some(Ok(view)) if view.needs_code => {
            let ask = format!(
                r#"<p><strong id="client-name">{}</strong> is asking to sign you in on another device. Enter the code that device shows to continue.</p>"#,
                esc(&view.client_name)
            );
            format!("{ask}{}", code_form(&org))
        }
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
            approval_form(&org, &csrf, &view)
        }
        Some(Err(e)) => {
            let e = ApiError::from(e);
            format!(r#"<p class="error" id="error">{}</p>{}"#, esc(&e.detail), code_form(&org))
        }
        None => {
            let pending = state.services.pending_cross_device(&org.0.id, user).await?;
            let items: String = pending
                .iter()
                .map(|v| {
                    format!(
                        r#"<li><a class="pending-request" href="{href}">{client}</a></li>"#,
                        href = esc(&org.path(&format!("/approve?request={}", v.request_id))),
                        client = esc(&v.client_name)
                    )
                })
                .collect();
            let list = if items.is_empty() {
                String::new()
            } else {
                format!(r#"<p>Waiting for you:</p><ul id="pending">{items}</ul>"#)
            };
            format!("{list}{}", code_form(&org))
        }
    };
    let mut response = page("Approve a sign-in", &org.0.name, &body, &[]).into_response();
    if let Some(c) = csrf.set_cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

fn code_form(org: &HostedOrg) -> String {
    format!(
        r#"<form method="get" action="{action}" id="code-form">
<label for="code">Code shown on your other device</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="off" required>
<button type="submit">Continue</button>
</form>"#,
        action = esc(&org.path("/approve")),
    )
}

fn approval_form(org: &HostedOrg, csrf: &Csrf, view: &ApprovalView) -> String {
    let items: String = view
        .scope
        .iter()
        .map(|s| {
            let lock = if s == "openid" { " checked disabled" } else { " checked" };
            format!(r#"<li><label><input type="checkbox" name="scope" value="{s}"{lock}> {s}</label></li>"#, s = esc(s))
        })
        .collect();
    format!(
        r#"<p><strong id="client-name">{client}</strong> is asking to sign you in on another device and to see:</p>
<form method="post" action="{action}" id="approve-form">{field}
<input type="hidden" name="request" value="{request}">
<ul class="scopes">{items}</ul>
<label><input type="checkbox" name="trust" value="1" id="trust"> Trust that browser: next time, just approve here</label>
<button type="submit" name="decision" value="approve" id="approve">Approve</button>
<button type="submit" name="decision" value="deny" id="deny" class="secondary">Deny</button>
</form>"#,
        client = esc(&view.client_name),
        action = esc(&org.path("/approve")),
        field = csrf.field(),
        request = esc(&view.request_id),
    )
}

/// The phone's answer.
async fn approve_submit(
    State(state): State<AppState>,
    org: HostedOrg,
    browser: BrowserUser,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    Csrf::verify(&state, &headers, field(CSRF_FIELD))?;
    let Some(signed_in) = browser.0.as_ref() else {
        return Err(PageError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Sign in first"));
    };
    let answer = match field("decision") {
        Some("approve") => {
            let scopes = fields.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()).collect();
            Some((scopes, field("trust") == Some("1")))
        }
        Some("deny") => None,
        _ => {
            return Err(PageError::new(StatusCode::BAD_REQUEST, "invalid_request", "decision must be approve or deny"));
        }
    };
    let approved = answer.is_some();
    state.services.answer_cross_device(&org.0.id, field("request").unwrap_or(""), signed_in, answer).await?;
    let text = if approved { "Approved. Go back to your other device." } else { "Denied. Nothing was shared." };
    Ok(page("Done", &org.0.name, &format!(r#"<p id="done">{text}</p>"#), &[]).into_response())
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
