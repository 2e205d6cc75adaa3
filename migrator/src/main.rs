//! `migrator`: thin shell over `seaway_migrator`.

use clap::{Parser, Subcommand};
use seaway_codegen::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// seaway's data side: check connections (and, in later stages, apply migrations,
/// transfer and verify data).
#[derive(Debug, Parser)]
#[command(name = "migrator", version)]
struct Cli {
    /// The declarative config file.
    #[arg(
        long,
        global = true,
        default_value = "seaway.yaml",
        env = "SEAWAY_CONFIG"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Connect to every configured connection (or --connection NAME) and print its server version.
    Ping {
        /// Only this connection.
        #[arg(long)]
        connection: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    seaway_codegen::cli::execute(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cli.config)?;
    match cli.command {
        Command::Ping { connection } => {
            let targets: Vec<_> = match &connection {
                Some(name) => match config.connections.get(name) {
                    Some(c) => vec![c],
                    None => anyhow::bail!(
                        "--connection {name}: no such connection in {} (connections: {})",
                        config.path.display(),
                        config
                            .connections
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
                None => config.connections.values().collect(),
            };
            let mut failed = 0;
            for conn in targets {
                match seaway_migrator::ping::ping(conn).await {
                    Ok(p) => println!(
                        "{}: {} ({}, {} ms)",
                        p.connection,
                        p.server_version,
                        p.url,
                        p.round_trip.as_millis()
                    ),
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {e}");
                    }
                }
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
