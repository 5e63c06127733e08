//! The OpenID provider tables: each scenario's figures for zauthy and each oidc-provider reference (in memory, and
//! on the same database as zauthy), the ratios against 3×, and a summary across databases.

use super::reference::Kind;
use super::{CODE_BATCH, Mint, OidcResult, PRE_MINT_BATCH, Pair, RATIO_TARGET, Scenario};
use crate::Options;
use crate::load::Outcome;
use crate::report::{ROW, ms, rate, scenario_row, verdict};

const SKIPPED: &str = "skipped (not started: --no-oidc-provider, or not given)";
/// The summary's label column and each database's column.
const LABEL: usize = 44;
const COLUMN: usize = 30;

fn ratio_cell(pair: &Pair, kind: Kind) -> String {
    match pair.ratio(kind) {
        Some(r) => format!("{r:.2}× {}", verdict(r >= RATIO_TARGET)),
        None => "—".to_owned(),
    }
}

/// `zauthy / in-memory / same database` of one figure, `—` where a side was not measured.
fn sides(pair: &Pair, figure: impl Fn(&Outcome) -> String) -> String {
    let mut cells = vec![pair.zauthy.as_ref().map(&figure).unwrap_or_else(|| "—".to_owned())];
    for kind in Kind::ALL {
        cells.push(pair.reference(kind).map(|r| figure(&r.outcome)).unwrap_or_else(|| "—".to_owned()));
    }
    cells.join(" / ")
}

pub fn print_database(options: &Options, r: &OidcResult) {
    println!(
        "\n### OpenID provider: zauthy on {} vs oidc-provider ({} s per scenario)\n",
        r.database,
        options.measure.as_secs_f64()
    );
    for kind in Kind::ALL {
        let label = r.references.iter().find(|(k, _)| *k == kind).map(|(_, label)| label.as_str());
        println!("  {:<14} {}", format!("{}:", kind.name()), label.unwrap_or(SKIPPED));
    }
    println!();
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
        match &pair.zauthy {
            Some(o) => println!("{}", scenario_row("  zauthy", o, options.cores)),
            None => println!("  {:<ROW$} not measured", "  zauthy"),
        }
        for kind in Kind::ALL {
            let label = format!("  oidc-provider {}", kind.name());
            match pair.reference(kind) {
                Some(reference) => println!("{}", scenario_row(&label, &reference.outcome, options.cores)),
                None => println!("  {label:<ROW$} skipped"),
            }
        }
    }
    println!("  ceilings (measured in this run, see the summary)");
    println!("{}", scenario_row("  zauthy GET /health", &r.health, options.cores));
    println!(
        "  {:<ROW$} {:>13.0} RSA-2048 signatures/s on {} threads",
        "  raw RS256 in the bench", r.rs256_per_second, options.cores
    );
    let minted_before: Vec<(String, &Mint)> = r
        .zauthy_mint
        .iter()
        .map(|m| ("  zauthy authorize + consent".to_owned(), m))
        .chain(r.pairs.iter().flat_map(|p| &p.references).filter_map(|reference| {
            Some(("  oidc-provider /bench/codes".to_owned(), reference.minted_before.as_ref()?))
        }))
        .collect();
    if !minted_before.is_empty() {
        println!("  codes for the code exchange, minted before it (answers: requests; codes/s in the note below)");
        for (label, mint) in &minted_before {
            println!("{}", scenario_row(label, &mint.outcome, options.cores));
        }
    }
    println!(
        "  srv CPU/op: CPU time of the server's processes per answer (oidc-provider: primary and workers); for\n  \
         zauthy and oidc-provider on PostgreSQL the database's CPU is in host CPU only. Tokens are minted on\n  \
         each connection before use (not counted); see docs/benchmarks.md for what differs.\n  \
         in-memory: oidc-provider's own adapter, each worker its own memory (the lowest bound); same database:\n  \
         oidc-provider persisting to {} like zauthy, shared by its workers. Codes for the exchange: zauthy's\n  \
         are minted before it through the hosted authorize + consent pages (one answer per code, two requests\n  \
         each); same database's before it through POST /bench/codes ({PRE_MINT_BATCH} codes per answer);\n  \
         in-memory's during the run on the connection that exchanges them, {CODE_BATCH} at a time (each worker\n  \
         knows only its own).",
        r.database
    );
    for (label, mint) in &minted_before {
        let seconds = mint.outcome.measured.as_secs_f64();
        println!("  {}: {} codes, {:.0} codes/s", label.trim(), mint.codes, mint.codes as f64 / seconds);
    }
    for pair in &r.pairs {
        let mints: u64 = pair.zauthy_mints + pair.references.iter().map(|r| r.mints).sum::<u64>();
        if mints == 0 {
            continue;
        }
        let references: Vec<String> =
            pair.references.iter().map(|r| format!("oidc-provider {} {}", r.kind.name(), r.mints)).collect();
        println!(
            "  {}: requests made on the connections during the run to mint codes or get tokens: zauthy {}{}",
            pair.scenario.name(),
            pair.zauthy_mints,
            references.iter().map(|r| format!(", {r}")).collect::<String>()
        );
    }
    for (kind, rss) in &r.reference_rss_after {
        println!(
            "  oidc-provider {} RSS (all processes) after these scenarios: {:.1} MB",
            kind.name(),
            *rss as f64 / 1e6
        );
    }
    println!();
    println!(
        "  {:<28} {:>10} {:>10} {:>14}   {:<6} {:<14} vs same database",
        "figure", "zauthy", "in-memory", "same database", "target", "vs in-memory"
    );
    for pair in &r.pairs {
        let rps = |o: Option<&Outcome>| o.map(|o| rate(o.rps())).unwrap_or_else(|| "—".to_owned());
        println!(
            "  {:<28} {:>10} {:>10} {:>14}   {:<6} {:<14} {}",
            format!("{} rps", pair.scenario.name()),
            rps(pair.zauthy.as_ref()),
            rps(pair.reference(Kind::InMemory).map(|r| &r.outcome)),
            rps(pair.reference(Kind::SameDatabase).map(|r| &r.outcome)),
            "≥ 3×",
            ratio_cell(pair, Kind::InMemory),
            ratio_cell(pair, Kind::SameDatabase)
        );
    }
    for pair in &r.pairs {
        let zauthy = pair.zauthy.as_ref().map(|o| ("zauthy".to_owned(), o));
        let references = pair.references.iter().map(|r| (format!("oidc-provider {}", r.kind.name()), &r.outcome));
        for (side, o) in zauthy.into_iter().chain(references) {
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
    println!(
        "  in-memory: oidc-provider's own adapter, each worker its own memory (the lowest bound); same database:\n  \
         oidc-provider persisting to the database zauthy runs on (a SQLite file / a database on zauthy's\n  \
         PostgreSQL server), shared by its workers, its accounts read from there.\n"
    );
    let mut header = format!("  {:<LABEL$}", "");
    for r in results {
        header += &format!(" {:>COLUMN$}", format!("zauthy on {}", r.database));
    }
    println!("{header}");
    let row = |label: String, cell: &dyn Fn(&Pair) -> String, pairs: &[&Pair]| {
        let mut line = format!("  {label:<LABEL$}");
        for pair in pairs {
            line += &format!(" {:>COLUMN$}", cell(pair));
        }
        println!("{line}");
    };
    for scenario in Scenario::ALL {
        let pairs: Vec<&Pair> =
            results.iter().filter_map(|r| r.pairs.iter().find(|p| p.scenario == scenario)).collect();
        let name = scenario.name();
        for kind in Kind::ALL {
            row(format!("{name} ratio vs {}", kind.name()), &|p| ratio_cell(p, kind), &pairs);
        }
        row(format!("{name} rps (zauthy / mem / db)"), &|p| sides(p, |o| rate(o.rps())), &pairs);
        row(format!("{name} p99 (zauthy / mem / db)"), &|p| sides(p, |o| ms(o.percentile(99.0))), &pairs);
        // What 3× the in-memory reference would take, against what this machine allows at all.
        let mut line = format!("  {:<LABEL$}", format!("{name}: 3× in-memory needs / ceiling"));
        for r in results {
            let needed = r.pairs.iter().find(|p| p.scenario == scenario).and_then(|p| p.reference(Kind::InMemory));
            let cell = match needed {
                Some(reference) => {
                    let (needed, ceiling) = (RATIO_TARGET * reference.outcome.rps(), r.ceiling(scenario));
                    let over = if needed > ceiling { " over" } else { "" };
                    format!("{} / {}{over}", rate(needed), rate(ceiling))
                }
                None => "—".to_owned(),
            };
            line += &format!(" {cell:>COLUMN$}");
        }
        println!("{line}");
    }
    let mut line = format!("  {:<LABEL$}", "ceiling: GET /health rps / RS256 signatures/s");
    for r in results {
        line += &format!(" {:>COLUMN$}", format!("{} / {}", rate(r.health.rps()), rate(r.rs256_per_second)));
    }
    println!("{line}");
    println!(
        "  ceiling: the most a scenario can answer on this machine with this load generator: GET /health on the
           same server (no endpoint answers faster than one that does nothing), and for the code exchange also
           the raw RSA-2048 signature rate on every core (each exchange signs an RS256 ID token). \"over\": 3× the
           in-memory reference is beyond what this machine can do at all."
    );
    if super::id_token_alg() != "RS256" {
        println!(
            "  ID tokens: {} on both sides (ZAUTHY_BENCH_ID_TOKEN_ALG), not the issue's RS256: the RSA ceiling does\n  \
             not bound this run's code exchange.",
            super::id_token_alg()
        );
    }
    let errors: u64 = results.iter().map(OidcResult::total_errors).sum();
    println!("  {:<LABEL$} {errors}", "failed OIDC requests (must be 0)");
}
