//! A transfer run as a job of the work queue: `transfer --distributed` plans it and waits
//! for the workers; a plain `transfer` on a PostgreSQL state store plans it (or finds the
//! running job of the same transfer and joins it) and works it in this process through
//! the worker loop (`crate::worker`). Apart from `distributed.rs`, which holds what a
//! worker opens for a job, so the worker imports that and this imports the worker, with
//! no import circle.

use super::distributed::{Spec, job_name, store_pool};
use super::state::State;
use super::{Event, Job, Options, Report, TableReport, TransferError};
use crate::lease::{Fence, Planned, Queue};
use crate::rows::source::Source;
use crate::rows::write::{Writer, Written};
use crate::rows::{load_order, plan};
use seaway_codegen::config::Config;
use seaway_codegen::model::{Column, Dialect};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `migrator transfer --distributed`: plans the run's chunks (or resumes its unfinished
/// run), hands them to the work queue, and waits until workers have copied them all;
/// then finishes the tables (sequences) and reports what the destination holds.
pub async fn plan_and_wait(
    config: &Config,
    opts: &Options,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Report, TransferError> {
    match share(config, opts, None, on_event).await? {
        Shared::Done(report) => Ok(report),
        Shared::Refused(why) => Err(TransferError::Distributed(format!(
            "{why}; run this config without --distributed"
        ))),
    }
}

/// Whether a plain `migrator transfer` (no `--distributed`) runs as a job of the work
/// queue that other runs can join (`transfer_or_join`): with a PostgreSQL state store
/// (`transfer.state`), into a server destination, and without `--delete-extra`. An
/// SQLite destination is one file on one machine, and keeps the single-process run; so
/// does the SQLite state file.
pub fn shares(config: &Config, opts: &Options) -> bool {
    let store_is_postgres = config.state.as_ref().is_some_and(|name| {
        config
            .connections
            .get(name)
            .is_some_and(|c| c.url.dialect().holds_shared_state())
    });
    // Every engine named: a new one decides here whether its destinations are shared.
    let dest_is_server =
        config
            .destination_connection("transfer")
            .is_ok_and(|c| match c.url.dialect() {
                Dialect::Postgres | Dialect::Mysql => true,
                Dialect::Sqlite => false,
            });
    store_is_postgres && dest_is_server && !opts.delete_extra
}

/// `migrator transfer` on a PostgreSQL state store ([`shares`]): the run is a job of the
/// work queue, worked here with `--workers` slots. A second run of the same transfer
/// started while the first's job is still running finds the job and joins it as a
/// worker instead of copying everything again, and both finish when the job completes,
/// each reporting the job's totals (the fence's, each chunk counted once). A config the
/// queue cannot share (an append-only or incremental table, `--since`) runs as a plain
/// single-process transfer.
pub async fn transfer_or_join(
    config: &Config,
    opts: &Options,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Report, TransferError> {
    let slots = u32::try_from(opts.workers.max(1)).unwrap_or(u32::MAX);
    match share(config, opts, Some(slots), on_event).await? {
        Shared::Done(report) => Ok(report),
        Shared::Refused(why) => {
            tracing::debug!("not shared through the work queue: {why}");
            super::transfer(config, opts, on_event).await
        }
    }
}

/// How a shared run ended.
enum Shared {
    Done(Report),
    /// The config cannot be shared between processes (why); nothing was planned.
    Refused(String),
}

/// Why table `name` cannot be shared between workers, if it cannot: its rows are
/// copied as one window replaced all at once (append-only, no key to resume by), or
/// incrementally (a watermark window read at the start of the run).
fn unshareable(config: &Config, opts: &Options, plan: &plan::TablePlan) -> Option<String> {
    let incremental = (opts.since.is_some()
        || config.transfer_mode == seaway_codegen::config::TransferMode::Incremental)
        && config
            .mappings
            .get(&plan.source_table)
            .and_then(|m| m.watermark.as_deref())
            .is_some();
    let how = if plan.append_only {
        "append-only (it has no primary key, so its rows go as one window replaced all at once, which cannot be resumed part-way by another process)"
    } else if incremental {
        "incrementally (a window of its watermark column, read once at the start of the run)"
    } else {
        return None;
    };
    Some(format!(
        "table `{}` is copied {how}, so its chunks cannot be shared between processes yet",
        plan.name
    ))
}

/// Plans the run as a job of the work queue (or joins the job of the same unfinished
/// run), works it with `slots` in-process worker slots if given, and waits until the
/// job is complete; then finishes the tables and reports the job's totals.
async fn share(
    config: &Config,
    opts: &Options,
    slots: Option<u32>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Shared, TransferError> {
    let started = Instant::now();
    if opts.since.is_some() {
        return Ok(Shared::Refused(
            "--since (an incremental run) cannot be shared between processes yet".into(),
        ));
    }
    let (pool, store) = store_pool(config).await?;
    let queue = Queue::open(pool.clone()).await?;
    let (prepared, missing) = plan::prepare(config, "transfer").await?;
    if let Some(tables) = missing {
        return Err(TransferError::MissingTables {
            destination: prepared.dest_conn.name.clone(),
            tables,
        });
    }
    let dest_conn = prepared.dest_conn;
    let order = load_order(&prepared.desired.schema);
    let mut plans = Vec::new();
    for name in &order {
        let plan =
            match plan::TablePlan::new(name, &prepared.desired, &prepared.source_schema, config) {
                Ok(plan) => plan,
                // A plain run reports such a table and goes on with the others.
                Err(e) if slots.is_some() => return Ok(Shared::Refused(e.to_string())),
                Err(e) => return Err(TransferError::Distributed(e.to_string())),
            };
        if let Some(why) = unshareable(config, opts, &plan) {
            return Ok(Shared::Refused(why));
        }
        plans.push(plan);
    }
    let source = Source::open(config.source_connection()).await?;
    if let Some(cycle) =
        crate::rows::order::blocked_first_load(&prepared, &source, config.source_connection())
            .await?
    {
        return Err(TransferError::ForeignKeyCycle(
            cycle.refusal(&dest_conn.name),
        ));
    }
    let writer = Writer::open(dest_conn).await?;
    // Two runs of one transfer started at once must find one run and one job: the run
    // is opened (resumed or started) and its job planned under a lock of the pair.
    let mut planning = pool.begin().await.map_err(|source| TransferError::State {
        store: store.clone(),
        source,
    })?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!(
            "seaway transfer {} -> {}",
            config.source, dest_conn.name
        ))
        .execute(&mut *planning)
        .await
        .map_err(|source| TransferError::State {
            store: store.clone(),
            source,
        })?;
    let state = State::open_postgres(pool, &config.source, &dest_conn.name, opts.restart)
        .await
        .map_err(|source| TransferError::State {
            store: store.clone(),
            source,
        })?;
    let reader = tokio::sync::OnceCell::new();
    let job = Job {
        config,
        opts,
        desired: &prepared.desired,
        source_schema: &prepared.source_schema,
        source: &source,
        writer: &writer,
        state: &state,
        store: store.clone(),
        rejects_dir: PathBuf::new(),
        dest_conn,
        reader: &reader,
        by_value: tokio::sync::OnceCell::new(),
        compare_opts: opts.compare_options(),
    };
    let mut chunks = Vec::new();
    for (stage, plan) in plans.iter().enumerate() {
        let name = &plan.name;
        let planned = match state.chunks(name).await.map_err(|e| job.state_error(e))? {
            Some(c) => c,
            None => {
                let keys: Vec<&Column> = plan.key_cols.iter().collect();
                let ranges = job
                    .ranges(&plan.source_table, &keys, plan.filter.as_deref())
                    .await?;
                state
                    .plan(name, &ranges)
                    .await
                    .map_err(|e| job.state_error(e))?
            }
        };
        // Tables load in order, as `transfer` loads them: a table's chunks wait for every
        // chunk of the tables before it (foreign keys).
        let stage = i32::try_from(stage).unwrap_or(i32::MAX);
        chunks.extend(planned.iter().map(|c| Planned {
            table: name.clone(),
            index: c.index,
            stage,
        }));
    }
    Fence::ensure(&writer).await?;
    let name = job_name(state.run);
    let spec = Spec {
        source: config.source.clone(),
        destination: dest_conn.name.clone(),
        run: state.run,
        page_size: opts.page_size,
        on_error_stop: opts.on_error == super::OnError::Stop,
    };
    let spec_json = serde_json::to_string(&spec).unwrap_or_default();
    let new = queue.plan(&name, &spec_json, &chunks).await?;
    planning.commit().await.map_err(|e| job.state_error(e))?;
    on_event(Event::Distributed {
        job: &name,
        chunks: chunks.len(),
        joined: !new,
        slots,
    });
    let dest_read = Source::open(dest_conn).await?;
    let dialect = dest_conn.url.dialect();
    // Waits for the workers; the queue is polled, as the workers' own progress is.
    let waiting = async {
        let mut last = None;
        loop {
            let depth = queue.depth(&name).await?;
            if last.as_ref() != Some(&depth) {
                on_event(Event::Queue(&depth));
                last = Some(depth.clone());
            }
            // A failed chunk holds back the stages after it: once nothing runs, waiting
            // longer changes nothing.
            if depth.running == 0 && (depth.pending == 0 || depth.failed > 0) {
                if depth.failed > 0 {
                    let failures = queue.failures(&name).await?;
                    let listed: Vec<String> = failures
                        .iter()
                        .map(|(t, i, e)| format!("`{t}` chunk {i}: {e}"))
                        .collect();
                    return Err(TransferError::Distributed(format!(
                        "job `{name}`: {} chunk(s) failed three times ({}); fix the cause, retry them from the dashboard or API, and run `migrator transfer --distributed` again to wait for the job",
                        failures.len(),
                        listed.join("; ")
                    )));
                }
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    match slots {
        None => waiting.await?,
        Some(slots) => {
            // This process works the job too, as a worker limited to it, until the job
            // is complete (or fails, or the worker's own setup does).
            let (done, stop) = tokio::sync::oneshot::channel::<()>();
            let worker_opts = crate::worker::Options {
                slots,
                job: Some(name.clone()),
                ..crate::worker::Options::default()
            };
            let mut quiet = |_: crate::worker::Event<'_>| {};
            let work = crate::worker::run(
                config.clone(),
                &worker_opts,
                async move {
                    let _ = stop.await;
                },
                &mut quiet,
            );
            tokio::pin!(work, waiting);
            tokio::select! {
                waited = &mut waiting => {
                    drop(done);
                    let worked = work.await;
                    waited?;
                    worked?;
                }
                worked = &mut work => {
                    worked?;
                    waiting.await?;
                }
            }
        }
    }
    let totals = Fence::totals(&dest_read, dialect, &name).await?;
    let mut tables = Vec::new();
    for plan in &plans {
        writer
            .finish_table(&plan.name, &plan.targets)
            .await
            .map_err(|e| TransferError::Read {
                table: plan.name.clone(),
                reason: dest_conn.url.scrub(&e.to_string()),
            })?;
        let held = totals
            .iter()
            .find(|(t, _)| *t == plan.name)
            .map(|(_, h)| h.clone())
            .unwrap_or_default();
        let report = TableReport {
            table: plan.name.clone(),
            source_table: plan.source_table.clone(),
            rows: held.rows,
            written: Written::default(),
            rejected: held.rejected,
            zero_dates: 0,
            // Workers write every page through the fence; nothing is compared first.
            comparison: "none",
            chunks: chunks.iter().filter(|c| c.table == plan.name).count() as u64,
            chunks_equal: 0,
            rows_read: 0,
            extra: 0,
            deleted: 0,
            bulk_loaded: 0,
            seconds: started.elapsed().as_secs_f64(),
            error: None,
        };
        on_event(Event::TableDone(&report));
        tables.push(report);
    }
    state.finish().await.map_err(|e| job.state_error(e))?;
    Fence.close(&writer, &name).await?;
    queue.forget(&name).await?;
    dest_read.close().await;
    source.close().await;
    writer.close().await;
    state.close().await;
    let seconds = started.elapsed().as_secs_f64();
    let rows: u64 = tables.iter().map(|t| t.rows).sum();
    Ok(Shared::Done(Report {
        job: Some(name.clone()),
        source: config.source.clone(),
        destination: dest_conn.name.clone(),
        resumed: !new,
        written: Written::default(),
        rejected: tables.iter().map(|t| t.rejected).sum(),
        zero_dates: 0,
        chunks: tables.iter().map(|t| t.chunks).sum(),
        chunks_equal: 0,
        rows_read: 0,
        extra: 0,
        deleted: 0,
        bulk_loaded: 0,
        rows_per_second: if seconds > 0.0 {
            rows as f64 / seconds
        } else {
            0.0
        },
        rows,
        seconds,
        tables,
    }))
}
