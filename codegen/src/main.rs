//! `codegen`: thin shell over `seaway_codegen`. Parses arguments, runs the command,
//! prints results and errors (one paragraph, never a password), sets the exit code.

use anyhow::Context;
use clap::Parser;
use seaway_codegen::cli::{Cli, Command};
use seaway_codegen::commands::introspect::{self, Selection};
use seaway_codegen::config::Config;
use seaway_codegen::snapshot_io::{self, WriteOutcome};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    seaway_codegen::cli::execute(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Introspect(args) => {
            let config = Config::load(&cli.global.config)?;
            let selection = match (args.all, args.connection) {
                (true, _) => Selection::All,
                (false, Some(name)) => Selection::Named(name),
                (false, None) => Selection::Source,
            };
            let snapshots = introspect::run(&config, &selection).await?;
            for snap in &snapshots {
                for warning in &snap.warnings {
                    eprintln!("warning: {}: {warning}", snap.connection);
                }
            }
            let files: Vec<_> = snapshots.iter().map(|s| s.file.clone()).collect();
            if args.check {
                let stale = snapshot_io::stale(&files);
                for snap in &snapshots {
                    let state = if stale.contains(&snap.file.path.as_path()) {
                        "STALE"
                    } else {
                        "up to date"
                    };
                    println!(
                        "{}: {} ({state})",
                        snap.connection,
                        snap.file.path.display()
                    );
                }
                if !stale.is_empty() {
                    eprintln!(
                        "error: {} snapshot(s) differ from the live database; run `just introspect` and commit the result",
                        stale.len()
                    );
                    return Ok(ExitCode::from(1));
                }
                return Ok(ExitCode::SUCCESS);
            }
            let outcomes = snapshot_io::write_all(&files).context("writing snapshots")?;
            for (snap, outcome) in snapshots.iter().zip(outcomes) {
                let what = match outcome {
                    WriteOutcome::Created => "created",
                    WriteOutcome::Updated => "updated",
                    WriteOutcome::Unchanged => "unchanged",
                };
                println!(
                    "{}: {} -> {} ({what})",
                    snap.connection,
                    snap.summary,
                    snap.file.path.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
