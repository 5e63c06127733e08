//! DPoP (RFC 9449) on the wire: the `DPoP` header of a request to the token, introspection, revocation or
//! userinfo endpoint, checked by the core (`oidc::dpop`); the refusals the RFC prescribes (`400` with
//! `invalid_dpop_proof` or `use_dpop_nonce` at the authorization server, `401` with a `DPoP` challenge at the
//! userinfo resource); and a fresh `DPoP-Nonce` on every answer to a request that carried a proof.

use crate::error::ApiResult;
use crate::state::AppState;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use zauthy_core::oidc::{DPOP_ALGS, DpopError, DpopKey, DpopRequest};

pub(crate) const DPOP_HEADER: &str = "dpop";
const NONCE_HEADER: &str = "dpop-nonce";

/// Where a proof was sent: the authorization server's endpoints answer in RFC 6749's shape, the userinfo
/// resource with a `WWW-Authenticate: DPoP` challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    AuthorizationServer,
    Resource,
}

/// A request's DPoP proof, checked.
pub(crate) struct Proof<'a> {
    pub org_id: &'a str,
    pub method: &'a str,
    pub endpoint: &'a str,
    pub access_token: Option<&'a str>,
    pub role: Role,
}

impl Proof<'_> {
    /// The key of the request's DPoP proof; `None` without one; the answer to send when it is refused
    /// (also when the header is given twice).
    pub(crate) async fn check(
        &self,
        state: &AppState,
        headers: &HeaderMap,
    ) -> ApiResult<Result<Option<DpopKey>, Response>> {
        let mut values = headers.get_all(DPOP_HEADER).iter();
        let Some(first) = values.next() else {
            return Ok(Ok(None));
        };
        let (Ok(proof), None) = (first.to_str(), values.next()) else {
            return Ok(Err(self.refusal(state, &DpopError::Invalid("send exactly one DPoP proof"))));
        };
        let request = DpopRequest {
            org_id: self.org_id,
            proof,
            method: self.method,
            endpoint: self.endpoint,
            access_token: self.access_token,
        };
        Ok(match state.services.check_dpop_proof(&request).await? {
            Ok(key) => Ok(Some(key)),
            Err(e) => Err(self.refusal(state, &e)),
        })
    }

    /// The answer to a refused proof, with the nonce to use next.
    pub(crate) fn refusal(&self, state: &AppState, e: &DpopError) -> Response {
        let body = axum::Json(serde_json::json!({"error": e.code(), "error_description": e.description()}));
        let mut response = match self.role {
            Role::AuthorizationServer => (StatusCode::BAD_REQUEST, body).into_response(),
            Role::Resource => {
                let mut response = (StatusCode::UNAUTHORIZED, body).into_response();
                let challenge = format!(
                    r#"DPoP error="{}", error_description="{}", algs="{}""#,
                    e.code(),
                    e.description(),
                    DPOP_ALGS.join(" ")
                );
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                response
            }
        };
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        with_nonce(state, self.org_id, response)
    }
}

/// `response` with a fresh `DPoP-Nonce` (RFC 9449 §8.2: the server may give one with any answer).
pub(crate) fn with_nonce(state: &AppState, org_id: &str, mut response: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&state.services.dpop_nonce(org_id)) {
        response.headers_mut().insert(NONCE_HEADER, v);
    }
    response
}

/// `response` as answered to a request: with a fresh nonce when the request carried a DPoP proof.
pub(crate) fn answer(state: &AppState, org_id: &str, headers: &HeaderMap, response: Response) -> Response {
    if headers.contains_key(DPOP_HEADER) { with_nonce(state, org_id, response) } else { response }
}
