//! Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document and its docs page.

mod metrics;

pub use metrics::{Metrics, track_metrics};

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use std::sync::OnceLock;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process serves HTTP. No dependencies are checked.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = HealthResponse)))]
pub async fn health() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok" })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/ready", tag = "operations", responses(
    (status = 200, body = HealthResponse),
    (status = 503, body = ErrorBody, description = "service_unavailable"),
))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<HealthResponse>, ApiError> {
    state.services.store.ping().await.map_err(|e| {
        tracing::error!(error = ?e, "readiness check failed");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "The database is not reachable")
    })?;
    Ok(Json(HealthResponse { status: "ready" }))
}

/// Prometheus text exposition of request counts and latencies.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
}

/// `GET /openapi.json`, the document `/docs` shows. It is built and serialized on its first request and kept: a
/// node that never serves it never holds it (building it touches the code and schemas of every handler, several
/// megabytes of memory), and later requests cost a copy of an `Arc`.
pub async fn openapi_json() -> impl IntoResponse {
    static DOCUMENT: OnceLock<Bytes> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| {
        // A tree of strings and maps: serializing it cannot fail.
        Bytes::from(serde_json::to_vec(&crate::openapi()).expect("the OpenAPI document serializes"))
    });
    ([(header::CONTENT_TYPE, "application/json")], body.clone())
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ready)).routes(routes!(metrics))
}
