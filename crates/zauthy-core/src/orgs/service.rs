//! Creating organizations, API keys and signing-key rotation.

use super::{ApiKey, KeyEnvironment, Organization, Plan};
use crate::accounts::{Email, Role, User};
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::passwords::check_password_policy;
use crate::services::{ClientMeta, Services};
use crate::tokens::{IssuedTokens, SigningAlg};
use crate::{crypto, ids};
use serde_json::json;
use time::Duration;

pub struct NewOrganization {
    pub name: String,
    pub owner_email: String,
    pub owner_password: String,
    pub owner_name: Option<String>,
}

pub struct CreatedApiKey {
    pub key: ApiKey,
    /// Shown once; only its hash is stored.
    pub secret: String,
}

pub struct CreatedOrganization {
    pub organization: Organization,
    pub api_key: CreatedApiKey,
    pub owner: User,
    pub tokens: IssuedTokens,
}

pub(crate) fn clean_name(raw: &str, what: &str, max: usize) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > max || name.chars().any(char::is_control) {
        return Err(CoreError::invalid("invalid_name", format!("{what} must be 1 to {max} printable characters")));
    }
    Ok(name.to_owned())
}

impl Services {
    pub async fn create_organization(&self, input: NewOrganization, meta: &ClientMeta) -> Result<CreatedOrganization> {
        let name = clean_name(&input.name, "name", 100)?;
        let email = Email::parse(&input.owner_email)?;
        check_password_policy(&input.owner_password)?;
        let owner_name = input.owner_name.as_deref().map(|n| clean_name(n, "owner_name", 200)).transpose()?;
        let password_hash = self.hasher.hash(&input.owner_password).await?;
        let now = self.now();
        let organization = Organization {
            id: ids::new_id(ids::ORG),
            name,
            plan: Plan::Free,
            settings: Default::default(),
            created_at: now,
            updated_at: now,
        };
        let owner = User::new_signed_in(&organization.id, email, owner_name, None, Role::Owner, now);
        let (api_key, key_hash) = new_api_key(&organization.id, "Default key", KeyEnvironment::Live, now);
        let signing_key = self.keys.generate(&organization.id, now)?;

        let tx = self.store.begin().await?;
        tx.insert_org(&organization).await?;
        tx.insert_signing_key(&signing_key).await?;
        tx.insert_user(&owner, Some(&password_hash)).await?;
        tx.insert_api_key(&api_key.key, &key_hash).await?;
        let tokens = self.start_session(&*tx, &owner, vec!["pwd".into()], None, meta).await?;
        tx.insert_event(&Event::new(
            &organization.id,
            types::ORGANIZATION_CREATED,
            Some(&owner.id),
            json!({"organization_id": organization.id, "name": organization.name}),
            now,
        ))
        .await?;
        tx.insert_event(&Event::new(
            &organization.id,
            types::USER_SIGNUP,
            Some(&owner.id),
            json!({"user_id": owner.id, "email": owner.email.as_str(), "role": "owner"}),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(CreatedOrganization { organization, api_key, owner, tokens })
    }

    pub async fn get_organization(&self, actor: &Actor) -> Result<Organization> {
        let org_id = actor.require_admin(Role::Admin)?;
        self.store.find_org(org_id).await?.ok_or(CoreError::NotFound { entity: "organization" })
    }

    /// Operator action (CLI): changes an organization's plan, and with it its rate limits.
    pub async fn set_plan(&self, org_id: &str, plan: Plan) -> Result<Organization> {
        if !self.store.set_org_plan(org_id, plan, self.now()).await? {
            return Err(CoreError::NotFound { entity: "organization" });
        }
        self.store.find_org(org_id).await?.ok_or(CoreError::NotFound { entity: "organization" })
    }

    /// API keys act above every user (they are the organization's root credential), so only an owner, or a
    /// key itself, manages them: an admin who could mint one could make themself owner with it.
    pub async fn list_api_keys(&self, actor: &Actor) -> Result<Vec<ApiKey>> {
        let org_id = actor.require_admin(Role::Owner)?;
        self.store.list_api_keys(org_id).await
    }

    pub async fn create_api_key(
        &self,
        actor: &Actor,
        name: &str,
        environment: KeyEnvironment,
    ) -> Result<CreatedApiKey> {
        let org_id = actor.require_admin(Role::Owner)?;
        let name = clean_name(name, "name", 100)?;
        let now = self.now();
        let (created, hash) = new_api_key(org_id, &name, environment, now);
        let tx = self.store.begin().await?;
        tx.insert_api_key(&created.key, &hash).await?;
        tx.insert_event(&Event::new(
            org_id,
            types::API_KEY_CREATED,
            actor.user_id(),
            json!({"key_id": created.key.id, "name": created.key.name, "prefix": created.key.prefix}),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn delete_api_key(&self, actor: &Actor, key_id: &str) -> Result<()> {
        let org_id = actor.require_admin(Role::Owner)?;
        // Garbage (a NUL byte breaks PostgreSQL text) never reaches the store.
        if !ids::is_valid_id(ids::API_KEY, key_id) {
            return Err(CoreError::NotFound { entity: "api key" });
        }
        let tx = self.store.begin().await?;
        if !tx.delete_api_key(org_id, key_id).await? {
            return Err(CoreError::NotFound { entity: "api key" });
        }
        tx.insert_event(&Event::new(
            org_id,
            types::API_KEY_DELETED,
            actor.user_id(),
            json!({"key_id": key_id}),
            self.now(),
        ))
        .await?;
        tx.commit().await?;
        self.cache.invalidate();
        Ok(())
    }

    /// Resolves a presented `sk_…` secret to its key, or `None` if it is not a live key.
    pub async fn authenticate_api_key(&self, secret: &str) -> Result<Option<ApiKey>> {
        if !(secret.starts_with("sk_live_") || secret.starts_with("sk_test_")) || secret.len() > 128 {
            return Ok(None);
        }
        let hash = crypto::sha256_hex(secret);
        if let Some(key) = self.cache.api_key(&hash) {
            return Ok(Some(key));
        }
        let generation = self.cache.generation();
        let key = self.store.find_api_key_by_hash(&hash).await?;
        if let Some(key) = &key {
            self.cache.put_api_key(&hash, key, generation);
        }
        Ok(key)
    }

    /// Makes a new signing key the active one for every algorithm the org signs with (EdDSA always; RS256 and
    /// ES256 once a client used them). The old keys stay in the JWKS until their last tokens expire. Returns
    /// the new EdDSA key's id.
    pub async fn rotate_signing_key(&self, org_id: &str, by: Option<&str>) -> Result<String> {
        if self.store.find_org(org_id).await?.is_none() {
            return Err(CoreError::NotFound { entity: "organization" });
        }
        let now = self.now();
        let existing = self.store.list_signing_keys(org_id).await?;
        let mut fresh = vec![self.keys.generate(org_id, now)?];
        for alg in [SigningAlg::RS256, SigningAlg::ES256] {
            if crate::tokens::active_of(&existing, alg).is_some() {
                fresh.push(self.keys.generate_for(org_id, alg, now)?);
            }
        }
        // Access and ID tokens live at most access_token_ttl; a minute of slack covers clock skew between nodes.
        let publish_until = now + Duration::seconds(self.config.access_token_ttl_secs + 60);
        let keep: Vec<String> = fresh.iter().map(|k| k.kid.clone()).collect();
        let tx = self.store.begin().await?;
        for key in &fresh {
            tx.insert_signing_key(key).await?;
        }
        tx.retire_signing_keys(org_id, &keep, now, publish_until).await?;
        let kids: serde_json::Map<String, serde_json::Value> =
            fresh.iter().map(|k| (k.algorithm.clone(), json!(k.kid))).collect();
        tx.insert_event(&Event::new(
            org_id,
            types::SIGNING_KEY_ROTATED,
            by,
            json!({"kid": keep[0], "kids": kids}),
            now,
        ))
        .await?;
        tx.commit().await?;
        self.keys.forget_active(org_id);
        Ok(keep[0].clone())
    }

    pub async fn jwks(&self, org_id: &str) -> Result<serde_json::Value> {
        if !ids::is_valid_id(ids::ORG, org_id) || self.store.find_org(org_id).await?.is_none() {
            return Err(CoreError::NotFound { entity: "organization" });
        }
        self.keys.jwks(&*self.store, org_id, self.now()).await
    }
}

fn new_api_key(
    org_id: &str,
    name: &str,
    environment: KeyEnvironment,
    now: time::OffsetDateTime,
) -> (CreatedApiKey, String) {
    let random = data_encoding::BASE64URL_NOPAD.encode(&crypto::random_bytes::<32>());
    let secret = format!("sk_{}_{random}", environment.as_str());
    let key = ApiKey {
        id: ids::new_id(ids::API_KEY),
        org_id: org_id.to_owned(),
        name: name.to_owned(),
        prefix: secret.chars().take(12).collect(),
        environment,
        created_at: now,
    };
    let hash = crypto::sha256_hex(&secret);
    (CreatedApiKey { key, secret }, hash)
}
