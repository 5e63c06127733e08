//! Refresh, logout, the user's sessions, and token verification for backends.

use crate::dto::{SuccessResponse, TokenPair, rfc3339};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Caller, Client, MaybeCaller};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zauthy_core::Actor;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Exchange a refresh token for a new pair; the old refresh token is spent. Presenting a spent token again
/// revokes the session (`refresh_token_reused`). Permissions: none (the refresh token is the credential); an
/// API key, if sent, must be of the token's organization.
#[utoipa::path(post, path = "/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair),
        (status = 401, body = ErrorBody, description = "invalid_refresh_token, refresh_token_reused, session_revoked, session_expired"),
        (status = 403, body = ErrorBody, description = "user_blocked")))]
pub async fn refresh(
    State(state): State<AppState>,
    MaybeCaller(actor): MaybeCaller,
    Client(client): Client,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<Json<TokenPair>> {
    let caller_org = actor.as_ref().map(Actor::org_id);
    Ok(Json(state.services.refresh(&body.refresh_token, caller_org, &client).await?.into()))
}

/// End the current session. Permissions: the user's access token.
#[utoipa::path(post, path = "/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = SuccessResponse), (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<SuccessResponse>> {
    state.services.logout(&actor).await?;
    Ok(SuccessResponse::ok())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    #[schema(example = "sess_abc123")]
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub expires_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// True for the session making this request.
    pub current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionResponse>,
}

/// The signed-in user's live sessions, newest first. Permissions: the user's access token.
#[utoipa::path(get, path = "/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, body = SessionList), (status = 401, body = ErrorBody)))]
pub async fn list_sessions(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<SessionList>> {
    let sessions = state.services.list_sessions(&actor).await?;
    Ok(Json(SessionList {
        sessions: sessions
            .into_iter()
            .map(|(s, current)| SessionResponse {
                expires_at: rfc3339(s.idle_expires_at.min(s.absolute_expires_at)),
                id: s.id,
                created_at: rfc3339(s.created_at),
                last_used_at: rfc3339(s.last_used_at),
                ip: s.ip,
                user_agent: s.user_agent,
                current,
            })
            .collect(),
    }))
}

/// Revoke one of the user's sessions (remote logout); its tokens stop working at once.
/// Permissions: the user's access token.
#[utoipa::path(delete, path = "/sessions/{session_id}", tag = "sessions", security(("bearer" = [])),
    params(("session_id" = String, Path)),
    responses((status = 200, body = SuccessResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_session(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(session_id): ApiPath<String>,
) -> ApiResult<Json<SuccessResponse>> {
    state.services.revoke_session(&actor, &session_id).await?;
    Ok(SuccessResponse::ok())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedSessions {
    pub success: bool,
    pub revoked: u64,
}

/// Revoke all the user's sessions, this one included (log out everywhere). Permissions: the user's access token.
#[utoipa::path(delete, path = "/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, body = RevokedSessions), (status = 401, body = ErrorBody)))]
pub async fn revoke_all_sessions(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> ApiResult<Json<RevokedSessions>> {
    let revoked = state.services.revoke_all_sessions(&actor).await?;
    Ok(Json(RevokedSessions { success: true, revoked }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResponse {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// When not valid: `malformed`, `invalid_signature`, `expired`, `session_revoked` or `wrong_organization`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// Check an access token: signature, expiry, and that its session is still live. A token of another
/// organization is not valid for this API key. Permissions: API key, or an owner or admin.
#[utoipa::path(post, path = "/token/verify", tag = "auth", security(("bearer" = [])), request_body = VerifyRequest,
    responses((status = 200, body = VerifyResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn verify_token(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> ApiResult<Json<VerifyResponse>> {
    let response = match state.services.verify_token_for(&actor, &body.token).await? {
        Ok(v) => VerifyResponse {
            valid: true,
            user_id: Some(v.claims.sub),
            role: Some(v.claims.role),
            org_id: Some(v.claims.org_id),
            session_id: Some(v.claims.sid),
            expires_at: Some(rfc3339(v.expires_at)),
            reason: None,
        },
        Err(rejection) => VerifyResponse {
            valid: false,
            user_id: None,
            role: None,
            org_id: None,
            session_id: None,
            expires_at: None,
            reason: Some(rejection.as_str()),
        },
    };
    Ok(Json(response))
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(list_sessions, revoke_all_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(verify_token))
}
