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

/// One of the two streams, until `stopped` says so; an error tells the other to stop.
async fn one_stream(
    config: &Config,
    opts: &Options,
    stream: &BothStream,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    stopping: &tokio::sync::watch::Sender<bool>,
    progress: &std::cell::RefCell<&mut dyn FnMut(Progress<'_>)>,
) -> (Result<(), SyncError>, Option<Report>) {
    let until = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    tokio::pin!(until);
    let mut report = None;
    let mut tell = |p: Progress<'_>| (progress.borrow_mut())(p);
    let result = super::stream::run_once(
        config,
        opts,
        Some(stream),
        &mut until,
        &mut tell,
        &mut report,
    )
    .await;
    if result.is_err() {
        let _ = stopping.send(true);
    }
    (result, report)
}

/// Runs a sync both ways until `stop` resolves or either stream fails (which stops the
/// other): the way there (source to destination, with the initial copy unless
/// `--no-copy`) and the way back (destination to source, from now), each applying under
/// its own replication origin and dropping what the other applied. The report is the
/// way there's, with the way back's in `way_back`.
pub async fn run(
    config: &Config,
    opts: &Options,
    stop: impl Future<Output = ()>,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Report, SyncError> {
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
    };
    let forward: Vec<TablePlan> = super::stream::routes(&prepared, config)?
        .into_iter()
        .map(|r| r.plan)
        .collect();
    let back = way_back(config, &forward.iter().collect::<Vec<_>>())?;
    let there_name = super::capture::stream_name(source, destination);
    let back_name = super::capture::stream_name(destination, source);
    let there = BothStream {
        side: Side::Destination,
        origin: origin_name(&there_name),
        skip_origin: origin_name(&back_name),
        other: back_name.clone(),
        tell: None,
        ask: Some(back_name.clone()),
        forward: forward.clone(),
    };
    let back_stream = BothStream {
        side: Side::Source,
        origin: origin_name(&back_name),
        skip_origin: origin_name(&there_name),
        other: there_name.clone(),
        tell: Some(there_name.clone()),
        ask: None,
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
        (opts.hold == Some(way)).then(|| Report::held(name, from, to))
    };
    let held_there = held(Way::There, &there_name, &source.name, &destination.name);
    let held_back = held(Way::Back, &back_name, &destination.name, &source.name);
    let both = async {
        tokio::join!(
            async {
                match held_there.clone() {
                    Some(r) => (Ok(()), Some(r)),
                    None => {
                        one_stream(config, opts, &there, stopped.clone(), &stopping, &progress)
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
                        )
                        .await
                    }
                }
            }
        )
    };
    tokio::pin!(both);
    tokio::pin!(stop);
    let ((r1, there_report), (r2, back_report)) = tokio::select! {
        done = &mut both => done,
        () = &mut stop => {
            let _ = stopping.send(true);
            both.await
        }
    };
    for r in [r1, r2] {
        match r {
            Ok(()) => {}
            Err(SyncError::ColumnAdded { table, column }) => {
                return Err(SyncError::SchemaChange {
                    table,
                    change: format!(
                        "column `{column}` is on one side only; a sync both ways does not add columns itself yet: add it to the other side too (`codegen diff` and `migrator apply` one way), then start the sync again"
                    ),
                });
            }
            Err(e) => return Err(e),
        }
    }
    let missing = || SyncError::Destination {
        destination: String::new(),
        what: "the run".into(),
        reason: "ended without a report".into(),
    };
    let mut report = there_report.ok_or_else(missing)?;
    report.way_back = Some(Box::new(back_report.ok_or_else(missing)?));
    Ok(report)
}
