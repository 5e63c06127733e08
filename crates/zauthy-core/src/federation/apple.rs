//! Sign in with Apple's client secret: not a stored string but a short-lived ES256 JWT signed with the
//! team's private key (`iss` = team id, `sub` = the Services ID, `aud` = Apple, `kid` = the key id).

use crate::error::{CoreError, Result};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use time::OffsetDateTime;

pub const APPLE_AUDIENCE: &str = "https://appleid.apple.com";
/// Apple accepts up to six months; a secret made per token request needs only minutes.
const LIFETIME_SECS: i64 = 300;

#[derive(Serialize)]
struct ClientSecretClaims<'a> {
    iss: &'a str,
    iat: i64,
    exp: i64,
    aud: &'static str,
    sub: &'a str,
}

/// The client secret for one token request. `private_key_pem` is the `.p8` file Apple hands out (a P-256
/// key in PKCS#8 PEM).
pub fn apple_client_secret(
    team_id: &str,
    key_id: &str,
    client_id: &str,
    private_key_pem: &str,
    now: OffsetDateTime,
) -> Result<String> {
    let key = EncodingKey::from_ec_pem(private_key_pem.as_bytes())
        .map_err(|_| CoreError::invalid("invalid_apple_key", "private_key must be a P-256 key in PKCS#8 PEM (.p8)"))?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key_id.to_owned());
    let iat = now.unix_timestamp();
    let claims =
        ClientSecretClaims { iss: team_id, iat, exp: iat + LIFETIME_SECS, aud: APPLE_AUDIENCE, sub: client_id };
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|_| CoreError::invalid("invalid_apple_key", "private_key must be a P-256 key in PKCS#8 PEM (.p8)"))
}
