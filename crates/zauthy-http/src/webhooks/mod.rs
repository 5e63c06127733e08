//! `/webhooks`: endpoints (create with a secret shown once, list, get, update, delete), secret rotation with
//! an overlap, a test event, the delivery history with every attempt, redelivery, and the event catalogue.

use crate::dto::{SuccessResponse, rfc3339};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zauthy_core::events::CATALOGUE;
use zauthy_core::webhooks::{Webhook, WebhookAttempt, WebhookDelivery, WebhookInput, WebhookUpdate};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// https, to a public host name (not an IP address).
    #[schema(example = "https://yourapp.com/webhooks/zauthy")]
    pub url: String,
    /// Event types from `GET /webhooks/events`, or `["*"]` for all.
    #[schema(example = json!(["user.signup", "kyc.completed", "kyc.failed"]))]
    pub events: Vec<String>,
    /// Default true.
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookResponse {
    #[schema(example = "wh_abc123")]
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    /// When the previous secret stops signing, during a rotation overlap.
    pub previous_secret_expires_at: Option<String>,
    /// Since when every delivery attempt failed; an endpoint failing for 3 days is disabled.
    pub failing_since: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Webhook> for WebhookResponse {
    fn from(w: Webhook) -> Self {
        Self {
            id: w.id,
            url: w.url,
            events: w.events,
            active: w.active,
            previous_secret_expires_at: w.previous_secret_expires_at.map(rfc3339),
            failing_since: w.failing_since.map(rfc3339),
            created_at: rfc3339(w.created_at),
            updated_at: rfc3339(w.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhookResponse {
    #[serde(flatten)]
    pub webhook: WebhookResponse,
    /// Shown only now: verify `X-Webhook-Signature` (hex HMAC-SHA256 of the body) with it.
    #[schema(example = "whsec_...")]
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecretResponse {
    pub id: String,
    /// The new secret, shown only now.
    pub secret: String,
    /// Until then deliveries carry signatures with both the new and the previous secret.
    pub previous_secret_expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptResponse {
    pub attempted_at: String,
    /// Absent when no answer came (refused address, timeout, connection error).
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    /// The first 4 KiB of the answer.
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub next_retry_at: Option<String>,
}

impl From<WebhookAttempt> for AttemptResponse {
    fn from(a: WebhookAttempt) -> Self {
        Self {
            attempted_at: rfc3339(a.attempted_at),
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            response_body: a.response_body,
            error: a.error,
            next_retry_at: a.next_retry_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryResponse {
    #[schema(example = "whd_abc123")]
    pub id: String,
    /// The event's id: the same on every retry and redelivery, for de-duplication.
    pub event_id: String,
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub attempt_history: Vec<AttemptResponse>,
}

impl DeliveryResponse {
    fn new(d: WebhookDelivery, attempts: Vec<WebhookAttempt>) -> Self {
        let pending = d.status == zauthy_core::webhooks::PENDING;
        Self {
            id: d.id,
            event_id: d.event_id,
            event: d.event_type,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at.filter(|_| pending).map(rfc3339),
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: rfc3339(d.created_at),
            attempt_history: attempts.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryResponse>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Newest first; default 50, at most 100.
    pub limit: Option<u64>,
}

/// Subscribe an endpoint. Permissions: API key, or an owner or admin.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = CreateWebhookRequest,
    responses((status = 201, body = CreatedWebhookResponse),
        (status = 400, body = ErrorBody, description = "invalid_webhook_url, invalid_webhook_events"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_webhook(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, Json<CreatedWebhookResponse>)> {
    let input = WebhookInput { url: body.url, events: body.events, active: body.active };
    let created = state.services.create_webhook(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(CreatedWebhookResponse { webhook: created.webhook.into(), secret: created.secret })))
}

/// The organization's webhooks. Permissions: API key, or an owner or admin.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = WebhookList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_webhooks(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<WebhookList>> {
    let webhooks = state.services.list_webhooks(&actor).await?;
    Ok(Json(WebhookList { webhooks: webhooks.into_iter().map(Into::into).collect() }))
}

/// One webhook (never its secret). Permissions: API key, or an owner or admin.
#[utoipa::path(get, path = "/webhooks/{webhook_id}", tag = "webhooks", security(("bearer" = [])), params(("webhook_id" = String, Path)),
    responses((status = 200, body = WebhookResponse), (status = 404, body = ErrorBody)))]
pub async fn get_webhook(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(webhook_id): ApiPath<String>,
) -> ApiResult<Json<WebhookResponse>> {
    Ok(Json(state.services.get_webhook(&actor, &webhook_id).await?.into()))
}

/// Change the URL, events or active status; fields left out keep their value. Permissions: API key, or an
/// owner or admin.
#[utoipa::path(patch, path = "/webhooks/{webhook_id}", tag = "webhooks", security(("bearer" = [])), params(("webhook_id" = String, Path)),
    request_body = UpdateWebhookRequest,
    responses((status = 200, body = WebhookResponse), (status = 400, body = ErrorBody, description = "invalid_webhook_url, invalid_webhook_events"),
        (status = 404, body = ErrorBody)))]
pub async fn update_webhook(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(webhook_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateWebhookRequest>,
) -> ApiResult<Json<WebhookResponse>> {
    let update = WebhookUpdate { url: body.url, events: body.events, active: body.active };
    Ok(Json(state.services.update_webhook(&actor, &webhook_id, update).await?.into()))
}

/// Delete a webhook and its delivery history. Permissions: API key, or an owner or admin.
#[utoipa::path(delete, path = "/webhooks/{webhook_id}", tag = "webhooks", security(("bearer" = [])), params(("webhook_id" = String, Path)),
    responses((status = 200, body = SuccessResponse), (status = 404, body = ErrorBody)))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(webhook_id): ApiPath<String>,
) -> ApiResult<Json<SuccessResponse>> {
    state.services.delete_webhook(&actor, &webhook_id).await?;
    Ok(SuccessResponse::ok())
}

/// Queue a `webhook.test` event to the endpoint. Permissions: API key, or an owner or admin.
#[utoipa::path(post, path = "/webhooks/{webhook_id}/test", tag = "webhooks", security(("bearer" = [])), params(("webhook_id" = String, Path)),
    responses((status = 202, body = DeliveryResponse), (status = 404, body = ErrorBody)))]
pub async fn test_webhook(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(webhook_id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<DeliveryResponse>)> {
    let delivery = state.services.test_webhook(&actor, &webhook_id).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryResponse::new(delivery, Vec::new()))))
}

/// A new signing secret (shown once); the previous one keeps signing during the overlap (default 24 h).
/// Permissions: API key, or an owner or admin.
#[utoipa::path(post, path = "/webhooks/{webhook_id}/rotate-secret", tag = "webhooks", security(("bearer" = [])),
    params(("webhook_id" = String, Path)),
    responses((status = 200, body = RotatedSecretResponse), (status = 404, body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(webhook_id): ApiPath<String>,
) -> ApiResult<Json<RotatedSecretResponse>> {
    let (secret, until) = state.services.rotate_webhook_secret(&actor, &webhook_id).await?;
    Ok(Json(RotatedSecretResponse { id: webhook_id, secret, previous_secret_expires_at: rfc3339(until) }))
}

/// Delivery history and retry status, newest first, with every attempt. Permissions: API key, or an owner or
/// admin.
#[utoipa::path(get, path = "/webhooks/{webhook_id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("webhook_id" = String, Path), DeliveryParams),
    responses((status = 200, body = DeliveryList), (status = 404, body = ErrorBody)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(webhook_id): ApiPath<String>,
    ApiQuery(params): ApiQuery<DeliveryParams>,
) -> ApiResult<Json<DeliveryList>> {
    let list = state.services.webhook_deliveries(&actor, &webhook_id, params.limit.unwrap_or(50)).await?;
    Ok(Json(DeliveryList { deliveries: list.into_iter().map(|(d, a)| DeliveryResponse::new(d, a)).collect() }))
}

/// Send a delivery's body (same event id) again, as a new delivery. Permissions: API key, or an owner or
/// admin.
#[utoipa::path(post, path = "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", tag = "webhooks", security(("bearer" = [])),
    params(("webhook_id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 202, body = DeliveryResponse), (status = 404, body = ErrorBody)))]
pub async fn redeliver(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath((webhook_id, delivery_id)): ApiPath<(String, String)>,
) -> ApiResult<(StatusCode, Json<DeliveryResponse>)> {
    let delivery = state.services.redeliver(&actor, &webhook_id, &delivery_id).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryResponse::new(delivery, Vec::new()))))
}

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
    OpenApiRouter::new()
        .routes(routes!(event_catalogue))
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(test_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(redeliver))
}
