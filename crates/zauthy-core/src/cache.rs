//! A per-node cache for the hot path of every authenticated call, of `/token/verify` and of the OpenID
//! provider's token, introspection and userinfo endpoints.
//!
//! - Signature checks are cached per token until the token expires: a token's claims never change.
//! - API keys, session rows, OIDC clients, grants and users are cached for at most `TTL`. A change made on this
//!   node (revocation, key deletion, client update, a blocked or edited user) invalidates at once through a
//!   generation counter; one made on another node is seen within `TTL`, the bound the whole service keeps.
//! - Authorization codes this node issued are kept with their grants until exchanged here (`IssuedCodes`).

use crate::accounts::User;
use crate::oidc::{AuthCode, Grant, OidcClient};
use crate::orgs::ApiKey;
use crate::sessions::Session;
use crate::tokens::AccessClaims;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

pub const TTL: Duration = Duration::from_secs(1);
/// Beyond this many entries a map is emptied rather than grown: a cache, not a store. 20 000 tokens of about
/// 600 bytes bound the largest map to roughly 15 MB.
const MAX_ENTRIES: usize = 20_000;

/// Rows loaded from the database: each entry is good for `TTL`, and only in the generation it was read in.
pub struct Rows<T>(Mutex<HashMap<String, (T, Instant, u64)>>);

impl<T> Default for Rows<T> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

#[derive(Default)]
pub struct VerificationCache {
    generation: AtomicU64,
    claims: Mutex<HashMap<String, AccessClaims>>,
    sessions: Rows<Session>,
    api_keys: Rows<ApiKey>,
    /// Verified claims of tokens issued to service providers (signature, issuer, audience; not expiry).
    pub oidc_claims: Mutex<HashMap<String, Arc<Value>>>,
    /// A client and its secret's hash, by client id. Shared (`Arc`), so that a hit costs no copy.
    pub oidc_clients: Rows<(Arc<OidcClient>, Option<Arc<str>>)>,
    pub grants: Rows<Arc<Grant>>,
    /// Users by `{org_id}:{user_id}`.
    pub users: Rows<Arc<User>>,
    /// Whether a grant-less (client_credentials) access token was revoked, by its `jti`.
    pub revoked_tokens: Rows<bool>,
    pub codes: IssuedCodes,
}

/// The authorization codes this node issued, each with its grant, by the code's hash, so that a code exchanged
/// on the node that issued it (every exchange on a single node) is not read back from the database. What such
/// a read would add is already settled elsewhere:
/// - a code and its grant never change after they are written, except `used_at` and `revoked_at`;
/// - the exchange spends the code in the database, only if it is unspent and its grant is not revoked
///   (`write_tokens`), so a code spent or revoked on any node is refused as before.
///
/// Entries leave when exchanged or expired; the oldest go first beyond [`MAX_ENTRIES`]. An expired code is
/// never handed out: the exchange reads it from the database and answers as it always did. A code exchanged on
/// another node is read there.
#[derive(Default)]
pub struct IssuedCodes(Mutex<Issued>);

#[derive(Default)]
struct Issued {
    by_hash: HashMap<String, (AuthCode, Arc<Grant>)>,
    /// Hashes in the order kept, including some already taken (skipped when they come up).
    order: VecDeque<String>,
}

impl IssuedCodes {
    /// `code` and its `grant`, just committed by this node.
    pub fn keep(&self, code: AuthCode, grant: Arc<Grant>) {
        let mut issued = self.lock();
        issued.forget_expired(code.created_at);
        while issued.by_hash.len() >= MAX_ENTRIES || issued.order.len() >= 2 * MAX_ENTRIES {
            let Some(oldest) = issued.order.pop_front() else { break };
            issued.by_hash.remove(&oldest);
        }
        issued.order.push_back(code.hash.clone());
        issued.by_hash.insert(code.hash.clone(), (code, grant));
    }

    /// The code with the SHA-256 `hash` and its grant, as issued, if this node issued it, still holds it and
    /// it has not expired by `now`. It is handed out once: a second presentation reads the database, where the
    /// first has spent it.
    pub fn take(&self, hash: &str, now: OffsetDateTime) -> Option<(AuthCode, Arc<Grant>)> {
        self.lock().by_hash.remove(hash).filter(|(code, _)| code.expires_at > now)
    }

    /// Drops the codes expired by `now` (the pruning job calls it, so that an idle node lets them go).
    pub fn forget_expired(&self, now: OffsetDateTime) {
        self.lock().forget_expired(now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Issued> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Issued {
    /// Codes are kept in the order issued, all with the same lifetime, so the expired ones are at the front.
    fn forget_expired(&mut self, now: OffsetDateTime) {
        while let Some(oldest) = self.order.front() {
            match self.by_hash.get(oldest) {
                Some((code, _)) if code.expires_at > now => break,
                _ => {
                    let oldest = self.order.pop_front().expect("a front entry");
                    self.by_hash.remove(&oldest);
                }
            }
        }
    }
}

fn insert<V>(map: &Mutex<HashMap<String, V>>, key: &str, value: V) {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key.to_owned(), value);
}

impl VerificationCache {
    /// Sessions or API keys changed here: nothing cached before this may be used again.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// `rows[key]` if it was read in the current generation less than `TTL` ago.
    pub fn fresh<T: Clone>(&self, rows: &Rows<T>, key: &str) -> Option<T> {
        let generation = self.generation.load(Ordering::SeqCst);
        let map = rows.0.lock().unwrap_or_else(|e| e.into_inner());
        let (value, at, seen) = map.get(key)?;
        (*seen == generation && at.elapsed() < TTL).then(|| value.clone())
    }

    /// Keeps `value` as read in `generation` (the one read before the row was loaded, so that an invalidation
    /// during the load wins).
    pub fn keep<T>(&self, rows: &Rows<T>, key: &str, value: T, generation: u64) {
        insert(&rows.0, key, (value, Instant::now(), generation));
    }

    pub fn oidc_claims(&self, token: &str) -> Option<Arc<Value>> {
        self.oidc_claims.lock().unwrap_or_else(|e| e.into_inner()).get(token).cloned()
    }

    pub fn put_oidc_claims(&self, token: &str, claims: Arc<Value>) {
        insert(&self.oidc_claims, token, claims);
    }

    pub fn claims(&self, token: &str) -> Option<AccessClaims> {
        self.claims.lock().unwrap_or_else(|e| e.into_inner()).get(token).cloned()
    }

    pub fn put_claims(&self, token: &str, claims: &AccessClaims) {
        insert(&self.claims, token, claims.clone());
    }

    pub fn session(&self, id: &str) -> Option<Session> {
        self.fresh(&self.sessions, id)
    }

    /// `generation` is the one read before the row was loaded, so a revocation during the load wins.
    pub fn put_session(&self, session: &Session, generation: u64) {
        self.keep(&self.sessions, &session.id, session.clone(), generation);
    }

    pub fn api_key(&self, key_hash: &str) -> Option<ApiKey> {
        self.fresh(&self.api_keys, key_hash)
    }

    pub fn put_api_key(&self, key_hash: &str, key: &ApiKey, generation: u64) {
        self.keep(&self.api_keys, key_hash, key.clone(), generation);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}
