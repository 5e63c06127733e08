//! `GET|POST /o/{org_id}/userinfo` (OIDC Core §5.3, bearer token per RFC 6750) and `POST /o/{org_id}/revoke`
//! (RFC 7009, client-authenticated; unknown tokens answer 200 like revoked ones).

use super::dpop::{self, Proof, Role};
use super::oauth::{ClientForm, no_store_json, oauth_answer, oauth_error, with_credentials};
use crate::error::ApiResult;
use crate::extract::ApiPath;
use crate::state::AppState;
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use zauthy_core::oidc::{DpopError, OAuthError};

#[derive(Debug, Deserialize, ToSchema)]
pub struct UserinfoForm {
    /// The access token in the body (RFC 6750 §2.2), when not in `Authorization: Bearer`.
    pub access_token: Option<String>,
}

/// How the access token came: `Authorization: Bearer` (RFC 6750), or `Authorization: DPoP` with a proof.
enum Presented {
    Bearer(String),
    Dpop(String),
}

fn presented(headers: &HeaderMap) -> Option<Presented> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim().to_owned();
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(Presented::Bearer(token))
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Some(Presented::Dpop(token))
    } else {
        None
    }
}

/// RFC 6750 §3: 401 with `WWW-Authenticate: Bearer error=…`.
fn bearer_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response =
        (status, axum::Json(serde_json::json!({"error": error, "error_description": description}))).into_response();
    let challenge = format!(r#"Bearer error="{error}", error_description="{description}""#);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn answer_userinfo(
    state: &AppState,
    org_id: &str,
    method: &str,
    headers: &HeaderMap,
    token: Option<Presented>,
) -> ApiResult<Response> {
    let (token, dpop) = match token {
        Some(Presented::Bearer(token)) => (token, None),
        Some(Presented::Dpop(token)) => {
            let proof =
                Proof { org_id, method, endpoint: "/userinfo", access_token: Some(&token), role: Role::Resource };
            match proof.check(state, headers).await? {
                Ok(Some(key)) => (token, Some(key)),
                Ok(None) => {
                    let missing = DpopError::Invalid("a DPoP-bound access token needs a DPoP proof");
                    return Ok(proof.refusal(state, &missing));
                }
                Err(refused) => return Ok(refused),
            }
        }
        None => (String::new(), None),
    };
    if token.is_empty() {
        return Ok(bearer_error(StatusCode::UNAUTHORIZED, "invalid_request", "an access token is required"));
    }
    let response = match state.services.userinfo(org_id, &token, dpop.as_ref().map(|k| k.jkt.as_str())).await? {
        Some(claims) => no_store_json(claims),
        None => {
            bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "the access token is invalid, expired or revoked")
        }
    };
    Ok(dpop::answer(state, org_id, headers, response))
}

/// The signed-in user's claims for the scopes granted to the token (`sub` always).
#[utoipa::path(get, path = "/o/{org_id}/userinfo", tag = "oidc", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    responses(
        (status = 200, description = "sub and the standard claims of the granted scopes", content_type = "application/json"),
        (status = 400, description = "invalid_request: the token was sent twice"),
        (status = 401, description = "invalid_token (WWW-Authenticate: Bearer), or for Authorization: DPoP invalid_dpop_proof or use_dpop_nonce (WWW-Authenticate: DPoP, with DPoP-Nonce)")))]
pub async fn userinfo_get(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    answer_userinfo(&state, &org_id, "GET", &headers, presented(&headers)).await
}

/// The same as `GET`, with the token in the header or the form body.
#[utoipa::path(post, path = "/o/{org_id}/userinfo", tag = "oidc", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    request_body(content = UserinfoForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "claims"),
        (status = 400, description = "invalid_request: the token was sent twice"),
        (status = 401, description = "invalid_token, invalid_dpop_proof or use_dpop_nonce")))]
pub async fn userinfo_post(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    headers: HeaderMap,
    form: Result<Form<UserinfoForm>, FormRejection>,
) -> ApiResult<Response> {
    let from_body = form.ok().and_then(|Form(f)| f.access_token);
    let token = match (presented(&headers), from_body) {
        (Some(_), Some(_)) => {
            return Ok(bearer_error(StatusCode::BAD_REQUEST, "invalid_request", "send the token only once"));
        }
        (header, body) => header.or(body.map(Presented::Bearer)),
    };
    answer_userinfo(&state, &org_id, "POST", &headers, token).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RevokeForm {
    pub token: Option<String>,
    /// `access_token` or `refresh_token`; optional, the server finds out.
    #[serde(rename = "token_type_hint")]
    pub _token_type_hint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

with_credentials!(RevokeForm);

/// Revokes a refresh or access token of the calling client, and every token of the same grant.
#[utoipa::path(post, path = "/o/{org_id}/revoke", tag = "oidc",
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or was not a live token of this client"),
        (status = 400, description = "invalid_request, invalid_dpop_proof (a bound refresh token of a public client needs a proof with its key), use_dpop_nonce"),
        (status = 413, description = "invalid_request: the body is over the size limit"),
        (status = 401, description = "invalid_client")))]
pub async fn revoke(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    headers: HeaderMap,
    ClientForm { form, auth }: ClientForm<RevokeForm>,
) -> ApiResult<Response> {
    let Some(token) = form.token.filter(|t| !t.is_empty()) else {
        return Ok(oauth_error(&OAuthError::new("invalid_request", "token is required")));
    };
    let proof = Proof {
        org_id: &org_id,
        method: "POST",
        endpoint: "/revoke",
        access_token: None,
        role: Role::AuthorizationServer,
    };
    let dpop = match proof.check(&state, &headers).await? {
        Ok(key) => key,
        Err(refused) => return Ok(refused),
    };
    let revoked = state.services.revoke_oidc_token(&org_id, &auth, &token, dpop.as_ref()).await;
    let response = oauth_answer(revoked, |()| no_store_json(serde_json::json!({})))?;
    Ok(dpop::answer(&state, &org_id, &headers, response))
}
