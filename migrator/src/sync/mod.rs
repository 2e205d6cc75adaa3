//! `migrator sync`: keeps the destination in step with the source's changes, until
//! stopped. Each engine captures its changes in its home (`engine/<name>/capture.rs`)
//! into one change model (`change`); this module opens the capture, hands the initial
//! copy over to the stream (`copy`, DBLog's watermarks), applies source transactions in
//! commit order with the position in the same destination transaction (`apply`,
//! `position`), and reports where a sync stands (`status`).

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

pub mod apply;
pub mod both;
pub mod capture;
pub mod change;
mod copy;
pub mod described;
pub mod detect;
pub mod error;
mod fold;
pub mod position;
pub mod resolve;
pub mod slot;
pub mod source_url;
pub mod status;

pub use error::SyncError;

use crate::rows::load_order;
use crate::rows::plan::{self, TablePlan};
use crate::rows::source::Source;
use crate::rows::write::Writer;
use apply::{Applier, Route, TableCounts};
use capture::Capture;
use change::{Event, SelectedTable, Selection};
use seaway_codegen::config::Config;
use serde::Serialize;
use std::future::Future;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Options {
    /// Copy the selected tables first (handed over to the stream without gap or
    /// double); `false` (`--no-copy`) starts from now on a destination already loaded.
    pub copy: bool,
    /// Keys per copy chunk (one read between two watermarks).
    pub chunk_size: usize,
    /// Changes after which a batch of source transactions is committed even when more
    /// are waiting.
    pub batch_changes: u64,
    /// How long a batch may stay open while transactions keep coming.
    pub batch_wait: Duration,
    /// A batch whose newest source transaction committed less than this long ago is
    /// committed as soon as the stream has nothing more ready (latency first). One
    /// further behind waits for more, up to `batch_wait` (group commit): the stream is
    /// late, so an empty moment only means the next changes are still on their way, and
    /// fewer, larger destination transactions catch up sooner.
    pub eager_within: Duration,
    /// Both ways (`--both`; also `sync.direction: both` in the config): checked by
    /// `both::check`, which refuses what is not built.
    pub both: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            copy: true,
            chunk_size: 5_000,
            batch_changes: 5_000,
            batch_wait: Duration::from_millis(50),
            eager_within: Duration::from_millis(10),
            both: false,
        }
    }
}

/// What a run did, printed at the end and written by `--report`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub source: String,
    pub destination: String,
    /// The slot (or equivalent) and publication name.
    pub name: String,
    pub transactions: u64,
    pub changes: u64,
    pub changes_per_second: f64,
    /// Rows the initial copy wrote in this run.
    pub copied: u64,
    pub copy_done: bool,
    /// The source position applied through.
    pub position: Option<String>,
    /// Source commit to destination commit of the last batch, and the largest seen.
    pub lag_ms: Option<f64>,
    pub max_lag_ms: Option<f64>,
    pub seconds: f64,
    pub tables: Vec<TableCounts>,
}

/// What a running sync reports as it goes.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Streaming begins (`created`: what sync keeps on the source, `kind`, was made now),
    /// resuming after `position`.
    Started {
        name: &'a str,
        kind: &'a str,
        created: bool,
        position: Option<&'a str>,
        copying: bool,
    },
    /// A few seconds' worth of progress.
    Tick(&'a Report),
    /// The initial copy finished.
    CopyDone,
    /// A column added at the source was applied to the destination by `migration`; the
    /// stream restarts from the destination's position.
    SchemaApplied {
        table: &'a str,
        column: &'a str,
        migration: &'a str,
    },
}

/// The selection and routes of a sync: every selected table with its plan, in load
/// order, refusing tables without a key.
fn routes(prepared: &plan::Prepared<'_>, config: &Config) -> Result<Vec<Route>, SyncError> {
    let mut routes = Vec::new();
    for name in load_order(&prepared.desired.schema) {
        let plan = TablePlan::new(&name, &prepared.desired, &prepared.source_schema, config)?;
        if plan.append_only {
            return Err(SyncError::NoKey(plan.source_table));
        }
        routes.push(Route::new(plan));
    }
    Ok(routes)
}

fn selection(routes: &[Route], config: &Config) -> Selection {
    Selection {
        zero_dates: config.zero_dates,
        tables: routes
            .iter()
            .map(|r| SelectedTable {
                source_table: r.plan.source_table.clone(),
                columns: r.plan.src_cols.clone(),
                key: r
                    .plan
                    .key_cols
                    .iter()
                    .filter_map(|k| r.plan.src_cols.iter().position(|c| c.name == k.name))
                    .collect(),
                filter: r.plan.filter.clone(),
            })
            .collect(),
    }
}

/// Runs a sync until `stop` resolves (SIGINT/SIGTERM in the binary) or an error stops
/// it; a stop commits the batch in hand (or abandons a half-received source
/// transaction, which the next run receives again) and closes the stream.
///
/// A column added to a selected source table (PostgreSQL reports it in the stream,
/// before the first change that carries it) is planned and applied to the destination
/// as `codegen diff` and `migrator apply` would; the batch in hand is rolled back and the
/// stream restarts from the destination's position with the new column in the plan, so
/// every change is still applied once. Any other schema change stops the sync with an
/// error naming it.
pub async fn run(
    config: &Config,
    opts: &Options,
    stop: impl Future<Output = ()>,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Report, SyncError> {
    if opts.both || config.sync.direction == seaway_codegen::config::sync::Direction::Both {
        both::check(config)?;
    }
    tokio::pin!(stop);
    let mut done: Option<Report> = None;
    loop {
        let mut report = None;
        match run_once(config, opts, &mut stop, on_progress, &mut report).await {
            Err(SyncError::ColumnAdded { table, column }) => {
                if let Some(r) = report {
                    done = Some(merged(done, r));
                }
                let migration = evolve(config, &table, &column).await?;
                on_progress(Progress::SchemaApplied {
                    table: &table,
                    column: &column,
                    migration: &migration,
                });
            }
            Err(e) => return Err(e),
            Ok(()) => {
                let report = report.ok_or_else(|| SyncError::Destination {
                    destination: String::new(),
                    what: "the run".into(),
                    reason: "ended without a report".into(),
                })?;
                return Ok(merged(done, report));
            }
        }
    }
}

/// `earlier`'s counts added to `later`'s (runs before a schema change restarted the
/// stream).
fn merged(earlier: Option<Report>, mut later: Report) -> Report {
    let Some(earlier) = earlier else {
        return later;
    };
    later.transactions += earlier.transactions;
    later.changes += earlier.changes;
    later.copied += earlier.copied;
    later.seconds += earlier.seconds;
    later.changes_per_second = if later.seconds > 0.0 {
        later.changes as f64 / later.seconds
    } else {
        0.0
    };
    later.max_lag_ms = match (earlier.max_lag_ms, later.max_lag_ms) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    for t in earlier.tables {
        match later.tables.iter_mut().find(|l| l.table == t.table) {
            Some(l) => {
                l.written += t.written;
                l.deleted += t.deleted;
                l.copied += t.copied;
            }
            None => later.tables.push(t),
        }
    }
    later
}

/// Plans and applies the destination's side of a column added at the source, as
/// `codegen diff` then `migrator apply` would (the migration file is written beside the
/// others); returns the migration's name. Refuses when diff plans nothing for it.
async fn evolve(config: &Config, table: &str, column: &str) -> Result<String, SyncError> {
    let refuse = |why: String| SyncError::SchemaChange {
        table: table.to_string(),
        change: format!("column `{column}` was added at the source, and {why}"),
    };
    let outcome = seaway_codegen::migrations::next::next(config)
        .await
        .map_err(|e| refuse(format!("planning it failed: {e}")))?;
    let Some(name) = outcome.migration_name.clone() else {
        let skipped: Vec<String> = outcome.skipped.iter().map(|d| d.to_string()).collect();
        return Err(refuse(format!(
            "`codegen diff` plans no change for it{}",
            if skipped.is_empty() {
                String::new()
            } else {
                format!(" ({})", skipped.join("; "))
            }
        )));
    };
    seaway_codegen::snapshot_io::write_all(&outcome.files)
        .map_err(|e| refuse(format!("writing the migration failed: {e}")))?;
    let options = crate::apply::ApplyOptions {
        sections: crate::apply::SectionChoice::All,
        dry_run: false,
        lock_timeout: None,
    };
    crate::apply::apply(config, &options, &mut |_| {})
        .await
        .map_err(|e| refuse(format!("applying migration {name} failed: {e}")))?;
    Ok(name)
}

/// One stream from the destination's position until stopped, an error, or a column
/// added at the source (`SyncError::ColumnAdded`); `out` receives the run's report.
async fn run_once(
    config: &Config,
    opts: &Options,
    stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    on_progress: &mut dyn FnMut(Progress<'_>),
    out: &mut Option<Report>,
) -> Result<(), SyncError> {
    let started = Instant::now();
    let stage = seaway_codegen::stage::prepare(config, "sync").await?;
    let missing = stage.missing_tables();
    if !missing.is_empty() {
        return Err(SyncError::MissingTables {
            destination: stage.destination.name.clone(),
            tables: missing.join(", "),
        });
    }
    // A column the source gained since the destination was last migrated (before this
    // run, or while a previous one was stopped) is applied first, as during a run.
    for (name, table) in &stage.desired.schema.tables {
        let Some(have) = stage.actual.tables.get(name) else {
            continue;
        };
        if let Some(column) = table
            .columns
            .iter()
            .find(|c| have.column(&c.name).is_none())
        {
            return Err(SyncError::ColumnAdded {
                table: stage.desired.origins[name].source_table.clone(),
                column: column.name.clone(),
            });
        }
    }
    let prepared = plan::Prepared {
        dest_conn: stage.destination,
        source_schema: stage.source,
        desired: stage.desired,
    };
    let dest_conn = prepared.dest_conn;
    let source_conn = config.source_connection();
    let routes = routes(&prepared, config)?;
    let selection = selection(&routes, config);
    let known: Vec<Vec<String>> = routes
        .iter()
        .map(|r| {
            prepared.source_schema.tables[&r.plan.source_table]
                .columns
                .iter()
                .map(|c| c.name.clone())
                .collect()
        })
        .collect();
    let source = Source::open(source_conn).await?;
    let setup = capture::Setup::check(source_conn, dest_conn, &source, &selection).await?;
    let writer = Writer::open(dest_conn).await?;
    let dest_read = Source::open(dest_conn).await?;
    let dest_err = |what: &str, e: sqlx::Error| SyncError::Destination {
        destination: dest_conn.name.clone(),
        what: what.to_string(),
        reason: dest_conn.url.scrub(&e.to_string()),
    };
    let name = setup.name().to_string();
    let dialect = dest_conn.url.dialect();
    let stored = position::read(&dest_read, dialect, &name)
        .await
        .map_err(|e| dest_err("reading the sync position", e))?;
    if let Some(p) = stored.as_ref().and_then(|s| s.position.as_ref()) {
        let kept = setup.slot(&source).await?;
        if !kept.exists {
            return Err(SyncError::SlotLost {
                kind: kept.kind,
                slot: name.clone(),
                position: p.0.clone(),
            });
        }
    }
    position::ensure(&writer, &name, !opts.copy)
        .await
        .map_err(|e| dest_err("creating the sync position table", e))?;
    let stored = match stored {
        Some(s) => s,
        None => position::read(&dest_read, dialect, &name)
            .await
            .map_err(|e| dest_err("reading the sync position", e))?
            .unwrap_or_default(),
    };
    dest_read.close().await;
    let created = setup.prepare(&source, &selection).await?;
    let mut capture =
        Capture::open(&setup, &source, &selection, known, stored.position.as_ref()).await?;
    on_progress(Progress::Started {
        name: &name,
        kind: setup.kind(),
        created,
        position: stored.position.as_ref().map(|p| p.0.as_str()),
        copying: !stored.copy.done,
    });
    let mut copy = (!stored.copy.done)
        .then(|| copy::Copy::resume(&routes, &stored.copy, opts.chunk_size, config.zero_dates));
    let scrub_url = dest_conn.url.clone();
    let mut applier = Applier::new(
        &writer,
        config,
        &routes,
        &name,
        stored.copy.clone(),
        Box::new(move |t| scrub_url.scrub(t)),
    );
    let mut report = Report {
        source: source_conn.name.clone(),
        destination: dest_conn.name.clone(),
        name: name.clone(),
        transactions: 0,
        changes: 0,
        changes_per_second: 0.0,
        copied: 0,
        copy_done: stored.copy.done,
        position: stored.position.as_ref().map(|p| p.0.clone()),
        lag_ms: None,
        max_lag_ms: None,
        seconds: 0.0,
        tables: Vec::new(),
    };
    let result = stream(
        &mut capture,
        &mut applier,
        &mut copy,
        &setup,
        &source,
        opts,
        stop,
        &mut report,
        on_progress,
    )
    .await;
    if result.is_err() {
        applier.abandon().await;
    }
    capture.close().await;
    setup.close().await;
    report.tables = applier.counts.clone();
    report.copied = report.tables.iter().map(|t| t.copied).sum();
    report.seconds = started.elapsed().as_secs_f64();
    report.changes_per_second = if report.seconds > 0.0 {
        report.changes as f64 / report.seconds
    } else {
        0.0
    };
    drop(applier);
    writer.close().await;
    source.close().await;
    *out = Some(report);
    result
}

/// The loop: events in, batches out, chunks of the copy in between.
#[expect(
    clippy::too_many_arguments,
    reason = "the loop's state, kept in one place"
)]
async fn stream(
    capture: &mut Capture,
    applier: &mut Applier<'_>,
    copy: &mut Option<copy::Copy>,
    setup: &capture::Setup,
    source: &Source,
    opts: &Options,
    stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    report: &mut Report,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(), SyncError> {
    let mut in_transaction = false;
    let mut last_tick = Instant::now();
    loop {
        if let Some(c) = copy.as_mut()
            && !in_transaction
        {
            c.start_chunk(setup, source).await?;
        }
        let wait = if !applier.pending() || in_transaction {
            Duration::from_millis(500)
        } else if applier.behind() < opts.eager_within {
            Duration::ZERO
        } else {
            opts.batch_wait.saturating_sub(applier.batch_age())
        };
        let event = tokio::select! {
            biased;
            () = stop.as_mut() => break,
            event = capture.next(wait) => event?,
        };
        match event {
            None => {
                if !in_transaction && applier.pending() {
                    commit(capture, applier, report).await?;
                } else {
                    confirm(capture, applier, false).await?;
                }
            }
            Some(Event::Begin { .. }) => in_transaction = true,
            Some(Event::Change(change)) => {
                if let Some(c) = copy.as_mut() {
                    c.seen(&change);
                }
                applier.change(change).await?;
            }
            Some(Event::Watermark { mark, chunk }) => {
                if let Some(c) = copy.as_mut()
                    && c.mark(mark, chunk, applier).await?
                {
                    *copy = None;
                    report.copy_done = true;
                    on_progress(Progress::CopyDone);
                }
            }
            Some(Event::Commit {
                position,
                commit_micros,
            }) => {
                in_transaction = false;
                applier.commit_seen(position, commit_micros);
                if applier.batch_changes() >= opts.batch_changes
                    || applier.batch_age() >= opts.batch_wait
                {
                    commit(capture, applier, report).await?;
                }
            }
            Some(Event::Idle { position }) => {
                if !in_transaction {
                    if applier.pending() {
                        commit(capture, applier, report).await?;
                    } else if applier.undurable() {
                        confirm(capture, applier, false).await?;
                    } else if let Some(p) = position {
                        // Nothing of ours before it is unapplied or not yet durable: the
                        // source may let go of its WAL (other tables' changes would
                        // otherwise pin it).
                        capture.confirm(&p);
                    }
                }
            }
        }
        if last_tick.elapsed() >= Duration::from_secs(5) {
            last_tick = Instant::now();
            report.tables = applier.counts.clone();
            on_progress(Progress::Tick(report));
        }
    }
    // Stopped: the batch in hand is committed if it ends on a source commit; a source
    // transaction received only in part is left for the next run.
    if in_transaction {
        applier.abandon().await;
    } else {
        commit(capture, applier, report).await?;
    }
    // The source is told what the destination has on disk before the stream closes; a
    // PostgreSQL destination's log writer flushes within its `wal_writer_delay` (200 ms
    // by default). What is still not confirmed then is received again by the next run,
    // which skips what the destination holds.
    let deadline = Instant::now() + Duration::from_secs(2);
    confirm(capture, applier, true).await?;
    while applier.undurable() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        confirm(capture, applier, true).await?;
    }
    Ok(())
}

/// Confirms to the source the newest position that is durable in the destination
/// (`Applier::durable`; `now`: ask the destination's log at once).
async fn confirm(
    capture: &mut Capture,
    applier: &mut Applier<'_>,
    now: bool,
) -> Result<(), SyncError> {
    if let Some(p) = applier.durable(now).await? {
        capture.confirm(&p);
    }
    Ok(())
}

/// Commits the open batch, and confirms to the source what is durable.
async fn commit(
    capture: &mut Capture,
    applier: &mut Applier<'_>,
    report: &mut Report,
) -> Result<(), SyncError> {
    if let Some(done) = applier.commit().await? {
        report.transactions += done.transactions;
        report.changes += done.changes;
        report.position = Some(done.position.0.clone());
        let lag = (done.applied_micros - done.commit_micros) as f64 / 1000.0;
        report.lag_ms = Some(lag);
        report.max_lag_ms = Some(report.max_lag_ms.map_or(lag, |m| m.max(lag)));
    }
    confirm(capture, applier, false).await
}
