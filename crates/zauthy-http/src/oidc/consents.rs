//! `/oidc/consents`: the signed-in user's remembered consents to service providers, and withdrawing one
//! (which revokes every token that client holds for the user).

use crate::dto::{SuccessResponse, rfc3339};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiPath, Caller};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentResponse {
    #[schema(example = "cli_abc123")]
    pub client_id: String,
    pub client_name: String,
    /// The scopes the user agreed to share.
    pub scopes: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentList {
    pub consents: Vec<ConsentResponse>,
}

/// The services the signed-in user has agreed to share data with. Permissions: the user's access token.
#[utoipa::path(get, path = "/oidc/consents", tag = "oidc", security(("bearer" = [])),
    responses((status = 200, body = ConsentList), (status = 401, body = ErrorBody)))]
pub async fn list_consents(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<ConsentList>> {
    let consents = state.services.list_consents(&actor).await?;
    let consents = consents
        .into_iter()
        .map(|(c, client_name)| ConsentResponse {
            client_id: c.client_id,
            client_name,
            scopes: c.scope,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        })
        .collect();
    Ok(Json(ConsentList { consents }))
}

/// Withdraw consent to a service: it must ask again, and every token it holds for the user stops working
/// at once. Permissions: the user's access token.
#[utoipa::path(delete, path = "/oidc/consents/{client_id}", tag = "oidc", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    responses((status = 200, body = SuccessResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_consent(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(client_id): ApiPath<String>,
) -> ApiResult<Json<SuccessResponse>> {
    state.services.revoke_consent(&actor, &client_id).await?;
    Ok(SuccessResponse::ok())
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_consents)).routes(routes!(revoke_consent))
}
