//! Registering service providers: create, list, get, update, delete, rotate the secret. Everything is
//! validated up front, so the authorization endpoints can trust a stored client.

use super::{
    AUTH_METHODS, ClientType, GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN, GRANT_TYPES, ID_TOKEN_ALGS, OidcClient,
    SCOPES, SubjectType,
};
use crate::accounts::Role;
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::orgs::clean_name_pub as clean_name;
use crate::services::Services;
use crate::tokens::SigningAlg;
use crate::{crypto, ids};
use serde_json::{Value, json};

/// What a registration gives; `None` fields take the defaults.
#[derive(Debug, Default)]
pub struct ClientInput {
    pub name: String,
    pub client_type: Option<String>,
    pub redirect_uris: Vec<String>,
    pub allowed_scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub jwks: Option<Value>,
    pub id_token_signed_response_alg: Option<String>,
    pub require_mfa: Option<bool>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: Option<bool>,
    pub subject_type: Option<String>,
    pub dpop_bound_access_tokens: Option<bool>,
}

/// A partial update: fields left `None` keep their value. The type cannot change (a public client has no
/// secret to start from).
#[derive(Debug, Default)]
pub struct ClientUpdate {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub allowed_scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub jwks: Option<Option<Value>>,
    pub id_token_signed_response_alg: Option<String>,
    pub require_mfa: Option<bool>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `Some(None)` removes the URI.
    pub backchannel_logout_uri: Option<Option<String>>,
    pub backchannel_logout_session_required: Option<bool>,
    pub subject_type: Option<String>,
    pub dpop_bound_access_tokens: Option<bool>,
}

pub struct CreatedClient {
    pub client: OidcClient,
    /// Shown once; `None` for public clients.
    pub client_secret: Option<String>,
}

const MAX_REDIRECT_URIS: usize = 20;

fn invalid(code: &'static str, detail: impl Into<String>) -> CoreError {
    CoreError::invalid(code, detail)
}

/// Exact-match redirect URIs: absolute, https (or http on localhost / 127.0.0.1 / [::1] for development),
/// no fragment, no credentials, no wildcards.
pub(crate) fn check_redirect_uri(raw: &str) -> Result<()> {
    let bad = |why: &str| invalid("invalid_redirect_uri", format!("redirect URI {raw:?} {why}"));
    if raw.contains('*') {
        return Err(bad("must not contain wildcards"));
    }
    crate::orgs::parse_web_url(raw, "redirect URI").map_err(|e| match e {
        CoreError::Invalid { detail, .. } => invalid("invalid_redirect_uri", detail),
        other => other,
    })?;
    Ok(())
}

fn check_list(values: &[String], allowed: &[&str], code: &'static str, what: &str) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !allowed.contains(&v.as_str()) {
            return Err(invalid(code, format!("{what} {v:?} is not one of {}", allowed.join(", "))));
        }
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    Ok(out)
}

/// A JWK Set with at least one public key and no private members.
fn check_jwks(jwks: &Value) -> Result<()> {
    let keys = jwks.get("keys").and_then(Value::as_array).filter(|k| !k.is_empty());
    let keys = keys.ok_or_else(|| invalid("invalid_jwks", "jwks must be a JWK Set: {\"keys\": [...]}"))?;
    for key in keys {
        if key.get("kty").and_then(Value::as_str).is_none() {
            return Err(invalid("invalid_jwks", "every key needs a kty"));
        }
        if key.get("d").is_some() {
            return Err(invalid("invalid_jwks", "jwks must hold public keys only"));
        }
    }
    if jwks.to_string().len() > 32 * 1024 {
        return Err(invalid("invalid_jwks", "jwks is too large"));
    }
    Ok(())
}

/// A back-channel logout URI is called by this server, so it is held to the webhook URL rules (https,
/// public addresses) rather than the redirect URI ones; empty means none.
fn check_backchannel_uri(uri: Option<String>, settings: &crate::webhooks::WebhookSettings) -> Result<Option<String>> {
    let Some(uri) = uri.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    match crate::webhooks::check_url(&uri, settings) {
        Ok(_) => Ok(Some(uri)),
        Err(CoreError::Invalid { detail, .. }) => {
            Err(invalid("invalid_backchannel_logout_uri", detail.replacen("url", "backchannel_logout_uri", 1)))
        }
        Err(other) => Err(other),
    }
}

fn parse_subject_type(raw: &str) -> Result<SubjectType> {
    SubjectType::parse(raw).ok_or_else(|| invalid("invalid_subject_type", "subject_type must be public or pairwise"))
}

/// A pairwise client's sector: kept once set (its users' `sub` must never change), else the one host of its
/// redirect URIs, or its own id when it has none. While the sector is a host, the redirect URIs stay on it.
fn settle_sector(client: &mut OidcClient, previous: Option<String>) -> Result<()> {
    if client.subject_type == SubjectType::Public {
        client.sector_identifier = None;
        return Ok(());
    }
    let host_of = |u: &str| url::Url::parse(u).ok()?.host_str().map(str::to_ascii_lowercase);
    let hosts: std::collections::BTreeSet<String> = client.redirect_uris.iter().filter_map(|u| host_of(u)).collect();
    let sector = match previous {
        Some(sector) => sector,
        None if hosts.len() > 1 => {
            return Err(invalid(
                "invalid_subject_type",
                "a pairwise client's redirect URIs must all be on one host, its sector",
            ));
        }
        None => hosts.first().cloned().unwrap_or_else(|| client.id.clone()),
    };
    if sector != client.id
        && let Some(other) = client.redirect_uris.iter().find(|u| host_of(u).as_deref() != Some(sector.as_str()))
    {
        return Err(invalid(
            "invalid_redirect_uri",
            format!("redirect URI {other:?} is not on {sector}, the host this pairwise client's subjects are for"),
        ));
    }
    client.sector_identifier = Some(sector);
    Ok(())
}

/// Checks the whole client for consistency (type, auth method, grants, keys).
fn validate(client: &mut OidcClient) -> Result<()> {
    client.name = clean_name(&client.name, "name", 100)?;
    if client.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(invalid("invalid_redirect_uri", format!("at most {MAX_REDIRECT_URIS} redirect URIs")));
    }
    if client.post_logout_redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(invalid("invalid_redirect_uri", format!("at most {MAX_REDIRECT_URIS} post-logout redirect URIs")));
    }
    for uri in client.redirect_uris.iter().chain(&client.post_logout_redirect_uris) {
        check_redirect_uri(uri)?;
    }
    client.allowed_scopes = check_list(&client.allowed_scopes, SCOPES, "invalid_scope", "scope")?;
    client.grant_types = check_list(&client.grant_types, GRANT_TYPES, "invalid_grant_type", "grant type")?;
    if client.grant_types.is_empty() {
        return Err(invalid("invalid_grant_type", "a client needs at least one grant type"));
    }
    let needs_redirect = client.grant_types.iter().any(|g| g == super::GRANT_AUTHORIZATION_CODE);
    if needs_redirect && client.redirect_uris.is_empty() {
        return Err(invalid("invalid_redirect_uri", "the authorization_code grant needs at least one redirect URI"));
    }
    if client.grant_types.iter().any(|g| g == GRANT_REFRESH_TOKEN)
        && !client.allowed_scopes.iter().any(|s| s == "offline_access")
    {
        client.allowed_scopes.push("offline_access".to_owned());
    }
    if !AUTH_METHODS.contains(&client.token_endpoint_auth_method.as_str()) {
        return Err(invalid(
            "invalid_auth_method",
            format!("token_endpoint_auth_method must be one of {}", AUTH_METHODS.join(", ")),
        ));
    }
    match client.client_type {
        ClientType::Public => {
            if client.token_endpoint_auth_method != "none" {
                return Err(invalid("invalid_auth_method", "a public client authenticates with \"none\" (and PKCE)"));
            }
            if client.grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS) {
                return Err(invalid("invalid_grant_type", "client_credentials needs a confidential client"));
            }
        }
        ClientType::Confidential if client.token_endpoint_auth_method == "none" => {
            return Err(invalid(
                "invalid_auth_method",
                "a confidential client must authenticate at the token endpoint",
            ));
        }
        ClientType::Confidential => {}
    }
    match (&client.jwks, client.token_endpoint_auth_method.as_str()) {
        (None, "private_key_jwt") => return Err(invalid("invalid_jwks", "private_key_jwt needs the client's jwks")),
        (Some(jwks), _) => check_jwks(jwks)?,
        (None, _) => {}
    }
    if !ID_TOKEN_ALGS.contains(&client.id_token_signed_response_alg.as_str()) {
        return Err(invalid(
            "invalid_signing_alg",
            format!("id_token_signed_response_alg must be one of {}", ID_TOKEN_ALGS.join(", ")),
        ));
    }
    Ok(())
}

fn new_secret() -> (String, String) {
    let secret = crypto::new_opaque_token("cs");
    let hash = crypto::sha256_hex(&secret);
    (secret, hash)
}

fn not_found() -> CoreError {
    CoreError::NotFound { entity: "client" }
}

impl Services {
    /// The key for the client's ID tokens exists from registration on, so RPs find it in the JWKS at once.
    async fn ensure_id_token_key(
        &self,
        repo: &dyn crate::store::Repo,
        client: &OidcClient,
        now: time::OffsetDateTime,
    ) -> Result<()> {
        let alg = SigningAlg::parse(&client.id_token_signed_response_alg)
            .ok_or_else(|| invalid("invalid_signing_alg", "unknown ID token signing algorithm"))?;
        self.keys.ensure_key(repo, &client.org_id, alg, now).await
    }

    pub async fn create_oidc_client(&self, actor: &Actor, input: ClientInput) -> Result<CreatedClient> {
        let org_id = actor.require_admin(Role::Admin)?.to_owned();
        let client_type = match input.client_type.as_deref() {
            None => ClientType::Confidential,
            Some(t) => ClientType::parse(t)
                .ok_or_else(|| invalid("invalid_client_type", "client_type must be confidential or public"))?,
        };
        let default_method = match client_type {
            ClientType::Confidential => "client_secret_basic",
            ClientType::Public => "none",
        };
        let now = self.now();
        let mut client = OidcClient {
            id: ids::new_id(ids::OIDC_CLIENT),
            org_id: org_id.clone(),
            name: input.name,
            client_type,
            redirect_uris: input.redirect_uris,
            allowed_scopes: input
                .allowed_scopes
                .unwrap_or_else(|| ["openid", "profile", "email"].map(str::to_owned).to_vec()),
            grant_types: input
                .grant_types
                .unwrap_or_else(|| [super::GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN].map(str::to_owned).to_vec()),
            token_endpoint_auth_method: input.token_endpoint_auth_method.unwrap_or_else(|| default_method.to_owned()),
            jwks: input.jwks,
            id_token_signed_response_alg: input.id_token_signed_response_alg.unwrap_or_else(|| "RS256".to_owned()),
            require_mfa: input.require_mfa.unwrap_or(false),
            dpop_bound_access_tokens: input.dpop_bound_access_tokens.unwrap_or(false),
            post_logout_redirect_uris: input.post_logout_redirect_uris.unwrap_or_default(),
            backchannel_logout_uri: check_backchannel_uri(input.backchannel_logout_uri, &self.config.webhooks)?,
            backchannel_logout_session_required: input.backchannel_logout_session_required.unwrap_or(false),
            subject_type: input
                .subject_type
                .as_deref()
                .map(parse_subject_type)
                .transpose()?
                .unwrap_or(SubjectType::Public),
            sector_identifier: None,
            created_at: now,
            updated_at: now,
        };
        validate(&mut client)?;
        settle_sector(&mut client, None)?;
        let (secret, hash) = match client_type {
            ClientType::Confidential => {
                let (s, h) = new_secret();
                (Some(s), Some(h))
            }
            ClientType::Public => (None, None),
        };
        let tx = self.store.begin().await?;
        tx.insert_oidc_client(&client, hash.as_deref()).await?;
        self.ensure_id_token_key(&*tx, &client, now).await?;
        tx.insert_event(&Event::new(
            &org_id,
            types::OIDC_CLIENT_CREATED,
            actor.user_id(),
            json!({"client_id": client.id, "name": client.name, "client_type": client.client_type.as_str(), "by": actor.user_id()}),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(CreatedClient { client, client_secret: secret })
    }

    pub async fn list_oidc_clients(&self, actor: &Actor) -> Result<Vec<OidcClient>> {
        let org_id = actor.require_admin(Role::Admin)?;
        self.store.list_oidc_clients(org_id).await
    }

    pub async fn get_oidc_client(&self, actor: &Actor, client_id: &str) -> Result<OidcClient> {
        let org_id = actor.require_admin(Role::Admin)?;
        self.org_client(org_id, client_id).await
    }

    /// A client of `org_id`; another organization's client is simply not found.
    pub async fn org_client(&self, org_id: &str, client_id: &str) -> Result<OidcClient> {
        if !ids::is_valid_id(ids::OIDC_CLIENT, client_id) {
            return Err(not_found());
        }
        let (client, _) = self.store.find_oidc_client(client_id).await?.ok_or_else(not_found)?;
        if client.org_id != org_id {
            return Err(not_found());
        }
        Ok(client)
    }

    pub async fn update_oidc_client(&self, actor: &Actor, client_id: &str, update: ClientUpdate) -> Result<OidcClient> {
        let org_id = actor.require_admin(Role::Admin)?;
        let current = self.org_client(org_id, client_id).await?;
        let previous_sector =
            current.sector_identifier.clone().filter(|_| current.subject_type == SubjectType::Pairwise);
        let now = self.now();
        let mut client = OidcClient {
            name: update.name.unwrap_or(current.name),
            redirect_uris: update.redirect_uris.unwrap_or(current.redirect_uris),
            allowed_scopes: update.allowed_scopes.unwrap_or(current.allowed_scopes),
            grant_types: update.grant_types.unwrap_or(current.grant_types),
            token_endpoint_auth_method: update.token_endpoint_auth_method.unwrap_or(current.token_endpoint_auth_method),
            jwks: update.jwks.unwrap_or(current.jwks),
            id_token_signed_response_alg: update
                .id_token_signed_response_alg
                .unwrap_or(current.id_token_signed_response_alg),
            require_mfa: update.require_mfa.unwrap_or(current.require_mfa),
            dpop_bound_access_tokens: update.dpop_bound_access_tokens.unwrap_or(current.dpop_bound_access_tokens),
            post_logout_redirect_uris: update.post_logout_redirect_uris.unwrap_or(current.post_logout_redirect_uris),
            backchannel_logout_uri: match update.backchannel_logout_uri {
                Some(uri) => check_backchannel_uri(uri, &self.config.webhooks)?,
                None => current.backchannel_logout_uri,
            },
            backchannel_logout_session_required: update
                .backchannel_logout_session_required
                .unwrap_or(current.backchannel_logout_session_required),
            subject_type: update
                .subject_type
                .as_deref()
                .map(parse_subject_type)
                .transpose()?
                .unwrap_or(current.subject_type),
            updated_at: now,
            ..current
        };
        validate(&mut client)?;
        settle_sector(&mut client, previous_sector)?;
        let tx = self.store.begin().await?;
        if !tx.update_oidc_client(&client).await? {
            return Err(not_found());
        }
        self.ensure_id_token_key(&*tx, &client, now).await?;
        tx.insert_event(&Event::new(
            org_id,
            types::OIDC_CLIENT_UPDATED,
            actor.user_id(),
            json!({"client_id": client.id, "by": actor.user_id()}),
            now,
        ))
        .await?;
        tx.commit().await?;
        self.cache.invalidate();
        Ok(client)
    }

    pub async fn delete_oidc_client(&self, actor: &Actor, client_id: &str) -> Result<()> {
        let org_id = actor.require_admin(Role::Admin)?;
        let client = self.org_client(org_id, client_id).await?;
        let now = self.now();
        let tx = self.store.begin().await?;
        if !tx.delete_oidc_client(org_id, &client.id).await? {
            return Err(not_found());
        }
        tx.insert_event(&Event::new(
            org_id,
            types::OIDC_CLIENT_DELETED,
            actor.user_id(),
            json!({"client_id": client.id, "by": actor.user_id()}),
            now,
        ))
        .await?;
        tx.commit().await?;
        self.cache.invalidate();
        Ok(())
    }

    /// A new secret for a confidential client; the old one stops working at once on this node, and within the
    /// verification cache's TTL (1 s) on the others.
    pub async fn rotate_oidc_client_secret(&self, actor: &Actor, client_id: &str) -> Result<String> {
        let org_id = actor.require_admin(Role::Admin)?;
        let client = self.org_client(org_id, client_id).await?;
        if client.client_type == ClientType::Public {
            return Err(invalid("invalid_client_type", "a public client has no secret"));
        }
        let (secret, hash) = new_secret();
        let now = self.now();
        let tx = self.store.begin().await?;
        tx.set_oidc_client_secret(&client.id, &hash, now).await?;
        tx.insert_event(&Event::new(
            org_id,
            types::OIDC_CLIENT_SECRET_ROTATED,
            actor.user_id(),
            json!({"client_id": client.id, "by": actor.user_id()}),
            now,
        ))
        .await?;
        tx.commit().await?;
        self.cache.invalidate();
        Ok(secret)
    }

    /// Checks a client secret in constant time; false for public clients and unknown ids.
    pub async fn check_oidc_client_secret(&self, org_id: &str, client_id: &str, secret: &str) -> Result<bool> {
        if !ids::is_valid_id(ids::OIDC_CLIENT, client_id) {
            return Ok(false);
        }
        let Some((client, Some(hash))) = self.store.find_oidc_client(client_id).await? else {
            return Ok(false);
        };
        Ok(client.org_id == org_id && crypto::constant_time_eq(hash.as_bytes(), crypto::sha256_hex(secret).as_bytes()))
    }
}
