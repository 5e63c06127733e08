//! The provider metadata each organization publishes (OpenID Connect Discovery 1.0, RFC 8414): only what
//! is built is advertised.

use super::consent::{ACR_MULTI_FACTOR, ACR_SINGLE_FACTOR};
use super::{DPOP_ALGS, GRANT_CIBA, GRANT_DEVICE_CODE, ID_TOKEN_ALGS, SCOPES};
use crate::services::Services;
use serde_json::{Value, json};

impl Services {
    pub fn provider_metadata(&self, org_id: &str) -> Value {
        let issuer = self.issuer(org_id);
        let at = |path: &str| format!("{issuer}{path}");
        let client_auth = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];
        // RFC 7662 §2.1: the introspection endpoint requires authorization, which a public client cannot give.
        let introspection_auth = &client_auth[..3];
        json!({
            "issuer": issuer,
            "authorization_endpoint": at("/authorize"),
            "token_endpoint": at("/token"),
            "userinfo_endpoint": at("/userinfo"),
            "jwks_uri": at("/.well-known/jwks.json"),
            "revocation_endpoint": at("/revoke"),
            "introspection_endpoint": at("/introspect"),
            "end_session_endpoint": at("/end_session"),
            "pushed_authorization_request_endpoint": at("/par"),
            "device_authorization_endpoint": at("/device_authorization"),
            "backchannel_authentication_endpoint": at("/bc-authorize"),
            "backchannel_token_delivery_modes_supported": ["poll"],
            "backchannel_user_code_parameter_supported": false,
            "scopes_supported": SCOPES,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": [
                "authorization_code", "refresh_token", "client_credentials", GRANT_DEVICE_CODE, GRANT_CIBA
            ],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": ID_TOKEN_ALGS,
            "token_endpoint_auth_methods_supported": client_auth,
            "revocation_endpoint_auth_methods_supported": client_auth,
            "introspection_endpoint_auth_methods_supported": introspection_auth,
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
            "code_challenge_methods_supported": ["S256"],
            "dpop_signing_alg_values_supported": DPOP_ALGS,
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "acr_values_supported": [ACR_SINGLE_FACTOR, ACR_MULTI_FACTOR],
            "claims_supported": [
                "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "sid",
                "name", "updated_at", "email", "email_verified", "phone_number", "phone_number_verified",
                "address"
            ],
            "claims_parameter_supported": true,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "require_pushed_authorization_requests": false,
            "authorization_response_iss_parameter_supported": true,
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
        })
    }
}
