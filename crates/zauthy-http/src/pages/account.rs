//! The signed-in browser's account page and sign-out.

use crate::hosted::{
    BrowserUser, CSRF_FIELD, Csrf, HostedOrg, PageError, SESSION_COOKIE, Shell, cookie, redirect, render, set_cookie,
};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use std::collections::HashMap;

/// Who is signed in, with links to the other hosted pages; signed-out browsers go to the sign-in page.
async fn account(
    State(state): State<AppState>,
    org: HostedOrg,
    browser: BrowserUser,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some(user) = browser.user() else {
        let login = org.path("/login");
        return Ok(redirect(&format!("{login}?return_to={}", org.path("/account"))));
    };
    let csrf = Csrf::for_page(&state, &org.0.id, &headers);
    let page = AccountPage {
        shell: Shell::new("Your account", &org.0.name),
        csrf: &csrf.token,
        email: user.email.as_str(),
        passkeys: org.path("/passkeys"),
        logout: org.path("/logout"),
    };
    Ok(csrf.attach(render(&page)))
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    shell: Shell<'a>,
    csrf: &'a str,
    email: &'a str,
    passkeys: String,
    logout: String,
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

/// Revokes the browser's session and clears its cookie.
async fn logout(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, PageError> {
    Csrf::verify(&state, &headers, form.fields.get(CSRF_FIELD).map(String::as_str))?;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.services.end_browser_session(&org.0.id, token).await?;
    }
    let mut response = redirect(&org.path("/login"));
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(&state, &org.0.id, SESSION_COOKIE, "", "Lax", Some(0)));
    Ok(response)
}

pub fn router() -> Router<AppState> {
    Router::new().route("/o/{org_id}/account", get(account)).route("/o/{org_id}/logout", post(logout))
}
