//! The reference implementation, oidc-provider (bench/oidc-provider/server.mjs), started by bench/run.sh once
//! per storage (`--store`): its address, its processes (a node:cluster primary and its workers) and its client,
//! as an `Endpoint`.

use super::workers::{CodeSource, Endpoint, form_value};
use anyhow::Context;
use data_encoding::BASE64;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

pub const CLIENT_ID: &str = "bench-client";
pub const REDIRECT_URI: &str = "https://rp.bench.example/callback";
/// The resource indicator whose tokens are EdDSA JWTs (server.mjs).
pub const API_RESOURCE: &str = "urn:zauthy-bench:api";
/// The environment variable that carries the client's secret from run.sh to the bench and the server.
pub const SECRET_ENV: &str = "BENCH_OIDC_PROVIDER_SECRET";

/// Where one oidc-provider instance keeps its grants, codes and tokens (server.mjs `--store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// Its own in-memory adapter, one memory per worker: the lowest bound.
    Memory,
    /// A SQLite file shared by its workers, as zauthy on SQLite.
    Sqlite,
    /// A database on zauthy's PostgreSQL server, shared by its workers, as zauthy on PostgreSQL.
    Postgres,
}

impl Store {
    pub const ALL: [Store; 3] = [Store::Memory, Store::Sqlite, Store::Postgres];

    /// The bench's flag for an instance on this store (with `-pid` and `-label` after it for the others).
    pub fn flag(self) -> &'static str {
        match self {
            Store::Memory => "--oidc-provider",
            Store::Sqlite => "--oidc-provider-sqlite",
            Store::Postgres => "--oidc-provider-postgres",
        }
    }

    /// How the reports name it next to zauthy on a database.
    pub fn kind(self) -> Kind {
        match self {
            Store::Memory => Kind::InMemory,
            Store::Sqlite | Store::Postgres => Kind::SameDatabase,
        }
    }
}

/// A reference as the reports compare it: in memory, or on the database zauthy runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    InMemory,
    SameDatabase,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::InMemory, Kind::SameDatabase];

    pub fn name(self) -> &'static str {
        match self {
            Kind::InMemory => "in-memory",
            Kind::SameDatabase => "same database",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Reference {
    pub store: Store,
    pub addr: SocketAddr,
    /// The primary process; its children are the cluster's workers.
    pub pid: u32,
    pub secret: String,
    /// What `--oidc-provider…-label` said (version, runtime, workers, storage), for the report.
    pub label: String,
    /// Whether its JIT warm-up has run (once per instance, before its first measurement).
    pub warmed: Arc<AtomicBool>,
}

/// The PKCE verifier every code of the bench is bound to (S256 of it is the challenge).
pub const CODE_VERIFIER: &str = "zauthy-bench-pkce-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

impl Reference {
    pub fn endpoint(&self) -> Endpoint {
        let basic = format!("{}:{}", form_value(CLIENT_ID), form_value(&self.secret));
        Endpoint {
            token: "/token".parse().expect("a path"),
            introspect: "/token/introspection".parse().expect("a path"),
            userinfo: "/me".parse().expect("a path"),
            basic: HeaderValue::from_str(&format!("Basic {}", BASE64.encode(basic.as_bytes()))).expect("ascii"),
            jwt_grant: Bytes::from(format!("grant_type=client_credentials&resource={}", form_value(API_RESOURCE))),
            introspectable_grant: Bytes::from_static(b"grant_type=client_credentials"),
            redirect_uri: REDIRECT_URI.to_owned(),
            code_verifier: CODE_VERIFIER.to_owned(),
            codes: Some(CodeSource::Endpoint {
                uri: format!("/bench/codes?verifier={}", form_value(CODE_VERIFIER)),
                bearer: HeaderValue::from_str(&format!("Bearer {}", self.secret)).expect("ascii"),
            }),
            mint_requests: AtomicU64::new(0),
        }
    }

    /// CPU time of the primary and every worker.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let mut total = crate::server::cpu_time_of(&self.pid.to_string())?;
        for child in children_of(self.pid)? {
            // A worker that is gone between listing and reading adds nothing.
            total += crate::server::cpu_time_of(&child.to_string()).unwrap_or_default();
        }
        Ok(total)
    }

    /// Resident memory of the primary and every worker.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let mut total = 0;
        for pid in std::iter::once(self.pid).chain(children_of(self.pid)?) {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            if let Some(kib) = status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                total += kib * 1024;
            }
        }
        Ok(total)
    }
}

/// Processes whose parent is `pid`, from `/proc/*/stat`.
fn children_of(pid: u32) -> anyhow::Result<Vec<u32>> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        // Fields after the command name: state, ppid, …
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(pid) {
            children.push(child);
        }
    }
    Ok(children)
}
