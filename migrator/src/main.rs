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
        /// Keys per chunk: integer keys split by range, other keys at sampled keys. A chunk
        /// is the unit of parallel work and of the fast first-load path.
        #[arg(long, default_value_t = 100_000, value_name = "KEYS")]
        chunk_size: i64,
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
    /// Compare the destination's rows with the source's (after mappings): per table, row
    /// counts and a checksum per key-range chunk; differing chunks are diffed to the row.
    /// Exit 0 when identical, 1 when anything differs, 2 on error.
    Verify {
        /// Chunks of a table checked at the same time.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Keys per chunk (tables with a single integer key; others are one chunk).
        #[arg(long, default_value_t = 10_000, value_name = "KEYS")]
        chunk_size: i64,
        /// Rows per read [default: 20000, or one more than --chunk-size if larger].
        #[arg(long, value_name = "ROWS")]
        page_size: Option<usize>,
        /// Show the differing values (they may be sensitive); otherwise only keys and
        /// column names.
        #[arg(long)]
        show_values: bool,
        /// At most this many differing rows listed per table (counts stay exact).
        #[arg(long, default_value_t = 1000, value_name = "ROWS")]
        max_listed: usize,
        /// Also write the report as JSON to this file.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Re-send missing and changed rows through the transfer writer (extra rows are
        /// only reported, unless --delete-extra).
        #[arg(long)]
        repair: bool,
        /// With --repair: delete the destination's extra rows.
        #[arg(long, requires = "repair")]
        delete_extra: bool,
        /// Key ranges a differing range is split into when the databases compute the
        /// checksums (PostgreSQL and MySQL/MariaDB, single integer keys).
        #[arg(long, default_value_t = 8, value_name = "N")]
        bisection_factor: usize,
        /// A differing range of at most this many rows is read and diffed row by row.
        #[arg(long, default_value_t = 256, value_name = "ROWS")]
        bisection_threshold: usize,
        /// Check again every --interval seconds, until stopped (or --checks runs).
        #[arg(long)]
        continuous: bool,
        /// Seconds between two checks with --continuous.
        #[arg(
            long,
            default_value_t = 300,
            value_name = "SECONDS",
            requires = "continuous"
        )]
        interval: u64,
        /// With --continuous: alert (and exit 1, unless --keep-going) when the consistency
        /// of a check falls below this percentage.
        #[arg(long, value_name = "PERCENT", requires = "continuous")]
        alert_below: Option<f64>,
        /// With --continuous: log alerts and errors and go on checking.
        #[arg(long, requires = "continuous")]
        keep_going: bool,
        /// With --continuous: stop after this many checks.
        #[arg(long, value_name = "N", requires = "continuous")]
        checks: Option<u64>,
    },
    /// Move traffic between the monolith and a generated service through HAProxy's admin
    /// socket (`codegen route` writes the config; `routing:` in seaway.yaml).
    Route {
        #[command(subcommand)]
        action: RouteAction,
    },
}

#[derive(Debug, Subcommand)]
enum RouteAction {
    /// Send PERCENT of the service's paths to it (0 drains it: clients pinned by a sticky
    /// cookie stay until `rollback`). blue_green services take 0 or 100 only.
    Set {
        service: String,
        #[arg(value_parser = clap::value_parser!(u8).range(0..=100))]
        percent: u8,
    },
    /// Step the service up to --to percent, --step points every --every; each step is
    /// watched, and the service is rolled back to 0% (exit 1) when its health check
    /// fails, its error rate passes --max-error-rate or its average response time
    /// passes --max-response-ms.
    Shift {
        service: String,
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
        to: u8,
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=100))]
        step: u8,
        /// How long each step is held and watched: 500ms, 30s, 5m, 1h.
        #[arg(long, default_value = "5m", value_parser = seaway_migrator::route::shift::parse_duration)]
        every: Duration,
        /// Percent of the service's requests in a step that may fail (5xx, refused or
        /// broken connections).
        #[arg(long, default_value_t = 1.0, value_name = "PERCENT")]
        max_error_rate: f64,
        /// Largest acceptable average response time of the service.
        #[arg(long, value_name = "MS")]
        max_response_ms: Option<u64>,
        /// Requests a step must see before its error rate is judged.
        #[arg(long, default_value_t = 20, value_name = "N")]
        min_requests: u64,
    },
    /// Take the service out at once: every request, sticky ones included, goes to the
    /// monolith; requests in flight at the service finish.
    Rollback { service: String },
    /// Show each routed service's share, its servers' states, checks, requests and errors.
    Status,
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
            chunk_size,
            since,
            on_error,
            report,
        } => {
            use seaway_migrator::transfer::{self, Options};
            let opts = Options {
                restart,
                page_size: page_size.max(1),
                workers: workers.max(1),
                chunk_span: chunk_size.max(1),
                since,
                on_error,
            };
            let mut display = seaway_migrator::progress::Display::new();
            let summary =
                transfer::transfer(&config, &opts, &mut |event| display.event(&event)).await;
            display.finish();
            let summary = summary?;
            println!(
                "transferred {} rows into `{}` ({}) in {:.2} s ({:.0} rows/s){}{}",
                summary.rows,
                summary.destination,
                seaway_migrator::progress::written(&summary.written),
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
            let mut alerted = false;
            let mut round = 0u64;
            loop {
                round += 1;
                match verify_once(&config, &opts, report.as_deref()).await {
                    Ok(summary) => {
                        if let Some(threshold) = alert_below
                            && summary.consistency < threshold
                        {
                            eprintln!(
                                "ALERT: consistency {:.4}% is below {threshold}% (check {round})",
                                summary.consistency
                            );
                            alerted = true;
                            if !keep_going {
                                return Ok(ExitCode::from(1));
                            }
                        }
                    }
                    Err(e) if keep_going => eprintln!("error: check {round}: {e:#}"),
                    Err(e) => return Err(e),
                }
                if checks.is_some_and(|n| round >= n) {
                    return Ok(if alerted {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    });
                }
                tokio::time::sleep(Duration::from_secs(interval)).await;
            }
        }
        Command::Status => {
            print!("{}", apply::status(&config).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Route { action } => route(&config, action).await,
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

/// One verify run: each table's line as it finishes, then the differences and the
/// summary; the JSON report too when asked.
async fn verify_once(
    config: &Config,
    opts: &seaway_migrator::verify::Options,
    report: Option<&std::path::Path>,
) -> anyhow::Result<seaway_migrator::verify::Report> {
    use seaway_migrator::verify::{self, Kind};
    let summary = verify::verify(config, opts, &mut |t| match &t.error {
        Some(e) => eprintln!("{}: FAILED: {e}", t.table),
        None => println!(
            "{:<24} {:>10} rows {:>9.4}% consistent  {}",
            t.table,
            t.rows_checked,
            t.consistency,
            if t.differs() {
                format!(
                    "{} missing, {} extra, {} changed",
                    t.missing, t.extra, t.changed
                )
            } else {
                "identical".to_string()
            }
        ),
    })
    .await?;
    /// Differences printed per table; the JSON report has up to --max-listed.
    const SHOWN: usize = 20;
    for t in summary.tables.iter().filter(|t| t.differs()) {
        println!("\n{} (source `{}`):", t.table, t.source_table);
        for d in t.differences.iter().take(SHOWN) {
            let key: Vec<String> = d
                .key
                .iter()
                .map(|k| k.clone().unwrap_or_else(|| "NULL".into()))
                .collect();
            let kind = match d.kind {
                Kind::Missing => "missing in destination",
                Kind::Extra => "extra in destination",
                Kind::Changed => "changed",
            };
            let columns = if d.columns.is_empty() {
                String::new()
            } else {
                format!(": {}", d.columns.join(", "))
            };
            if key.is_empty() {
                // A table without a key (append_only): its rows have no name.
                println!("  a row {kind}");
            } else {
                println!("  key ({}) {kind}{columns}", key.join(", "));
            }
            for v in d.values.iter().flatten() {
                println!(
                    "    {}: source {}, destination {}",
                    v.column,
                    shown(v.source.as_deref()),
                    shown(v.destination.as_deref())
                );
            }
        }
        let total = (t.missing + t.extra + t.changed) as usize;
        if total > SHOWN {
            println!("  ... and {} more (see --report)", total - SHOWN);
        }
        if opts.repair {
            println!(
                "  repaired {} row(s), deleted {} extra row(s)",
                t.repaired, t.deleted
            );
        }
    }
    let (missing, extra, changed) = summary.tables.iter().fold((0, 0, 0), |acc, t| {
        (acc.0 + t.missing, acc.1 + t.extra, acc.2 + t.changed)
    });
    println!(
        "verified {} rows in {} tables of `{}` against `{}` in {:.2} s: {}",
        summary.rows_checked,
        summary.tables.len(),
        summary.destination,
        summary.source,
        summary.seconds,
        if summary.identical {
            "identical".to_string()
        } else {
            format!(
                "{missing} missing, {extra} extra, {changed} changed, {} failed (consistency {:.4}%){}",
                summary.tables.iter().filter(|t| t.error.is_some()).count(),
                summary.consistency,
                if opts.repair {
                    "; repaired: run verify again to confirm"
                } else {
                    ""
                }
            )
        }
    );
    if let Some(path) = report {
        let json = serde_json::to_string_pretty(&summary).context("rendering the report")?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("writing the report {}", path.display()))?;
    }
    Ok(summary)
}

/// A value for the terminal: quoted, or NULL.
fn shown(v: Option<&str>) -> String {
    v.map_or_else(|| "NULL".to_string(), |v| format!("{v:?}"))
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
