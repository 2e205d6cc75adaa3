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
        Command::Check => {
            let config = Config::load(&cli.global.config)?;
            let findings = seaway_codegen::commands::check::run(&config).await?;
            if findings.is_empty() {
                println!("everything is in step: snapshots current, migrations applied, no drift");
                return Ok(ExitCode::SUCCESS);
            }
            for f in &findings {
                eprintln!("check: {f}");
            }
            eprintln!("error: {} check(s) failed", findings.len());
            Ok(ExitCode::from(1))
        }
        Command::BenchGenerate(args) => {
            let schema = seaway_codegen::synthetic::schema(args.tables);
            let services = seaway_codegen::config::Services::default();
            let fks: usize = schema.tables.values().map(|t| t.foreign_keys.len()).sum();
            let start = std::time::Instant::now();
            let boundaries = seaway_codegen::boundary::detect(&schema, &services)?;
            let detected = start.elapsed();
            let rendered = seaway_codegen::render::render(
                &schema,
                &services,
                std::path::Path::new("bench-output"),
            )?;
            let total = start.elapsed();
            println!(
                "{} tables, {fks} foreign keys -> {} services, {} files",
                schema.tables.len(),
                boundaries.services.len(),
                rendered.files.len()
            );
            println!(
                "boundary detection {:.3} s; detection + rendering (incl. rustfmt) {:.3} s",
                detected.as_secs_f64(),
                (total - detected).as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate(args) => {
            let config = Config::load(&cli.global.config)?;
            let generated = seaway_codegen::commands::generate::run(&config)?;
            if args.check {
                let stale = snapshot_io::stale(&generated.files);
                for p in &stale {
                    eprintln!("stale: {}", p.display());
                }
                for p in &generated.orphans {
                    eprintln!("not generated any more: {}", p.display());
                }
                if stale.is_empty() && generated.orphans.is_empty() {
                    println!(
                        "generated services are current ({} files)",
                        generated.files.len()
                    );
                    return Ok(ExitCode::SUCCESS);
                }
                eprintln!("error: generated services are stale; run `just generate` and commit");
                return Ok(ExitCode::from(1));
            }
            let outcomes =
                snapshot_io::write_all(&generated.files).context("writing generated services")?;
            for p in &generated.orphans {
                std::fs::remove_file(p).with_context(|| format!("removing {}", p.display()))?;
            }
            let changed = outcomes
                .iter()
                .filter(|o| **o != WriteOutcome::Unchanged)
                .count();
            for (name, tables) in &generated.services {
                println!("service {name}: {tables} tables");
            }
            println!(
                "{} files ({changed} written, {} removed) under {}",
                generated.files.len(),
                generated.orphans.len(),
                config.output.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Route(args) => {
            let config = Config::load(&cli.global.config)?;
            let Some(file) = seaway_codegen::commands::route::run(&config)? else {
                anyhow::bail!(
                    "{}: no `routing:` section; add one naming the monolith and each service's address (docs/config.md)",
                    config.path.display()
                );
            };
            if args.check {
                if snapshot_io::stale(std::slice::from_ref(&file)).is_empty() {
                    println!("{} is current", file.path.display());
                    return Ok(ExitCode::SUCCESS);
                }
                eprintln!("stale: {}", file.path.display());
                eprintln!("error: the routing config is stale; run `just route` and commit");
                return Ok(ExitCode::from(1));
            }
            let outcome = snapshot_io::write_all(std::slice::from_ref(&file))
                .context("writing the routing config")?;
            // HAProxy creates neither the admin socket's folder nor the state file's.
            if let Some(routing) = &config.routing {
                for p in [&routing.admin_socket, &routing.state_file] {
                    if let Some(dir) = routing.resolve(p).parent() {
                        std::fs::create_dir_all(dir)
                            .with_context(|| format!("creating {}", dir.display()))?;
                    }
                }
            }
            let what = if outcome.iter().all(|o| *o == WriteOutcome::Unchanged) {
                "unchanged"
            } else {
                "written"
            };
            println!("{} ({what})", file.path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff(args) => {
            let config = Config::load(&cli.global.config)?;
            let outcome = seaway_codegen::commands::diff::run(&config).await?;
            for note in &outcome.notes {
                eprintln!("note: {note}");
            }
            for skipped in &outcome.skipped {
                eprintln!("skipped: {skipped}");
            }
            for left_out in &outcome.left_out {
                eprintln!("left out: {left_out}");
            }
            let Some(name) = &outcome.migration_name else {
                println!(
                    "{} ({}): nothing to do; the destination has every change the source needs",
                    outcome.destination, outcome.dialect
                );
                return Ok(ExitCode::SUCCESS);
            };
            let pre = outcome
                .statements
                .iter()
                .filter(|s| s.section == seaway_codegen::migrations::Section::PreData)
                .count();
            let post = outcome.statements.len() - pre;
            if args.check {
                println!(
                    "{} ({}): {name} would be written ({pre} pre-data, {post} post-data statements)",
                    outcome.destination, outcome.dialect
                );
                return Ok(ExitCode::from(1));
            }
            snapshot_io::write_all(&outcome.files).context("writing the migration")?;
            let path = outcome
                .files
                .first()
                .map(|f| f.path.display().to_string())
                .unwrap_or_default();
            println!(
                "{} ({}): wrote {path} ({pre} pre-data, {post} post-data statements); review it, then `just apply`",
                outcome.destination, outcome.dialect
            );
            Ok(ExitCode::SUCCESS)
        }
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
