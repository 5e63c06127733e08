//! The authorization code flow against an upstream: `init` (or a link's start) records the state, nonce and
//! PKCE verifier server side and builds the authorization URL; `callback` spends the state once, exchanges
//! the code, validates the ID token and hands the identity to the account rules in `link`.

use super::client::ProviderMetadata;
use super::id_token::{IdTokenClaims, IdTokenError, IdTokenExpectations, validate_id_token};
use super::outbound::OutboundRequest;
use super::{FederatedIdentity, OAuthProvider, OAuthStateRecord, ProviderKind, ResponseMode, STATE_ID};
use crate::accounts::{LoginOutcome, User};
use crate::actor::Actor;
use crate::crypto;
use crate::error::{CoreError, Result};
use crate::ids;
use crate::services::{ClientMeta, Services};
use data_encoding::{BASE64, BASE64URL_NOPAD};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

const STATE_PREFIX: &str = "ost";

pub struct InitInput {
    pub provider: String,
    pub redirect_url: String,
}

pub struct InitOutcome {
    pub authorization_url: String,
    /// Also inside the URL; an application may keep it (in a cookie) to check the callback is its own.
    pub state: String,
    pub expires_at: OffsetDateTime,
}

/// What the application's redirect URL received, passed on.
#[derive(Debug, Default)]
pub struct CallbackInput {
    pub state: String,
    pub code: Option<String>,
    /// When given, must be the provider and redirect URL the flow started with.
    pub provider: Option<String>,
    pub redirect_url: Option<String>,
    /// The upstream's error (`access_denied` when the user cancelled).
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// Apple's `user` form field (JSON with the name), sent only on the first authorization.
    pub user: Option<String>,
    /// The `iss` of the authorization response (RFC 9207); when given, it must be the provider's issuer.
    pub iss: Option<String>,
}

#[allow(clippy::large_enum_variant)] // built once per callback and moved straight into the response
pub enum CallbackOutcome {
    /// A sign-in: the same outcome as a password login (tokens, or an MFA challenge).
    SignedIn(LoginOutcome),
    /// A link the signed-in user started.
    Linked { user: User, provider: OAuthProvider, identity: FederatedIdentity },
}

pub(super) fn state_invalid() -> CoreError {
    CoreError::invalid("invalid_oauth_state", "The state is unknown or malformed; start the sign-in again")
}

pub(super) fn provider_unavailable(slug: &str) -> CoreError {
    CoreError::invalid(
        "oauth_provider_unavailable",
        format!("{slug:?} is not a provider enabled for this organization (GET /auth/oauth/providers lists them)"),
    )
}

fn verifier_context(state_id: &str) -> String {
    format!("oauth-state:{state_id}")
}

/// The application/x-www-form-urlencoded form of a string, as client_secret_basic requires for both halves.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn id_token_invalid(detail: String) -> CoreError {
    CoreError::unauthenticated("invalid_id_token", detail)
}

impl Services {
    pub(super) async fn usable_provider(&self, org_id: &str, slug: &str) -> Result<OAuthProvider> {
        if slug.len() > 32 {
            return Err(provider_unavailable(&slug.chars().take(32).collect::<String>()));
        }
        match self.store.find_oauth_provider(org_id, slug).await? {
            Some(p) if p.enabled => Ok(p),
            _ => Err(provider_unavailable(slug)),
        }
    }

    /// Starts a sign-in with an upstream provider. Permissions: API key (or the hosted pages).
    pub async fn oauth_init(&self, actor: &Actor, input: InitInput) -> Result<InitOutcome> {
        let org_id = actor.require_sign_in_flow()?.to_owned();
        self.start_upstream_authorization(&org_id, input, None).await
    }

    /// Where the hosted sign-in page's own social sign-ins come back to (zauthy's page, not the application's).
    pub fn hosted_oauth_callback(&self, org_id: &str) -> String {
        format!("{}/oauth/callback", self.issuer(org_id))
    }

    /// Starts a sign-in from the hosted sign-in page: the provider returns to `hosted_oauth_callback`, which
    /// needs no entry in allowed_redirect_urls. Permissions: the hosted pages.
    pub async fn oauth_hosted_init(&self, actor: &Actor, provider: &str) -> Result<InitOutcome> {
        let Actor::Hosted { org_id } = actor else {
            return Err(CoreError::forbidden("only the hosted pages start hosted sign-ins"));
        };
        let input = InitInput { provider: provider.to_owned(), redirect_url: self.hosted_oauth_callback(org_id) };
        self.start_upstream_authorization(org_id, input, None).await
    }

    /// Records one authorization request and builds its URL; `link_user` binds it to a signed-in user.
    pub(super) async fn start_upstream_authorization(
        &self,
        org_id: &str,
        input: InitInput,
        link_user: Option<&str>,
    ) -> Result<InitOutcome> {
        let provider = self.usable_provider(org_id, &input.provider).await?;
        let own_page = input.redirect_url == self.hosted_oauth_callback(org_id);
        if !own_page && !self.org_settings(org_id).await?.allows_redirect(&input.redirect_url) {
            return Err(CoreError::invalid(
                "invalid_redirect_url",
                "redirect_url must be one of the organization's allowed_redirect_urls (exact match)",
            ));
        }
        let metadata = self.upstream_metadata(&provider).await?;
        let now = self.now();
        let state = crypto::new_opaque_token(STATE_PREFIX);
        let nonce = BASE64URL_NOPAD.encode(&crypto::random_bytes::<32>());
        let verifier = BASE64URL_NOPAD.encode(&crypto::random_bytes::<32>());
        let id = ids::new_id(STATE_ID);
        let record = OAuthStateRecord {
            code_verifier_enc: self.keys.master().encrypt(verifier.as_bytes(), &verifier_context(&id)),
            id,
            org_id: org_id.to_owned(),
            provider_id: provider.id.clone(),
            state_hash: crypto::sha256_hex(&state),
            nonce: nonce.clone(),
            redirect_url: input.redirect_url.clone(),
            user_id: link_user.map(str::to_owned),
            expires_at: now + Duration::seconds(self.config.federation.state_ttl_secs),
            used_at: None,
            created_at: now,
        };
        let mut url = url::Url::parse(&metadata.authorization_endpoint)
            .map_err(|_| CoreError::internal("a stored authorization endpoint does not parse"))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &provider.client_id)
                .append_pair("redirect_uri", &input.redirect_url)
                .append_pair("scope", &provider.scopes.join(" "))
                .append_pair("state", &state)
                .append_pair("nonce", &nonce)
                .append_pair("code_challenge", &crate::crypto::sha256_base64url(&verifier))
                .append_pair("code_challenge_method", "S256");
            if provider.response_mode == ResponseMode::FormPost {
                q.append_pair("response_mode", "form_post");
            }
        }
        // Expired requests are deleted by the pruning job (`crate::prune`).
        self.store.insert_oauth_state(&record).await?;
        Ok(InitOutcome { authorization_url: url.to_string(), state, expires_at: record.expires_at })
    }

    /// Finishes a sign-in or link from what the upstream sent to the redirect URL. A sign-in needs the API
    /// key (or hosted pages); a link needs the access token of the user who started it.
    pub async fn oauth_callback(
        &self,
        actor: &Actor,
        input: CallbackInput,
        meta: &ClientMeta,
    ) -> Result<CallbackOutcome> {
        let state = input.state.trim();
        if !state.starts_with("ost_") || state.len() > 100 {
            return Err(state_invalid());
        }
        let record = self.store.find_oauth_state(&crypto::sha256_hex(state)).await?.ok_or_else(state_invalid)?;
        if record.org_id != actor.org_id() {
            return Err(state_invalid());
        }
        match &record.user_id {
            Some(user_id) => {
                let (_, caller, _) = actor.require_user()?;
                if caller != user_id {
                    return Err(state_invalid());
                }
            }
            None => {
                actor.require_sign_in_flow()?;
            }
        }
        let now = self.now();
        if record.expires_at <= now {
            return Err(CoreError::invalid("oauth_state_expired", "The sign-in took too long; start it again"));
        }
        if !self.store.spend_oauth_state(&record.id, now).await? {
            return Err(CoreError::invalid("oauth_state_used", "This state was already used; start the sign-in again"));
        }
        let provider = self
            .store
            .find_oauth_provider_by_id(&record.org_id, &record.provider_id)
            .await?
            .filter(|p| p.enabled)
            .ok_or_else(|| provider_unavailable(input.provider.as_deref().unwrap_or("")))?;
        let mismatch = input.provider.as_deref().is_some_and(|p| p != provider.slug)
            || input.redirect_url.as_deref().is_some_and(|u| u != record.redirect_url);
        if mismatch {
            return Err(CoreError::invalid(
                "oauth_state_mismatch",
                "provider or redirect_url is not the one this sign-in started with",
            ));
        }
        // RFC 9207: a response naming another issuer came from another provider (a mix-up attack).
        if input.iss.as_deref().is_some_and(|iss| iss != provider.issuer) {
            return Err(CoreError::invalid(
                "oauth_issuer_mismatch",
                "The authorization response names another issuer than this provider's",
            ));
        }
        if let Some(error) = &input.error {
            let error: String = error.chars().filter(|c| !c.is_control()).take(100).collect();
            let description: String =
                input.error_description.unwrap_or_default().chars().filter(|c| !c.is_control()).take(300).collect();
            return Err(CoreError::invalid(
                "oauth_denied",
                format!("The provider ended the sign-in: {error} {description}").trim_end().to_owned(),
            ));
        }
        let code = input.code.as_deref().map(str::trim).unwrap_or_default();
        if code.is_empty() || code.len() > 4096 || code.chars().any(char::is_control) {
            return Err(CoreError::invalid("invalid_request", "code is required (what the provider sent back)"));
        }
        let metadata = self.upstream_metadata(&provider).await?;
        let mut claims = self.exchange_upstream_code(&provider, &metadata, &record, code).await?;
        if claims.name.is_none() && provider.kind == ProviderKind::Apple {
            claims.name = input.user.as_deref().and_then(apple_user_name);
        }
        match &record.user_id {
            Some(user_id) => {
                let (user, identity) = self.complete_link(&provider, &claims, user_id).await?;
                Ok(CallbackOutcome::Linked { user, provider, identity })
            }
            None => Ok(CallbackOutcome::SignedIn(self.federated_sign_in(&provider, &claims, meta).await?)),
        }
    }

    /// The token request (with PKCE verifier and client authentication), then the ID token's validation;
    /// userinfo fills in an email the ID token left out.
    async fn exchange_upstream_code(
        &self,
        provider: &OAuthProvider,
        metadata: &ProviderMetadata,
        record: &OAuthStateRecord,
        code: &str,
    ) -> Result<IdTokenClaims> {
        let verifier = self
            .keys
            .master()
            .decrypt(&record.code_verifier_enc, &verifier_context(&record.id))
            .map_err(CoreError::internal)?;
        let mut form = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.to_owned()),
            ("redirect_uri".to_owned(), record.redirect_url.clone()),
            ("code_verifier".to_owned(), String::from_utf8(verifier).map_err(CoreError::internal)?),
        ];
        let mut headers = vec![("accept", "application/json".to_owned())];
        let secret = self.upstream_client_secret(provider)?;
        match (provider.token_endpoint_auth_method.as_str(), secret) {
            ("client_secret_basic", Some(secret)) => {
                let pair = format!("{}:{}", form_encode(&provider.client_id), form_encode(&secret));
                headers.push(("authorization", format!("Basic {}", BASE64.encode(pair.as_bytes()))));
            }
            (_, secret) => {
                form.push(("client_id".to_owned(), provider.client_id.clone()));
                if let Some(secret) = secret {
                    form.push(("client_secret".to_owned(), secret));
                }
            }
        }
        crate::federation::check_outbound_url(
            &metadata.token_endpoint,
            &self.config.federation,
            "invalid_upstream_url",
        )?;
        let request = OutboundRequest { url: metadata.token_endpoint.clone(), form: Some(form), headers };
        let reply = self.federation.http.send(request).await.map_err(|e| CoreError::Upstream {
            code: "oauth_upstream_error",
            detail: format!("the token endpoint could not be reached: {e}"),
        })?;
        let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        if reply.status != 200 {
            let printable =
                |v: &Value| v.as_str().unwrap_or("").chars().filter(|c| !c.is_control()).take(300).collect::<String>();
            return Err(CoreError::invalid(
                "oauth_exchange_failed",
                format!(
                    "The provider refused the code (HTTP {}): {} {}",
                    reply.status,
                    printable(&body["error"]),
                    printable(&body["error_description"])
                )
                .trim_end()
                .to_owned(),
            ));
        }
        let Some(id_token) = body["id_token"].as_str() else {
            return Err(CoreError::Upstream {
                code: "oauth_upstream_error",
                detail: "the token endpoint answered without an id_token".to_owned(),
            });
        };
        let algs = metadata.allowed_algs();
        let expected = IdTokenExpectations {
            issuer: &provider.issuer,
            client_id: &provider.client_id,
            nonce: &record.nonce,
            algs: &algs,
            now: self.now(),
        };
        let jwks = self.upstream_jwks(&metadata.jwks_uri, false).await?;
        let mut claims = match validate_id_token(id_token, &jwks, &expected) {
            Err(IdTokenError::UnknownKey) => {
                // The provider may have rotated its keys since we cached them.
                let jwks = self.upstream_jwks(&metadata.jwks_uri, true).await?;
                validate_id_token(id_token, &jwks, &expected)
            }
            other => other,
        }
        .map_err(|e| match e {
            IdTokenError::UnknownKey => {
                id_token_invalid("the ID token is signed with a key the provider does not publish".to_owned())
            }
            IdTokenError::Invalid(why) => id_token_invalid(why),
        })?;
        if claims.email.is_none()
            && let (Some(endpoint), Some(access_token)) = (&metadata.userinfo_endpoint, body["access_token"].as_str())
        {
            let mut request = OutboundRequest::get(endpoint);
            request.headers.push(("authorization", format!("Bearer {access_token}")));
            let info = self.fetch_upstream_json(request, "userinfo").await?;
            // The userinfo answer counts only for the same subject (OpenID Connect Core 5.3.2).
            if info["sub"].as_str() == Some(claims.subject.as_str()) {
                claims.email = info["email"].as_str().map(str::to_owned);
                claims.email_verified = info["email_verified"].as_bool().unwrap_or(false)
                    || info["email_verified"].as_str() == Some("true");
                if claims.name.is_none() {
                    claims.name = info["name"].as_str().map(str::to_owned);
                }
            }
        }
        Ok(claims)
    }
}

/// "First Last" from Apple's `user` JSON (`{"name": {"firstName", "lastName"}, "email"}`).
fn apple_user_name(raw: &str) -> Option<String> {
    let v: Value = serde_json::from_str(raw).ok()?;
    let first = v["name"]["firstName"].as_str().unwrap_or("");
    let last = v["name"]["lastName"].as_str().unwrap_or("");
    let name = format!("{first} {last}").trim().to_owned();
    (!name.is_empty()).then_some(name)
}
