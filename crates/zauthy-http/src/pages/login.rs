//! The hosted sign-in page: email and password (then, for users with a second factor, the code form), and
//! "Sign in with a passkey" driven by `/assets/passkey.js`.

use crate::error::ApiError;
use crate::extract::Client;
use crate::hosted::{
    BrowserUser, CSRF_FIELD, Csrf, HostedOrg, MessagePage, PageError, Shell, redirect, render, safe_return_to,
};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;
use std::collections::HashMap;
use zauthy_core::accounts::{LoginOutcome, LoginRequest};

#[derive(Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
    /// Show the form even to a signed-in browser: a client asked for a fresh sign-in (`prompt=login`,
    /// `max_age`).
    reauth: Option<String>,
    /// The email to fill in (`login_hint` of an authorization request).
    login_hint: Option<String>,
}

/// What the sign-in form shows: the email typed so far and the error of the last attempt.
struct LoginView<'a> {
    email: &'a str,
    error: Option<&'a str>,
    return_to: &'a str,
    /// The organization's enabled social login providers, as (provider, button label).
    providers: &'a [(String, String)],
}

/// A "Continue with …" button: a link to the hosted social sign-in, which comes back to `return_to`.
struct SocialButton {
    slug: String,
    name: String,
    href: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    shell: Shell<'a>,
    csrf: &'a str,
    error: Option<&'a str>,
    action: String,
    magic_action: String,
    return_to: &'a str,
    email: &'a str,
    passkey_start: String,
    passkey_finish: String,
    providers: Vec<SocialButton>,
}

async fn enabled_providers(state: &AppState, org: &HostedOrg) -> Result<Vec<(String, String)>, PageError> {
    let providers = state.services.enabled_oauth_providers(&org.actor()).await?;
    Ok(providers.into_iter().map(|p| (p.slug, p.display_name)).collect())
}

fn login_page(
    state: &AppState,
    org: &HostedOrg,
    headers: &HeaderMap,
    view: LoginView<'_>,
    status: StatusCode,
) -> Response {
    let csrf = Csrf::for_page(state, &org.0.id, headers);
    let providers = view
        .providers
        .iter()
        .map(|(slug, name)| {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("provider", slug)
                .append_pair("return_to", view.return_to)
                .finish();
            SocialButton {
                slug: slug.clone(),
                name: name.clone(),
                href: format!("{}?{query}", org.path("/oauth/start")),
            }
        })
        .collect();
    let page = LoginPage {
        shell: Shell::new("Sign in", &org.0.name).with_scripts(&["/assets/passkey.js"]),
        csrf: &csrf.token,
        error: view.error,
        action: org.path("/login"),
        magic_action: org.path("/login/magic-link"),
        return_to: view.return_to,
        email: view.email,
        passkey_start: org.path("/passkey/authenticate/start"),
        passkey_finish: org.path("/passkey/authenticate/finish"),
        providers,
    };
    let mut response = render(&page);
    *response.status_mut() = status;
    csrf.attach(response)
}

/// The second step for users with a second factor: the code, posted with the `mfa_token` to `/login/mfa`.
async fn show_login(
    State(state): State<AppState>,
    org: HostedOrg,
    browser: BrowserUser,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let return_to = safe_return_to(&org.0.id, query.return_to.as_deref());
    if browser.user().is_some() && query.reauth.is_none() {
        return Ok(redirect(&return_to));
    }
    let email = query.login_hint.as_deref().filter(|h| h.contains('@')).unwrap_or("");
    let providers = enabled_providers(&state, &org).await?;
    let view = LoginView { email, error: None, return_to: &return_to, providers: &providers };
    Ok(login_page(&state, &org, &headers, view, StatusCode::OK))
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

/// Password sign-in: on success the browser session cookie and a redirect to `return_to` (this
/// organization's pages only); a wrong password shows the form again with the error.
async fn submit_login(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
    Client(client): Client,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let field = |name: &str| form.fields.get(name).map(String::as_str);
    Csrf::verify(&state, &headers, field(CSRF_FIELD))?;
    let return_to = safe_return_to(&org.0.id, field("return_to"));
    let email = field("email").unwrap_or("");
    let request = LoginRequest { email: email.to_owned(), password: field("password").unwrap_or("").to_owned() };
    match state.services.login(&org.actor(), request, &client).await {
        Ok(LoginOutcome::Success { tokens, .. }) => {
            Ok(super::signed_in(&state, &headers, &org.0.id, &tokens.session_id, redirect(&return_to)).await?)
        }
        Ok(LoginOutcome::MfaRequired { mfa_token, .. }) => {
            Ok(super::mfa_page(&state, &org, &headers, &mfa_token, Some(&return_to), None))
        }
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_server_error() {
                return Err(e.into());
            }
            let providers = enabled_providers(&state, &org).await?;
            let view = LoginView { email, error: Some(&e.detail), return_to: &return_to, providers: &providers };
            let mut response = login_page(&state, &org, &headers, view, e.status);
            if let Some(v) = e.clone_retry_after() {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(response)
        }
    }
}

/// "Email me a sign-in link": the link's landing page goes on to `return_to` once confirmed. The answer is
/// the same whether or not the address has an account.
async fn submit_magic_link(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
    Client(client): Client,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let field = |name: &str| form.fields.get(name).map(String::as_str);
    Csrf::verify(&state, &headers, field(CSRF_FIELD))?;
    let return_to = safe_return_to(&org.0.id, field("return_to"));
    let email = field("email").unwrap_or("");
    if let Err(e) = state.services.send_magic_link(&org.actor(), email, None, Some(&return_to), &client).await {
        let e = ApiError::from(e);
        if e.status.is_server_error() {
            return Err(e.into());
        }
        let providers = enabled_providers(&state, &org).await.unwrap_or_default();
        let view = LoginView { email, error: Some(&e.detail), return_to: &return_to, providers: &providers };
        return Ok(login_page(&state, &org, &headers, view, e.status));
    }
    let text = "If this address has an account, a sign-in link is on its way. Open it on this device to continue.";
    let sent = MessagePage { shell: Shell::new("Check your email", &org.0.name), id: Some("magic-link-sent"), text };
    Ok(render(&sent))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/o/{org_id}/login", get(show_login).post(submit_login))
        .route("/o/{org_id}/login/magic-link", axum::routing::post(submit_magic_link))
}
