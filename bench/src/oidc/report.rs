//! The OpenID provider tables: each scenario's figures for zauthy and oidc-provider, their ratio against 3×, and
//! a summary across databases.

use super::{OidcResult, Pair, RATIO_TARGET, Scenario};
use crate::Options;
use crate::report::{ROW, ms, rate, scenario_row, verdict};

const SKIPPED: &str = "skipped (--no-oidc-provider)";

fn ratio_cell(pair: &Pair) -> String {
    match pair.ratio() {
        Some(r) => format!("{r:.2}× {}", verdict(r >= RATIO_TARGET)),
        None => "—".to_owned(),
    }
}

pub fn print_database(options: &Options, r: &OidcResult) {
    let reference = options.oidc_provider.as_ref().map(|r| r.label.as_str()).unwrap_or("oidc-provider");
    println!(
        "\n### OpenID provider: zauthy on {} vs {reference} ({} s per scenario)\n",
        r.database,
        options.measure.as_secs_f64()
    );
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
    for pair in &r.pairs {
        println!("  {}", pair.scenario.name());
        for (side, outcome, missing) in
            [("zauthy", &pair.zauthy, "not measured"), ("oidc-provider", &pair.reference, SKIPPED)]
        {
            let label = format!("  {side}");
            match outcome {
                Some(o) => println!("{}", scenario_row(&label, o, options.cores)),
                None => println!("  {label:<ROW$} {missing}"),
            }
        }
    }
    if let Some(mint) = &r.zauthy_mint {
        println!("  codes for zauthy's exchange (minted before it)");
        println!("{}", scenario_row("  zauthy authorize + consent", mint, options.cores));
    }
    println!(
        "  srv CPU/op: CPU time of the server's processes per answer (oidc-provider: primary and workers); for\n  \
         zauthy on PostgreSQL the database's CPU is in host CPU only. Tokens and codes are minted on each\n  \
         connection before use (not counted); see docs/benchmarks.md for what differs between the two.\n  \
         zauthy's codes are minted before its code exchange through the hosted authorize + consent pages\n  \
         (mint codes: one answer per code, two requests each)."
    );
    for pair in r.pairs.iter().filter(|p| p.zauthy_mints + p.reference_mints > 0) {
        println!(
            "  {}: requests made on the connections during the run to mint codes or get tokens: zauthy {}, \
             oidc-provider {}",
            pair.scenario.name(),
            pair.zauthy_mints,
            pair.reference_mints
        );
    }
    if let Some(rss) = r.reference_rss_after {
        println!("  oidc-provider RSS (all processes) after these scenarios: {:.1} MB", rss as f64 / 1e6);
    }
    println!();
    println!("  {:<36} {:>12} {:>14}   {:<8} result", "figure", "zauthy", "oidc-provider", "target");
    for pair in &r.pairs {
        let cell = |o: &Option<crate::load::Outcome>, missing: &str| match o {
            Some(o) => rate(o.rps()),
            None => missing.split(':').next().unwrap_or(missing).to_owned(),
        };
        println!(
            "  {:<36} {:>12} {:>14}   {:<8} {}",
            format!("{} rps", pair.scenario.name()),
            cell(&pair.zauthy, "—"),
            cell(&pair.reference, "skipped"),
            "≥ 3×",
            ratio_cell(pair)
        );
    }
    for pair in &r.pairs {
        for (side, o) in [("zauthy", &pair.zauthy), ("oidc-provider", &pair.reference)] {
            let Some(o) = o else { continue };
            for (kind, n) in &o.errors {
                let example = o.error_examples.get(kind).map(String::as_str).unwrap_or("");
                let example: String = example.chars().take(300).collect();
                println!("  ERRORS {} ({side}): {n} × {kind}: {example}", pair.scenario.name());
            }
        }
    }
}

pub fn print_summary(results: &[OidcResult]) {
    if results.is_empty() {
        return;
    }
    println!("\n### OpenID provider summary (zauthy / oidc-provider, target ≥ {RATIO_TARGET}×)\n");
    let mut header = format!("  {:<36}", "");
    for r in results {
        header += &format!(" {:>22}", format!("zauthy on {}", r.database));
    }
    println!("{header}");
    for scenario in Scenario::ALL {
        let pairs: Vec<&Pair> =
            results.iter().filter_map(|r| r.pairs.iter().find(|p| p.scenario == scenario)).collect();
        let mut line = format!("  {:<36}", format!("{} ratio", scenario.name()));
        for pair in &pairs {
            line += &format!(" {:>22}", ratio_cell(pair));
        }
        println!("{line}");
        let mut line = format!("  {:<36}", format!("{} rps (zauthy / ref)", scenario.name()));
        for pair in &pairs {
            let side = |o: &Option<crate::load::Outcome>| o.as_ref().map(|o| rate(o.rps())).unwrap_or("—".into());
            line += &format!(" {:>22}", format!("{} / {}", side(&pair.zauthy), side(&pair.reference)));
        }
        println!("{line}");
        let mut line = format!("  {:<36}", format!("{} p99 (zauthy / ref)", scenario.name()));
        for pair in &pairs {
            let side =
                |o: &Option<crate::load::Outcome>| o.as_ref().map(|o| ms(o.percentile(99.0))).unwrap_or("—".into());
            line += &format!(" {:>22}", format!("{} / {}", side(&pair.zauthy), side(&pair.reference)));
        }
        println!("{line}");
    }
    let errors: u64 = results.iter().map(OidcResult::total_errors).sum();
    println!("  {:<36} {errors}", "failed OIDC requests (must be 0)");
}
