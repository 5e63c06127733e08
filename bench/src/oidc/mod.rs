//! The OpenID provider scenarios (issue 4): client_credentials, introspection, code exchange and userinfo, each
//! measured on zauthy and right after on oidc-provider (the certified Node implementation, configured alike by
//! bench/oidc-provider/server.mjs and started by bench/run.sh), with zauthy/oidc-provider ratios against 3×.
//! Two references per database: oidc-provider in memory (the lowest bound), and oidc-provider persisting to the
//! same kind of database as zauthy (a SQLite file, or a database on zauthy's PostgreSQL server).

pub mod ceilings;
mod codes;
pub mod reference;
pub mod report;
mod workers;
mod zauthy_setup;

use crate::Options;
use crate::load::{self, Outcome, Worker};
use crate::server::Server;
use anyhow::{Context, bail};
use codes::{CodeExchange, PoolMint, Userinfo};
use reference::{Kind, Reference, Store};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use workers::{ClientCredentials, Endpoint, Introspect};

/// Connections per scenario, as for the API's cheap endpoints.
pub const CONCURRENCY: usize = crate::scenarios::CHEAP_CONCURRENCY;
/// Codes a connection mints at a time on oidc-provider (one request, skipped by the load generator).
const CODE_BATCH: usize = 256;
/// Codes per request when they are minted before oidc-provider's exchange: few enough that the answers arrive
/// within the mint window (a persistent store writes two rows per code).
const PRE_MINT_BATCH: usize = 16;
/// The first worker index of the codes minted before oidc-provider's exchange: accounts of a range of their own
/// (the exchange's connections start at 0, userinfo's at 1000).
const MINT_ACCOUNTS: usize = 2_000;
pub const RATIO_TARGET: f64 = 3.0;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    ClientCredentials,
    Introspect,
    CodeExchange,
    Userinfo,
}

impl Scenario {
    pub const ALL: [Scenario; 4] =
        [Scenario::ClientCredentials, Scenario::Introspect, Scenario::CodeExchange, Scenario::Userinfo];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::ClientCredentials => "client_credentials",
            Scenario::Introspect => "introspect",
            Scenario::CodeExchange => "code exchange",
            Scenario::Userinfo => "userinfo",
        }
    }
}

/// Codes minted before a code exchange, outside its window, and how fast.
pub struct Mint {
    pub outcome: Outcome,
    pub codes: usize,
}

/// One reference's figures for a scenario.
pub struct ReferenceOutcome {
    pub kind: Kind,
    pub outcome: Outcome,
    /// Requests the workers made during the run to mint codes (and, for userinfo, to get their token).
    pub mints: u64,
    /// The code exchange on a store shared by the workers: its codes, minted before it.
    pub minted_before: Option<Mint>,
}

/// One scenario on zauthy and on each reference measured (in-memory first); `None` where zauthy was not.
pub struct Pair {
    pub scenario: Scenario,
    pub zauthy: Option<Outcome>,
    /// Requests the workers made during the run to mint codes (and, for userinfo, to get their token).
    pub zauthy_mints: u64,
    pub references: Vec<ReferenceOutcome>,
}

impl Pair {
    pub fn reference(&self, kind: Kind) -> Option<&ReferenceOutcome> {
        self.references.iter().find(|r| r.kind == kind)
    }

    /// zauthy / that reference, in answers per second.
    pub fn ratio(&self, kind: Kind) -> Option<f64> {
        Some(self.zauthy.as_ref()?.rps() / self.reference(kind)?.outcome.rps())
    }
}

pub struct OidcResult {
    pub database: &'static str,
    pub pairs: Vec<Pair>,
    /// The references measured on this database and how run.sh labelled them, in-memory first.
    pub references: Vec<(Kind, String)>,
    /// zauthy's codes minted before the code exchange, through the hosted authorize + consent pages.
    pub zauthy_mint: Option<Mint>,
    /// Resident memory of each reference (all its processes) after this database's scenarios.
    pub reference_rss_after: Vec<(Kind, u64)>,
    /// `GET /health` on the same zauthy server with the same connections: the HTTP ceiling (`ceilings`).
    pub health: Outcome,
    /// RSA-2048 signatures per second in the bench process on every core: the code exchange's ceiling.
    pub rs256_per_second: f64,
}

impl OidcResult {
    /// The most any scenario could answer on this machine: the HTTP ceiling, and for the code exchange (one
    /// RS256 ID token each) also the RS256 ceiling, when its ID tokens are RS256.
    pub fn ceiling(&self, scenario: Scenario) -> f64 {
        let http = self.health.rps();
        match scenario {
            Scenario::CodeExchange if id_token_alg() == "RS256" => http.min(self.rs256_per_second),
            _ => http,
        }
    }
}

impl OidcResult {
    pub fn total_errors(&self) -> u64 {
        let mint = self.zauthy_mint.as_ref().map(|m| m.outcome.error_count()).unwrap_or(0);
        let zauthy: u64 = self.pairs.iter().flat_map(|p| &p.zauthy).map(Outcome::error_count).sum();
        let references: u64 = self
            .pairs
            .iter()
            .flat_map(|p| &p.references)
            .map(|r| r.outcome.error_count() + r.minted_before.as_ref().map_or(0, |m| m.outcome.error_count()))
            .sum();
        mint + zauthy + references + self.health.error_count()
    }
}

fn workers_for(scenario: Scenario, endpoint: &Arc<Endpoint>, pool: &mut Vec<String>) -> Vec<Box<dyn Worker>> {
    // Pre-minted codes (zauthy; oidc-provider on a shared store), oldest first, dealt out evenly.
    let per_worker = pool.len() / CONCURRENCY;
    (0..CONCURRENCY)
        .map(|i| -> Box<dyn Worker> {
            let e = Arc::clone(endpoint);
            match scenario {
                Scenario::ClientCredentials => Box::new(ClientCredentials::new(e)),
                Scenario::Introspect => Box::new(Introspect::new(e)),
                Scenario::CodeExchange => {
                    let initial: Vec<String> = pool.drain(..per_worker).collect();
                    Box::new(CodeExchange::new(e, i, CODE_BATCH, initial))
                }
                Scenario::Userinfo => Box::new(Userinfo::new(e, i)),
            }
        })
        .collect()
}

/// The ID tokens' algorithm on both sides: RS256 (the configuration, zauthy's default) unless
/// `ZAUTHY_BENCH_ID_TOKEN_ALG=ES256` asks for ES256, to see the code exchange without RSA's cost.
pub fn id_token_alg() -> &'static str {
    match std::env::var("ZAUTHY_BENCH_ID_TOKEN_ALG").as_deref() {
        Ok("ES256") => "ES256",
        _ => "RS256",
    }
}

fn progress(label: &str) {
    use std::io::Write;
    eprint!("  {label}… ");
    let _ = std::io::stderr().flush();
}

/// How long codes are minted before a code exchange: four times as long as the exchange runs, unless the
/// oldest code would then outlive its 60 s. zauthy mints codes through its pages at half the rate it
/// exchanges them or less (two requests and a grant per code): with twice the run's length, a run on a slow
/// host ran out and minted 664 codes inside the measured window, at about 5.7 ms of server CPU each, a third
/// of the CPU the exchange had. Codes still missing are minted on the connections during the run, and the
/// report says how many requests that took.
fn mint_window(options: &Options) -> Duration {
    let run = options.warmup + options.measure;
    (4 * run).min(Duration::from_secs(50).saturating_sub(run))
}

/// Codes for a code exchange, minted on `CONCURRENCY` connections before it: zauthy's through the hosted pages
/// (one code per answer), a shared-store oidc-provider's through its bench endpoint (`batch` per answer, for
/// accounts of their own range, from worker `first_index` on).
async fn mint_codes(
    label: &str,
    options: &Options,
    addr: SocketAddr,
    endpoint: &Arc<Endpoint>,
    (first_index, batch): (usize, usize),
    cpu: impl Fn() -> anyhow::Result<Duration>,
) -> anyhow::Result<(Option<Mint>, Vec<String>)> {
    let window = mint_window(options);
    if window.is_zero() {
        return Ok((None, Vec::new()));
    }
    progress(&format!("{label}: minting codes for {:.0} s", window.as_secs_f64()));
    let pool = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<PoolMint> = (0..CONCURRENCY)
        .map(|i| PoolMint::new(Arc::clone(endpoint), first_index + i, batch, Arc::clone(&pool)))
        .collect();
    let outcome = load::run(addr, workers, Duration::ZERO, window, cpu).await?;
    let codes = std::mem::take(&mut *pool.lock().expect("pool lock"));
    eprintln!("{} codes, {:.0} codes/s", codes.len(), codes.len() as f64 / window.as_secs_f64());
    Ok((Some(Mint { outcome, codes: codes.len() }), codes))
}

async fn measure(
    label: String,
    addr: SocketAddr,
    workers: Vec<Box<dyn Worker>>,
    options: &Options,
    cpu: impl Fn() -> anyhow::Result<Duration>,
) -> anyhow::Result<Outcome> {
    progress(&label);
    let outcome = load::run(addr, workers, options.warmup, options.measure, cpu).await?;
    eprintln!("{:.1} rps", outcome.rps());
    Ok(outcome)
}

/// Node compiles its hot paths while it runs: before an oidc-provider instance's first measurement, every
/// scenario runs unmeasured on it for a few seconds, so it is not measured cold (zauthy is compiled ahead of time).
async fn warm_reference(options: &Options, r: &Reference, endpoint: &Arc<Endpoint>) -> anyhow::Result<()> {
    if r.warmed.swap(true, Ordering::Relaxed) {
        return Ok(());
    }
    let each = options.warmup.max(Duration::from_secs(2));
    let kind = r.store.kind().name();
    progress(&format!("oidc-provider ({kind}): JIT warm-up, {:.0} s per scenario, unmeasured", each.as_secs_f64()));
    for scenario in Scenario::ALL {
        let workers = workers_for(scenario, endpoint, &mut Vec::new());
        let outcome = load::run(r.addr, workers, Duration::ZERO, each, || r.cpu_time()).await?;
        if outcome.error_count() > 0 {
            bail!(
                "oidc-provider ({kind}) failed during its warm-up ({}): {:?}",
                scenario.name(),
                outcome.error_examples
            );
        }
    }
    eprintln!("done");
    Ok(())
}

/// zauthy on one database (a server of its own, started here), each scenario followed by the same scenario on
/// each reference for that database: oidc-provider in memory, then oidc-provider on the same kind of database.
pub async fn bench_database(
    options: &Options,
    database: &'static str,
    database_url: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<OidcResult> {
    eprintln!("\n== OpenID provider: zauthy on {database} vs oidc-provider ==");
    let same_database = if database_url.is_some() { Store::Postgres } else { Store::Sqlite };
    let mut chosen: Vec<&Reference> =
        options.oidc_providers.iter().filter(|r| r.store == Store::Memory || r.store == same_database).collect();
    chosen.sort_by_key(|r| r.store.kind() != Kind::InMemory);
    let references: Vec<(&Reference, Arc<Endpoint>)> =
        chosen.into_iter().map(|r| (r, Arc::new(r.endpoint()))).collect();
    let (server, _) = Server::start(&options.zauthy, data_dir, database_url, &options.server_env, "oidc").await?;
    let run = async {
        progress(&format!("setup: an organization, its client and {CONCURRENCY} signed-in browsers"));
        let zauthy = Arc::new(zauthy_setup::endpoint(&server, CONCURRENCY).await?);
        eprintln!("done");
        let workers = (0..CONCURRENCY).map(|_| crate::scenarios::Health).collect();
        progress(&format!("ceiling: zauthy GET /health, {CONCURRENCY} connections"));
        let health = load::run(server.addr, workers, options.warmup, options.measure, || server.cpu_time()).await?;
        eprintln!("{:.1} rps", health.rps());
        progress(&format!("ceiling: RSA-2048 signatures in this process, {} threads", options.cores));
        let (cores, warmup, window) = (options.cores, options.warmup, options.measure);
        let rs256_per_second =
            tokio::task::spawn_blocking(move || ceilings::rs256_signatures_per_second(cores, warmup, window)).await??;
        eprintln!("{rs256_per_second:.0} signatures/s");
        for (r, endpoint) in &references {
            warm_reference(options, r, endpoint).await?;
        }
        let mut pairs = Vec::new();
        let mut zauthy_mint = None;
        for scenario in Scenario::ALL {
            let name = scenario.name();
            let mut pool = Vec::new();
            if scenario == Scenario::CodeExchange {
                let label = "zauthy (authorize + consent)";
                (zauthy_mint, pool) =
                    mint_codes(label, options, server.addr, &zauthy, (0, 1), || server.cpu_time()).await?;
            }
            zauthy.mint_requests.store(0, Ordering::Relaxed);
            let label = format!("zauthy {name}, {CONCURRENCY} connections");
            let workers = workers_for(scenario, &zauthy, &mut pool);
            let zauthy_outcome = measure(label, server.addr, workers, options, || server.cpu_time()).await?;
            let zauthy_mints = zauthy.mint_requests.load(Ordering::Relaxed);
            let mut measured = Vec::new();
            for (r, endpoint) in &references {
                let kind = r.store.kind();
                // On a store shared by its workers, codes are minted before the exchange as zauthy's are (in
                // memory, each worker knows only its own: they are minted on the connection that uses them).
                let (mut pool, mut minted_before) = (Vec::new(), None);
                if scenario == Scenario::CodeExchange && kind == Kind::SameDatabase {
                    let label = format!("oidc-provider ({}, POST /bench/codes)", kind.name());
                    let first = MINT_ACCOUNTS;
                    (minted_before, pool) =
                        mint_codes(&label, options, r.addr, endpoint, (first, PRE_MINT_BATCH), || r.cpu_time()).await?;
                }
                endpoint.mint_requests.store(0, Ordering::Relaxed);
                let label = format!("oidc-provider ({}) {name}, {CONCURRENCY} connections", kind.name());
                let workers = workers_for(scenario, endpoint, &mut pool);
                let outcome = measure(label, r.addr, workers, options, || r.cpu_time()).await?;
                let mints = endpoint.mint_requests.load(Ordering::Relaxed);
                measured.push(ReferenceOutcome { kind, outcome, mints, minted_before });
            }
            pairs.push(Pair { scenario, zauthy: Some(zauthy_outcome), zauthy_mints, references: measured });
        }
        let mut reference_rss_after = Vec::new();
        for (r, _) in &references {
            reference_rss_after.push((r.store.kind(), r.rss_bytes()?));
        }
        let references = references.iter().map(|(r, _)| (r.store.kind(), r.label.clone())).collect();
        anyhow::Ok(OidcResult {
            database,
            pairs,
            references,
            zauthy_mint,
            reference_rss_after,
            health,
            rs256_per_second,
        })
    }
    .await;
    let log = server.log_text();
    server.stop().await?;
    let result = run.map_err(|e| e.context(format!("OIDC run on {database} failed; server log:\n{log}")))?;
    if !log.trim().is_empty() {
        eprintln!("  server log (warn and above):\n{log}");
    }
    report::print_database(options, &result);
    Ok(result)
}

/// One reference from the command line: `FLAG ADDR FLAG-pid PID [FLAG-label TEXT]` (`Store::flag`), the
/// client secret in the environment (the same for every instance).
pub fn reference_from(
    store: Store,
    addr: Option<String>,
    pid: Option<String>,
    label: Option<String>,
) -> anyhow::Result<Option<Reference>> {
    let flag = store.flag();
    let (addr, pid) = match (addr, pid) {
        (None, None) => return Ok(None),
        (Some(addr), Some(pid)) => (addr, pid),
        _ => bail!("{flag} and {flag}-pid go together"),
    };
    let secret = std::env::var(reference::SECRET_ENV)
        .with_context(|| format!("{flag} needs the client secret in ${}", reference::SECRET_ENV))?;
    let pid: u32 = pid.parse().with_context(|| format!("{flag}-pid: {pid:?} is not a process id"))?;
    if !Path::new(&format!("/proc/{pid}")).exists() {
        bail!("{flag}-pid: no process {pid}");
    }
    Ok(Some(Reference {
        store,
        addr: addr.parse().with_context(|| format!("{flag}: {addr:?} is not HOST:PORT"))?,
        pid,
        secret,
        label: label.unwrap_or_else(|| format!("oidc-provider ({})", store.kind().name())),
        warmed: Arc::default(),
    }))
}
