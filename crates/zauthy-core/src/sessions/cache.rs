//! A per-node cache for the hot path of every authenticated call and of `/token/verify`.
//!
//! - Signature checks are cached per token until the token expires: a token's claims never change.
//! - API keys and session rows are cached for at most `TTL`. A revocation or key deletion made on this node
//!   invalidates at once (a generation counter); one made on another node is seen within `TTL`.

use super::Session;
use crate::orgs::ApiKey;
use crate::tokens::AccessClaims;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const TTL: Duration = Duration::from_secs(1);
/// Beyond this many entries a map is emptied rather than grown: a cache, not a store. 20 000 tokens of about
/// 600 bytes bound the largest map to roughly 15 MB.
const MAX_ENTRIES: usize = 20_000;

#[derive(Default)]
pub struct VerificationCache {
    generation: AtomicU64,
    claims: Mutex<HashMap<String, AccessClaims>>,
    sessions: Mutex<HashMap<String, (Session, Instant, u64)>>,
    api_keys: Mutex<HashMap<String, (ApiKey, Instant, u64)>>,
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

    fn fresh<T: Clone>(&self, map: &Mutex<HashMap<String, (T, Instant, u64)>>, key: &str) -> Option<T> {
        let generation = self.generation.load(Ordering::SeqCst);
        let map = map.lock().unwrap_or_else(|e| e.into_inner());
        let (value, at, seen) = map.get(key)?;
        (*seen == generation && at.elapsed() < TTL).then(|| value.clone())
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
        insert(&self.sessions, &session.id, (session.clone(), Instant::now(), generation));
    }

    pub fn api_key(&self, key_hash: &str) -> Option<ApiKey> {
        self.fresh(&self.api_keys, key_hash)
    }

    pub fn put_api_key(&self, key_hash: &str, key: &ApiKey, generation: u64) {
        insert(&self.api_keys, key_hash, (key.clone(), Instant::now(), generation));
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}
