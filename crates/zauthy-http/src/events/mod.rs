//! `/events`: the organization's event log, newest first, filtered and paginated.

use crate::dto::rfc3339;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiQuery, Caller};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zauthy_core::events::{Event, EventFilter, EventQuery};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListEventsParams {
    /// 1-based page number.
    #[param(default = 1, minimum = 1)]
    pub page: Option<u64>,
    #[param(default = 20, minimum = 1, maximum = 100)]
    pub per_page: Option<u64>,
    /// Only events of this type, e.g. `user.signup`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
    /// Only events about this user.
    pub user_id: Option<String>,
    /// RFC 3339; events at or after this time.
    pub since: Option<String>,
    /// RFC 3339; events before this time.
    pub until: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventResponse {
    #[schema(example = "evt_abc123")]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "user.signup")]
    pub event_type: String,
    pub user_id: Option<String>,
    /// The event's fields; `GET /webhooks/events` documents them per type.
    #[schema(value_type = Object)]
    pub data: Value,
    pub created_at: String,
}

impl From<Event> for EventResponse {
    fn from(e: Event) -> Self {
        Self { id: e.id, event_type: e.event_type, user_id: e.user_id, data: e.data, created_at: rfc3339(e.created_at) }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventListResponse {
    pub events: Vec<EventResponse>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

fn instant(raw: Option<String>, name: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    raw.map(|r| {
        OffsetDateTime::parse(&r, &Rfc3339).map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("{name} must be an RFC 3339 time such as 2026-01-31T12:00:00Z"),
            )
        })
    })
    .transpose()
}

/// The organization's events, newest first. Permissions: API key, or an owner or admin.
#[utoipa::path(get, path = "/events", tag = "events", security(("bearer" = [])), params(ListEventsParams),
    responses((status = 200, body = EventListResponse), (status = 400, body = ErrorBody, description = "invalid_query, invalid_pagination"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(params): ApiQuery<ListEventsParams>,
) -> ApiResult<Json<EventListResponse>> {
    let filter = EventFilter {
        event_type: params.event_type.filter(|t| !t.is_empty()),
        user_id: params.user_id.filter(|u| !u.is_empty()),
        since: instant(params.since, "since")?,
        until: instant(params.until, "until")?,
    };
    let query = EventQuery { page: params.page.unwrap_or(1), per_page: params.per_page.unwrap_or(20), filter };
    let list = state.services.list_events(&actor, query).await?;
    Ok(Json(EventListResponse {
        events: list.events.into_iter().map(Into::into).collect(),
        total: list.total,
        page: list.page,
        per_page: list.per_page,
    }))
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}
