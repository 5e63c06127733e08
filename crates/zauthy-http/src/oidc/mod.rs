//! The organization as an OpenID provider: the management API for its service providers (OIDC clients).

mod clients;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;

/// Routes under `/api/v1`.
pub fn api_router() -> OpenApiRouter<AppState> {
    clients::api_router()
}
