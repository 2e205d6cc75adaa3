//! One stream: from the destination's position (the initial copy handed over first,
//! unless done), events in from the capture, batches out through the applier, until
//! stopped, an error, or a column added at the source.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use super::apply::{Applier, Route};
use super::capture::{self, Capture};
use super::change::{Event, SelectedTable, Selection};
use super::error::SyncError;
use super::options::{BothStream, Options, Progress, Report};
use super::{both, copy, position, receive};
use crate::rows::load_order;
use crate::rows::plan::{self, TablePlan};
use crate::rows::source::Source;
use crate::rows::write::Writer;
use seaway_codegen::config::Config;
use std::future::Future;
use std::time::{Duration, Instant};

/// The selection and routes of a sync: every selected table with its plan, in load
/// order, refusing tables without a key.
pub(crate) fn routes(
    prepared: &plan::Prepared<'_>,
    config: &Config,
) -> Result<Vec<Route>, SyncError> {
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
        old_rows: false,
        incoming: None,
        edit_order: None,
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

/// One stream from the destination's position until stopped, an error, or a column
/// added at the source (`SyncError::ColumnAdded`); `out` receives the run's report.
pub(crate) async fn run_once(
    config: &Config,
    opts: &Options,
    both: Option<&BothStream>,
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
        actual: stage.actual,
    };
    let dest_conn = prepared.dest_conn;
    let source_conn = config.source_connection();
    let routes = routes(&prepared, config)?;
    let mut selection = selection(&routes, config);
    selection.old_rows = both.is_some();
    selection.incoming = both.map(|b| b.other.clone());
    // The stream that decides reads the side that does not: where that side is MySQL,
    // its capture places the side's local edits in its commit order (`edit_order.rs`).
    selection.edit_order = both
        .filter(|b| b.tell.is_some())
        .map(|b| b.edit_order.clone());
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
    if opts.copy
        && let Some(cycle) =
            crate::rows::order::blocked_first_load(&prepared, &source, source_conn).await?
    {
        return Err(SyncError::ForeignKeyCycle(cycle.refusal(&dest_conn.name)));
    }
    let setup = capture::Setup::check(source_conn, dest_conn, &source, &selection).await?;
    let dest_read = Source::open(dest_conn).await?;
    let dest_err = |what: &str, e: sqlx::Error| SyncError::Destination {
        destination: dest_conn.name.clone(),
        what: what.to_string(),
        reason: dest_conn.url.scrub(&e.to_string()),
    };
    // Both ways: the stream applies in one session under its origin (which one session
    // at a time may hold), and asks how far the log is flushed on another.
    let (writer, marks, receiving) = match both {
        None => (Writer::open(dest_conn).await?, None, None),
        Some(b) => {
            let receiving = both::receiving(
                b,
                &routes,
                &prepared.actual,
                &setup,
                &dest_read,
                dest_conn,
                config,
            )
            .await
            .map_err(|e| match e {
                both::Failed::Sync(e) => e,
                both::Failed::Sql(e) => dest_err("preparing the sync both ways", e),
            })?;
            (
                Writer::open_session(
                    dest_conn,
                    crate::engine::postgres::both::origin_setup(&b.origin),
                )
                .await?,
                Some(Writer::open(dest_conn).await?),
                Some(receiving),
            )
        }
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
    // Asked before the capture opens (its stream would wait unread meanwhile), and only
    // for a sync that has never applied anything: later, a table may hold what sync
    // itself wrote.
    let held = if stored.position.is_none() && !stored.copy.done {
        held_tables(&writer, &routes)
            .await
            .map_err(|e| dest_err("looking for rows in the destination's tables", e))?
    } else {
        Vec::new()
    };
    let created = setup.prepare(&source, &selection).await?;
    let mut capture = Capture::open(
        &setup,
        &source,
        &selection,
        known,
        stored.position.as_ref(),
        both.map(|b| b.skip_origin.as_str()),
    )
    .await?;
    on_progress(Progress::Started {
        name: &name,
        kind: setup.kind(),
        created,
        position: stored.position.as_ref().map(|p| p.0.as_str()),
        copying: !stored.copy.done,
        held: &held,
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
    applier.marks = marks.as_ref();
    applier.receiver = receiving.map(receive::Receiver::new);
    let mut report = Report::idle(&name, &source_conn.name, &dest_conn.name, false);
    report.copy_done = stored.copy.done;
    report.position = stored.position.as_ref().map(|p| p.0.clone());
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
    if let Some(r) = &applier.receiver {
        report.conflicts = r.conflict_count;
        report.conflict_log = r.conflicts.clone();
    }
    report.copied = report.tables.iter().map(|t| t.copied).sum();
    report.seconds = started.elapsed().as_secs_f64();
    report.changes_per_second = if report.seconds > 0.0 {
        report.changes as f64 / report.seconds
    } else {
        0.0
    };
    drop(applier);
    writer.close().await;
    if let Some(m) = marks {
        m.close().await;
    }
    source.close().await;
    *out = Some(report);
    result
}

/// The destination tables that hold rows, of those the copy writes.
async fn held_tables(writer: &Writer, routes: &[Route]) -> Result<Vec<String>, sqlx::Error> {
    let mut held = Vec::new();
    for route in routes {
        if !writer.is_empty(&route.plan.name).await? {
            held.push(route.plan.name.clone());
        }
    }
    Ok(held)
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
            Some(Event::Begin { xid }) => {
                in_transaction = true;
                if let Some(c) = copy.as_mut() {
                    c.begin(&xid);
                }
            }
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
                clock_step_micros,
            }) => {
                in_transaction = false;
                applier.commit_seen(position, commit_micros, clock_step_micros);
                if applier.batch_changes() >= opts.batch_changes
                    || applier.batch_age() >= opts.batch_wait
                {
                    commit(capture, applier, report).await?;
                }
            }
            Some(Event::Told(told)) => applier.told(told).await?,
            Some(Event::Truncate { tables }) => {
                // During the copy a chunk read before the TRUNCATE could land after it;
                // a sync both ways judges rows, not whole tables.
                if copy.is_some() || applier.receiver.is_some() {
                    let names: Vec<&str> = tables
                        .iter()
                        .map(|&t| applier.routes()[t].plan.source_table.as_str())
                        .collect();
                    return Err(SyncError::Unsupported {
                        table: names.join(", "),
                        what: "TRUNCATE at the source during the initial copy or in a sync both ways, which sync does not carry (one way, after the copy, it does). Truncate the destination's table(s) too, then run `migrator sync drop` and start sync again (its initial copy brings every table as the source holds it)".into(),
                    });
                }
                applier.truncate(&tables).await?;
            }
            Some(Event::Idle { position }) => {
                // A heartbeat does not end an open batch: the walsender sends one each
                // time it has sent all the log written so far, that is after nearly
                // every source transaction under a steady load, and those heartbeats
                // sit in the backlog between the transactions. Committing at each made
                // batches of one source transaction exactly when the stream was behind,
                // and it never caught up. The batch is committed as any other: when
                // nothing more is ready, or it is full or old enough.
                if !in_transaction && !applier.pending() {
                    if applier.undurable() {
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
