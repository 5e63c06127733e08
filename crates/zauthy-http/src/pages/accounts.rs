//! The browser's signed-in accounts on one organization's pages, and the account chooser that
//! `prompt=select_account` shows. The active account's token is the session cookie; the others' tokens (at
//! most `MAX_OTHER_ACCOUNTS`, most recent first) wait in a second HttpOnly cookie. Signing in with another
//! account keeps the previous one there; choosing an account swaps it back in. Each token is checked as the
//! session cookie is (live session, user not blocked), so a revoked or expired one simply drops off the list.

use crate::hosted::{
    CSRF_FIELD, Csrf, HostedOrg, PageError, SESSION_COOKIE, Shell, cookie, redirect, render, set_cookie,
};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use std::collections::HashMap;
use zauthy_core::CoreError;
use zauthy_core::accounts::User;

/// The cookie that holds the tokens of the browser's other signed-in accounts, `.`-separated.
pub const ACCOUNTS_COOKIE: &str = "zauthy_accounts";
/// How many other accounts a browser keeps signed in on one organization's pages.
const MAX_OTHER_ACCOUNTS: usize = 4;

/// The tokens of the browser's other accounts, as the cookie lists them (unchecked, at most the maximum).
fn other_tokens(headers: &HeaderMap) -> Vec<&str> {
    cookie(headers, ACCOUNTS_COOKIE)
        .unwrap_or_default()
        .split('.')
        .filter(|t| t.starts_with("bs_") && t.len() <= 128)
        .take(MAX_OTHER_ACCOUNTS)
        .collect()
}

/// The two cookies that make `active` the browser's account and keep `others` (most recent first).
fn account_cookies(state: &AppState, org_id: &str, active: &str, others: &[&str]) -> [HeaderValue; 2] {
    let max_age = state.services.config.sessions.absolute_lifetime_secs;
    let kept: Vec<&str> = others.iter().copied().filter(|t| *t != active).take(MAX_OTHER_ACCOUNTS).collect();
    let list = if kept.is_empty() {
        set_cookie(state, org_id, ACCOUNTS_COOKIE, "", "Lax", Some(0))
    } else {
        set_cookie(state, org_id, ACCOUNTS_COOKIE, &kept.join("."), "Lax", Some(max_age))
    };
    [set_cookie(state, org_id, SESSION_COOKIE, active, "Lax", Some(max_age)), list]
}

/// Starts a browser session for a sign-in that just happened and adds its cookies to `response`: the new
/// session becomes the active account, and the account that was active before stays signed in beside it.
pub async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    org_id: &str,
    session_id: &str,
    mut response: Response,
) -> Result<Response, CoreError> {
    let token = state.services.bind_browser_session(org_id, session_id).await?;
    let mut others: Vec<&str> = cookie(headers, SESSION_COOKIE).into_iter().collect();
    others.extend(other_tokens(headers));
    for c in account_cookies(state, org_id, &token, &others) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

/// The browser's live accounts with their tokens, the active one first, each user once.
async fn live_accounts<'h>(
    state: &AppState,
    org_id: &str,
    headers: &'h HeaderMap,
) -> Result<Vec<(User, &'h str)>, CoreError> {
    let mut tokens: Vec<&str> = cookie(headers, SESSION_COOKIE).into_iter().collect();
    tokens.extend(other_tokens(headers));
    let mut accounts: Vec<(User, &str)> = Vec::new();
    for token in tokens {
        if let Some((user, _)) = state.services.browser_session(org_id, token).await?
            && !accounts.iter().any(|(u, _)| u.id == user.id)
        {
            accounts.push((user, token));
        }
    }
    Ok(accounts)
}

fn chooser_path(org: &HostedOrg, request_id: &str) -> String {
    org.path(&format!(
        "/select_account?request={}",
        url::form_urlencoded::byte_serialize(request_id.as_bytes()).collect::<String>()
    ))
}

/// Where the authorization request goes on: once an account is chosen (`chosen`), or after a sign-in.
fn consent_path(org: &HostedOrg, request_id: &str, chosen: bool) -> String {
    let request: String = url::form_urlencoded::byte_serialize(request_id.as_bytes()).collect();
    org.path(&format!("/consent?request={request}{}", if chosen { "&account=chosen" } else { "" }))
}

/// Sends the browser to the chooser for `request_id`.
pub fn to_chooser(org: &HostedOrg, request_id: &str) -> Response {
    redirect(&chooser_path(org, request_id))
}

/// The chooser: one button per signed-in account, and "use another account" (the sign-in form, whose new
/// session is then the chosen account).
async fn show_chooser(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let request_id = query.get("request").map(String::as_str).unwrap_or_default();
    let accounts = live_accounts(&state, &org.0.id, &headers).await?;
    let another = format!(
        "{}?{}",
        org.path("/login"),
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", &consent_path(&org, request_id, false))
            .append_pair("reauth", "1")
            .finish()
    );
    let csrf = Csrf::for_page(&state, &org.0.id, &headers);
    let accounts: Vec<&User> = accounts.iter().map(|(user, _)| user).collect();
    let page = ChooserPage {
        shell: Shell::new("Choose an account", &org.0.name),
        csrf: &csrf.token,
        action: org.path("/select_account"),
        request: request_id,
        accounts: &accounts,
        another: &another,
    };
    Ok(csrf.attach(render(&page)))
}

#[derive(Template)]
#[template(path = "account_chooser.html")]
struct ChooserPage<'a> {
    shell: Shell<'a>,
    csrf: &'a str,
    action: String,
    request: &'a str,
    accounts: &'a [&'a User],
    another: &'a str,
}

/// The choice: that account becomes the browser's active one, and the request goes on with it.
async fn choose(
    State(state): State<AppState>,
    org: HostedOrg,
    headers: HeaderMap,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    Csrf::verify(&state, &headers, fields.get(CSRF_FIELD).map(String::as_str))?;
    let request_id = fields.get("request").map(String::as_str).unwrap_or_default();
    let wanted = fields.get("account").map(String::as_str).unwrap_or_default();
    let accounts = live_accounts(&state, &org.0.id, &headers).await?;
    let Some((_, token)) = accounts.iter().find(|(user, _)| user.id == wanted) else {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "That account is no longer signed in here; choose another",
        ));
    };
    let others: Vec<&str> = accounts.iter().map(|(_, t)| *t).collect();
    let mut response = redirect(&consent_path(&org, request_id, true));
    for c in account_cookies(&state, &org.0.id, token, &others) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

/// Whether the browser chose its account for this step (the chooser sends it back with `account=chosen`).
pub fn account_chosen(query: &HashMap<String, String>) -> bool {
    query.get("account").is_some_and(|v| v == "chosen")
}

pub fn router() -> Router<AppState> {
    Router::new().route("/o/{org_id}/select_account", get(show_chooser).post(choose))
}
