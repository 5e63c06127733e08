//! `POST /o/{org_id}/introspect` (RFC 7662): client-authenticated like the token endpoint; a token that is not
//! active for this client (invalid, expired, another client's or organization's) answers `{"active": false}`.

use super::dpop::{self, Proof, Role};
use super::oauth::{ClientForm, no_store_json, oauth_answer, oauth_error, with_credentials};
use crate::error::ApiResult;
use crate::extract::ApiPath;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;
use zauthy_core::oidc::OAuthError;

#[derive(Debug, Deserialize, ToSchema)]
pub struct IntrospectForm {
    /// The token; `token_type_hint` may be sent and is ignored (only access tokens exist so far).
    pub token: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

with_credentials!(IntrospectForm);

/// Token introspection for the organization's clients.
#[utoipa::path(post, path = "/o/{org_id}/introspect", tag = "oidc",
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    request_body(content = IntrospectForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "{\"active\": true, …claims} or {\"active\": false}", content_type = "application/json"),
        (status = 400, description = "invalid_request, invalid_dpop_proof, use_dpop_nonce"),
        (status = 413, description = "invalid_request: the body is over the size limit"),
        (status = 401, description = "invalid_client")))]
pub async fn introspect(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    headers: HeaderMap,
    ClientForm { form, auth }: ClientForm<IntrospectForm>,
) -> ApiResult<Response> {
    let Some(token) = form.token.filter(|t| !t.is_empty()) else {
        return Ok(oauth_error(&OAuthError::new("invalid_request", "token is required")));
    };
    let proof = Proof {
        org_id: &org_id,
        method: "POST",
        endpoint: "/introspect",
        access_token: None,
        role: Role::AuthorizationServer,
    };
    if let Err(refused) = proof.check(&state, &headers).await? {
        return Ok(refused);
    }
    let response = oauth_answer(state.services.introspect_oidc_token(&org_id, &auth, &token).await, no_store_json)?;
    Ok(dpop::answer(&state, &org_id, &headers, response))
}
