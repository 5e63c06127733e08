//! zauthy's HTTP face: the `/api/v1` routers per feature, the request pipeline (request id, tracing,
//! metrics, authentication, rate limits), API-shaped errors, and the OpenAPI document.

pub mod accounts;
pub mod dto;
pub mod error;
pub mod events;
pub mod extract;
pub mod federation;
pub mod hosted;
pub mod mfa;
pub mod middleware;
pub mod oidc;
pub mod ops;
pub mod orgs;
pub mod pages;
pub mod passkeys;
pub mod passwordless;
pub mod passwords;
pub mod sessions;
pub mod state;
pub mod webhooks;

pub use state::{AppState, HttpConfig};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use axum::response::IntoResponse;
use error::{ApiError, ERROR_CODES, ErrorBody};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as OpenApiDoc, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "zauthy API",
        description = "Self-hosted identity: organizations, accounts, sessions and tokens. Errors are always \
                       `{\"detail\": \"...\", \"error\": \"code\"}`; the `ErrorCode` schema lists every code.",
        license(name = "Apache-2.0")
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Signup, login, refresh, logout and token verification"),
        (name = "sessions", description = "A user's sessions"),
        (name = "passwords", description = "Password reset and change"),
        (name = "oidc", description = "The organization as an OpenID provider: its service providers (clients)"),
        (name = "mfa", description = "Two-factor authentication with TOTP and backup codes"),
        (name = "passwordless", description = "Magic links and one-time codes by email or SMS"),
        (name = "passkeys", description = "Passkeys (WebAuthn): registration, sign-in, list and removal"),
        (name = "users", description = "The organization's user management"),
        (name = "organizations", description = "Organizations, API keys and signing keys"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "events", description = "The organization's event log"),
        (name = "webhooks", description = "Webhook endpoints, signed deliveries, retries and delivery history"),
        (name = "social login", description = "Sign in with Google, Apple or any OpenID provider; link and unlink"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key (sk_live_…, sk_test_…) or a user's access token (JWT)"))
                    .build(),
            ),
        );
        let codes = ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .description(Some(
                ERROR_CODES
                    .iter()
                    .map(|(code, meaning)| format!("- `{code}`: {meaning}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ))
            .enum_values(Some(ERROR_CODES.iter().map(|(code, _)| *code)))
            .build();
        components.schemas.insert("ErrorCode".to_owned(), RefOr::T(Schema::Object(codes)));
    }
}

/// Every `/api/v1` route, each feature contributing its own router.
fn api_v1() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(orgs::api_router())
        .merge(accounts::api_router())
        .merge(sessions::api_router())
        .merge(passwords::api_router())
        .merge(mfa::api_router())
        .merge(oidc::api_router())
        .merge(passwordless::api_router())
        .merge(passkeys::api_router())
        .merge(events::api_router())
        .merge(webhooks::api_router())
        .merge(federation::api_router())
}

fn root_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(ops::router()).merge(orgs::public_router())
}

/// The OpenAPI 3.1 document, built from the handlers; needs no database.
pub fn openapi() -> OpenApiDoc {
    OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api_v1())
        .merge(root_routes())
        .merge(oidc::public_router())
        .into_openapi()
}

#[derive(Clone, Copy, Default)]
struct MakeId;

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&zauthy_core::ids::new_id("req")).ok().map(RequestId::new)
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "This path does not accept that method")
}

/// The complete application.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let (api, _) = api_v1().split_for_parts();
    let api = api
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::api_pipeline))
        // Set after the pipeline, so an unknown path is a plain 404 whatever credentials come with it.
        .fallback(not_found)
        // Responses carry tokens and personal data: never cache them.
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    let (root, _) = root_routes().split_for_parts();
    let (oauth, _) = oidc::public_router().split_for_parts();
    let oauth = oauth.layer(axum::middleware::from_fn_with_state(state.clone(), oidc::oauth_pipeline));
    // The page only: `/openapi.json` is `ops::openapi_json`, built on its first request.
    let docs = utoipa_swagger_ui::SwaggerUi::new("/docs")
        // The default validator is validator.swagger.io: the docs page must work air-gapped and call no one.
        .config(utoipa_swagger_ui::Config::new(["/openapi.json"]).validator_url("none"));
    let metrics = state.metrics.clone();
    // Every hosted page, each feature contributing its own; then their static assets.
    let hosted = pages::router()
        .merge(oidc::hosted_router())
        .merge(federation::hosted_router())
        .layer(axum::middleware::from_fn_with_state(state.clone(), hosted::hosted_pipeline))
        .merge(hosted::assets_router())
        .merge(oidc::hosted_assets());
    Router::new()
        .nest("/api/v1", api)
        .merge(root)
        .merge(oauth)
        .merge(oidc::carrier_router())
        .merge(hosted)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone())
        .merge(docs)
        .route("/openapi.json", axum::routing::get(ops::openapi_json))
        .fallback(not_found)
        // Innermost, so a panic becomes an ordinary 500 that is counted, traced and carries the request id.
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Internal server error").into_response()
        }))
        .layer(axum::middleware::from_fn_with_state(metrics, ops::track_metrics))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    // The path only: query strings may carry tokens.
                    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeId))
}
