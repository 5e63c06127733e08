//! Signup, login, the signed-in user's own profile, and the organization's user management.

use crate::dto::{Address, SuccessResponse, TokenPair, UserResponse, nullable};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Client};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zauthy_core::accounts::{
    LoginOutcome, LoginRequest as CoreLogin, ProfileUpdate, Role, SignupRequest as CoreSignup, UserQuery, UserUpdate,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    #[schema(example = "user@example.com")]
    pub email: String,
    /// Upper and lower case letters, a digit and a special character; 8 to 128 characters; not a common password.
    #[schema(example = "SecureP@ss123")]
    pub password: String,
    #[schema(example = "Jane Doe")]
    pub name: Option<String>,
    /// E.164, e.g. `+14155550100`.
    pub phone: Option<String>,
    /// Released to OpenID clients as the `address` claim (with the `address` scope).
    pub address: Option<Address>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    pub user: UserResponse,
    #[serde(flatten)]
    pub tokens: TokenPair,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "user@example.com")]
    pub email: String,
    #[schema(example = "SecureP@ss123")]
    pub password: String,
}

/// A sign-in's answer: the user and tokens, or (`mfa_required: true`) an `mfa_token` to present with a
/// second factor at `/mfa/totp/verify`, and no tokens.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // serialized once, straight away
pub enum LoginResponse {
    Success {
        user: UserResponse,
        #[serde(flatten)]
        tokens: TokenPair,
        /// `false`: signed in.
        mfa_required: bool,
    },
    MfaRequired {
        /// `true`: no tokens yet; verify a second factor with `mfa_token`.
        mfa_required: bool,
        #[schema(example = "mfa_tmp_...")]
        mfa_token: String,
        /// The second factors the user can use, e.g. `["totp", "backup_code"]`.
        mfa_methods: Vec<&'static str>,
    },
}

impl From<LoginOutcome> for LoginResponse {
    fn from(outcome: LoginOutcome) -> Self {
        match outcome {
            LoginOutcome::Success { user, tokens } => {
                Self::Success { user: user.into(), tokens: tokens.into(), mfa_required: false }
            }
            LoginOutcome::MfaRequired { mfa_token, methods } => {
                Self::MfaRequired { mfa_required: true, mfa_token, mfa_methods: methods }
            }
        }
    }
}

/// Register a user in the API key's organization and sign them in. Permissions: API key.
#[utoipa::path(post, path = "/signup", tag = "auth", security(("bearer" = [])), request_body = SignupRequest,
    responses(
        (status = 201, body = AuthResponse),
        (status = 400, body = ErrorBody, description = "invalid_request, invalid_email, weak_password, invalid_phone, invalid_name, invalid_address"),
        (status = 401, body = ErrorBody, description = "missing_authorization, invalid_api_key, api_key_required"),
        (status = 409, body = ErrorBody, description = "email_exists"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
    ))]
pub async fn signup(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(client): Client,
    ApiJson(body): ApiJson<SignupRequest>,
) -> ApiResult<(StatusCode, Json<AuthResponse>)> {
    let request = CoreSignup {
        email: body.email,
        password: body.password,
        name: body.name,
        phone: body.phone,
        address: body.address.map(Into::into),
    };
    let (user, tokens) = state.services.signup(&actor, request, &client).await?;
    Ok((StatusCode::CREATED, Json(AuthResponse { user: user.into(), tokens: tokens.into() })))
}

/// Sign in with email and password. Five failures lock the account for 30 minutes, ten for 2 hours, fifteen
/// for 24 hours. Unknown emails get the same answer as wrong passwords. Permissions: API key.
#[utoipa::path(post, path = "/login", tag = "auth", security(("bearer" = [])), request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 400, body = ErrorBody, description = "invalid_request"),
        (status = 401, body = ErrorBody, description = "invalid_credentials, invalid_api_key, api_key_required"),
        (status = 403, body = ErrorBody, description = "user_blocked"),
        (status = 429, body = ErrorBody, description = "account_locked (with locked_until and Retry-After), rate_limited"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(client): Client,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let outcome =
        state.services.login(&actor, CoreLogin { email: body.email, password: body.password }, &client).await?;
    Ok(Json(outcome.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsersParams {
    /// 1-based page number.
    #[param(default = 1, minimum = 1)]
    pub page: Option<u64>,
    #[param(default = 20, minimum = 1, maximum = 100)]
    pub per_page: Option<u64>,
    /// Case-insensitive substring of the email.
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserListResponse {
    pub users: Vec<UserResponse>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// List the organization's users, oldest first. Permissions: API key, or an owner or admin.
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])), params(ListUsersParams),
    responses((status = 200, body = UserListResponse), (status = 400, body = ErrorBody, description = "invalid_query, invalid_pagination"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(params): ApiQuery<ListUsersParams>,
) -> ApiResult<Json<UserListResponse>> {
    let query =
        UserQuery { page: params.page.unwrap_or(1), per_page: params.per_page.unwrap_or(20), email: params.email };
    let list = state.services.list_users(&actor, query).await?;
    Ok(Json(UserListResponse {
        users: list.users.into_iter().map(Into::into).collect(),
        total: list.total,
        page: list.page,
        per_page: list.per_page,
    }))
}

/// One user of the organization. Permissions: API key, or an owner or admin.
#[utoipa::path(get, path = "/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = UserResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(user_id): ApiPath<String>,
) -> ApiResult<Json<UserResponse>> {
    Ok(Json(state.services.get_user(&actor, &user_id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// An empty string clears it.
    pub name: Option<String>,
    /// E.164; an empty string clears it.
    pub phone: Option<String>,
    /// Replaces the whole address; `null` (or an object with no non-empty member) clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Address>)]
    pub address: Option<Option<Address>>,
    /// Changing roles needs an owner or the API key; nobody changes their own role.
    pub role: Option<RoleParam>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleParam {
    Owner,
    Admin,
    User,
}

impl From<RoleParam> for Role {
    fn from(r: RoleParam) -> Self {
        match r {
            RoleParam::Owner => Self::Owner,
            RoleParam::Admin => Self::Admin,
            RoleParam::User => Self::User,
        }
    }
}

/// Update a user's name, phone, address or role. Permissions: API key, or an owner or admin (roles: owner or API key).
#[utoipa::path(patch, path = "/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = UpdateUserRequest,
    responses((status = 200, body = UserResponse),
        (status = 400, body = ErrorBody, description = "invalid_request, invalid_name, invalid_phone, invalid_address, cannot_modify_self"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateUserRequest>,
) -> ApiResult<Json<UserResponse>> {
    let update = UserUpdate {
        name: body.name,
        phone: body.phone,
        address: body.address.map(|a| a.map(Into::into)),
        role: body.role.map(Into::into),
    };
    Ok(Json(state.services.update_user(&actor, &user_id, update).await?.into()))
}

/// Block a user: their sessions end and they can neither log in nor refresh. Permissions: API key, or an
/// owner or admin (only an owner may block an owner).
#[utoipa::path(post, path = "/users/{user_id}/block", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = UserResponse), (status = 400, body = ErrorBody, description = "cannot_modify_self"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn block_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(user_id): ApiPath<String>,
) -> ApiResult<Json<UserResponse>> {
    Ok(Json(state.services.set_user_blocked(&actor, &user_id, true).await?.into()))
}

/// Unblock a user. Permissions: API key, or an owner or admin.
#[utoipa::path(post, path = "/users/{user_id}/unblock", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = UserResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unblock_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(user_id): ApiPath<String>,
) -> ApiResult<Json<UserResponse>> {
    Ok(Json(state.services.set_user_blocked(&actor, &user_id, false).await?.into()))
}

/// End a lockout early and reset the failure counter. Permissions: API key, or an owner or admin (only an
/// owner or the API key unlocks an owner; nobody unlocks themself).
#[utoipa::path(post, path = "/users/{user_id}/unlock", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = UserResponse), (status = 400, body = ErrorBody, description = "cannot_modify_self"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unlock_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(user_id): ApiPath<String>,
) -> ApiResult<Json<UserResponse>> {
    Ok(Json(state.services.unlock_user(&actor, &user_id).await?.into()))
}

/// Delete a user with their sessions and tokens. Permissions: API key, or an owner or admin.
#[utoipa::path(delete, path = "/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = SuccessResponse), (status = 400, body = ErrorBody, description = "cannot_modify_self"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(user_id): ApiPath<String>,
) -> ApiResult<Json<SuccessResponse>> {
    state.services.delete_user(&actor, &user_id).await?;
    Ok(SuccessResponse::ok())
}

/// The signed-in user's own account. Permissions: the user's access token.
#[utoipa::path(get, path = "/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserResponse), (status = 401, body = ErrorBody, description = "user_token_required, invalid_token")))]
pub async fn get_me(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<UserResponse>> {
    Ok(Json(state.services.own_profile(&actor).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    /// An empty string clears it.
    #[schema(example = "Jane Doe")]
    pub name: Option<String>,
    /// E.164; an empty string clears it.
    pub phone: Option<String>,
    /// Replaces the whole address; `null` (or an object with no non-empty member) clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Address>)]
    pub address: Option<Option<Address>>,
}

/// The signed-in user edits their own name, phone or address (what the `profile`, `phone` and `address`
/// scopes release to OpenID clients). The role and the email cannot be changed here. Permissions: the
/// user's access token.
#[utoipa::path(patch, path = "/me", tag = "auth", security(("bearer" = [])), request_body = UpdateProfileRequest,
    responses((status = 200, body = UserResponse),
        (status = 400, body = ErrorBody, description = "invalid_request (unknown fields such as role or email), invalid_name, invalid_phone, invalid_address"),
        (status = 401, body = ErrorBody, description = "user_token_required, invalid_token")))]
pub async fn update_me(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<UpdateProfileRequest>,
) -> ApiResult<Json<UserResponse>> {
    let update = ProfileUpdate { name: body.name, phone: body.phone, address: body.address.map(|a| a.map(Into::into)) };
    Ok(Json(state.services.update_own_profile(&actor, update).await?.into()))
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(get_me, update_me))
        .routes(routes!(list_users))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(block_user))
        .routes(routes!(unblock_user))
        .routes(routes!(unlock_user))
}
