//! `zauthy-bench`: starts a release `zauthy serve` on loopback, drives it with a closed-loop load generator for
//! a bounded time per scenario, and prints throughput, latency, memory and start-up figures for SQLite and
//! PostgreSQL, with every ratio computed from figures measured in the same run. Usually run by `bench/run.sh`.
//!
//! Usage: zauthy-bench [--zauthy PATH] [--pg-url URL] [--seconds N] [--warmup N] [--no-sqlite]
//!                     [--no-diagnostics] [--webhooks-only] [--server-env NAME=VALUE]... [--no-oidc]
//!                     [--oidc-only] [--oidc-provider ADDR --oidc-provider-pid PID [--oidc-provider-label TEXT]]
//!                     [--oidc-provider-sqlite ADDR ...] [--oidc-provider-postgres ADDR ...]

mod load;
mod oidc;
mod raw_argon2;
mod report;
mod scenarios;
mod server;
mod webhooks;

use anyhow::{Context, bail};
use oidc::reference::Store;
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "\
zauthy-bench [--zauthy PATH] [--pg-url URL] [--seconds N] [--warmup N] [--no-sqlite]
             [--no-diagnostics] [--webhooks-only] [--server-env NAME=VALUE]... [--no-oidc] [--oidc-only]
             [--oidc-provider ADDR --oidc-provider-pid PID [--oidc-provider-label TEXT]]
             [--oidc-provider-sqlite ADDR --oidc-provider-sqlite-pid PID [--oidc-provider-sqlite-label TEXT]]
             [--oidc-provider-postgres ADDR --oidc-provider-postgres-pid PID [--oidc-provider-postgres-label TEXT]]

  --zauthy PATH         the server binary (default: `zauthy` next to this binary)
  --pg-url URL          an empty PostgreSQL database to run on (without it, PostgreSQL is skipped)
  --seconds N           measured time per scenario (default 5)
  --warmup N            unmeasured time before each scenario (default 1)
  --no-sqlite           PostgreSQL only
  --no-diagnostics      skip GET /ready and verification of a malformed token (they split the cost
                        of a verification)
  --webhooks-only       only the webhook delivery scenarios
  --server-env K=V      an extra environment variable for the server (repeatable), for experiments
  --no-oidc             skip the OpenID provider scenarios
  --oidc-only           only the OpenID provider scenarios (no health, verify, login, refresh, diagnostics,
                        raw Argon2, memory and start-up figures, no webhooks)
  --oidc-provider ADDR  the reference oidc-provider (bench/oidc-provider) with its in-memory store, listening
                        on ADDR, its client secret in $BENCH_OIDC_PROVIDER_SECRET; measured next to zauthy's
                        OIDC scenarios on both databases
  --oidc-provider-pid PID  its primary process (CPU and memory are summed over it and its workers)
  --oidc-provider-label TEXT  how the report names it (version, runtime, workers, storage)
  --oidc-provider-sqlite ADDR, -pid, -label    the same for oidc-provider on a SQLite file (--store sqlite:),
                        measured next to zauthy on SQLite
  --oidc-provider-postgres ADDR, -pid, -label  the same for oidc-provider on a PostgreSQL database
                        (--store postgres:), measured next to zauthy on PostgreSQL";

pub struct Options {
    pub zauthy: PathBuf,
    pub pg_url: Option<String>,
    pub sqlite: bool,
    pub measure: Duration,
    pub warmup: Duration,
    pub cores: usize,
    /// Extra environment for the server, for experiments (e.g. allocator tunables).
    pub server_env: Vec<(String, String)>,
    /// Extra scenarios that split the cost of a verification.
    pub diagnostics: bool,
    /// The OpenID provider scenarios, and the reference implementation to compare them with.
    pub oidc: bool,
    /// The reference instances given: in-memory, on SQLite, on PostgreSQL (each optional).
    pub oidc_providers: Vec<oidc::reference::Reference>,
    /// Only the OpenID provider scenarios.
    pub oidc_only: bool,
    /// Only the webhook delivery scenarios.
    pub webhooks_only: bool,
}

/// `--oidc-provider[-sqlite|-postgres][-pid|-label]`: which store (index in `Store::ALL`) and which field.
fn reference_flag(arg: &str) -> Option<(usize, usize)> {
    Store::ALL.iter().enumerate().find_map(|(i, store)| {
        let rest = arg.strip_prefix(store.flag())?;
        ["", "-pid", "-label"].iter().position(|suffix| rest == *suffix).map(|field| (i, field))
    })
}

fn parse_seconds(value: Option<String>, flag: &str) -> anyhow::Result<Duration> {
    let value = value.with_context(|| format!("{flag} needs a value"))?;
    let secs: f64 = value.parse().with_context(|| format!("{flag}: {value:?} is not a number of seconds"))?;
    if !(secs.is_finite() && secs >= 0.0) {
        bail!("{flag}: must be a non-negative number of seconds");
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_args() -> anyhow::Result<Options> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut zauthy = None;
    let mut pg_url = None;
    let mut sqlite = true;
    let mut measure = Duration::from_secs(5);
    let mut warmup = Duration::from_secs(1);
    let mut server_env = Vec::new();
    let mut diagnostics = true;
    let mut oidc = true;
    let mut oidc_only = false;
    // Per store: address, pid, label.
    let mut references: [[Option<String>; 3]; 3] = Default::default();
    let mut webhooks_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--zauthy" => zauthy = Some(PathBuf::from(args.next().context("--zauthy needs a path")?)),
            "--pg-url" => pg_url = Some(args.next().context("--pg-url needs a URL")?),
            "--seconds" => measure = parse_seconds(args.next(), "--seconds")?,
            "--warmup" => warmup = parse_seconds(args.next(), "--warmup")?,
            "--no-sqlite" => sqlite = false,
            "--no-diagnostics" => diagnostics = false,
            "--no-oidc" => oidc = false,
            "--oidc-only" => oidc_only = true,
            "--webhooks-only" => webhooks_only = true,
            "--server-env" => {
                let pair = args.next().context("--server-env needs NAME=VALUE")?;
                let (k, v) = pair.split_once('=').context("--server-env needs NAME=VALUE")?;
                server_env.push((k.to_owned(), v.to_owned()));
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => match reference_flag(other) {
                Some((store, field)) => {
                    let what = ["HOST:PORT", "a pid", "text"][field];
                    references[store][field] = Some(args.next().with_context(|| format!("{other} needs {what}"))?);
                }
                None => bail!("unknown argument {other:?} (try --help)"),
            },
        }
    }
    if measure.is_zero() {
        bail!("--seconds must be more than 0");
    }
    let zauthy = match zauthy {
        Some(path) => path,
        None => std::env::current_exe()?.parent().context("the bench binary has no directory")?.join("zauthy"),
    };
    if !zauthy.is_file() {
        bail!("no server binary at {} (build it with `cargo build --release -p zauthy`)", zauthy.display());
    }
    if oidc_only && (!oidc || webhooks_only) {
        bail!("--oidc-only goes with neither --no-oidc nor --webhooks-only");
    }
    let mut oidc_providers = Vec::new();
    for (store, [addr, pid, label]) in Store::ALL.into_iter().zip(references) {
        oidc_providers.extend(oidc::reference_from(store, addr, pid, label)?);
    }
    let oidc = oidc && !webhooks_only;
    Ok(Options {
        zauthy,
        pg_url,
        sqlite,
        measure,
        warmup,
        cores,
        server_env,
        diagnostics,
        oidc,
        oidc_providers,
        oidc_only,
        webhooks_only,
    })
}

fn main() -> anyhow::Result<()> {
    let options = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let scratch = std::env::temp_dir().join(format!("zauthy-bench-{}", std::process::id()));
    let outcome = runtime.block_on(async {
        // On Ctrl-C or SIGTERM the run is dropped, and with it the server child (`kill_on_drop`).
        tokio::select! {
            outcome = run(&options, &scratch) => outcome,
            signal = interrupted() => Err(anyhow::anyhow!("interrupted by {signal}")),
        }
    });
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}

async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

async fn run(options: &Options, scratch: &std::path::Path) -> anyhow::Result<()> {
    report::print_machine(options);
    let mut results = Vec::new();
    let mut oidc_results = Vec::new();
    let mut hooks = Vec::new();
    if options.sqlite {
        if !options.webhooks_only && !options.oidc_only {
            results.push(scenarios::bench_database(options, "SQLite", None, &scratch.join("sqlite")).await?);
        }
        if options.oidc {
            oidc_results.push(oidc::bench_database(options, "SQLite", None, &scratch.join("sqlite-oidc")).await?);
        }
        if !options.oidc_only {
            hooks.push(webhooks::bench_webhooks(options, "SQLite", None, &scratch.join("sqlite-webhooks")).await?);
        }
    }
    match &options.pg_url {
        Some(url) => {
            if !options.webhooks_only && !options.oidc_only {
                results.push(scenarios::bench_database(options, "PostgreSQL", Some(url), &scratch.join("pg")).await?);
            }
            if options.oidc {
                let dir = scratch.join("pg-oidc");
                oidc_results.push(oidc::bench_database(options, "PostgreSQL", Some(url), &dir).await?);
            }
            if !options.oidc_only {
                let dir = scratch.join("pg-webhooks");
                hooks.push(webhooks::bench_webhooks(options, "PostgreSQL", Some(url), &dir).await?);
            }
        }
        None => println!("\nPostgreSQL: skipped (no --pg-url)"),
    }
    report::print_summary(&results);
    oidc::report::print_summary(&oidc_results);
    webhooks::print_summary(&hooks);
    let failed = results.iter().any(|r| r.total_errors() > 0)
        || oidc_results.iter().any(|r| r.total_errors() > 0)
        || hooks.iter().any(|h| h.errors > 0);
    if failed {
        bail!("some requests failed; the figures above are not trustworthy");
    }
    Ok(())
}
