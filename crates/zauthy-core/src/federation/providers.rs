//! The organization's upstream providers as admins configure them: presets for Google and Apple, any OpenID
//! issuer by discovery URL (fetched and checked when saved), secrets and Apple keys sealed under the master
//! key and never shown again.

use super::outbound::check_outbound_url;
use super::{OAuthProvider, PROVIDER_ID, ProviderKind, ResponseMode, apple_client_secret};
use crate::accounts::Role;
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::ids;
use crate::services::Services;
use serde_json::json;

#[derive(Debug, Default)]
pub struct ProviderInput {
    /// The provider's name in the API; defaults to the preset's (`google`, `apple`), required for `oidc`.
    pub provider: Option<String>,
    pub kind: String,
    pub display_name: Option<String>,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub discovery_url: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub response_mode: Option<String>,
    pub team_id: Option<String>,
    pub key_id: Option<String>,
    pub private_key: Option<String>,
    pub enabled: Option<bool>,
    pub allow_signup: Option<bool>,
    pub link_by_verified_email: Option<bool>,
}

/// A partial update; each field present replaces the stored value (`discovery_url: Some(None)` clears it).
#[derive(Debug, Default)]
pub struct ProviderUpdate {
    pub display_name: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub discovery_url: Option<Option<String>>,
    pub scopes: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub response_mode: Option<String>,
    pub team_id: Option<String>,
    pub key_id: Option<String>,
    pub private_key: Option<String>,
    pub enabled: Option<bool>,
    pub allow_signup: Option<bool>,
    pub link_by_verified_email: Option<bool>,
}

fn bad(detail: impl Into<String>) -> CoreError {
    CoreError::invalid("invalid_oauth_provider", detail)
}

fn not_found() -> CoreError {
    CoreError::NotFound { entity: "oauth provider" }
}

fn secret_context(provider_id: &str, what: &str) -> String {
    format!("oauth-provider:{provider_id}:{what}")
}

fn parse_slug(raw: &str) -> Result<String> {
    let ok = !raw.is_empty()
        && raw.len() <= 32
        && raw.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        return Err(bad(
            "provider must be 1 to 32 lowercase letters, digits, '-' or '_' (e.g. \"google\", \"acme-sso\")",
        ));
    }
    Ok(raw.to_owned())
}

fn printable(raw: &str, what: &str, max: usize) -> Result<String> {
    let v = raw.trim();
    if v.is_empty() || v.len() > max || v.chars().any(char::is_control) {
        return Err(bad(format!("{what} must be 1 to {max} printable characters")));
    }
    Ok(v.to_owned())
}

fn parse_scopes(scopes: &[String], kind: ProviderKind) -> Result<Vec<String>> {
    if scopes.is_empty() || scopes.len() > 20 {
        return Err(bad("scopes must list 1 to 20 scopes"));
    }
    for s in scopes {
        if s.is_empty() || s.len() > 100 || !s.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') {
            return Err(bad(format!("scope {s:?} is not a valid scope token")));
        }
    }
    if kind != ProviderKind::Apple && !scopes.iter().any(|s| s == "openid") {
        return Err(bad("scopes must include openid"));
    }
    let mut out: Vec<String> = Vec::new();
    for s in scopes {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    Ok(out)
}

fn default_scopes(kind: ProviderKind) -> Vec<String> {
    let scopes: &[&str] = match kind {
        // Apple's ID token comes without asking for openid; name and email are its only scopes.
        ProviderKind::Apple => &["name", "email"],
        ProviderKind::Google | ProviderKind::Oidc => &["openid", "email", "profile"],
    };
    scopes.iter().map(|s| (*s).to_owned()).collect()
}

/// Everything of a provider but its id, timestamps and sealed secrets, as an admin gives it.
struct Draft {
    kind: ProviderKind,
    display_name: String,
    client_id: String,
    new_client_secret: Option<String>,
    discovery_url: Option<String>,
    scopes: Vec<String>,
    auth_method: String,
    response_mode: ResponseMode,
    team_id: Option<String>,
    key_id: Option<String>,
    new_private_key: Option<String>,
    enabled: bool,
    allow_signup: bool,
    link_by_verified_email: bool,
}

impl Services {
    /// Validates `draft` (fetching its discovery document) and writes it over `into`, sealing new secrets.
    async fn settle_oauth_provider(&self, draft: Draft, into: &mut OAuthProvider) -> Result<()> {
        let kind = draft.kind;
        into.display_name = printable(&draft.display_name, "display_name", 100)?;
        into.client_id = printable(&draft.client_id, "client_id", 255)?;
        into.scopes = parse_scopes(&draft.scopes, kind)?;
        into.response_mode = draft.response_mode;
        let methods: &[&str] = match kind {
            ProviderKind::Apple => &["client_secret_post"],
            ProviderKind::Google => &["client_secret_post", "client_secret_basic"],
            ProviderKind::Oidc => &["client_secret_basic", "client_secret_post", "none"],
        };
        if !methods.contains(&draft.auth_method.as_str()) {
            return Err(bad(format!(
                "token_endpoint_auth_method must be one of {} for a {} provider",
                methods.join(", "),
                kind.as_str()
            )));
        }
        into.token_endpoint_auth_method = draft.auth_method;
        if let Some(secret) = draft.new_client_secret {
            if kind == ProviderKind::Apple {
                return Err(bad("an Apple provider has no client_secret: give team_id, key_id and private_key"));
            }
            let secret = printable(&secret, "client_secret", 1000)?;
            into.client_secret_enc =
                Some(self.keys.master().encrypt(secret.as_bytes(), &secret_context(&into.id, "client_secret")));
        }
        let needs_secret = kind != ProviderKind::Apple && into.token_endpoint_auth_method != "none";
        if needs_secret && into.client_secret_enc.is_none() {
            return Err(bad("client_secret is required"));
        }
        if !needs_secret {
            into.client_secret_enc = None;
        }
        if kind == ProviderKind::Apple {
            let team = draft.team_id.ok_or_else(|| bad("team_id is required for Apple"))?;
            let key_id = draft.key_id.ok_or_else(|| bad("key_id is required for Apple"))?;
            for (what, v) in [("team_id", &team), ("key_id", &key_id)] {
                if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(bad(format!("{what} must be letters and digits, as Apple shows it")));
                }
            }
            if let Some(pem) = draft.new_private_key {
                // Signing once proves the key is a usable P-256 key before it is stored.
                apple_client_secret(&team, &key_id, &into.client_id, &pem, self.now())?;
                into.apple_private_key_enc =
                    Some(self.keys.master().encrypt(pem.as_bytes(), &secret_context(&into.id, "apple_key")));
            }
            if into.apple_private_key_enc.is_none() {
                return Err(bad("private_key (the .p8 file's contents) is required for Apple"));
            }
            into.apple_team_id = Some(team);
            into.apple_key_id = Some(key_id);
        } else if draft.team_id.is_some() || draft.key_id.is_some() || draft.new_private_key.is_some() {
            return Err(bad("team_id, key_id and private_key are for Apple providers only"));
        }
        into.issuer = match &draft.discovery_url {
            Some(url) => {
                check_outbound_url(url, &self.config.federation, "invalid_discovery_url")?;
                self.discover_upstream(url, false).await?.issuer.clone()
            }
            None => match Services::preset_metadata(kind) {
                Some(m) => m.issuer,
                None => return Err(bad("discovery_url is required for an oidc provider")),
            },
        };
        into.discovery_url = draft.discovery_url;
        into.enabled = draft.enabled;
        into.allow_signup = draft.allow_signup;
        into.link_by_verified_email = draft.link_by_verified_email;
        Ok(())
    }

    pub async fn create_oauth_provider(&self, actor: &Actor, input: ProviderInput) -> Result<OAuthProvider> {
        let org_id = actor.require_admin(Role::Admin)?.to_owned();
        let kind = ProviderKind::parse(&input.kind).ok_or_else(|| bad("type must be google, apple or oidc"))?;
        let slug = match (&input.provider, kind) {
            (Some(s), _) => parse_slug(s)?,
            (None, ProviderKind::Oidc) => return Err(bad("provider (its name in the API) is required for oidc")),
            (None, k) => k.as_str().to_owned(),
        };
        let response_mode = match input.response_mode.as_deref() {
            Some(m) => ResponseMode::parse(m).ok_or_else(|| bad("response_mode must be query or form_post"))?,
            None if kind == ProviderKind::Apple => ResponseMode::FormPost,
            None => ResponseMode::Query,
        };
        let now = self.now();
        let mut provider = OAuthProvider {
            id: ids::new_id(PROVIDER_ID),
            org_id: org_id.clone(),
            slug,
            kind,
            display_name: String::new(),
            client_id: String::new(),
            client_secret_enc: None,
            discovery_url: None,
            issuer: String::new(),
            scopes: Vec::new(),
            token_endpoint_auth_method: String::new(),
            response_mode,
            apple_team_id: None,
            apple_key_id: None,
            apple_private_key_enc: None,
            enabled: true,
            allow_signup: true,
            link_by_verified_email: false,
            created_at: now,
            updated_at: now,
        };
        let default_method = if kind == ProviderKind::Oidc { "client_secret_basic" } else { "client_secret_post" };
        let draft = Draft {
            kind,
            display_name: input.display_name.unwrap_or_else(|| match kind {
                ProviderKind::Google => "Google".to_owned(),
                ProviderKind::Apple => "Apple".to_owned(),
                ProviderKind::Oidc => provider.slug.clone(),
            }),
            client_id: input.client_id,
            new_client_secret: input.client_secret,
            discovery_url: input.discovery_url,
            scopes: input.scopes.unwrap_or_else(|| default_scopes(kind)),
            auth_method: input.token_endpoint_auth_method.unwrap_or_else(|| default_method.to_owned()),
            response_mode,
            team_id: input.team_id,
            key_id: input.key_id,
            new_private_key: input.private_key,
            enabled: input.enabled.unwrap_or(true),
            allow_signup: input.allow_signup.unwrap_or(true),
            link_by_verified_email: input.link_by_verified_email.unwrap_or(false),
        };
        self.settle_oauth_provider(draft, &mut provider).await?;
        let tx = self.store.begin().await?;
        tx.insert_oauth_provider(&provider).await.map_err(|e| match e {
            CoreError::Conflict { .. } => CoreError::conflict(
                "oauth_provider_exists",
                format!("the organization already has a provider named {:?}", provider.slug),
            ),
            other => other,
        })?;
        tx.insert_event(&Event::new(
            &org_id,
            types::OAUTH_PROVIDER_CREATED,
            actor.user_id(),
            json!({"provider": provider.slug, "type": kind.as_str(), "by": actor.user_id()}),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(provider)
    }

    pub async fn list_oauth_providers(&self, actor: &Actor) -> Result<Vec<OAuthProvider>> {
        let org_id = actor.require_admin(Role::Admin)?;
        self.store.list_oauth_providers(org_id).await
    }

    pub async fn get_oauth_provider(&self, actor: &Actor, slug: &str) -> Result<OAuthProvider> {
        let org_id = actor.require_admin(Role::Admin)?;
        self.store.find_oauth_provider(org_id, slug).await?.ok_or_else(not_found)
    }

    pub async fn update_oauth_provider(
        &self,
        actor: &Actor,
        slug: &str,
        update: ProviderUpdate,
    ) -> Result<OAuthProvider> {
        let org_id = actor.require_admin(Role::Admin)?.to_owned();
        let current = self.store.find_oauth_provider(&org_id, slug).await?.ok_or_else(not_found)?;
        let response_mode = match update.response_mode.as_deref() {
            Some(m) => ResponseMode::parse(m).ok_or_else(|| bad("response_mode must be query or form_post"))?,
            None => current.response_mode,
        };
        let draft = Draft {
            kind: current.kind,
            display_name: update.display_name.unwrap_or_else(|| current.display_name.clone()),
            client_id: update.client_id.unwrap_or_else(|| current.client_id.clone()),
            new_client_secret: update.client_secret,
            discovery_url: update.discovery_url.unwrap_or_else(|| current.discovery_url.clone()),
            scopes: update.scopes.unwrap_or_else(|| current.scopes.clone()),
            auth_method: update
                .token_endpoint_auth_method
                .unwrap_or_else(|| current.token_endpoint_auth_method.clone()),
            response_mode,
            team_id: update.team_id.or_else(|| current.apple_team_id.clone()),
            key_id: update.key_id.or_else(|| current.apple_key_id.clone()),
            new_private_key: update.private_key,
            enabled: update.enabled.unwrap_or(current.enabled),
            allow_signup: update.allow_signup.unwrap_or(current.allow_signup),
            link_by_verified_email: update.link_by_verified_email.unwrap_or(current.link_by_verified_email),
        };
        let mut next = current.clone();
        self.settle_oauth_provider(draft, &mut next).await?;
        next.updated_at = self.now();
        let tx = self.store.begin().await?;
        if !tx.update_oauth_provider(&next).await? {
            return Err(not_found());
        }
        tx.insert_event(&Event::new(
            &org_id,
            types::OAUTH_PROVIDER_UPDATED,
            actor.user_id(),
            json!({"provider": next.slug, "type": next.kind.as_str(), "by": actor.user_id()}),
            next.updated_at,
        ))
        .await?;
        tx.commit().await?;
        Ok(next)
    }

    /// Removes the provider with every identity linked through it and its pending sign-ins.
    pub async fn delete_oauth_provider(&self, actor: &Actor, slug: &str) -> Result<()> {
        let org_id = actor.require_admin(Role::Admin)?.to_owned();
        let tx = self.store.begin().await?;
        let provider = tx.find_oauth_provider(&org_id, slug).await?.ok_or_else(not_found)?;
        tx.delete_oauth_provider(&org_id, &provider.id).await?;
        tx.insert_event(&Event::new(
            &org_id,
            types::OAUTH_PROVIDER_DELETED,
            actor.user_id(),
            json!({"provider": provider.slug, "type": provider.kind.as_str(), "by": actor.user_id()}),
            self.now(),
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The enabled providers, for a sign-in page's buttons. Any caller of the organization may ask.
    pub async fn enabled_oauth_providers(&self, actor: &Actor) -> Result<Vec<OAuthProvider>> {
        let providers = self.store.list_oauth_providers(actor.org_id()).await?;
        Ok(providers.into_iter().filter(|p| p.enabled).collect())
    }

    /// The provider's client secret for the token request: stored, or (Apple) signed now.
    pub(crate) fn upstream_client_secret(&self, provider: &OAuthProvider) -> Result<Option<String>> {
        let open = |enc: &str, what: &str| -> Result<String> {
            let raw =
                self.keys.master().decrypt(enc, &secret_context(&provider.id, what)).map_err(CoreError::internal)?;
            String::from_utf8(raw).map_err(CoreError::internal)
        };
        if provider.kind == ProviderKind::Apple {
            let (Some(team), Some(key_id), Some(enc)) =
                (&provider.apple_team_id, &provider.apple_key_id, &provider.apple_private_key_enc)
            else {
                return Err(CoreError::internal("an Apple provider without its key"));
            };
            let pem = open(enc, "apple_key")?;
            return apple_client_secret(team, key_id, &provider.client_id, &pem, self.now()).map(Some);
        }
        provider.client_secret_enc.as_deref().map(|enc| open(enc, "client_secret")).transpose()
    }
}
