//! What the OAuth endpoints share (token, introspection, revocation, PAR, device authorization, CIBA): the
//! RFC 6749 error answer (`{"error","error_description"}`, never the API's shape), `no-store` JSON, the
//! form body (`OAuthForm`: 413 over the body limit, 400 for anything that is not such a form), and the calling
//! client's credentials, read once for every endpoint by the `ClientForm` extractor (Basic, the body's secret,
//! or a `private_key_jwt` assertion; more than one method at once is refused). The services authenticate them.

use crate::error::ApiResult;
use axum::Form;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use data_encoding::BASE64;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::HashMap;
use zauthy_core::oidc::{ClientAuth, OAuthError, OidcError, OidcResult};

/// An RFC 6749 error answer: 401 with `WWW-Authenticate` for `invalid_client`, 400 otherwise.
pub(crate) fn oauth_error(e: &OAuthError) -> Response {
    let status = if e.error == "invalid_client" { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
    let mut response =
        (status, axum::Json(json!({"error": e.error, "error_description": e.description}))).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="token""#));
    }
    response
}

/// The one place an OAuth operation's result becomes an answer: `ok` for a success, RFC 6749's shape for the
/// client's errors, the API's opaque 500 (its cause logged) for a server failure.
pub(crate) fn oauth_answer<T>(result: OidcResult<T>, ok: impl FnOnce(T) -> Response) -> ApiResult<Response> {
    match result {
        Ok(value) => Ok(ok(value)),
        Err(OidcError::OAuth(e)) => Ok(oauth_error(&e)),
        Err(OidcError::Core(e)) => Err(e.into()),
    }
}

/// A JSON answer that must not be cached (tokens, token metadata).
pub(crate) fn no_store_json(body: impl serde::Serialize) -> Response {
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

pub(crate) struct OAuthForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OAuthForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match Form::<T>::from_request(req, state).await {
            Ok(Form(value)) => Ok(Self(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                let mut answer = oauth_error(&OAuthError::new("invalid_request", "the body is over the size limit"));
                *answer.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                Err(answer)
            }
            Err(_) => Err(oauth_error(&OAuthError::new(
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            ))),
        }
    }
}

/// A form that carries the client's body credentials; they are taken out of it, the rest stays.
pub(crate) trait WithCredentials {
    fn take_credentials(&mut self) -> BodyCredentials;
}

/// The parameters of a request as a map (PAR, device authorization, CIBA): `client_id` stays, it is also a
/// parameter of the request.
impl WithCredentials for HashMap<String, String> {
    fn take_credentials(&mut self) -> BodyCredentials {
        BodyCredentials {
            client_id: self.get("client_id").cloned(),
            client_secret: self.remove("client_secret"),
            assertion_type: self.remove("client_assertion_type"),
            assertion: self.remove("client_assertion"),
        }
    }
}

/// Implements `WithCredentials` for a form struct with the four credential fields.
macro_rules! with_credentials {
    ($form:ty) => {
        impl $crate::oidc::oauth::WithCredentials for $form {
            fn take_credentials(&mut self) -> $crate::oidc::oauth::BodyCredentials {
                $crate::oidc::oauth::BodyCredentials {
                    client_id: self.client_id.take(),
                    client_secret: self.client_secret.take(),
                    assertion_type: self.client_assertion_type.take(),
                    assertion: self.client_assertion.take(),
                }
            }
        }
    };
}
pub(crate) use with_credentials;

/// An OAuth endpoint's form and the credentials its client presented (not yet checked: the services do).
pub(crate) struct ClientForm<T> {
    pub form: T,
    pub auth: ClientAuth,
}

impl<S: Send + Sync, T: DeserializeOwned + WithCredentials> FromRequest<S> for ClientForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let OAuthForm(mut form) = OAuthForm::<T>::from_request(req, state).await?;
        match client_auth(&headers, form.take_credentials()) {
            Ok(auth) => Ok(Self { form, auth }),
            Err(e) => Err(oauth_error(&e)),
        }
    }
}

/// What a client may send in the body to authenticate: `client_id` with a secret, or a signed
/// `client_assertion` (`private_key_jwt`).
#[derive(Debug, Default, Clone)]
pub(crate) struct BodyCredentials {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub assertion_type: Option<String>,
    pub assertion: Option<String>,
}

/// Reads the client's credentials from the `Authorization: Basic` header, the body's secret or the body's
/// assertion; more than one method at once is refused.
fn client_auth(headers: &HeaderMap, body: BodyCredentials) -> Result<ClientAuth, OAuthError> {
    let (client_id, client_secret) = (body.client_id.as_ref(), body.client_secret.as_ref());
    if let Some(assertion) = &body.assertion {
        if body.assertion_type.as_deref() != Some(zauthy_core::oidc::ASSERTION_TYPE) {
            return Err(OAuthError::new("invalid_client", "client_assertion_type must be the jwt-bearer type"));
        }
        if client_secret.is_some() || headers.contains_key(header::AUTHORIZATION) {
            return Err(OAuthError::new("invalid_request", "use one client authentication method"));
        }
        let Some(subject) = zauthy_core::oidc::assertion_subject(assertion) else {
            return Err(OAuthError::new("invalid_client", "client_assertion is not a JWT"));
        };
        if client_id.is_some_and(|c| *c != subject) {
            return Err(OAuthError::new("invalid_client", "client_id differs from the assertion's subject"));
        }
        return Ok(ClientAuth::Jwt { client_id: subject, assertion: assertion.clone() });
    }
    let basic = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then(|| rest.trim().to_owned())
    });
    match (basic, client_id, client_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::new("invalid_request", "use one client authentication method")),
        (Some(encoded), body_id, None) => {
            let decoded = BASE64.decode(encoded.as_bytes()).ok().and_then(|b| String::from_utf8(b).ok());
            let Some((id, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                return Err(OAuthError::new("invalid_client", "malformed Basic credentials"));
            };
            // RFC 6749 §2.3.1: both halves are form-urlencoded.
            let (id, secret) = (form_decode(id), form_decode(secret));
            if body_id.is_some_and(|b| *b != id) {
                return Err(OAuthError::new("invalid_request", "client_id differs from the Basic credentials"));
            }
            Ok(ClientAuth::Basic { client_id: id, secret })
        }
        (None, Some(id), Some(secret)) => Ok(ClientAuth::Post { client_id: id.clone(), secret: secret.clone() }),
        (None, Some(id), None) => Ok(ClientAuth::None { client_id: id.clone() }),
        (None, None, _) => Err(OAuthError::new("invalid_client", "client authentication is required")),
    }
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}
