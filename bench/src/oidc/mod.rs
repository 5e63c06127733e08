//! The OpenID provider scenarios (issue 4): client_credentials, introspection, code exchange and userinfo, each
//! measured on zauthy and right after on oidc-provider (the certified Node implementation, configured alike by
//! bench/oidc-provider/server.mjs and started by bench/run.sh), with zauthy/oidc-provider ratios against 3×.

pub mod reference;
pub mod report;
mod workers;

use crate::Options;
use crate::load::{self, Outcome, Worker};
use crate::server::Server;
use anyhow::{Context, bail};
use data_encoding::BASE64;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use reference::Reference;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use workers::{ClientCredentials, CodeExchange, Endpoint, Introspect, Userinfo, form_value};

/// Connections per scenario, as for the API's cheap endpoints.
pub const CONCURRENCY: usize = crate::scenarios::CHEAP_CONCURRENCY;
/// Codes a connection mints at a time on oidc-provider (one request, skipped by the load generator).
const CODE_BATCH: usize = 256;
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

/// One scenario on both sides; `None` where a side was not measured (see `skipped`).
pub struct Pair {
    pub scenario: Scenario,
    pub zauthy: Option<Outcome>,
    pub reference: Option<Outcome>,
}

impl Pair {
    pub fn ratio(&self) -> Option<f64> {
        Some(self.zauthy.as_ref()?.rps() / self.reference.as_ref()?.rps())
    }
}

pub struct OidcResult {
    pub database: &'static str,
    pub pairs: Vec<Pair>,
    /// Why a side is missing, for the report.
    pub zauthy_missing: &'static str,
    pub reference_missing: &'static str,
    pub reference_rss_after: Option<u64>,
}

impl OidcResult {
    pub fn total_errors(&self) -> u64 {
        self.pairs.iter().flat_map(|p| [&p.zauthy, &p.reference]).flatten().map(Outcome::error_count).sum()
    }
}

async fn post_json(client: &reqwest::Client, url: &str, bearer: Option<&str>, body: Value) -> anyhow::Result<Value> {
    let mut request = client.post(url).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("POST {url} answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

fn str_at(v: &Value, pointer: &str) -> anyhow::Result<String> {
    v.pointer(pointer).and_then(Value::as_str).map(str::to_owned).with_context(|| format!("no {pointer} in {v}"))
}

/// An organization and one confidential client registered like oidc-provider's, through the public API.
async fn zauthy_endpoint(server: &Server) -> anyhow::Result<Endpoint> {
    let client = reqwest::Client::new();
    let base = format!("http://{}/api/v1", server.addr);
    let org = post_json(
        &client,
        &format!("{base}/organizations"),
        None,
        json!({"name": "Bench OIDC Org", "owner_email": "owner-oidc@bench.example.com",
               "owner_password": "SecureP@ss123"}),
    )
    .await?;
    let (org_id, api_key) = (str_at(&org, "/organization/id")?, str_at(&org, "/organization/api_key")?);
    let registered = post_json(
        &client,
        &format!("{base}/oidc/clients"),
        Some(&api_key),
        json!({
            "name": "Bench RP",
            "redirect_uris": [reference::REDIRECT_URI],
            "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
            "allowed_scopes": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_method": "client_secret_basic",
            "id_token_signed_response_alg": "RS256",
        }),
    )
    .await?;
    let (id, secret) = (str_at(&registered, "/client_id")?, str_at(&registered, "/client_secret")?);
    let basic = format!("{}:{}", form_value(&id), form_value(&secret));
    let path = |p: &str| format!("/o/{org_id}/{p}").parse().expect("a path");
    Ok(Endpoint {
        token: path("token"),
        introspect: path("introspect"),
        userinfo: path("userinfo"),
        basic: HeaderValue::from_str(&format!("Basic {}", BASE64.encode(basic.as_bytes())))?,
        jwt_grant: Bytes::from_static(b"grant_type=client_credentials"),
        introspectable_grant: Bytes::from_static(b"grant_type=client_credentials"),
        redirect_uri: reference::REDIRECT_URI.to_owned(),
        code_verifier: reference::CODE_VERIFIER.to_owned(),
        // The authorization endpoint is not on main yet: no codes to exchange.
        codes: None,
    })
}

fn workers_for(scenario: Scenario, endpoint: &Arc<Endpoint>) -> Vec<Box<dyn Worker>> {
    (0..CONCURRENCY)
        .map(|i| -> Box<dyn Worker> {
            let e = Arc::clone(endpoint);
            match scenario {
                Scenario::ClientCredentials => Box::new(ClientCredentials::new(e)),
                Scenario::Introspect => Box::new(Introspect::new(e)),
                // Accounts of different connections never overlap.
                Scenario::CodeExchange => Box::new(CodeExchange::new(e, i * 10_000_000, CODE_BATCH)),
                Scenario::Userinfo => Box::new(Userinfo::new(e, 1_000_000_000 + i)),
            }
        })
        .collect()
}

async fn measure(
    label: String,
    addr: std::net::SocketAddr,
    workers: Vec<Box<dyn Worker>>,
    options: &Options,
    cpu: impl Fn() -> anyhow::Result<std::time::Duration>,
) -> anyhow::Result<Outcome> {
    use std::io::Write;
    eprint!("  {label}… ");
    let _ = std::io::stderr().flush();
    let outcome = load::run(addr, workers, options.warmup, options.measure, cpu).await?;
    eprintln!("{:.1} rps", outcome.rps());
    Ok(outcome)
}

/// zauthy on one database (a server of its own, started here), each scenario followed by oidc-provider's.
pub async fn bench_database(
    options: &Options,
    database: &'static str,
    database_url: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<OidcResult> {
    eprintln!("\n== OpenID provider: zauthy on {database} vs oidc-provider ==");
    let (server, _) = Server::start(&options.zauthy, data_dir, database_url, &options.server_env, "oidc").await?;
    let run = async {
        let zauthy = Arc::new(zauthy_endpoint(&server).await?);
        let reference = options.oidc_provider.as_ref().map(|r| (r, Arc::new(r.endpoint())));
        let mut pairs = Vec::new();
        for scenario in Scenario::ALL {
            let name = scenario.name();
            let zauthy_outcome = if zauthy.codes.is_some() || !needs_codes(scenario) {
                let label = format!("zauthy {name}, {CONCURRENCY} connections");
                let cpu = || server.cpu_time();
                Some(measure(label, server.addr, workers_for(scenario, &zauthy), options, cpu).await?)
            } else {
                None
            };
            let reference_outcome = match &reference {
                Some((r, endpoint)) => {
                    let label = format!("oidc-provider {name}, {CONCURRENCY} connections");
                    let cpu = || r.cpu_time();
                    Some(measure(label, r.addr, workers_for(scenario, endpoint), options, cpu).await?)
                }
                None => None,
            };
            pairs.push(Pair { scenario, zauthy: zauthy_outcome, reference: reference_outcome });
        }
        let reference_rss_after = match &options.oidc_provider {
            Some(r) => Some(r.rss_bytes()?),
            None => None,
        };
        anyhow::Ok(OidcResult {
            database,
            pairs,
            zauthy_missing: "next: needs the authorization endpoint",
            reference_missing: "skipped (--no-oidc-provider)",
            reference_rss_after,
        })
    }
    .await;
    let log = server.log_text();
    server.stop().await?;
    let result = run.map_err(|e| e.context(format!("OIDC run on {database} failed; server log:\n{log}")))?;
    report::print_database(options, &result);
    Ok(result)
}

fn needs_codes(scenario: Scenario) -> bool {
    matches!(scenario, Scenario::CodeExchange | Scenario::Userinfo)
}

/// The reference from the command line: `--oidc-provider ADDR --oidc-provider-pid PID`, secret in the environment.
pub fn reference_from(addr: Option<String>, pid: Option<String>, label: Option<String>) -> anyhow::Result<Option<Reference>> {
    let (addr, pid) = match (addr, pid) {
        (None, None) => return Ok(None),
        (Some(addr), Some(pid)) => (addr, pid),
        _ => bail!("--oidc-provider and --oidc-provider-pid go together"),
    };
    let secret = std::env::var(reference::SECRET_ENV)
        .with_context(|| format!("--oidc-provider needs the client secret in ${}", reference::SECRET_ENV))?;
    Ok(Some(Reference {
        addr: addr.parse().with_context(|| format!("--oidc-provider: {addr:?} is not HOST:PORT"))?,
        pid: pid.parse().with_context(|| format!("--oidc-provider-pid: {pid:?} is not a process id"))?,
        secret,
        label: label.unwrap_or_else(|| "oidc-provider".to_owned()),
    }))
}
