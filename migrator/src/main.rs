//! `migrator`: thin shell over `seaway_migrator`.

mod cli;

use anyhow::Context;
use clap::Parser;
use cli::{Cli, Command, RouteAction, SyncAction};
use seaway_codegen::config::Config;
use seaway_migrator::apply::{self, ApplyOptions};
use seaway_migrator::verify::continuous::Event;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let cli = Cli::parse();
    seaway_codegen::cli::execute(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Serve { openapi: true, .. } = cli.command {
        print!("{}", seaway_migrator::serve::document());
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Deploy {
        out,
        image,
        workers,
        max_workers,
        check,
    } = &cli.command
    {
        return deploy(out, image, *workers, *max_workers, *check);
    }
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
            chunk_size,
            since,
            on_error,
            copy_all,
            delete_extra,
            bisection_factor,
            bisection_threshold,
            report,
            distributed,
        } => {
            use seaway_migrator::transfer::{self, Options};
            let opts = Options {
                restart,
                page_size: page_size.max(1),
                workers: workers.max(1),
                chunk_span: chunk_size.max(1),
                since,
                on_error,
                copy_all,
                delete_extra,
                bisection_factor: bisection_factor.max(2),
                bisection_threshold,
            };
            let mut display = seaway_migrator::progress::Display::new();
            let mut on_event = |event: transfer::Event<'_>| display.event(&event);
            let summary = if distributed {
                transfer::queued::plan_and_wait(&config, &opts, &mut on_event).await
            } else if transfer::queued::shares(&config, &opts) {
                transfer::queued::transfer_or_join(&config, &opts, &mut on_event).await
            } else {
                transfer::transfer(&config, &opts, &mut on_event).await
            };
            display.finish();
            let summary = summary?;
            let compared = summary.tables.iter().any(|t| t.comparison != "none");
            println!(
                "transferred {} rows into `{}` ({}{}{}) in {:.2} s ({:.0} rows/s){}{}",
                summary.rows,
                summary.destination,
                match &summary.job {
                    Some(job) => format!("job `{job}`, as the destination's fence rows count them"),
                    None => seaway_migrator::progress::written(&summary.written),
                },
                if compared || summary.deleted > 0 {
                    format!(", {} deleted", summary.deleted)
                } else {
                    String::new()
                },
                seaway_migrator::progress::compared(
                    summary.chunks,
                    summary.chunks_equal,
                    summary.extra.saturating_sub(summary.deleted),
                    compared
                ),
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
            let kept = summary.extra.saturating_sub(summary.deleted);
            if kept > 0 && !delete_extra {
                println!(
                    "{kept} destination rows are not in the source and were kept; `migrator transfer --delete-extra` deletes them"
                );
            }
            if let Some(path) = report {
                write_report(&path, &summary)?;
            }
            let failed = summary.tables.iter().filter(|t| t.error.is_some()).count();
            Ok(if failed == 0 && summary.rejected == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Verify {
            workers,
            chunk_size,
            page_size,
            show_values,
            max_listed,
            report,
            repair,
            delete_extra,
            bisection_factor,
            bisection_threshold,
            continuous,
            interval,
            alert_below,
            keep_going,
            checks,
        } => {
            let defaults = seaway_migrator::verify::Options::default();
            let opts = seaway_migrator::verify::Options {
                workers: workers.max(1),
                chunk_span: chunk_size.max(1),
                // Pages above the chunk size: one query per chunk.
                page_size: page_size
                    .unwrap_or_else(|| {
                        defaults
                            .page_size
                            .max(usize::try_from(chunk_size).unwrap_or(0).saturating_add(1))
                    })
                    .max(1),
                show_values,
                max_listed,
                repair,
                delete_extra,
                bisection_factor: bisection_factor.max(2),
                bisection_threshold,
            };
            if !continuous {
                let summary = verify_once(&config, &opts, report.as_deref()).await?;
                return Ok(if summary.failed() {
                    ExitCode::from(2)
                } else if summary.differs() {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                });
            }
            let schedule = seaway_migrator::verify::continuous::Schedule {
                interval: Duration::from_secs(interval),
                alert_below,
                keep_going,
                checks,
            };
            let ended = seaway_migrator::verify::continuous::run(
                &schedule,
                |_| verify_once(&config, &opts, report.as_deref()),
                &mut |event| match event {
                    Event::Alert {
                        round,
                        consistency,
                        threshold,
                    } => eprintln!(
                        "ALERT: consistency {consistency:.4}% is below {threshold}% (check {round})"
                    ),
                    Event::Failed { round, error } => eprintln!("error: check {round}: {error:#}"),
                },
            )
            .await?;
            Ok(if ended.alerted {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Status => {
            print!("{}", apply::status(&config).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Route { action } => route(&config, action).await,
        Command::Serve { bind, .. } => {
            seaway_migrator::serve::serve(config, bind, |addr| {
                use std::io::Write;
                // Tests and scripts read the address from this line.
                println!("listening on http://{addr}");
                let _ = std::io::stdout().flush();
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        // Needs no config; answered above, before the config is read.
        Command::Deploy {
            out,
            image,
            workers,
            max_workers,
            check,
        } => deploy(&out, &image, workers, max_workers, check),
        Command::Worker { slots, lease } => {
            use seaway_migrator::worker::{self, Event, Options};
            let opts = Options {
                slots: slots.max(1),
                lease: Duration::from_secs(lease.max(1)),
                job: None,
            };
            let stop = stop_signal()?;
            let summary = worker::run(config, &opts, stop, &mut |event| match event {
                Event::Started { id, store } => {
                    eprintln!("worker {id}: taking chunks from the store {store} (SIGINT or SIGTERM stops it)")
                }
                Event::Claimed(l) => eprintln!(
                    "claimed `{}` chunk {} of job `{}` (token {}){}",
                    l.table,
                    l.index,
                    l.job,
                    l.token,
                    if l.claims > 1 { ", continuing where its last holder stopped" } else { "" }
                ),
                Event::Done { lease: l, rows } => {
                    eprintln!("done `{}` chunk {}: {rows} rows", l.table, l.index)
                }
                Event::Lost { lease: l, why } => {
                    eprintln!("lost `{}` chunk {}: {why}", l.table, l.index)
                }
                Event::Failed { lease: l, error, last } => eprintln!(
                    "failed `{}` chunk {}: {error}{}",
                    l.table,
                    l.index,
                    if last { " (third failure: retry it from the API or dashboard)" } else { "" }
                ),
                Event::Released(l) => {
                    eprintln!("gave back `{}` chunk {} (stopping)", l.table, l.index)
                }
            })
            .await?;
            println!(
                "worker stopped: {} chunks, {} rows written, {} lost to other workers, {} failed",
                summary.chunks, summary.rows, summary.lost, summary.failed
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync {
            action,
            no_copy,
            chunk_size,
            report,
            both,
            hold,
        } => {
            sync(
                &config,
                action,
                no_copy,
                chunk_size,
                report.as_deref(),
                both,
                hold,
            )
            .await
        }
        Command::Ping { connection } => {
            let targets: Vec<_> = match &connection {
                Some(name) => match config.connections.get(name) {
                    Some(c) => vec![c],
                    None => anyhow::bail!(
                        "--connection {name}: no such connection in {} (connections: {})",
                        config.path.display(),
                        config.connection_names()
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

/// One verify run: each table's line as it finishes, then the differences and the
/// summary; the JSON report too when asked.
async fn verify_once(
    config: &Config,
    opts: &seaway_migrator::verify::Options,
    report: Option<&std::path::Path>,
) -> anyhow::Result<seaway_migrator::verify::Report> {
    use seaway_migrator::verify;
    let summary = verify::verify(config, opts, &mut |t| match &t.error {
        Some(_) => eprintln!("{t}"),
        None => println!("{t}"),
    })
    .await?;
    print!("{summary}");
    if let Some(path) = report {
        write_report(path, &summary)?;
    }
    Ok(summary)
}

/// `migrator route ...`. The library is synchronous (one short socket exchange per
/// command), so it runs on a blocking thread, away from the async workers.
async fn route(config: &Config, action: RouteAction) -> anyhow::Result<ExitCode> {
    use seaway_migrator::route::{RouteError, control::Target, shift};
    let Some(routing) = config.routing.clone() else {
        return Err(RouteError::NoRouting {
            path: config.path.clone(),
        }
        .into());
    };
    tokio::task::spawn_blocking(move || -> anyhow::Result<ExitCode> {
        match action {
            RouteAction::Set { service, percent } => {
                let target = Target::new(&routing, &service)?;
                target.set(percent)?;
                println!("{service}: {percent}% to the service");
                Ok(ExitCode::SUCCESS)
            }
            RouteAction::Rollback { service } => {
                let target = Target::new(&routing, &service)?;
                target.rollback()?;
                println!(
                    "{service}: rolled back; every request goes to the monolith (the service is in maintenance)"
                );
                Ok(ExitCode::SUCCESS)
            }
            RouteAction::Shift {
                service,
                to,
                step,
                every,
                max_error_rate,
                max_response_ms,
                min_requests,
            } => {
                let target = Target::new(&routing, &service)?;
                let gates = shift::Gates {
                    max_error_rate,
                    max_response_ms,
                    min_requests,
                };
                match shift::run(&target, to, step, every, &gates, |line| println!("{line}"))? {
                    shift::Outcome::Reached(p) => {
                        println!("{service}: shift done, {p}% to the service");
                        Ok(ExitCode::SUCCESS)
                    }
                    shift::Outcome::RolledBack { at, reason } => {
                        eprintln!("error: {service}: rolled back to 0% at {at}%: {reason}");
                        Ok(ExitCode::from(1))
                    }
                }
            }
            RouteAction::Status => {
                println!(
                    "{:<12} {:<13} {:>5}  {:<9} {:<11} {:>6} {:>4} {:>9} {:>6} {:>7}",
                    "service", "strategy", "share", "server", "state", "weight", "cur", "requests", "5xx", "avg ms"
                );
                for name in routing.services.keys() {
                    let target = Target::new(&routing, name)?;
                    let (m, s) = target.stats()?;
                    let share = seaway_migrator::route::control::percent_of(target.route.strategy, &m, &s);
                    for (i, row) in [&s, &m].into_iter().enumerate() {
                        let (n, strat, pct) = if i == 0 {
                            (name.as_str(), target.route.strategy.as_str(), format!("{share}%"))
                        } else {
                            ("", "", String::new())
                        };
                        let state = if row.check_status.is_empty() {
                            row.status.clone()
                        } else {
                            format!("{} {}", row.status, row.check_status.trim_start_matches('*'))
                        };
                        println!(
                            "{n:<12} {strat:<13} {pct:>5}  {:<9} {state:<11} {:>6} {:>4} {:>9} {:>6} {:>7}",
                            row.server, row.weight, row.current, row.responses, row.http_5xx, row.rtime_ms
                        );
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
    .await?
}

/// `migrator sync [status|drop]`.
async fn sync(
    config: &Config,
    action: Option<SyncAction>,
    no_copy: bool,
    chunk_size: usize,
    report: Option<&std::path::Path>,
    both: bool,
    hold: Option<cli::HoldWay>,
) -> anyhow::Result<ExitCode> {
    use seaway_migrator::sync::{self, Progress};
    match action {
        Some(SyncAction::Status) => {
            print!("{}", sync::status::status(config, both).await?);
            return Ok(ExitCode::SUCCESS);
        }
        Some(SyncAction::Drop) => {
            let dropped = sync::status::remove(config, both).await?;
            if dropped.is_empty() {
                println!("nothing to drop");
            }
            for what in dropped {
                println!("dropped {what}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    if hold.is_some()
        && !both
        && config.sync.direction != seaway_codegen::config::sync::Direction::Both
    {
        anyhow::bail!(
            "`--hold` holds one stream of a sync both ways, and {} syncs one way; add `--both`, or set `sync.direction: both` in it",
            config.path.display()
        );
    }
    let opts = sync::Options {
        copy: !no_copy,
        chunk_size: chunk_size.max(1),
        both,
        hold: hold.map(|w| match w {
            cli::HoldWay::There => sync::Way::There,
            cli::HoldWay::Back => sync::Way::Back,
        }),
        ..sync::Options::default()
    };
    let stop = stop_signal()?;
    let summary = sync::run(config, &opts, stop, &mut |p| match p {
        Progress::Started {
            name,
            kind,
            created,
            position,
            copying,
            held,
        } => {
            eprintln!(
                "sync {name}: {}{}; streaming (SIGINT or SIGTERM stops it)",
                match (created, position) {
                    (true, _) => format!("{kind} created"),
                    (false, Some(p)) => format!("resuming after {p}"),
                    (false, None) => format!("resuming from the {kind}'s start"),
                },
                if copying {
                    ", initial copy running"
                } else {
                    ""
                }
            );
            if !held.is_empty() {
                eprintln!(
                    "note: {} already held rows: the initial copy writes the source's rows over them, but a row the source no longer has stays; once the copy is done, `migrator verify --repair --delete-extra` removes such rows (or start from empty tables)",
                    held.join(", ")
                );
            }
        }
        Progress::Tick(r) => eprintln!(
            "sync {}: {} transactions, {} changes{}{}",
            r.name,
            r.transactions,
            r.changes,
            r.lag_ms
                .map(|l| format!(", lag {l:.0} ms"))
                .unwrap_or_default(),
            if r.copy_done { "" } else { ", copying" }
        ),
        Progress::CopyDone => eprintln!("sync: initial copy done"),
        Progress::SchemaApplied {
            table,
            column,
            migration,
        } => eprintln!(
            "sync: column `{column}` added to `{table}` at the source: applied to the destination as migration {migration}; streaming again from the destination's position"
        ),
    })
    .await?;
    println!(
        "sync {} stopped: {} transactions, {} changes applied ({:.0}/s), {} rows copied, through {}",
        summary.name,
        summary.transactions,
        summary.changes,
        summary.changes_per_second,
        summary.copied,
        summary.position.as_deref().unwrap_or("(nothing yet)")
    );
    let streams = std::iter::once(&summary).chain(summary.way_back.as_deref());
    for (i, s) in streams.enumerate() {
        if i > 0 {
            println!(
                "sync {} (the way back) stopped: {} transactions, {} changes applied ({:.0}/s), through {}",
                s.name,
                s.transactions,
                s.changes,
                s.changes_per_second,
                s.position.as_deref().unwrap_or("(nothing yet)")
            );
        }
        for t in &s.tables {
            println!(
                "  {}: {}, {} deleted",
                t.table,
                seaway_migrator::progress::written(&t.written),
                t.deleted
            );
        }
        if summary.way_back.is_some() {
            println!("  conflicts decided: {}", s.conflicts);
        }
    }
    if let Some(path) = report {
        write_report(path, &summary)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `migrator deploy`: writes (or with `check`, compares) the deployment files. Needs no
/// config: the files name connections through the environment.
fn deploy(
    out: &std::path::Path,
    image: &str,
    workers: u32,
    max_workers: u32,
    check: bool,
) -> anyhow::Result<ExitCode> {
    use seaway_migrator::deploy::{self, Options};
    let opts = Options {
        image: image.to_string(),
        workers,
        max_workers,
    };
    if check {
        let stale = deploy::stale(out, &opts)?;
        if stale.is_empty() {
            println!("{}: up to date", out.display());
            return Ok(ExitCode::SUCCESS);
        }
        for path in &stale {
            eprintln!("stale: {}", path.display());
        }
        eprintln!(
            "the deployment files differ from what `migrator deploy` renders: run `just deploy` and commit the result"
        );
        return Ok(ExitCode::from(1));
    }
    for path in deploy::write(out, &opts)? {
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed here, when called (before
/// the sync starts), not on first poll: a signal while the sync is still setting up
/// stops it cleanly too, instead of killing the process.
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

/// Writes a `--report` as JSON, atomically (temp file + rename): a reader, or the next
/// round of `verify --continuous`, never sees half a report, and a failed write leaves
/// the previous one.
fn write_report(path: &std::path::Path, report: &impl serde::Serialize) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(report).context("rendering the report")?;
    seaway_codegen::snapshot_io::write_all(&[seaway_codegen::snapshot_io::OutputFile {
        path: path.to_path_buf(),
        contents: json + "\n",
    }])
    .with_context(|| format!("writing the report {}", path.display()))?;
    Ok(())
}
