//! Validating an upstream ID token: an allowed algorithm, a key of the upstream's JWKS, the signature, the
//! exact issuer, our client id as audience (and `azp` when present), expiry on the service clock, and the
//! nonce of this authorization request.

use crate::crypto::constant_time_eq;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use time::OffsetDateTime;

/// Clock skew tolerated between us and the upstream.
const LEEWAY_SECS: i64 = 60;

pub struct IdTokenExpectations<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub algs: &'a [Algorithm],
    pub now: OffsetDateTime,
}

/// What we take from a valid ID token.
#[derive(Debug, Clone)]
pub struct IdTokenClaims {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Why a token was refused. `UnknownKey` means the JWKS may be stale: fetch it again and retry once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdTokenError {
    UnknownKey,
    Invalid(String),
}

fn invalid(why: impl Into<String>) -> IdTokenError {
    IdTokenError::Invalid(why.into())
}

/// `email_verified` is a boolean in the spec; Apple sends the string `"true"`.
fn truthy(v: &Value) -> bool {
    v.as_bool().unwrap_or_else(|| v.as_str() == Some("true"))
}

pub fn validate_id_token(
    token: &str,
    jwks: &JwkSet,
    expected: &IdTokenExpectations<'_>,
) -> Result<IdTokenClaims, IdTokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("the ID token is not a JWT"))?;
    if !expected.algs.contains(&header.alg) {
        return Err(invalid(format!("the ID token is signed with {:?}, which this provider does not use", header.alg)));
    }
    let candidates: Vec<_> = match &header.kid {
        Some(kid) => jwks.keys.iter().filter(|k| k.common.key_id.as_deref() == Some(kid.as_str())).collect(),
        // Without a kid, only an unambiguous key will do.
        None => jwks.keys.iter().collect(),
    };
    let jwk = match candidates.as_slice() {
        [one] => *one,
        [] => return Err(IdTokenError::UnknownKey),
        _ => return Err(invalid("the ID token names no key id and the JWKS has several keys")),
    };
    if let Some(key_alg) = jwk.common.key_algorithm
        && serde_json::to_value(key_alg).ok() != serde_json::to_value(header.alg).ok()
    {
        return Err(invalid("the ID token's algorithm is not the one its key is for"));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid("the upstream key cannot verify signatures"))?;
    let mut validation = Validation::new(header.alg);
    validation.algorithms = vec![header.alg];
    // Time is checked below against the service clock, which tests move.
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss", "sub", "aud", "exp"]);
    validation.set_issuer(&[expected.issuer]);
    validation.set_audience(&[expected.client_id]);
    let claims = match jsonwebtoken::decode::<Value>(token, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) => {
            use jsonwebtoken::errors::ErrorKind;
            return Err(invalid(match e.kind() {
                ErrorKind::InvalidSignature => "the ID token's signature does not verify".to_owned(),
                ErrorKind::InvalidIssuer => format!("the ID token was not issued by {}", expected.issuer),
                ErrorKind::InvalidAudience => "the ID token is not meant for this client".to_owned(),
                ErrorKind::MissingRequiredClaim(c) => format!("the ID token has no {c} claim"),
                _ => "the ID token is malformed".to_owned(),
            }));
        }
    };
    let now = expected.now.unix_timestamp();
    let exp = claims["exp"].as_i64().ok_or_else(|| invalid("the ID token's exp is not a number"))?;
    if exp + LEEWAY_SECS < now {
        return Err(invalid("the ID token has expired"));
    }
    if claims["iat"].as_i64().is_some_and(|iat| iat > now + LEEWAY_SECS) {
        return Err(invalid("the ID token was issued in the future"));
    }
    if let Some(azp) = claims.get("azp").and_then(Value::as_str)
        && azp != expected.client_id
    {
        return Err(invalid("the ID token was issued to another client (azp)"));
    }
    let nonce = claims["nonce"].as_str().ok_or_else(|| invalid("the ID token has no nonce"))?;
    if !constant_time_eq(nonce.as_bytes(), expected.nonce.as_bytes()) {
        return Err(invalid("the ID token's nonce is not this sign-in's"));
    }
    let subject = claims["sub"].as_str().unwrap_or_default();
    if subject.is_empty() || subject.len() > 255 || subject.chars().any(char::is_control) {
        return Err(invalid("the ID token's sub is empty, too long or not printable"));
    }
    Ok(IdTokenClaims {
        subject: subject.to_owned(),
        email: claims["email"].as_str().map(str::to_owned),
        email_verified: claims.get("email_verified").is_some_and(truthy),
        name: claims["name"].as_str().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;
    use crate::tokens::{KeyRing, SigningAlg};
    use serde_json::json;

    /// A signed token and the JWKS publishing its key, made with the same code that signs zauthy's own.
    fn signed(claims: Value) -> (String, JwkSet) {
        let ring = KeyRing::new(MasterKey::generate());
        let record = ring.generate_for("org_x", SigningAlg::RS256, OffsetDateTime::now_utc()).unwrap();
        let pkcs8 = ring.master().decrypt(&record.private_key_enc, &format!("signing_key:{}", record.kid)).unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            data_encoding::BASE64.encode(&pkcs8)
        );
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
        header.kid = Some(record.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        let jwks: JwkSet =
            serde_json::from_value(json!({"keys": [serde_json::from_str::<Value>(&record.public_jwk).unwrap()]}))
                .unwrap();
        (token, jwks)
    }

    fn claims(now: i64) -> Value {
        json!({"iss": "https://idp.example", "aud": "client-1", "sub": "u1", "exp": now + 300, "iat": now,
               "nonce": "n-1", "email": "a@example.com", "email_verified": "true"})
    }

    fn expect(now: OffsetDateTime) -> IdTokenExpectations<'static> {
        IdTokenExpectations {
            issuer: "https://idp.example",
            client_id: "client-1",
            nonce: "n-1",
            algs: &[Algorithm::RS256],
            now,
        }
    }

    #[test]
    fn a_token_passes_only_with_the_right_issuer_audience_nonce_time_and_key() {
        let now = OffsetDateTime::now_utc();
        let t = now.unix_timestamp();
        let (token, jwks) = signed(claims(t));
        let ok = validate_id_token(&token, &jwks, &expect(now)).unwrap();
        assert_eq!(ok.subject, "u1");
        assert!(ok.email_verified, "Apple's string \"true\" counts as verified");

        let wrong = |f: &dyn Fn(&mut IdTokenExpectations<'static>)| {
            let mut e = expect(now);
            f(&mut e);
            validate_id_token(&token, &jwks, &e).unwrap_err()
        };
        assert!(
            matches!(wrong(&|e| e.issuer = "https://evil.example"), IdTokenError::Invalid(m) if m.contains("issued by"))
        );
        assert!(matches!(wrong(&|e| e.client_id = "client-2"), IdTokenError::Invalid(m) if m.contains("not meant")));
        assert!(matches!(wrong(&|e| e.nonce = "n-2"), IdTokenError::Invalid(m) if m.contains("nonce")));
        assert!(
            matches!(wrong(&|e| e.algs = &[Algorithm::ES256]), IdTokenError::Invalid(m) if m.contains("does not use"))
        );
        assert!(
            matches!(wrong(&|e| e.now = now + time::Duration::minutes(10)), IdTokenError::Invalid(m) if m.contains("expired"))
        );

        let (_, other_jwks) = signed(claims(t));
        assert_eq!(validate_id_token(&token, &other_jwks, &expect(now)).unwrap_err(), IdTokenError::UnknownKey);

        let mut tampered = token.clone();
        let mid = tampered.find('.').unwrap() + 5;
        tampered.replace_range(mid..mid + 1, if &tampered[mid..mid + 1] == "A" { "B" } else { "A" });
        assert!(validate_id_token(&tampered, &jwks, &expect(now)).is_err());

        let mut foreign = claims(t);
        foreign["azp"] = json!("client-9");
        let (token, jwks) = signed(foreign);
        assert!(
            matches!(validate_id_token(&token, &jwks, &expect(now)), Err(IdTokenError::Invalid(m)) if m.contains("azp"))
        );
    }
}
