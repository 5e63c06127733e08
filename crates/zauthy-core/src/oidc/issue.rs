//! Tokens for a user's grant: a JWT access token whose audience is the client (RFC 9068 claims), the ID
//! token signed with the client's algorithm (`at_hash`, `auth_time`, `acr`, `amr`, `nonce`, `sid`), and a
//! rotating refresh token when `offline_access` was granted. Standard claims come from the granted scopes.

use super::token::{Confirmation, TokenResponse, token_type};
use super::{
    ClientRefreshToken, ClientType, DpopKey, GRANT_REFRESH_TOKEN, Grant, OidcClient, Spent, SubjectType, TokenWrite,
};
use crate::accounts::User;
use crate::error::Result;
use crate::services::Services;
use crate::store::Repo;
use crate::tokens::SigningAlg;
use crate::{crypto, ids};
use data_encoding::BASE64URL_NOPAD;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::Digest;
use time::OffsetDateTime;

/// A refresh token issued to a client lives this long unused; each rotation starts a new one.
pub const CLIENT_REFRESH_TTL_SECS: i64 = 30 * 24 * 3600;
pub const CLIENT_REFRESH_PREFIX: &str = "ort";

/// The access token a client gets for a user (RFC 9068 claims plus the grant it came from).
#[derive(Debug, Serialize)]
struct UserAccessClaims<'a> {
    iss: String,
    sub: &'a str,
    aud: &'a str,
    client_id: &'a str,
    scope: String,
    iat: i64,
    exp: i64,
    jti: String,
    auth_time: i64,
    acr: &'a str,
    amr: &'a [String],
    /// The grant: revoking it (revocation, code reuse, withdrawn consent) ends this token at once.
    gid: &'a str,
    /// The DPoP key the token is bound to (RFC 9449 §6.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
}

/// The standard claims the granted scopes release (OIDC Core §5.4). Claims the user has no value for (phone,
/// address) are left out rather than sent as null.
pub(crate) fn scope_claims(user: &User, sub: &str, scope: &[String]) -> Map<String, Value> {
    let has = |s: &str| scope.iter().any(|x| x == s);
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(sub));
    if has("profile") {
        claims.insert("name".into(), json!(user.name));
        claims.insert("updated_at".into(), json!(user.updated_at.unix_timestamp()));
    }
    if has("email") {
        claims.insert("email".into(), json!(user.email.as_str()));
        claims.insert("email_verified".into(), json!(user.is_verified));
    }
    if has("phone")
        && let Some(phone) = &user.phone
    {
        claims.insert("phone_number".into(), json!(phone));
        // Proven by entering an SMS one-time code sent to it; a changed number is unproven again.
        claims.insert("phone_number_verified".into(), json!(user.phone_verified));
    }
    if has("address")
        && let Some(address) = &user.address
    {
        claims.insert("address".into(), address.to_claim());
    }
    claims
}

/// The members of the `claims` request parameter for `target` (`id_token` or `userinfo`) that the user
/// record can answer (OIDC Core §5.5), among the claims of the granted `scope` only: consent is given per
/// scope, so the parameter can move a consented claim into the ID token but never release one the user
/// unticked or was never asked for.
pub(crate) fn requested_claims(
    user: &User,
    sub: &str,
    grant: &Grant,
    target: &str,
    scope: &[String],
) -> Map<String, Value> {
    let Some(wanted) = grant.claims.as_ref().and_then(|c| c.get(target)).and_then(Value::as_object) else {
        return Map::new();
    };
    let consented = scope_claims(user, sub, scope);
    wanted.keys().filter_map(|k| consented.get(k).map(|v| (k.clone(), v.clone()))).collect()
}

/// `at_hash`: the left half of the access token's hash, with the hash of the ID token's algorithm
/// (SHA-256 for RS256 and ES256, SHA-512 for Ed25519).
fn at_hash(alg: SigningAlg, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlg::EdDSA => sha2::Sha512::digest(access_token.as_bytes()).to_vec(),
        _ => sha2::Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    BASE64URL_NOPAD.encode(&digest[..digest.len() / 2])
}

/// Signed tokens of a grant, not yet answered: the refresh token (if any) must first be written.
pub(crate) struct PreparedTokens {
    response: TokenResponse,
    refresh: Option<ClientRefreshToken>,
}

impl PreparedTokens {
    /// Writes the refresh token through `repo` (the caller's transaction); then the answer may go out.
    pub(crate) async fn write(self, repo: &dyn Repo) -> Result<TokenResponse> {
        if let Some(record) = &self.refresh {
            repo.insert_client_refresh_token(record).await?;
        }
        Ok(self.response)
    }
}

impl Services {
    /// Commits `write` together with whatever other token writes are queued on this node (`group_commit.rs`);
    /// true when it spent its token (false: spent before, by another request, or unknown).
    pub async fn commit_token_write(&self, write: TokenWrite, now: OffsetDateTime) -> Result<bool> {
        self.token_writes.commit(&self.store, write, now).await
    }

    /// Spends the code or refresh token with the SHA-256 `hash` and stores the refresh token of `tokens`,
    /// committed together with the other token requests in flight (`group_commit.rs`). The answer once that
    /// has committed, or `None` when the token had been spent before.
    pub(crate) async fn commit_tokens(
        &self,
        tokens: PreparedTokens,
        spends: Spent,
        hash: String,
        now: OffsetDateTime,
    ) -> Result<Option<TokenResponse>> {
        let write = TokenWrite { spends, hash, issues: tokens.refresh };
        Ok(self.commit_token_write(write, now).await?.then_some(tokens.response))
    }

    /// Access token, ID token (for `openid`) and refresh token (for `offline_access`) of `grant`, written
    /// through `repo` (the caller's transaction). `with_nonce` only for the code exchange.
    pub(crate) async fn issue_grant_tokens(
        &self,
        repo: &dyn Repo,
        client: &OidcClient,
        grant: &Grant,
        user: &User,
        with_nonce: bool,
        dpop: Option<&DpopKey>,
    ) -> Result<TokenResponse> {
        self.prepare_grant_tokens(client, grant, user, with_nonce, dpop).await?.write(repo).await
    }

    /// The `sub` `client` sees for the user `user_id`: the id itself, or, for a pairwise client, a value
    /// derived under the master key for its sector (OIDC Core §8.1). Clients of one sector see the same value;
    /// clients of different sectors cannot link their users without the master key.
    pub(crate) fn subject_for(&self, client: &OidcClient, user_id: &str) -> String {
        match (client.subject_type, &client.sector_identifier) {
            (SubjectType::Pairwise, Some(sector)) => {
                let digest =
                    self.keys.master().keyed_digest(&format!("oidc-pairwise-sub:{sector}"), user_id.as_bytes());
                BASE64URL_NOPAD.encode(&digest)
            }
            _ => user_id.to_owned(),
        }
    }

    /// The tokens of `grant`, signed but not written. Signing (an RSA signature for most ID tokens) happens
    /// here, outside any transaction, so that SQLite's write lock is not held through it. With a DPoP key the
    /// access token is bound to it, and so is a public client's refresh token (RFC 9449 §5).
    pub(crate) async fn prepare_grant_tokens(
        &self,
        client: &OidcClient,
        grant: &Grant,
        user: &User,
        with_nonce: bool,
        dpop: Option<&DpopKey>,
    ) -> Result<PreparedTokens> {
        let repo: &dyn Repo = &*self.store;
        let now = self.now();
        let ttl = self.config.access_token_ttl_secs;
        let issuer = self.issuer(&grant.org_id);
        let scope = grant.scope.join(" ");
        let sub = self.subject_for(client, &user.id);
        let claims = UserAccessClaims {
            iss: issuer.clone(),
            sub: &sub,
            aud: &client.id,
            client_id: &client.id,
            scope: scope.clone(),
            iat: now.unix_timestamp(),
            exp: now.unix_timestamp() + ttl,
            jti: ids::new_id("at"),
            auth_time: grant.auth_time.unix_timestamp(),
            acr: &grant.acr,
            amr: &grant.amr,
            gid: &grant.id,
            cnf: dpop.map(Confirmation::of),
        };
        let access_token = self.keys.sign_with(repo, &grant.org_id, SigningAlg::EdDSA, now, &claims).await?;
        let has = |s: &str| grant.scope.iter().any(|x| x == s);
        let id_token = if has("openid") {
            let alg = SigningAlg::parse(&client.id_token_signed_response_alg).unwrap_or(SigningAlg::RS256);
            let mut c = requested_claims(user, &sub, grant, "id_token", &grant.scope);
            c.insert("sub".into(), json!(sub));
            for (k, v) in [
                ("iss", json!(issuer)),
                ("aud", json!(client.id)),
                ("azp", json!(client.id)),
                ("iat", json!(now.unix_timestamp())),
                ("exp", json!(now.unix_timestamp() + ttl)),
                ("auth_time", json!(grant.auth_time.unix_timestamp())),
                ("acr", json!(grant.acr)),
                ("amr", json!(grant.amr)),
                ("at_hash", json!(at_hash(alg, &access_token))),
            ] {
                c.insert(k.into(), v);
            }
            if let Some(sid) = &grant.session_id {
                c.insert("sid".into(), json!(sid));
            }
            if with_nonce && let Some(nonce) = &grant.nonce {
                c.insert("nonce".into(), json!(nonce));
            }
            Some(self.keys.sign_with(repo, &grant.org_id, alg, now, &Value::Object(c)).await?)
        } else {
            None
        };
        let (refresh_token, refresh) =
            if has("offline_access") && client.grant_types.iter().any(|g| g == GRANT_REFRESH_TOKEN) {
                let token = crypto::new_opaque_token(CLIENT_REFRESH_PREFIX);
                let record = ClientRefreshToken {
                    hash: crypto::sha256_hex(&token),
                    grant_id: grant.id.clone(),
                    expires_at: now + time::Duration::seconds(CLIENT_REFRESH_TTL_SECS),
                    used_at: None,
                    dpop_jkt: dpop.filter(|_| client.client_type == ClientType::Public).map(|key| key.jkt.clone()),
                    created_at: now,
                };
                (Some(token), Some(record))
            } else {
                (None, None)
            };
        let response = TokenResponse {
            access_token,
            token_type: token_type(dpop),
            expires_in: ttl,
            scope,
            id_token,
            refresh_token,
        };
        Ok(PreparedTokens { response, refresh })
    }
}
