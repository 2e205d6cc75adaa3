//! A sync both ways, run: the way there and the way back, each one stream
//! (`stream::run_once`) with its [`BothStream`], until stopped or either fails.

use super::both::way_back;
use super::error::SyncError;
use super::options::{BothStream, Options, Progress, Report, Way};
use super::resolve::Side;
use super::side_types::origin_name;
use crate::engine::postgres::both as pg;
use crate::rows::plan::{self, TablePlan};
use seaway_codegen::config::Config;
use std::future::Future;

/// How one stream waits for the other and tells it that it streams.
struct Order<'a> {
    /// Sent `true` once this stream streams (its capture is in place).
    streaming: Option<&'a tokio::sync::watch::Sender<bool>>,
    /// Waited for (`true`) before this stream starts.
    after: Option<tokio::sync::watch::Receiver<bool>>,
}

/// One of the two streams, until `stopped` says so; an error tells the other to stop.
async fn one_stream(
    config: &Config,
    opts: &Options,
    stream: &BothStream,
    stopped: tokio::sync::watch::Receiver<bool>,
    stopping: &tokio::sync::watch::Sender<bool>,
    progress: &std::cell::RefCell<&mut dyn FnMut(Progress<'_>)>,
    order: Order<'_>,
) -> (Result<(), SyncError>, Option<Report>) {
    if let Some(mut after) = order.after {
        let mut stop = stopped.clone();
        tokio::select! {
            _ = after.wait_for(|s| *s) => {}
            _ = stop.wait_for(|s| *s) => return (Ok(()), None),
        }
    }
    let mut watching = stopped.clone();
    let until = async move {
        let _ = watching.wait_for(|s| *s).await;
    };
    tokio::pin!(until);
    let mut tell = |p: Progress<'_>| {
        if let (Progress::Started { .. }, Some(s)) = (&p, order.streaming) {
            let _ = s.send(true);
        }
        (progress.borrow_mut())(p)
    };
    let mut retries = 0;
    loop {
        let mut report = None;
        let started = std::time::Instant::now();
        let result = super::stream::run_once(
            config,
            opts,
            Some(stream),
            &mut until,
            &mut tell,
            &mut report,
        )
        .await;
        // A side both ways is written by its application too, so its server may pick
        // the stream's transaction as a deadlock's victim: the batch was rolled back
        // whole, and the stream starts again from the position it stored.
        if let Err(e) = &result
            && transient(e)
            && !*stopped.borrow()
        {
            retries = if started.elapsed() > RETRY_WINDOW {
                1
            } else {
                retries + 1
            };
            if retries <= MAX_RETRIES {
                tracing::warn!(stream = %stream.other, "retrying after: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(20 * retries)).await;
                continue;
            }
        }
        if result.is_err() {
            let _ = stopping.send(true);
        }
        return (result, report);
    }
}

/// Consecutive restarts after transient errors (each within [`RETRY_WINDOW`] of the
/// last) before the stream gives up.
const MAX_RETRIES: u64 = 20;
const RETRY_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether the error is a deadlock or lock wait the server resolved by rolling the
/// stream's transaction back (MySQL/MariaDB 1213 and 1205, PostgreSQL 40P01 and
/// 40001, SQLite's "busy" 5 and 517, which it answers at once where waiting could
/// deadlock): nothing was applied, and trying again is what the server asks. Told by
/// the server's code in the message, which is all the stream's error keeps of it.
fn transient(e: &SyncError) -> bool {
    let text = e.to_string();
    [
        "1213 (40001)",
        "1205 (HY000)",
        "40P01",
        "(code: 40001)",
        "(code: 5)",
        "(code: 517)",
    ]
    .iter()
    .any(|code| text.contains(code))
}

/// Runs a sync both ways until `stop` resolves or either stream fails (which stops the
/// other): the way there (source to destination, with the initial copy unless
/// `--no-copy`) and the way back (destination to source, from now), each applying under
/// its own replication origin and dropping what the other applied. The report is the
/// way there's, with the way back's in `way_back`.
///
/// A column added to a selected table at the source stops both streams; it is planned
/// and applied to the destination as one way (`sync::evolve`), and both start again with
/// it. A column added at the destination only is refused: the source is where the
/// schema is planned (its snapshot and migrations), and it reaches the destination from
/// there.
pub async fn run(
    config: &Config,
    opts: &Options,
    stop: impl Future<Output = ()>,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Report, SyncError> {
    tokio::pin!(stop);
    let mut done: Option<Report> = None;
    loop {
        match run_pair(config, opts, &mut stop, on_progress).await? {
            Ran::Stopped(report) => return Ok(merged_both(done, *report)),
            Ran::SourceColumn {
                table,
                column,
                report,
            } => {
                let migration = super::evolve::evolve(config, &table, &column).await?;
                (on_progress)(Progress::SchemaApplied {
                    table: &table,
                    column: &column,
                    migration: &migration,
                });
                done = Some(merged_both(done, *report));
            }
        }
    }
}

/// `earlier`'s counts added to `later`'s, the way back's (`way_back`) too.
fn merged_both(earlier: Option<Report>, mut later: Report) -> Report {
    let Some(mut earlier) = earlier else {
        return later;
    };
    let back = match (earlier.way_back.take(), later.way_back.take()) {
        (Some(e), Some(l)) => Some(Box::new(super::evolve::merged(Some(*e), *l))),
        (e, l) => l.or(e),
    };
    let mut report = super::evolve::merged(Some(earlier), later);
    report.way_back = back;
    report
}

/// How one run of the two streams ended.
enum Ran {
    /// Stopped: the way there's report, with the way back's in `way_back`.
    Stopped(Box<Report>),
    /// A column was added at the source: both streams stopped for it.
    SourceColumn {
        table: String,
        column: String,
        report: Box<Report>,
    },
}

/// The two streams once, until `stop`, an error, or a column added at the source.
async fn run_pair(
    config: &Config,
    opts: &Options,
    stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Ran, SyncError> {
    let source = config.source_connection();
    let destination = config
        .destination_connection("sync")
        .map_err(SyncError::BothWaysConfig)?;
    // Each side takes the other's changes under a replication origin: a role that may
    // not use them is refused before either stream starts (or creates anything).
    for conn in [source, destination] {
        let side = crate::rows::source::Source::open(conn).await?;
        let lacking = match side.postgres() {
            Some(pool) => pg::lacks_origin_rights(pool).await,
            None => Ok(None),
        };
        side.close().await;
        let lacking = lacking.map_err(|e| SyncError::Source {
            connection: conn.name.clone(),
            what: "reading the role's rights on replication origins".into(),
            reason: conn.url.scrub(&e.to_string()),
        })?;
        if let Some(role) = lacking {
            return Err(SyncError::BothWaysPrivilege {
                connection: conn.name.clone(),
                endpoint: conn.url.endpoint().unwrap_or("?").to_string(),
                what: format!(
                    "role `{role}` may not use replication origins, under which a sync both ways applies the other side's changes there"
                ),
                fix: format!(
                    "GRANT EXECUTE ON FUNCTION pg_replication_origin_create(text), pg_replication_origin_session_setup(text), pg_replication_origin_drop(text) TO \"{}\"; (as a superuser), or connect as a superuser",
                    role.replace('"', "\"\"")
                ),
            });
        }
    }
    let stage = seaway_codegen::stage::prepare(config, "sync").await?;
    let prepared = plan::Prepared {
        dest_conn: stage.destination,
        source_schema: stage.source,
        desired: stage.desired,
        actual: stage.actual,
    };
    let forward: Vec<TablePlan> = super::stream::routes(&prepared, config)?
        .into_iter()
        .map(|r| r.plan)
        .collect();
    let back = way_back(config, &forward.iter().collect::<Vec<_>>())?;
    let there_name = super::capture::stream_name(source, destination);
    let back_name = super::capture::stream_name(destination, source);
    // The source decides (the way back, which receives the destination's changes,
    // tells the way there); the destination asks.
    let edit_order = std::sync::Arc::new(super::edit_order::EditOrder::default());
    let there = BothStream {
        side: Side::Destination,
        origin: origin_name(&there_name),
        skip_origin: origin_name(&back_name),
        other: back_name.clone(),
        tell: None,
        ask: Some(back_name.clone()),
        edit_order: edit_order.clone(),
        forward: forward.clone(),
    };
    let back_stream = BothStream {
        side: Side::Source,
        origin: origin_name(&back_name),
        skip_origin: origin_name(&there_name),
        other: there_name.clone(),
        tell: Some(there_name.clone()),
        ask: None,
        edit_order,
        forward,
    };
    let back_opts = Options {
        copy: false,
        both: false,
        ..opts.clone()
    };
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let progress = std::cell::RefCell::new(on_progress);
    // A held stream is not run: it ends at once with an empty report of its own.
    let held = |way: Way, name: &str, from: &str, to: &str| {
        (opts.hold == Some(way)).then(|| Report::idle(name, from, to, true))
    };
    let held_there = held(Way::There, &there_name, &source.name, &destination.name);
    let held_back = held(Way::Back, &back_name, &destination.name, &source.name);
    // The way there starts once the way back streams: the destination's changes are
    // captured from then on, so none made after the copy (or while it runs) is missed.
    let (back_streaming, back_started) = tokio::sync::watch::channel(held_back.is_some());
    let both = async {
        tokio::join!(
            async {
                match held_there.clone() {
                    Some(r) => (Ok(()), Some(r)),
                    None => {
                        one_stream(
                            config,
                            opts,
                            &there,
                            stopped.clone(),
                            &stopping,
                            &progress,
                            Order {
                                streaming: None,
                                after: Some(back_started.clone()),
                            },
                        )
                        .await
                    }
                }
            },
            async {
                match held_back.clone() {
                    Some(r) => (Ok(()), Some(r)),
                    None => {
                        one_stream(
                            &back,
                            &back_opts,
                            &back_stream,
                            stopped.clone(),
                            &stopping,
                            &progress,
                            Order {
                                streaming: Some(&back_streaming),
                                after: None,
                            },
                        )
                        .await
                    }
                }
            }
        )
    };
    tokio::pin!(both);
    let ((r1, there_report), (r2, back_report)) = tokio::select! {
        done = &mut both => done,
        () = &mut *stop => {
            let _ = stopping.send(true);
            both.await
        }
    };
    // Stopped before the way back streamed, the way there never started.
    let mut report = there_report
        .unwrap_or_else(|| Report::idle(&there_name, &source.name, &destination.name, false));
    report.way_back = Some(Box::new(back_report.unwrap_or_else(|| {
        Report::idle(&back_name, &destination.name, &source.name, false)
    })));
    match (r1, r2) {
        (Err(e), _) | (_, Err(e)) if !matches!(e, SyncError::ColumnAdded { .. }) => Err(e),
        (_, Err(SyncError::ColumnAdded { table, column })) => Err(SyncError::SchemaChange {
            table,
            change: format!(
                "column `{column}` was added at the destination only; in a sync both ways the source is where the schema is planned: add it at the source (its migration), and sync carries it to the destination, or drop it at the destination, then start the sync again"
            ),
        }),
        (Err(SyncError::ColumnAdded { table, column }), _) => Ok(Ran::SourceColumn {
            table,
            column,
            report: Box::new(report),
        }),
        _ => Ok(Ran::Stopped(Box::new(report))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_error(reason: &str) -> SyncError {
        SyncError::Stream {
            connection: "`dst`".into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn lock_refusals_are_tried_again_and_other_errors_are_not() {
        for reason in [
            "error returned from database: 1213 (40001): Deadlock found when trying to get lock",
            "error returned from database: (code: 5) database is locked",
            "error returned from database: (code: 517) database is locked",
            "error returned from database: 40P01: deadlock detected",
        ] {
            assert!(transient(&stream_error(reason)), "{reason}");
        }
        for reason in [
            "error returned from database: (code: 19) UNIQUE constraint failed",
            "error returned from database: (code: 50) something else",
            "error returned from database: 1146 (42S02): Table 'x' doesn't exist",
        ] {
            assert!(!transient(&stream_error(reason)), "{reason}");
        }
    }
}
