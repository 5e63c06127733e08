//! The command line: `serve` (the default), `migrate`, `openapi`, and operator `admin` commands.

use crate::app::{Application, open_store, services, shutdown_signal};
use crate::config::{Config, Overrides};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use zauthy_core::clock::SystemClock;
use zauthy_core::orgs::Plan;

#[derive(Debug, Parser)]
#[command(name = "zauthy", version, about = "Self-hosted identity: organizations, accounts, sessions and tokens")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML configuration file (default: ./zauthy.toml if present).
    #[arg(long, env = "ZAUTHY_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:8080.
    #[arg(long, global = true)]
    pub listen: Option<String>,
    /// The URL clients reach this server at.
    #[arg(long, global = true)]
    pub public_url: Option<String>,
    /// Data directory (SQLite database, generated master key, emails written to files).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// sqlite://… or postgres://…
    #[arg(long, global = true)]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (needs no database).
    Openapi,
    /// Operator commands.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// List organizations.
    ListOrgs,
    /// Set an organization's plan (free, pro, enterprise), which sets its rate limits.
    SetPlan {
        #[arg(long)]
        org: String,
        #[arg(long)]
        plan: String,
    },
    /// Make a new signing key active for an organization.
    RotateSigningKey {
        #[arg(long)]
        org: String,
    },
}

impl Cli {
    fn load_config(&self) -> anyhow::Result<Config> {
        let overrides = Overrides {
            listen: self.global.listen.clone(),
            public_url: self.global.public_url.clone(),
            data_dir: self.global.data_dir.clone(),
            database_url: self.global.database_url.clone(),
        };
        Config::load(self.global.config.as_deref(), &overrides)
    }
}

pub fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if config.log_format == "json" { builder.json().try_init() } else { builder.try_init() };
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Openapi) = cli.command {
        println!("{}", serde_json::to_string_pretty(&zauthy_http::openapi())?);
        return Ok(());
    }
    let config = cli.load_config()?;
    init_logging(&config);
    if !config.ignored_env.is_empty() {
        tracing::warn!(
            variables = %config.ignored_env.join(", "),
            "ignoring ZAUTHY_ variables that are Kubernetes service links, not settings"
        );
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let started = std::time::Instant::now();
            let app = Application::build(&config, Arc::new(SystemClock)).await?;
            tracing::info!(
                address = %app.local_addr(),
                public_url = %config.public_url,
                startup_ms = started.elapsed().as_millis() as u64,
                "zauthy is listening"
            );
            app.run_until_stopped(shutdown_signal()).await
        }
        Command::Migrate => {
            open_store(&config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Openapi => unreachable!("handled above"),
        Command::Admin(admin) => {
            let services = services(&config, open_store(&config).await?, Arc::new(SystemClock))?;
            match admin {
                AdminCommand::ListOrgs => {
                    for org in services.store.list_orgs().await? {
                        println!("{}\t{}\t{}", org.id, org.plan.as_str(), org.name);
                    }
                }
                AdminCommand::SetPlan { org, plan } => {
                    let plan: Plan = plan.parse()?;
                    let org = services.set_plan(&org, plan).await?;
                    println!("{} is now on the {} plan", org.id, org.plan.as_str());
                }
                AdminCommand::RotateSigningKey { org } => {
                    let kid = services.rotate_signing_key(&org, None).await?;
                    println!("{org} now signs with {kid}");
                }
            }
            Ok(())
        }
    }
}
