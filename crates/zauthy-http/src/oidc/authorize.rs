//! The browser side of the provider: `/o/{org_id}/authorize` (GET or POST, or a PAR `request_uri`), the
//! consent page, and the trip back to the client (`query` redirect or `form_post`). Errors about the client
//! or its redirect URI are shown here and never redirected; the rest go back to the client.

use super::decision::read_decision;
use crate::hosted::{BrowserUser, CSRF_FIELD, Csrf, HostedOrg, MessagePage, PageError, Shell, redirect, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, RawForm, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use std::collections::HashMap;
use zauthy_core::oidc::{AuthRedirect, AuthorizationStep, AuthorizeError, ConsentPrompt, EndSession, OidcError};

/// Parameters of a request; a parameter given twice is refused (RFC 6749 §3.1).
fn single_valued(pairs: Vec<(String, String)>) -> Result<HashMap<String, String>, PageError> {
    let mut out = HashMap::new();
    for (k, v) in pairs {
        if out.insert(k.clone(), v).is_some() {
            return Err(PageError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("parameter {k} is repeated"),
            ));
        }
    }
    Ok(out)
}

/// Sends the browser back to the client: a redirect, or for `form_post` an auto-submitted form.
pub(crate) fn to_client(r: &AuthRedirect) -> Response {
    if !r.form_post {
        return redirect(&r.url());
    }
    let page = FormPostPage {
        shell: Shell::new("Returning to the application", "").with_scripts(&["/assets/form-post.js"]),
        action: &r.redirect_uri,
        params: &r.params,
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostPage<'a> {
    shell: Shell<'a>,
    action: &'a str,
    params: &'a [(&'static str, String)],
}

/// A scope as a checkbox on a consent page: `openid` cannot be unticked, the rest can.
pub(super) struct ScopeItem {
    pub name: String,
    pub text: String,
    pub locked: bool,
}

/// The scopes of a consent page, each with what it shares in words.
pub(super) fn scope_items(scopes: &[String]) -> Vec<ScopeItem> {
    scopes
        .iter()
        .map(|s| ScopeItem {
            name: s.clone(),
            text: SCOPE_TEXT.iter().find(|(k, _)| k == s).map_or_else(|| s.clone(), |(_, t)| (*t).to_owned()),
            locked: s == "openid",
        })
        .collect()
}

/// An authorization error that must not be redirected, as a page.
fn fatal(e: &zauthy_core::oidc::OAuthError) -> PageError {
    PageError::new(StatusCode::BAD_REQUEST, "invalid_request", format!("{}: {}", e.error, e.description))
}

async fn authorize(
    State(state): State<AppState>,
    org: HostedOrg,
    method: Method,
    Query(query): Query<Vec<(String, String)>>,
    RawForm(body): RawForm,
) -> Result<Response, PageError> {
    let pairs = if method == Method::POST { url::form_urlencoded::parse(&body).into_owned().collect() } else { query };
    let params = single_valued(pairs)?;
    match state.services.start_authorization(&org.0.id, &params).await {
        Ok(request_id) => Ok(redirect(&consent_path(&org, &request_id))),
        Err(AuthorizeError::Fatal(e)) => Err(fatal(&e)),
        Err(AuthorizeError::Redirect(r)) => Ok(to_client(&r)),
        Err(AuthorizeError::Core(e)) => Err(e.into()),
    }
}

fn consent_path(org: &HostedOrg, request_id: &str) -> String {
    org.path(&format!("/consent?request={request_id}"))
}

pub(super) const SCOPE_TEXT: &[(&str, &str)] = &[
    ("openid", "Know who you are (your account identifier)"),
    ("profile", "Your name"),
    ("email", "Your email address"),
    ("phone", "Your phone number"),
    ("address", "Your postal address"),
    ("offline_access", "Stay signed in when you are not using it"),
];

fn consent_page(
    state: &AppState,
    org: &HostedOrg,
    headers: &HeaderMap,
    request_id: &str,
    prompt: &ConsentPrompt,
) -> Response {
    let csrf = Csrf::for_page(state, &org.0.id, headers);
    let page = ConsentPage {
        shell: Shell::new("Share your information", &org.0.name),
        csrf: &csrf.token,
        client: &prompt.client_name,
        action: org.path("/consent"),
        request: request_id,
        scopes: scope_items(&prompt.scopes),
    };
    csrf.attach(render(&page))
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    shell: Shell<'a>,
    csrf: &'a str,
    client: &'a str,
    action: String,
    request: &'a str,
    scopes: Vec<ScopeItem>,
}

/// The next step of a pending request for this browser.
async fn show_consent(
    State(state): State<AppState>,
    org: HostedOrg,
    browser: BrowserUser,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let request_id = query.get("request").map(String::as_str).unwrap_or_default();
    let chosen = crate::pages::account_chosen(&query);
    let step = state.services.authorization_step(&org.0.id, request_id, browser.0.as_ref(), chosen).await?;
    let here = consent_path(&org, request_id);
    Ok(match step {
        AuthorizationStep::SignIn { again, login_hint } => {
            let mut target = url::form_urlencoded::Serializer::new(String::new());
            target.append_pair("return_to", &here);
            if again {
                target.append_pair("reauth", "1");
            }
            if let Some(hint) = login_hint {
                target.append_pair("login_hint", &hint);
            }
            redirect(&format!("{}?{}", org.path("/login"), target.finish()))
        }
        AuthorizationStep::SecondFactor { mfa_token } => {
            crate::pages::mfa_page(&state, &org, &headers, &mfa_token, Some(&here), None)
        }
        AuthorizationStep::ChooseAccount => crate::pages::to_chooser(&org, request_id),
        AuthorizationStep::Consent(prompt) => consent_page(&state, &org, &headers, request_id, &prompt),
        AuthorizationStep::Finish(r) => to_client(&r),
    })
}

/// Allow (with the scopes left ticked) or deny.
async fn submit_consent(
    State(state): State<AppState>,
    org: HostedOrg,
    browser: BrowserUser,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let form = read_decision(&state, &headers, &browser, &fields)?;
    let signed_in = form.signed_in;
    let request_id = form.field("request").unwrap_or_default();
    let decision = form.decision;
    let r = state.services.decide_consent(&org.0.id, request_id, signed_in, decision).await?;
    Ok(to_client(&r))
}

const FORM_POST_SCRIPT: &str = "document.getElementById('form-post')?.submit();\n";

async fn form_post_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        FORM_POST_SCRIPT,
    )
}

/// Signs the browser out (its session is revoked) and sends it on: to the client's registered page, or to a
/// "signed out" page.
async fn sign_out_and_leave(
    state: &AppState,
    org: &HostedOrg,
    headers: &HeaderMap,
    target: &EndSession,
) -> Result<Response, PageError> {
    if let Some(token) = crate::hosted::cookie(headers, crate::hosted::SESSION_COOKIE) {
        state.services.end_browser_session(&org.0.id, token).await?;
    }
    let mut response = match &target.redirect {
        Some(url) => redirect(url),
        None => render(&MessagePage {
            shell: Shell::new("You are signed out", &org.0.name),
            id: None,
            text: "You can close this window.",
        }),
    };
    let clear = crate::hosted::set_cookie(state, &org.0.id, crate::hosted::SESSION_COOKIE, "", "Lax", Some(0));
    response.headers_mut().append(header::SET_COOKIE, clear);
    Ok(response)
}

async fn checked_end_session(
    state: &AppState,
    org: &HostedOrg,
    p: &HashMap<String, String>,
) -> Result<EndSession, PageError> {
    match state.services.check_end_session(&org.0.id, p).await {
        Ok(target) => Ok(target),
        Err(OidcError::OAuth(e)) => Err(fatal(&e)),
        Err(OidcError::Core(e)) => Err(e.into()),
    }
}

/// `end_session`: a request naming the browser's own session (`id_token_hint`) signs out at once; any other
/// asks the user first, so a link on another site cannot sign anyone out.
async fn end_session(
    State(state): State<AppState>,
    org: HostedOrg,
    browser: BrowserUser,
    headers: HeaderMap,
    method: Method,
    Query(query): Query<Vec<(String, String)>>,
    RawForm(body): RawForm,
) -> Result<Response, PageError> {
    let pairs = if method == Method::POST { url::form_urlencoded::parse(&body).into_owned().collect() } else { query };
    let params = single_valued(pairs)?;
    let target = checked_end_session(&state, &org, &params).await?;
    let Some((_, session)) = browser.0.as_ref() else {
        return sign_out_and_leave(&state, &org, &headers, &target).await;
    };
    if target.hinted_session.as_deref() == Some(session.sid.as_str()) {
        return sign_out_and_leave(&state, &org, &headers, &target).await;
    }
    let csrf = Csrf::for_page(&state, &org.0.id, &headers);
    let params: Vec<(String, String)> = params.into_iter().collect();
    let page = EndSessionPage {
        shell: Shell::new("Sign out", &org.0.name),
        csrf: &csrf.token,
        client: target.client_name.as_deref(),
        action: org.path("/end_session/confirm"),
        params: &params,
    };
    Ok(csrf.attach(render(&page)))
}

#[derive(Template)]
#[template(path = "end_session.html")]
struct EndSessionPage<'a> {
    shell: Shell<'a>,
    csrf: &'a str,
    client: Option<&'a str>,
    action: String,
    params: &'a [(String, String)],
}

async fn confirm_end_session(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    Csrf::verify(&state, &headers, fields.get(CSRF_FIELD).map(String::as_str))?;
    let mut params = fields;
    params.remove(CSRF_FIELD);
    let target = checked_end_session(&state, &org, &params).await?;
    sign_out_and_leave(&state, &org, &headers, &target).await
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/o/{org_id}/authorize", get(authorize).post(authorize))
        .route("/o/{org_id}/consent", get(show_consent).post(submit_consent))
        .route("/o/{org_id}/end_session", get(end_session).post(end_session))
        .route("/o/{org_id}/end_session/confirm", axum::routing::post(confirm_end_session))
}

/// The script that submits a `form_post` answer (served from here: the pages allow only their own scripts).
pub fn assets_router() -> Router<AppState> {
    Router::new().route("/assets/form-post.js", get(form_post_script))
}
