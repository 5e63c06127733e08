//! Plain-text tables: the machine, each database's figures next to their targets, and a side-by-side summary.

use crate::Options;
use crate::load::Outcome;
use crate::raw_argon2;
use crate::scenarios::{DbResult, Starts};
use std::time::Duration;

pub const VERIFY_RATIO_TARGET: f64 = 0.6;
pub const LOGIN_RATIO_TARGET: f64 = 0.9;
/// Decimal megabytes, the stricter reading of "20 MB".
pub const RSS_IDLE_TARGET_BYTES: u64 = 20_000_000;
pub const START_TARGET: Duration = Duration::from_millis(100);

pub fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 { format!("{ms:.2} ms") } else { format!("{ms:.1} ms") }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub fn rate(rps: f64) -> String {
    if rps < 100.0 { format!("{rps:.1}") } else { format!("{rps:.0}") }
}

fn first_line_of(path: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    Some(line.split_once(':')?.1.trim().to_owned())
}

pub fn print_machine(options: &Options) {
    let cpu = first_line_of("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".to_owned());
    let ram = first_line_of("/proc/meminfo", "MemTotal")
        .and_then(|v| v.trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map(|kib| format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0)))
        .unwrap_or_else(|| "unknown".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!("zauthy-bench");
    println!("  machine : {cpu}, {} cores available, {ram} RAM, Linux {}", options.cores, kernel.trim());
    println!("  server  : {}", options.zauthy.display());
    println!(
        "  method  : closed loop on loopback, keep-alive HTTP/1.1; per scenario {} s warm-up + {} s measured",
        options.warmup.as_secs_f64(),
        options.measure.as_secs_f64()
    );
    println!(
        "            load generator and server share the {} cores; Argon2id m={} KiB t={} p={}",
        options.cores,
        raw_argon2::MEMORY_KIB,
        raw_argon2::ITERATIONS,
        raw_argon2::PARALLELISM
    );
}

pub const ROW: usize = 30;

pub fn scenario_row(name: &str, o: &Outcome, cores: usize) -> String {
    let busy = o.server_cpu.as_secs_f64() / (o.measured.as_secs_f64() * cores as f64) * 100.0;
    format!(
        "  {:<ROW$} {:>4} {:>8} {:>8} {:>9} {:>9} {:>6} {:>10} {:>6.0}% {:>10} {:>7.0}% {:>5.0}%",
        name,
        o.concurrency,
        o.completed,
        rate(o.rps()),
        ms(o.percentile(50.0)),
        ms(o.percentile(99.0)),
        o.error_count(),
        ms(o.server_cpu_per_request()),
        busy,
        ms(o.client_cpu_per_request()),
        o.host_busy,
        o.steal,
    )
}

fn target_row(name: &str, value: String, target: &str, pass: Option<bool>) -> String {
    format!("  {:<36} {:>12}   {:<10} {}", name, value, target, pass.map(verdict).unwrap_or(""))
}

pub fn print_database(options: &Options, r: &DbResult) {
    println!("\n### {} ({} s per scenario)\n", r.name, options.measure.as_secs_f64());
    println!(
        "  {:<ROW$} {:>4} {:>8} {:>8} {:>9} {:>9} {:>6} {:>10} {:>7} {:>10} {:>8} {:>6}",
        "scenario",
        "conc",
        "answers",
        "per s",
        "p50",
        "p99",
        "errors",
        "srv CPU/op",
        "srv CPU",
        "gen CPU/op",
        "host CPU",
        "steal"
    );
    for (name, o) in r.scenarios() {
        let name = if name == "POST /refresh" { "POST /refresh (rotations)" } else { name };
        println!("{}", scenario_row(name, o, options.cores));
    }
    println!(
        "  {:<ROW$} {:>4} {:>8} {:>8} {:>9} {:>9} {:>6} {:>10} {:>7} {:>10} {:>8} {:>5.0}%",
        "raw Argon2id (before+after)",
        r.raw.threads,
        r.raw.hashes,
        rate(r.raw.per_second()),
        ms(r.raw.median()),
        ms(r.raw.percentile(99.0)),
        "",
        "",
        "",
        ms(r.raw.cpu_per_hash()),
        "",
        r.raw.steal,
    );
    for (name, o) in &r.diagnostics {
        println!("{}", scenario_row(&format!("diag: {name}"), o, options.cores));
    }
    println!(
        "  p50/p99: latency of one request (raw Argon2id: time of one hash). srv CPU/op: server CPU time (all\n  \
         threads) per answer; srv CPU: server CPU use out of all {} cores; gen CPU/op: the load generator's\n  \
         (for raw Argon2id: per hash); host CPU: the whole machine's CPU in use (server, load generator,\n  \
         PostgreSQL, anything else); steal: CPU time the hypervisor gave to other guests meanwhile.",
        options.cores
    );
    println!();
    let sqlite = r.name == "SQLite";
    println!("  {:<36} {:>12}   {:<10} result", "figure", "value", "target");
    println!(
        "{}",
        target_row(
            "verify rps / health rps",
            format!("{:.2}", r.verify_ratio()),
            "≥ 0.6",
            Some(r.verify_ratio() >= VERIFY_RATIO_TARGET)
        )
    );
    println!(
        "{}",
        target_row(
            "logins/s / raw hashes/s",
            format!("{:.2}", r.login_ratio()),
            "≥ 0.9",
            Some(r.login_ratio() >= LOGIN_RATIO_TARGET)
        )
    );
    println!("{}", target_row("RSS idle", mb(r.rss_idle), "≤ 20 MB", Some(r.rss_idle <= RSS_IDLE_TARGET_BYTES)));
    println!("{}", target_row("RSS after load", mb(r.rss_after), "", None));
    let start_target = if sqlite { "≤ 100 ms" } else { "(SQLite)" };
    for (label, starts) in
        [("start-to-healthy, fresh db", &r.start_fresh), ("start-to-healthy, restart", &r.start_restart)]
    {
        println!(
            "{}",
            target_row(label, ms(starts.median()), start_target, sqlite.then_some(starts.median() <= START_TARGET))
        );
        println!("      median of {}; min {}, max {}", starts.count(), ms(starts.min()), ms(starts.max()));
    }
    for (name, o) in r.scenarios().into_iter().chain(r.diagnostics.iter().map(|(n, o)| (*n, o))) {
        for (kind, n) in &o.errors {
            let example = o.error_examples.get(kind).map(String::as_str).unwrap_or("");
            println!("  ERRORS {name}: {n} × {kind}: {}", example.chars().take(300).collect::<String>());
        }
    }
}

pub fn print_summary(results: &[DbResult]) {
    if results.is_empty() {
        return;
    }
    println!("\n### Summary\n");
    let mut header = format!("  {:<36}", "");
    for r in results {
        header += &format!(" {:>22}", r.name);
    }
    println!("{header}   target");
    let row = |label: &str, cell: &dyn Fn(&DbResult) -> String, target: &str| {
        let mut line = format!("  {label:<36}");
        for r in results {
            line += &format!(" {:>22}", cell(r));
        }
        println!("{line}   {target}");
    };
    let with_verdict = |value: String, pass: bool| format!("{value} {}", verdict(pass));
    row("GET /health rps", &|r| rate(r.health.rps()), "");
    row("POST /token/verify rps", &|r| rate(r.verify.rps()), "");
    row(
        "verify / health",
        &|r| with_verdict(format!("{:.2}", r.verify_ratio()), r.verify_ratio() >= VERIFY_RATIO_TARGET),
        "≥ 0.6",
    );
    row("logins/s", &|r| rate(r.login.rps()), "");
    row("raw Argon2id hashes/s (all cores)", &|r| rate(r.raw.per_second()), "");
    row(
        "logins / raw hashes",
        &|r| with_verdict(format!("{:.2}", r.login_ratio()), r.login_ratio() >= LOGIN_RATIO_TARGET),
        "≥ 0.9",
    );
    row("refresh rotations/s", &|r| rate(r.refresh.rps()), "");
    for (label, pick) in [
        ("health", (|r: &DbResult| &r.health) as fn(&DbResult) -> &Outcome),
        ("verify", |r: &DbResult| &r.verify),
        ("login", |r: &DbResult| &r.login),
        ("refresh", |r: &DbResult| &r.refresh),
    ] {
        row(
            &format!("{label} p50 / p99"),
            &|r| format!("{} / {}", ms(pick(r).percentile(50.0)), ms(pick(r).percentile(99.0))),
            "",
        );
    }
    row("RSS idle", &|r| with_verdict(mb(r.rss_idle), r.rss_idle <= RSS_IDLE_TARGET_BYTES), "≤ 20 MB");
    row("RSS after load", &|r| mb(r.rss_after), "");
    for (label, pick) in [
        ("start-to-healthy, fresh db (median)", (|r: &DbResult| &r.start_fresh) as fn(&DbResult) -> &Starts),
        ("start-to-healthy, restart (median)", |r: &DbResult| &r.start_restart),
    ] {
        row(
            label,
            &|r| {
                let median = pick(r).median();
                if r.name == "SQLite" { with_verdict(ms(median), median <= START_TARGET) } else { ms(median) }
            },
            "≤ 100 ms (SQLite)",
        );
    }
    let errors: u64 = results.iter().map(DbResult::total_errors).sum();
    println!("  {:<36} {errors}", "failed requests (must be 0)");
}
