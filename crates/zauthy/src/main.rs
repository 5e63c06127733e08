//! `zauthy`: the identity server binary.

use clap::Parser;

/// See Cargo.toml: the request path allocates often, and mimalloc does it for a fraction of glibc's cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
