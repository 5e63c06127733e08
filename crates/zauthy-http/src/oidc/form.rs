//! The form body of the OAuth endpoints (token, introspection, revocation, PAR, device authorization, CIBA):
//! `application/x-www-form-urlencoded`, refused the RFC 6749 way (`{"error","error_description"}`): 413 over
//! the body limit, 400 for anything else that is not such a form.

use super::token::oauth_error;
use axum::Form;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use zauthy_core::oidc::OAuthError;

pub(crate) struct OAuthForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OAuthForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match Form::<T>::from_request(req, state).await {
            Ok(Form(value)) => Ok(Self(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                let mut answer = oauth_error(&OAuthError::new("invalid_request", "the body is over the size limit"));
                *answer.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                Err(answer.into_response())
            }
            Err(_) => Err(oauth_error(&OAuthError::new(
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            ))),
        }
    }
}
