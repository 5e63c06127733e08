//! The organization as an OpenID provider: the management API for its service providers (OIDC clients) and
//! its OAuth endpoints, which answer RFC 6749 errors (`{"error","error_description"}`), not the API's shape.

mod clients;
mod introspect;
mod token;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;

/// Routes under `/api/v1`.
pub fn api_router() -> OpenApiRouter<AppState> {
    clients::api_router()
}

/// Routes at the root: the organization's OAuth endpoints under `/o/{org_id}/`.
pub fn public_router() -> OpenApiRouter<AppState> {
    token::public_router()
}
