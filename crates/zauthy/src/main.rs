//! `zauthy`: the identity server binary.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    zauthy::install_crypto_provider();
    match zauthy::cli::run(zauthy::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zauthy: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
