//! JWT signing with key pairs parsed once. jsonwebtoken parses its key on every signature, and for RSA that
//! costs more than the signature itself; the keyring keeps each active key parsed here instead.

use crate::error::{CoreError, Result};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256};
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::Algorithm;
use serde::Serialize;

/// A private key ready to sign, of one algorithm.
pub(crate) enum Signer {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

#[derive(Serialize)]
struct Header<'a> {
    typ: &'static str,
    alg: &'static str,
    kid: &'a str,
}

impl Signer {
    /// Parses a PKCS#8 private key of `alg` (the form the keyring stores).
    pub(crate) fn from_pkcs8(alg: SigningAlg, der: &[u8]) -> Result<Self> {
        let bad = || CoreError::internal(format!("stored {} key is unusable", alg.as_str()));
        Ok(match alg {
            SigningAlg::RS256 => Self::Rsa(aws_lc_rs::rsa::KeyPair::from_pkcs8(der).map_err(|_| bad())?),
            SigningAlg::ES256 => {
                Self::Ecdsa(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(|_| bad())?)
            }
            SigningAlg::EdDSA => Self::Ed25519(Ed25519KeyPair::from_pkcs8(der).map_err(|_| bad())?),
        })
    }

    fn alg(&self) -> SigningAlg {
        match self {
            Self::Rsa(_) => SigningAlg::RS256,
            Self::Ecdsa(_) => SigningAlg::ES256,
            Self::Ed25519(_) => SigningAlg::EdDSA,
        }
    }

    /// A compact JWS: `{"typ":"JWT","alg","kid"}`, the claims, the signature (RS256: PKCS#1 v1.5 SHA-256;
    /// ES256: the fixed-size r||s of RFC 7518; EdDSA: Ed25519).
    pub(crate) fn sign_jwt(&self, kid: &str, claims: &impl Serialize) -> Result<String> {
        self.sign_typed(kid, "JWT", claims)
    }

    /// Like `sign_jwt`, with another `typ` (a logout token's is `logout+jwt`).
    pub(crate) fn sign_typed(&self, kid: &str, typ: &'static str, claims: &impl Serialize) -> Result<String> {
        let fail = |what: &str| CoreError::internal(format!("JWT signing failed: {what}"));
        let header = Header { typ, alg: self.alg().as_str(), kid };
        let header = serde_json::to_vec(&header).map_err(|e| fail(&e.to_string()))?;
        let claims = serde_json::to_vec(claims).map_err(|e| fail(&e.to_string()))?;
        let mut jwt = format!("{}.{}", BASE64URL_NOPAD.encode(&header), BASE64URL_NOPAD.encode(&claims));
        let signature: Vec<u8> = match self {
            Self::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), jwt.as_bytes(), &mut sig)
                    .map_err(|_| fail("RSA"))?;
                sig
            }
            Self::Ecdsa(pair) => {
                pair.sign(&SystemRandom::new(), jwt.as_bytes()).map_err(|_| fail("ECDSA"))?.as_ref().to_vec()
            }
            Self::Ed25519(pair) => pair.sign(jwt.as_bytes()).as_ref().to_vec(),
        };
        jwt.push('.');
        jwt.push_str(&BASE64URL_NOPAD.encode(&signature));
        Ok(jwt)
    }
}

/// The algorithms an organization signs with: EdDSA for its own access tokens, any of the three for ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    RS256,
    ES256,
    EdDSA,
}

impl SigningAlg {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::RS256),
            "ES256" => Some(Self::ES256),
            "EdDSA" => Some(Self::EdDSA),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    pub fn jwt(self) -> Algorithm {
        match self {
            Self::RS256 => Algorithm::RS256,
            Self::ES256 => Algorithm::ES256,
            Self::EdDSA => Algorithm::EdDSA,
        }
    }
}
