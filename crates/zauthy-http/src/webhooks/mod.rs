//! `/webhooks`: the event catalogue integrators subscribe to.

use crate::state::AppState;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zauthy_core::events::CATALOGUE;

/// One event type a webhook can subscribe to.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEventType {
    #[serde(rename = "type")]
    #[schema(example = "user.signup")]
    pub event_type: &'static str,
    pub description: &'static str,
    /// The fields of the event's `data`: `name: type`, comma-separated; `?` marks a field that may be null.
    #[schema(example = "user_id: string, email: string, method?: string, ip?: string")]
    pub data: &'static str,
    /// Named by the API but not emitted yet (its feature is not built).
    pub reserved: bool,
}

/// Every event type, with the shape of its `data`. Deliveries POST `{"event", "data", "id", "created_at"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEventCatalogue {
    pub events: Vec<WebhookEventType>,
}

/// The event catalogue: every type an endpoint can subscribe to (or `*` for all). Needs no credentials.
#[utoipa::path(get, path = "/webhooks/events", tag = "webhooks",
    responses((status = 200, body = WebhookEventCatalogue)))]
pub async fn event_catalogue() -> Json<WebhookEventCatalogue> {
    Json(WebhookEventCatalogue {
        events: CATALOGUE
            .iter()
            .map(|k| WebhookEventType {
                event_type: k.event_type,
                description: k.description,
                data: k.data,
                reserved: k.reserved,
            })
            .collect(),
    })
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(event_catalogue))
}
