//! The organization as an OpenID provider: the management API for its service providers (OIDC clients) and
//! its OAuth endpoints, which answer RFC 6749 errors (`{"error","error_description"}`), not the API's shape.

mod authorize;
mod ciba;
mod clients;
mod consents;
mod cross_device;
mod decision;
mod device;
mod discovery;
mod dpop;
mod introspect;
mod oauth;
mod token;
mod userinfo;

use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes under `/api/v1`.
pub fn api_router() -> OpenApiRouter<AppState> {
    clients::api_router().merge(consents::api_router())
}

/// The browser-facing endpoints (authorize, consent, end_session): hosted pages, with their pipeline.
pub fn hosted_router() -> axum::Router<AppState> {
    authorize::router().merge(cross_device::router()).merge(device::router()).merge(ciba::router())
}

/// Carrier discovery at the root: `/.well-known/openid-configuration?client_id=…&mccmnc=…`.
pub fn carrier_router() -> axum::Router<AppState> {
    cross_device::carrier_router()
}

/// The pages' static scripts (`form_post`, cross-device polling).
pub fn hosted_assets() -> axum::Router<AppState> {
    authorize::assets_router().merge(cross_device::assets_router())
}

/// Routes at the root: the organization's OAuth endpoints under `/o/{org_id}/`, and its metadata.
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token::token))
        .routes(routes!(introspect::introspect))
        .routes(routes!(userinfo::userinfo_get, userinfo::userinfo_post))
        .routes(routes!(userinfo::revoke))
        .routes(routes!(discovery::par))
        .routes(routes!(device::device_authorization))
        .routes(routes!(ciba::backchannel_authentication))
        .routes(routes!(discovery::openid_configuration))
        .routes(routes!(discovery::authorization_server_metadata))
        .routes(routes!(discovery::authorization_server_metadata_under_issuer))
}

/// The OAuth endpoints' pipeline: the client's address for the services, and the organization's `auth` rate
/// limit, answered in RFC 6749 form (`temporarily_unavailable`, 429, `Retry-After`).
pub async fn oauth_pipeline(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let meta = crate::middleware::client_meta(req.headers(), peer, state.config.trust_proxy_headers);
    if let Err(e) = crate::hosted::check_org_auth_limit(&state, req.uri().path()).await {
        let body = serde_json::json!({"error": "temporarily_unavailable", "error_description": e.detail});
        let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        if let Some(v) = e.clone_retry_after() {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return response;
    }
    req.extensions_mut().insert(meta);
    next.run(req).await
}
