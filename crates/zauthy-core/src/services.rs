//! The service context every feature's operations hang off: store, clock, hasher, keys and settings.

use crate::accounts::User;
use crate::clock::Clock;
use crate::crypto;
use crate::error::Result;
use crate::ids;
use crate::passwords::PasswordHasher;
use crate::sessions::{RefreshTokenRecord, Session, SessionLifetimes};
use crate::store::{Repo, Store};
use crate::tokens::{API_AUDIENCE, AccessClaims, IssuedTokens, KeyRing};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use tokio::sync::Notify;

/// Settings the services need; the binary fills them from its configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// The externally visible base URL, e.g. `http://localhost:8080`. Issuers and links derive from it.
    pub public_url: String,
    pub access_token_ttl_secs: i64,
    pub sessions: SessionLifetimes,
    pub reset_token_ttl_secs: i64,
    /// Where reset links point (the application's own page); the token is appended as `?token=`.
    pub password_reset_url: Option<String>,
    pub webhooks: crate::webhooks::WebhookSettings,
    pub federation: crate::federation::FederationSettings,
    /// Events (the audit log) older than this many days are deleted by the pruning job; `None` keeps them.
    pub event_retention_days: Option<i64>,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            public_url: "http://localhost:8080".to_owned(),
            access_token_ttl_secs: 900,
            sessions: SessionLifetimes::default(),
            reset_token_ttl_secs: 1800,
            password_reset_url: None,
            webhooks: Default::default(),
            federation: Default::default(),
            event_retention_days: None,
        }
    }
}

/// What we know about the client that starts a session.
#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

pub struct Services {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: CoreConfig,
    pub hasher: PasswordHasher,
    pub keys: KeyRing,
    /// Woken (`wake_outbox`) when a transaction queued outbox work, so the local workers send it without
    /// waiting to poll.
    pub outbox_wakeup: Arc<Notify>,
    pub cache: crate::cache::VerificationCache,
    /// Social login's outbound client and its discovery/JWKS cache.
    pub federation: crate::federation::Federation,
    /// The token endpoint's writes, group-committed (`oidc/group_commit.rs`).
    pub token_writes: crate::oidc::TokenWrites,
}

impl Services {
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// After a commit that queued outbox messages: wakes every outbox worker of this node (each lane's
    /// workers claim their own; a worker not waiting at that moment has registered its interest before it
    /// last looked for work, see `run_outbox_worker`).
    pub fn wake_outbox(&self) {
        self.outbox_wakeup.notify_waiters();
    }

    /// Each organization is its own issuer.
    pub fn issuer(&self, org_id: &str) -> String {
        format!("{}/o/{}", self.config.public_url.trim_end_matches('/'), org_id)
    }

    pub fn jwks_url(&self, org_id: &str) -> String {
        format!("{}/.well-known/jwks.json", self.issuer(org_id))
    }

    /// Opens a session for `user`, who signed in with the factors `amr` (RFC 8176 values), and returns its
    /// first token pair; the caller commits `repo`. `continues` is the `sid` of the session this one replaces
    /// (a step-up), if any.
    pub(crate) async fn start_session(
        &self,
        repo: &dyn Repo,
        user: &User,
        amr: Vec<String>,
        continues: Option<&str>,
        meta: &ClientMeta,
    ) -> Result<IssuedTokens> {
        let now = self.now();
        let lifetimes = self.config.sessions;
        let absolute = now + Duration::seconds(lifetimes.absolute_lifetime_secs);
        let idle = (now + Duration::seconds(lifetimes.idle_timeout_secs)).min(absolute);
        let id = ids::new_id(ids::SESSION);
        let session = Session {
            sid: continues.map_or_else(|| id.clone(), str::to_owned),
            id,
            org_id: user.org_id.clone(),
            user_id: user.id.clone(),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.as_deref().map(|ua| ua.chars().take(512).collect()),
            created_at: now,
            last_used_at: now,
            idle_expires_at: idle,
            absolute_expires_at: absolute,
            revoked_at: None,
            revoked_reason: None,
            amr,
        };
        repo.insert_session(&session).await?;
        self.issue_tokens(repo, user, &session.id, idle).await
    }

    /// A new refresh token for the session plus an access token.
    pub(crate) async fn issue_tokens(
        &self,
        repo: &dyn Repo,
        user: &User,
        session_id: &str,
        refresh_expires_at: OffsetDateTime,
    ) -> Result<IssuedTokens> {
        let now = self.now();
        let refresh_token = crypto::new_opaque_token("rt");
        repo.insert_refresh_token(&RefreshTokenRecord {
            id: ids::new_id(ids::REFRESH),
            org_id: user.org_id.clone(),
            session_id: session_id.to_owned(),
            token_hash: crypto::sha256_hex(&refresh_token),
            expires_at: refresh_expires_at,
            used_at: None,
            created_at: now,
        })
        .await?;
        let claims = AccessClaims {
            iss: self.issuer(&user.org_id),
            sub: user.id.clone(),
            aud: API_AUDIENCE.to_owned(),
            org_id: user.org_id.clone(),
            role: user.role.as_str().to_owned(),
            sid: session_id.to_owned(),
            iat: now.unix_timestamp(),
            exp: now.unix_timestamp() + self.config.access_token_ttl_secs,
            jti: ids::new_id("jti"),
        };
        let access_token = self.keys.sign(repo, &user.org_id, &claims).await?;
        Ok(IssuedTokens {
            access_token,
            refresh_token,
            token_type: "bearer",
            expires_in: self.config.access_token_ttl_secs,
            session_id: session_id.to_owned(),
        })
    }
}
