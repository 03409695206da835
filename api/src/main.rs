//! `veza-api serve | migrate | openapi`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use veza_api::{config::ApiConfig, startup::Application};
use veza_jobs::signals::Signals;

#[derive(Parser)]
#[command(name = "veza-api", about = "Veza's HTTP API", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Bring the database schema up to date (Veza's tables and the apalis queues), then exit.
    Migrate,
    /// Print the OpenAPI document to stdout (no database needed).
    Openapi,
    /// Manage the admin role (operators only: this needs database access, not an API call).
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(Subcommand)]
enum AdminAction {
    /// Give the account with this email the admin role.
    Grant {
        /// The account's email.
        email: String,
    },
    /// Take the admin role away (an address in VEZA_ADMIN_EMAILS stays admin).
    Revoke {
        /// The account's email.
        email: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            println!("{}", veza_api::startup::openapi_json());
            Ok(())
        }
        Command::Migrate => {
            let config = load_config()?;
            let pool = veza_jobs::db::connect(&config.database_url, 2).await?;
            veza_jobs::db::migrate(&pool).await?;
            tracing::info!("database is up to date");
            Ok(())
        }
        Command::Admin { action } => {
            let config = load_config()?;
            let pool = veza_jobs::db::connect(&config.database_url, 2).await?;
            let (email, role) = match &action {
                AdminAction::Grant { email } => (email, "admin"),
                AdminAction::Revoke { email } => (email, "user"),
            };
            if veza_api::auth::set_role(&pool, email, role).await? {
                println!("{} now has the role {role}", email.trim().to_lowercase());
                Ok(())
            } else {
                anyhow::bail!("no account with the email {email}")
            }
        }
        Command::Serve => {
            let config = load_config()?;
            let signal = shutdown_signal();
            let app = Application::build(config).await.context("starting veza-api")?;
            tracing::info!(port = app.port(), "veza-api listening");
            app.run_until_stopped(signal).await?;
            tracing::info!("veza-api stopped");
            Ok(())
        }
    }
}

fn load_config() -> anyhow::Result<ApiConfig> {
    ApiConfig::load()
        .map_err(|problems| anyhow::anyhow!("invalid configuration:\n  {}", problems.join("\n  ")))
}

/// Resolves on SIGINT or SIGTERM; the handlers are installed when this is called
/// ([`Signals`]), before the API is built.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    let mut signals = Signals::install();
    async move {
        signals.next().await;
        tracing::info!("shutdown signal received; finishing in-flight requests");
    }
}
