//! The device authorization grant's two faces (RFC 8628): `POST /o/{org_id}/device_authorization`, where a
//! client gets its device and user codes, and the hosted `/o/{org_id}/device` page, where a signed-in user
//! enters (or scans) the user code, sees which service asks for which scopes, and approves or denies.
//! Code lookups count against a per-user and per-address budget, so user codes cannot be guessed.

use super::oauth::{ClientForm, no_store_json, oauth_answer};
use crate::error::ApiResult;
use crate::extract::{ApiPath, Client};
use crate::hosted::{BrowserUser, CSRF_FIELD, Csrf, HostedOrg, PageError, esc, page, redirect};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;
use zauthy_core::ClientMeta;
use zauthy_core::accounts::User;
use zauthy_core::oidc::{ConsentDecision, ConsentPrompt, DeviceStep, FlowStatus};

/// Codes a signed-in user may try in `ATTEMPT_WINDOW` (every lookup counts, right or wrong, so a lucky guess
/// past the limit is not told apart); an address gets a few users' worth.
const ATTEMPTS_PER_USER: u32 = 20;
const ATTEMPTS_PER_ADDRESS: u32 = 60;
const ATTEMPT_WINDOW: Duration = Duration::from_secs(600);

/// Ask for a device code and a user code. Client-authenticated like the token endpoint (public clients
/// with `none`); the client must be registered for `urn:ietf:params:oauth:grant-type:device_code`.
#[utoipa::path(post, path = "/o/{org_id}/device_authorization", tag = "oidc",
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    request_body(content = HashMap<String, String>, content_type = "application/x-www-form-urlencoded",
        description = "client_id (and client_secret, or Basic), scope"),
    responses(
        (status = 200, description = "device_code, user_code, verification_uri, verification_uri_complete, expires_in, interval", content_type = "application/json"),
        (status = 400, description = "invalid_request, invalid_scope, unauthorized_client"),
        (status = 413, description = "invalid_request: the body is over the size limit"),
        (status = 401, description = "invalid_client")))]
pub async fn device_authorization(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    ClientForm { form, auth }: ClientForm<HashMap<String, String>>,
) -> ApiResult<Response> {
    let scope = form.get("scope").map(String::as_str);
    oauth_answer(state.services.start_device_authorization(&org_id, &auth, scope).await, no_store_json)
}

/// The hosted sign-in page, coming back to `here` afterwards.
pub(super) fn to_login(org: &HostedOrg, here: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("return_to", here).finish();
    redirect(&format!("{}?{query}", org.path("/login")))
}

fn device_path(org: &HostedOrg, user_code: Option<&str>) -> String {
    match user_code {
        Some(code) => {
            let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("user_code", code).finish();
            org.path(&format!("/device?{q}"))
        }
        None => org.path("/device"),
    }
}

/// Counts one lookup of a code typed on the phone (a device grant's user code or a secondary-device code,
/// one budget for both); past the budget the page answers 429 whatever the code.
pub(super) fn count_code_attempt(
    state: &AppState,
    org: &HostedOrg,
    user: &User,
    meta: &ClientMeta,
) -> Result<(), PageError> {
    let by_user =
        state.limiter.check(&format!("device-code:{}:{}", org.0.id, user.id), ATTEMPTS_PER_USER, ATTEMPT_WINDOW);
    let by_address = match &meta.ip {
        Some(ip) => state.limiter.check(&format!("device-code-ip:{ip}"), ATTEMPTS_PER_ADDRESS, ATTEMPT_WINDOW),
        None => by_user,
    };
    if by_user.allowed && by_address.allowed {
        return Ok(());
    }
    let reset = by_user.reset_secs.max(by_address.reset_secs);
    Err(crate::error::ApiError::rate_limited(reset).into())
}

/// The form that asks for the code, with the error of the last try.
fn entry_page(org: &HostedOrg, error: Option<&str>) -> Response {
    let error =
        error.map(|e| format!(r#"<p class="error" id="error" role="alert">{}</p>"#, esc(e))).unwrap_or_default();
    let body = format!(
        r#"{error}<p>Enter the code your device shows.</p>
<form method="get" action="{action}" id="user-code-form">
<label for="user_code">Code</label>
<input type="text" id="user_code" name="user_code" autocomplete="off" autocapitalize="characters" spellcheck="false" placeholder="XXXX-XXXX" maxlength="20" required autofocus>
<button type="submit" id="continue">Continue</button>
</form>"#,
        action = esc(&org.path("/device")),
    );
    let status = if error.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    (status, page("Connect a device", &org.0.name, &body, &[])).into_response()
}

fn with_csrf_cookie(mut response: Response, csrf: Csrf) -> Response {
    if let Some(c) = csrf.set_cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// The scopes as checkboxes: `openid` cannot be unticked, the rest can.
pub(super) fn scope_items(scopes: &[String]) -> String {
    scopes
        .iter()
        .map(|s| {
            let text = super::authorize::SCOPE_TEXT.iter().find(|(k, _)| *k == s).map(|(_, t)| *t).unwrap_or(s);
            let lock = if s == "openid" { " checked disabled" } else { " checked" };
            format!(
                r#"<li><label><input type="checkbox" name="scope" value="{s}"{lock}> {text}</label></li>"#,
                s = esc(s),
                text = esc(text)
            )
        })
        .collect()
}

/// `text` as an inline SVG QR code (no image request, nothing from outside the page).
pub(crate) fn qr_svg(text: &str) -> String {
    let Ok(qr) = qrcodegen::QrCode::encode_text(text, qrcodegen::QrCodeEcc::Medium) else {
        return String::new();
    };
    let (size, border) = (qr.size(), 4);
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                let _ = write!(path, "M{},{}h1v1h-1z", x + border, y + border);
            }
        }
    }
    let dim = size + 2 * border;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {dim} {dim}" width="180" height="180" role="img" aria-label="QR code of this page" id="qr"><rect width="{dim}" height="{dim}" fill="#fff"/><path d="{path}" fill="#000"/></svg>"##
    )
}

fn confirm_page(
    state: &AppState,
    org: &HostedOrg,
    headers: &HeaderMap,
    user_code: &str,
    prompt: &ConsentPrompt,
) -> Response {
    let csrf = Csrf::for_page(state, &org.0.id, headers);
    let complete =
        format!("{}{}", state.services.config.public_url.trim_end_matches('/'), device_path(org, Some(user_code)));
    let body = format!(
        r#"<p><strong id="client-name">{client}</strong> asks to sign in on a device with your account.</p>
<p>Only continue if your device shows this code: <strong id="user-code">{code}</strong></p>
<form method="post" action="{action}" id="device-form">{field}
<input type="hidden" name="user_code" value="{code}">
<ul class="scopes">{items}</ul>
<p class="muted">Untick what you do not want to share. You can withdraw this later.</p>
<button type="submit" name="decision" value="approve" id="approve">Allow</button>
<button type="submit" name="decision" value="deny" id="deny" class="secondary">Deny</button>
</form>
<details><summary>Continue on your phone instead</summary>{qr}</details>"#,
        client = esc(&prompt.client_name),
        code = esc(user_code),
        action = esc(&org.path("/device")),
        field = csrf.field(),
        items = scope_items(&prompt.scopes),
        qr = qr_svg(&complete),
    );
    with_csrf_cookie(page("Connect a device", &org.0.name, &body, &[]).into_response(), csrf)
}

/// `GET /o/{org_id}/device[?user_code=…]`: the code form, or what the code asks for.
async fn device_page(
    State(state): State<AppState>,
    org: HostedOrg,
    browser: BrowserUser,
    headers: HeaderMap,
    client: Client,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let typed = query.get("user_code").map(|c| c.trim()).filter(|c| !c.is_empty());
    let Some(signed_in) = browser.0.as_ref() else {
        return Ok(to_login(&org, &device_path(&org, typed)));
    };
    let Some(typed) = typed else {
        return Ok(entry_page(&org, None));
    };
    count_code_attempt(&state, &org, &signed_in.0, &client.0)?;
    match state.services.device_step(&org.0.id, typed, signed_in).await {
        Ok(DeviceStep::SecondFactor { mfa_token }) => {
            let here = device_path(&org, Some(typed));
            Ok(crate::pages::mfa_page(&state, &org, &headers, &mfa_token, Some(&here), None))
        }
        Ok(DeviceStep::Confirm { user_code, prompt }) => Ok(confirm_page(&state, &org, &headers, &user_code, &prompt)),
        Err(e) => answer_error(&org, e.into()),
    }
}

/// A code that is wrong, expired or decided goes back to the form; anything else is an error page.
fn answer_error(org: &HostedOrg, e: PageError) -> Result<Response, PageError> {
    if e.code == "invalid_user_code" { Ok(entry_page(org, Some(&e.detail))) } else { Err(e) }
}

/// `POST /o/{org_id}/device`: allow (with the scopes left ticked) or deny.
async fn decide(
    State(state): State<AppState>,
    org: HostedOrg,
    browser: BrowserUser,
    headers: HeaderMap,
    client: Client,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    Csrf::verify(&state, &headers, field(CSRF_FIELD))?;
    let Some(signed_in) = browser.0.as_ref() else {
        return Err(PageError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Sign in first"));
    };
    let decision = match field("decision") {
        Some("approve") => {
            ConsentDecision::Approve(fields.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()).collect())
        }
        Some("deny") => ConsentDecision::Deny,
        _ => {
            return Err(PageError::new(StatusCode::BAD_REQUEST, "invalid_request", "decision must be approve or deny"));
        }
    };
    count_code_attempt(&state, &org, &signed_in.0, &client.0)?;
    let typed = field("user_code").unwrap_or_default();
    let status = match state.services.decide_device_flow(&org.0.id, typed, signed_in, decision).await {
        Ok(status) => status,
        Err(e) => return answer_error(&org, e.into()),
    };
    let body = if status == FlowStatus::Approved {
        r#"<p id="device-approved">Done: your device is signed in. You can close this window.</p>"#
    } else {
        r#"<p id="device-denied">Denied: the device was not signed in.</p>"#
    };
    Ok(page("Connect a device", &org.0.name, body, &[]).into_response())
}

pub fn router() -> Router<AppState> {
    Router::new().route("/o/{org_id}/device", get(device_page).post(decide))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_an_inline_svg_of_dark_modules() {
        let svg = qr_svg("http://localhost/o/org_x/device?user_code=BCDF-GHJK");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.matches("h1v1h-1z").count() > 100, "a version-3+ code has hundreds of dark modules");
    }
}
