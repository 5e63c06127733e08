//! Extractors whose rejections speak the API's error format, and the caller's identity and client info.

use crate::error::ApiError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use zauthy_core::{Actor, ClientMeta};

/// `axum::Json` with API-shaped errors: 400 for bad JSON or fields, 413 too large, 415 wrong content type.
/// Every body is a JSON object: an array is refused, since serde would otherwise fill a struct's fields from
/// it by position (`["a@b.co","secret"]` read as email and password).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(json_rejection(JsonRejection::MissingJsonContentType(Default::default())));
        }
        decode(&read_body(req, state).await?).map(Self)
    }
}

/// [`ApiJson`] for endpoints whose every field is optional: an empty body means `T::default()`; any other
/// body must pass exactly `ApiJson`'s checks (JSON content type, an object, the size limit).
pub struct OptionalApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = is_json(req.headers());
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        if !json {
            return Err(json_rejection(JsonRejection::MissingJsonContentType(Default::default())));
        }
        decode(&bytes).map(Self)
    }
}

/// The whole body, within the body limit.
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<axum::body::Bytes, ApiError> {
    match axum::body::Bytes::from_request(req, state).await {
        Ok(bytes) => Ok(bytes),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "The request body is too large"))
        }
        Err(rejection) => Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", rejection.body_text())),
    }
}

/// A JSON object into `T`; arrays are refused (see [`ApiJson`]).
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "The body must be a JSON object"));
    }
    match axum::Json::<T>::from_bytes(bytes) {
        Ok(axum::Json(value)) => Ok(value),
        Err(rejection) => Err(json_rejection(rejection)),
    }
}

/// `application/json` or any `application/*+json`, as `axum::Json` accepts.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.body_text()),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "The request body is too large")
        }
        other => ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", other.body_text()),
    }
}

/// Path parameters with API-shaped errors.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e: PathRejection| ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", e.body_text()))
    }
}

/// Query parameters with API-shaped errors.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
    }
}

/// The authenticated caller, put in the request by the authentication middleware.
pub struct Caller(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Actor>().cloned().map(Self).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_authorization",
                "Send an API key or access token as Authorization: Bearer <credential>",
            )
        })
    }
}

/// The caller if any credentials were sent (for endpoints where they are optional).
pub struct MaybeCaller(pub Option<Actor>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeCaller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<Actor>().cloned()))
    }
}

/// Client IP and user agent, resolved by the middleware (proxy headers only when configured as trusted).
pub struct Client(pub ClientMeta);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ClientMeta>().cloned().unwrap_or_default()))
    }
}
