//! What every hosted page shares, whichever feature it belongs to (the account pages in `pages`, the OpenID
//! provider's consent and approval pages in `oidc`, social login's in `federation`): the organization of the
//! `/o/{org_id}/…` path, the browser's signed-in user, cookies scoped to the organization, CSRF protection
//! (double-submit cookie compared in constant time, and a same-origin `Origin`), the page shell and error page,
//! safe return paths, and the pipeline that adds the security headers. It imports no feature.

mod csrf;
mod render;

pub use csrf::{CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, Csrf};
pub use render::{DecidedPage, HtmlEscaper, MessagePage, PageError, Shell, render};

use crate::error::ApiError;
use crate::middleware::client_meta;
use crate::state::AppState;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::time::Duration;
use zauthy_core::accounts::User;
use zauthy_core::orgs::Organization;
use zauthy_core::ratelimit::Category;
use zauthy_core::sessions::Session;
use zauthy_core::{Actor, ClientMeta};

/// The cookie that holds a browser's session token on one organization's pages.
pub const SESSION_COOKIE: &str = "zauthy_session";

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for a cookie scoped to one organization's pages. `Secure` whenever the server is served
/// over https; `max_age: Some(0)` deletes it.
pub fn set_cookie(
    state: &AppState,
    org_id: &str,
    name: &str,
    value: &str,
    same_site: &str,
    max_age: Option<i64>,
) -> HeaderValue {
    let secure = if state.services.config.public_url.starts_with("https://") { "; Secure" } else { "" };
    let max_age = max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    let text = format!("{name}={value}; Path=/o/{org_id}; HttpOnly; SameSite={same_site}{secure}{max_age}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The organization named by the `/o/{org_id}` prefix; an unknown id is a 404 page.
pub struct HostedOrg(pub Organization);

impl HostedOrg {
    pub fn actor(&self) -> Actor {
        Actor::Hosted { org_id: self.0.id.clone() }
    }

    /// Where a page of this organization lives.
    pub fn path(&self, rest: &str) -> String {
        format!("/o/{}{rest}", self.0.id)
    }
}

/// `org_…` from a path like `/o/org_…/login`.
fn org_in_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/o/")?;
    let org = rest.split('/').next()?;
    zauthy_core::ids::is_valid_id(zauthy_core::ids::ORG, org).then_some(org)
}

impl FromRequestParts<AppState> for HostedOrg {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let org_id = org_in_path(parts.uri.path()).ok_or_else(PageError::not_found)?;
        let org = state.services.store.find_org(org_id).await.map_err(PageError::from)?;
        org.map(Self).ok_or_else(PageError::not_found)
    }
}

/// The browser's signed-in user on this organization's pages, if any.
pub struct BrowserUser(pub Option<(User, Session)>);

impl BrowserUser {
    pub fn user(&self) -> Option<&User> {
        self.0.as_ref().map(|(u, _)| u)
    }

    /// The signed-in user as an API actor (for "my passkeys" and the like).
    pub fn actor(&self) -> Option<Actor> {
        self.0.as_ref().map(|(u, s)| Actor::User {
            org_id: u.org_id.clone(),
            user_id: u.id.clone(),
            role: u.role,
            session_id: s.id.clone(),
        })
    }
}

impl FromRequestParts<AppState> for BrowserUser {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let Some(org_id) = org_in_path(parts.uri.path()) else {
            return Ok(Self(None));
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(Self(None));
        };
        Ok(Self(state.services.browser_session(org_id, token).await.map_err(PageError::from)?))
    }
}

/// A local path on this organization's pages to go to after sign-in; anything else (other hosts,
/// `//evil.com`, other organizations, `/o/{org}/../{other}/…`) falls back to the account page, so no open
/// redirect. The path is checked as the browser will resolve it: dot segments, also percent-encoded ones
/// (`%2e%2e`), are resolved first as the URL standard does, and the resolved path is what is returned.
pub fn safe_return_to(org_id: &str, requested: Option<&str>) -> String {
    const BASE: &str = "http://return-to.invalid/";
    let prefix = format!("/o/{org_id}/");
    let resolved = requested
        .filter(|p| {
            p.starts_with(&prefix) && !p.contains("//") && !p.contains('\\') && !p.chars().any(char::is_control)
        })
        .and_then(|p| url::Url::parse(BASE).ok()?.join(p).ok())
        .filter(|u| u.as_str().starts_with(BASE) && u.path().starts_with(&prefix));
    match resolved {
        Some(u) => match u.query() {
            Some(query) => format!("{}?{query}", u.path()),
            None => u.path().to_owned(),
        },
        None => format!("/o/{org_id}/account"),
    }
}

/// Counts a request to `/o/{org_id}/…` against the organization's `auth` budget (hosted pages and OAuth
/// endpoints are sign-in traffic, like `/login`).
pub(crate) async fn check_org_auth_limit(state: &AppState, path: &str) -> Result<(), ApiError> {
    let limits = &state.config.rate_limits;
    let Some(org_id) = org_in_path(path).filter(|_| limits.enabled) else {
        return Ok(());
    };
    let plan = state.plan_of(org_id).await?;
    let key = format!("org:{org_id}:{}", Category::Auth.as_str());
    let d = state.limiter.check(&key, limits.for_plan(plan).get(Category::Auth), Duration::from_secs(60));
    if d.allowed { Ok(()) } else { Err(ApiError::rate_limited(d.reset_secs)) }
}

/// Security headers of every hosted page: nothing cached, no framing, no referrer to other sites (links
/// carry tokens), scripts only from this server. No `form-action`: sign-in and consent forms end in a
/// redirect to the client's registered redirect URI, and browsers apply `form-action` to those redirects. `same-origin` rather than `no-referrer`: under
/// `no-referrer` browsers send `Origin: null` on the pages' own form posts and fetches, which the CSRF
/// check must refuse.
pub async fn hosted_pipeline(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let meta: ClientMeta = client_meta(req.headers(), peer, state.config.trust_proxy_headers);
    // The organization's auth budget covers its hosted sign-in pages too.
    if let Err(e) = check_org_auth_limit(&state, req.uri().path()).await {
        return PageError::from(e).into_response();
    }
    req.extensions_mut().insert(meta);
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

const STYLE: &str = include_str!("../../assets/zauthy.css");
const PASSKEY_SCRIPT: &str = include_str!("../../assets/passkey.js");

async fn passkey_script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        PASSKEY_SCRIPT,
    )
}

async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], STYLE)
}

/// Static assets of the hosted pages (served by the binary, so an air-gapped install works).
pub fn assets_router() -> Router<AppState> {
    Router::new().route("/assets/zauthy.css", get(stylesheet)).route("/assets/passkey.js", get(passkey_script))
}

pub(crate) fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_on_the_organizations_pages() {
        let org = "org_aaaaaaaaaaaaaaaaaaaaaaaa";
        assert_eq!(safe_return_to(org, Some("/o/org_aaaaaaaaaaaaaaaaaaaaaaaa/passkeys")), format!("/o/{org}/passkeys"));
        // Returned as the browser would resolve it, query kept.
        assert_eq!(
            safe_return_to(org, Some("/o/org_aaaaaaaaaaaaaaaaaaaaaaaa/x/./../consent?request=a%20b&s=1")),
            format!("/o/{org}/consent?request=a%20b&s=1")
        );
        for bad in [
            "https://evil.com",
            "//evil.com",
            "/o/org_bbbbbbbbbbbbbbbbbbbbbbbb/x",
            "/o/org_aaaaaaaaaaaaaaaaaaaaaaaa//evil.com",
            "/o/org_aaaaaaaaaaaaaaaaaaaaaaaa/../org_bbbbbbbbbbbbbbbbbbbbbbbb/authorize?x=1",
            "/o/org_aaaaaaaaaaaaaaaaaaaaaaaa/%2e%2e/org_bbbbbbbbbbbbbbbbbbbbbbbb/x",
            "/o/org_aaaaaaaaaaaaaaaaaaaaaaaa/.%2E/.%2e/evil",
            "/o/org_aaaaaaaaaaaaaaaaaaaaaaaa/\\evil.com",
        ] {
            assert_eq!(safe_return_to(org, Some(bad)), format!("/o/{org}/account"), "{bad}");
        }
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; zauthy_session_x=2; zauthy_session=3"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("3"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
