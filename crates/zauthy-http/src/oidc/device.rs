//! The device authorization grant's two faces (RFC 8628): `POST /o/{org_id}/device_authorization`, where a
//! client gets its device and user codes, and the hosted `/o/{org_id}/device` page, where a signed-in user
//! enters (or scans) the user code, sees which service asks for which scopes, and approves or denies.
//! Code lookups count against a per-user and per-address budget, so user codes cannot be guessed.

use super::authorize::{ScopeItem, scope_items};
use super::decision::read_decision;
use super::oauth::{ClientForm, no_store_json, oauth_answer};
use crate::error::ApiResult;
use crate::extract::{ApiPath, Client};
use crate::hosted::{BrowserUser, Csrf, DecidedPage, HostedOrg, PageError, Shell, redirect, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;
use zauthy_core::ClientMeta;
use zauthy_core::accounts::User;
use zauthy_core::oidc::{ConsentPrompt, DeviceStep, FlowStatus};

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

#[derive(Template)]
#[template(path = "device_entry.html")]
struct EntryPage<'a> {
    shell: Shell<'a>,
    error: Option<&'a str>,
    action: String,
}

/// The form that asks for the code, with the error of the last try.
fn entry_page(org: &HostedOrg, error: Option<&str>) -> Response {
    let page = EntryPage { shell: Shell::new("Connect a device", &org.0.name), error, action: org.path("/device") };
    let mut response = render(&page);
    if error.is_some() {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}

/// A QR code as the numbers of an inline SVG (no image request, nothing from outside the page): the size of
/// its square and the path of its dark modules.
pub(crate) struct QrCode {
    pub dim: i32,
    pub path: String,
}

/// `text` as a QR code.
pub(crate) fn qr_code(text: &str) -> Option<QrCode> {
    let qr = qrcodegen::QrCode::encode_text(text, qrcodegen::QrCodeEcc::Medium).ok()?;
    let (size, border) = (qr.size(), 4);
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                let _ = write!(path, "M{},{}h1v1h-1z", x + border, y + border);
            }
        }
    }
    Some(QrCode { dim: size + 2 * border, path })
}

#[derive(Template)]
#[template(path = "device_confirm.html")]
struct ConfirmPage<'a> {
    shell: Shell<'a>,
    csrf: &'a str,
    client: &'a str,
    user_code: &'a str,
    action: String,
    scopes: Vec<ScopeItem>,
    qr: Option<QrCode>,
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
    let page = ConfirmPage {
        shell: Shell::new("Connect a device", &org.0.name),
        csrf: &csrf.token,
        client: &prompt.client_name,
        user_code,
        action: org.path("/device"),
        scopes: scope_items(&prompt.scopes),
        qr: qr_code(&complete),
    };
    csrf.attach(render(&page))
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
    let form = read_decision(&state, &headers, &browser, &fields)?;
    let signed_in = form.signed_in;
    count_code_attempt(&state, &org, &signed_in.0, &client.0)?;
    let typed = form.field("user_code").unwrap_or_default();
    let decision = form.decision;
    let status = match state.services.decide_device_flow(&org.0.id, typed, signed_in, decision).await {
        Ok(status) => status,
        Err(e) => return answer_error(&org, e.into()),
    };
    let (id, text) = if status == FlowStatus::Approved {
        ("device-approved", "Done: your device is signed in. You can close this window.")
    } else {
        ("device-denied", "Denied: the device was not signed in.")
    };
    Ok(render(&DecidedPage { shell: Shell::new("Connect a device", &org.0.name), id, text, back: None }))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/o/{org_id}/device", get(device_page).post(decide))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_the_path_of_its_dark_modules() {
        let qr = qr_code("http://localhost/o/org_x/device?user_code=BCDF-GHJK").expect("a QR code");
        assert!(qr.dim >= 29 + 8, "a version-3+ code with its border: {}", qr.dim);
        assert!(qr.path.matches("h1v1h-1z").count() > 100, "a version-3+ code has hundreds of dark modules");
    }
}
