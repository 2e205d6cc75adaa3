//! `migrator`: thin shell over `seaway_migrator`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use seaway_codegen::config::Config;
use seaway_migrator::apply::{self, ApplyOptions, SectionChoice};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// seaway's data side: check connections and apply migrations (and, in later stages,
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
    /// Apply the destination's pending migrations (<output>/migrations/<destination>/),
    /// recording each section in its `seaway_migrations` table.
    Apply {
        /// pre-data (tables, columns) before a data load, post-data (indexes, foreign
        /// keys) after it, or all.
        #[arg(long, value_enum, default_value_t = SectionChoice::All)]
        section: SectionChoice,
        /// Print the SQL that would run and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Seconds to wait while another `migrator apply` holds the lock
        /// [default: 30, or the destination's connect_timeout if longer].
        #[arg(long, value_name = "SECONDS")]
        lock_timeout: Option<u64>,
    },
    /// List the destination's migrations: each section applied, pending or failed, and
    /// whether the files still match what was applied.
    Status,
    /// Copy the selected tables' rows into the destination: upserts on the primary key,
    /// keyset pages, resumable after a crash (state in .seaway/state.sqlite).
    Transfer {
        /// Start over instead of resuming an unfinished run.
        #[arg(long)]
        restart: bool,
        /// Rows per page (one read and one bulk upsert).
        #[arg(long, default_value_t = 5000)]
        page_size: usize,
        /// Chunks of a table copied at the same time.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Only rows whose watermark column (`mappings.<table>.watermark`) is past this
        /// value, e.g. a timestamp; implies incremental mode.
        #[arg(long, value_name = "VALUE")]
        since: Option<String>,
        /// What to do with a row the destination refuses.
        #[arg(long, value_enum, default_value_t = seaway_migrator::transfer::OnError::Reject)]
        on_error: seaway_migrator::transfer::OnError,
        /// Also write the summary as JSON to this file.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    seaway_codegen::cli::execute(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cli.config)?;
    match cli.command {
        Command::Apply {
            section,
            dry_run,
            lock_timeout,
        } => {
            let options = ApplyOptions {
                sections: section,
                dry_run,
                lock_timeout: lock_timeout.map(Duration::from_secs),
            };
            let summary = apply::apply(&config, &options, &mut |event| println!("{event}")).await?;
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Transfer {
            restart,
            page_size,
            workers,
            since,
            on_error,
            report,
        } => {
            use seaway_migrator::transfer::{self, Options};
            let opts = Options {
                restart,
                page_size: page_size.max(1),
                workers: workers.max(1),
                since,
                on_error,
                ..Options::default()
            };
            let mut display = seaway_migrator::progress::Display::new();
            let summary =
                transfer::transfer(&config, &opts, &mut |event| display.event(&event)).await;
            display.finish();
            let summary = summary?;
            println!(
                "transferred {} rows into `{}` in {:.2} s ({:.0} rows/s){}{}",
                summary.rows,
                summary.destination,
                summary.seconds,
                summary.rows_per_second,
                if summary.rejected > 0 {
                    format!(", {} rejected (see .seaway/rejects/)", summary.rejected)
                } else {
                    String::new()
                },
                if summary.resumed {
                    ", resumed an unfinished run"
                } else {
                    ""
                },
            );
            if let Some(path) = report {
                let json =
                    serde_json::to_string_pretty(&summary).context("rendering the report")?;
                std::fs::write(&path, json + "\n")
                    .with_context(|| format!("writing the report {}", path.display()))?;
            }
            let failed = summary.tables.iter().filter(|t| t.error.is_some()).count();
            Ok(if failed == 0 && summary.rejected == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Status => {
            print!("{}", apply::status(&config).await?);
            Ok(ExitCode::SUCCESS)
        }
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
