//! What each kind of job does (transfer, verify, apply, schema, and a `/migrate` run),
//! through the stages' public entry points, reporting each table's progress to the
//! job's writer; and how a stored job is planned again after a restart or for a retry.

use super::spec::{JobKind, JobRequest};
use super::store::{JobRow, TableRow};
use crate::apply::SectionChoice;
use crate::transfer;
use seaway_codegen::config::Config;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Page updates of one table are passed on at most this often.
const UPDATE_EVERY: Duration = Duration::from_millis(250);

/// How a job's run ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Succeeded,
    Failed(String),
    Cancelled,
    /// Stopped by a shutdown; still `running` in the store.
    Interrupted,
}

/// What a job thread tells the writer.
#[derive(Debug)]
pub(super) enum Update {
    Table(TableRow),
    Finished(Outcome),
}

/// What a job runs with, decided when it is started.
#[derive(Debug)]
pub struct Plan {
    pub kind: JobKind,
    pub request: JobRequest,
    /// The config the job runs with (for `/migrate`, with its inline connections: held
    /// in memory only).
    pub config: Config,
    /// Start over (a new job) or resume the pair's unfinished run (a restart, a retry).
    pub restart: bool,
    /// A `/migrate` run's scratch project (its migration files and transfer state),
    /// removed when the job's thread is done with it.
    pub workdir: Option<tempfile::TempDir>,
}

/// Leaves these source tables out of the plan's transfer (a retry's finished tables).
pub fn skip_source_tables(plan: &mut Plan, tables: &[&str]) -> Result<(), String> {
    for t in tables {
        plan.config
            .tables
            .exclude
            .push(seaway_codegen::config::Pattern::literal(t)?);
    }
    Ok(())
}

/// The plan to resume a stored job with: its request against the server's config.
pub fn plan_of(job: &JobRow, base: &Config) -> Result<Plan, String> {
    let request: JobRequest = serde_json::from_str(&job.spec)
        .map_err(|e| format!("its stored request no longer parses ({e})"))?;
    let config = request.config(base).map_err(|p| p.detail)?;
    Ok(Plan {
        kind: request.kind,
        request,
        config,
        restart: false,
        workdir: None,
    })
}

/// Each table's progress, passed on to the writer at most every [`UPDATE_EVERY`].
#[derive(Debug)]
pub struct Progress<'a> {
    tx: &'a mpsc::UnboundedSender<Update>,
    tables: HashMap<String, (TableRow, Instant)>,
}

impl Progress<'_> {
    fn send(&mut self, table: &str, force: bool, change: impl FnOnce(&mut TableRow)) {
        let now = Instant::now();
        let (row, last) = self.tables.entry(table.to_string()).or_insert_with(|| {
            (
                TableRow {
                    tbl: table.to_string(),
                    state: "running".into(),
                    ..TableRow::default()
                },
                now - UPDATE_EVERY,
            )
        });
        change(row);
        if force || now.duration_since(*last) >= UPDATE_EVERY {
            *last = now;
            let _ = self.tx.send(Update::Table(row.clone()));
        }
    }
}

pub(super) async fn run(plan: &Plan, tx: &mpsc::UnboundedSender<Update>) -> Outcome {
    let mut progress = Progress {
        tx,
        tables: HashMap::new(),
    };
    match plan.kind {
        JobKind::Transfer => run_transfer(plan, &mut progress).await,
        JobKind::Migrate => run_migrate(plan, &mut progress).await,
        JobKind::Verify => {
            let defaults = crate::verify::Options::default();
            let chunk = plan.request.chunk_size.unwrap_or(defaults.chunk_span);
            let opts = crate::verify::Options {
                workers: plan
                    .request
                    .workers
                    .map_or(defaults.workers, |w| w as usize),
                chunk_span: chunk,
                page_size: plan.request.batch_size.map_or_else(
                    || {
                        defaults
                            .page_size
                            .max(usize::try_from(chunk).unwrap_or(0).saturating_add(1))
                    },
                    |b| b as usize,
                ),
                ..defaults
            };
            let result = crate::verify::verify(&plan.config, &opts, &mut |t| {
                progress.send(&t.table, true, |row| {
                    row.source_table = Some(t.source_table.clone());
                    row.state = if t.error.is_some() { "failed" } else { "done" }.into();
                    row.rows_done = t.rows_checked as i64;
                    row.rows_total = Some(t.source_rows as i64);
                    row.rejected = (t.missing + t.extra + t.changed) as i64;
                    row.chunks = t.chunks as i64;
                    row.error = t.error.clone();
                });
            })
            .await;
            match result {
                Err(e) => Outcome::Failed(scrub(&plan.config, &e.to_string())),
                Ok(report) => {
                    let names = |keep: fn(&crate::verify::TableReport) -> bool| {
                        report
                            .tables
                            .iter()
                            .filter(|t| keep(t))
                            .map(|t| t.table.as_str())
                            .collect::<Vec<_>>()
                    };
                    let failed = names(|t| t.error.is_some());
                    let differing = names(crate::verify::TableReport::differs);
                    if !failed.is_empty() {
                        Outcome::Failed(format!("verify failed for {}", failed.join(", ")))
                    } else if !differing.is_empty() {
                        Outcome::Failed(format!(
                            "the destination differs from the source in {}",
                            differing.join(", ")
                        ))
                    } else {
                        Outcome::Succeeded
                    }
                }
            }
        }
        JobKind::Apply => match apply(&plan.config, SectionChoice::All).await {
            Ok(()) => Outcome::Succeeded,
            Err(o) => o,
        },
        JobKind::Schema => match diff_and_apply(&plan.config, SectionChoice::All).await {
            Ok(()) => Outcome::Succeeded,
            Err(o) => o,
        },
    }
}

/// Applies the destination's pending migrations of `sections`.
pub async fn apply(config: &Config, sections: SectionChoice) -> Result<(), Outcome> {
    let options = crate::apply::ApplyOptions {
        sections,
        dry_run: false,
        lock_timeout: None,
    };
    crate::apply::apply(config, &options, &mut |_| {})
        .await
        .map(drop)
        .map_err(|e| Outcome::Failed(scrub(config, &e.to_string())))
}

/// `codegen diff` (the next migration, written beside the config's others, as `just
/// diff` writes it), then applies `sections` of what is pending.
pub async fn diff_and_apply(config: &Config, sections: SectionChoice) -> Result<(), Outcome> {
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        Outcome::Failed(scrub(config, &format!("{what}: {e}")))
    };
    let outcome = seaway_codegen::migrations::next::next(config)
        .await
        .map_err(|e| failed("comparing the schemas", &e))?;
    seaway_codegen::snapshot_io::write_all(&outcome.files)
        .map_err(|e| failed("writing the migration", &e))?;
    apply(config, sections).await
}

/// A transfer's progress event as table rows.
pub fn transfer_event(progress: &mut Progress<'_>, event: transfer::Event<'_>) {
    match event {
        transfer::Event::Started { .. }
        | transfer::Event::Distributed { .. }
        | transfer::Event::Queue(_) => {}
        transfer::Event::TableStarted {
            table,
            chunks,
            rows,
            done,
        } => progress.send(table, true, |row| {
            row.state = "running".into();
            row.chunks = chunks as i64;
            row.rows_total = rows.map(|r| r as i64);
            row.rows_done = done as i64;
            row.error = None;
        }),
        transfer::Event::Page { table, rows } => {
            progress.send(table, false, |row| row.rows_done = rows as i64)
        }
        transfer::Event::TableDone(report) => progress.send(&report.table, true, |row| {
            row.state = if report.error.is_some() {
                "failed"
            } else {
                "done"
            }
            .into();
            row.rows_done = report.rows as i64;
            row.rejected = report.rejected as i64;
            row.error = report.error.clone();
            row.source_table = Some(report.source_table.clone());
        }),
        // Jobs never pass --delete-extra, so nothing is deleted after the tables.
        transfer::Event::Deleted { .. } => {}
    }
}

async fn run_transfer(plan: &Plan, progress: &mut Progress<'_>) -> Outcome {
    let defaults = transfer::Options::default();
    let opts = transfer::Options {
        restart: plan.restart,
        page_size: plan
            .request
            .batch_size
            .map_or(defaults.page_size, |b| b as usize),
        chunk_span: plan.request.chunk_size.unwrap_or(defaults.chunk_span),
        workers: plan
            .request
            .workers
            .map_or(defaults.workers, |w| w as usize),
        ..defaults
    };
    let result =
        transfer::transfer(&plan.config, &opts, &mut |e| transfer_event(progress, e)).await;
    transfer_outcome(&plan.config, result)
}

/// A transfer's result as the job's outcome: failed when the run or any table failed.
pub fn transfer_outcome(
    config: &Config,
    result: Result<transfer::Report, transfer::TransferError>,
) -> Outcome {
    match result {
        Err(e) => Outcome::Failed(scrub(config, &e.to_string())),
        Ok(report) => {
            let failed: Vec<String> = report
                .tables
                .iter()
                .filter_map(|t| Some(format!("{}: {}", t.table, t.error.as_deref()?)))
                .collect();
            if failed.is_empty() {
                Outcome::Succeeded
            } else {
                Outcome::Failed(format!(
                    "{} table(s) failed (retry copies only those): {}",
                    failed.len(),
                    failed.join("; ")
                ))
            }
        }
    }
}

/// A message with every configured connection's password removed.
pub fn scrub(config: &Config, text: &str) -> String {
    config
        .connections
        .values()
        .fold(text.to_string(), |t, c| c.url.scrub(&t))
}

/// A `/migrate` run on the job's thread: the destination's schema from the source
/// (`codegen diff`, into the scratch project), its pre-data section, the rows, then its
/// post-data section (indexes, foreign keys).
pub async fn run_migrate(plan: &Plan, progress: &mut Progress<'_>) -> Outcome {
    let config = &plan.config;
    if let Err(o) = diff_and_apply(config, SectionChoice::PreData).await {
        return o;
    }
    let opts = crate::transfer::Options {
        restart: true,
        ..crate::transfer::Options::default()
    };
    let result =
        crate::transfer::transfer(config, &opts, &mut |e| transfer_event(progress, e)).await;
    let copied = transfer_outcome(config, result);
    if !matches!(copied, Outcome::Succeeded) {
        return copied;
    }
    match apply(config, SectionChoice::PostData).await {
        Ok(()) => Outcome::Succeeded,
        Err(o) => o,
    }
}
