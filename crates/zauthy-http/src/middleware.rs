//! Request pipeline for `/api/v1`: resolve the client, authenticate the bearer credential, apply the rate
//! limit of the caller's plan and the endpoint's category, and report it in `RateLimit-*` headers.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::time::Duration;
use zauthy_core::ratelimit::{Category, Decision};
use zauthy_core::{Actor, ClientMeta, CoreError};

/// The rate-limit category of an endpoint, from the API reference's table.
pub fn category_of(path: &str) -> Category {
    let rest = path.strip_prefix("/api/v1").unwrap_or(path);
    const AUTH: &[&str] = &[
        "/signup",
        "/login",
        "/refresh",
        "/logout",
        "/password/",
        "/magic-link/",
        "/otp/",
        "/mfa/",
        "/passkey/",
        "/auth/",
    ];
    if rest.starts_with("/kyc") {
        Category::Kyc
    } else if AUTH.iter().any(|p| {
        // Whole path segments only: `/loginx` is not `/login`.
        let base = p.trim_end_matches('/');
        rest.strip_prefix(base).is_some_and(|tail| tail.is_empty() || tail.starts_with('/'))
    }) {
        Category::Auth
    } else {
        Category::General
    }
}

pub fn client_meta(headers: &HeaderMap, peer: Option<SocketAddr>, trust_proxy: bool) -> ClientMeta {
    let forwarded = trust_proxy
        .then(|| headers.get("x-forwarded-for")?.to_str().ok()?.split(',').next().map(|s| s.trim().to_owned()))
        .flatten()
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
    ClientMeta {
        ip: forwarded.or_else(|| peer.map(|p| p.ip().to_string())),
        user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
    }
}

/// `Ok(None)` without a header; an error for anything but `Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_authorization_header",
            "The Authorization header must be 'Bearer <API key or access token>'",
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    let (scheme, token) = text.split_once(' ').ok_or_else(bad)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(bad());
    }
    Ok(Some(token))
}

async fn authenticate(state: &AppState, token: &str) -> Result<Actor, ApiError> {
    if token.starts_with("sk_") {
        let key = state.services.authenticate_api_key(token).await?.ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_api_key", "The API key is invalid or has been deleted")
        })?;
        return Ok(Actor::ApiKey { org_id: key.org_id, key_id: key.id });
    }
    Ok(state.services.authenticate_user_token(token).await?)
}

fn rate_headers(headers: &mut HeaderMap, d: &Decision) {
    headers.insert("ratelimit-limit", HeaderValue::from(d.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(d.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(d.reset_secs));
}

pub async fn api_pipeline(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let meta = client_meta(req.headers(), peer, state.config.trust_proxy_headers);
    let category = category_of(req.uri().path());
    let actor = match bearer(req.headers()) {
        Ok(Some(token)) => match authenticate(&state, token).await {
            Ok(actor) => Some(actor),
            Err(e) => return e.into_response(),
        },
        Ok(None) => None,
        Err(e) => return e.into_response(),
    };
    let limits = &state.config.rate_limits;
    let decision = if !limits.enabled {
        None
    } else {
        let (key, limit) = match &actor {
            Some(actor) => {
                let plan = match state.plan_of(actor.org_id()).await {
                    Ok(plan) => plan,
                    Err(e) => return ApiError::from(e).into_response(),
                };
                (format!("org:{}:{}", actor.org_id(), category.as_str()), limits.for_plan(plan).get(category))
            }
            None => {
                let ip = meta.ip.as_deref().unwrap_or("unknown");
                (format!("ip:{ip}:{}", category.as_str()), limits.unauthenticated_per_ip)
            }
        };
        Some(state.limiter.check(&key, limit, Duration::from_secs(60)))
    };
    if let Some(d) = decision.filter(|d| !d.allowed) {
        let mut response = ApiError::from(CoreError::RateLimited { retry_after_secs: d.reset_secs }).into_response();
        rate_headers(response.headers_mut(), &d);
        return response;
    }
    if let Some(actor) = actor {
        req.extensions_mut().insert(actor);
    }
    req.extensions_mut().insert(meta);
    let mut response = next.run(req).await;
    if let Some(d) = decision {
        rate_headers(response.headers_mut(), &d);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_fall_into_the_reference_categories() {
        assert_eq!(category_of("/api/v1/login"), Category::Auth);
        assert_eq!(category_of("/api/v1/password/forgot"), Category::Auth);
        assert_eq!(category_of("/api/v1/kyc/sessions"), Category::Kyc);
        assert_eq!(category_of("/api/v1/users"), Category::General);
        assert_eq!(category_of("/api/v1/loginx"), Category::General);
    }

    #[test]
    fn only_bearer_credentials_are_accepted() {
        let mut h = HeaderMap::new();
        assert!(bearer(&h).unwrap().is_none());
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer sk_live_x"));
        assert_eq!(bearer(&h).unwrap(), Some("sk_live_x"));
        for bad in ["Basic abc", "Bearer", "Bearer ", "sk_live_x", "Bearer a b"] {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
            assert!(bearer(&h).is_err(), "{bad}");
        }
    }
}
