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
mod both_run;
pub mod capture;
pub mod change;
mod copy;
pub mod described;
pub mod detect;
pub mod edit_order;
pub mod error;
mod evolve;
mod fold;
pub mod options;
pub mod position;
pub mod read_view;
pub mod receive;
pub mod resolve;
mod side;
mod side_tables;
pub mod side_types;
pub mod slot;
pub mod source_url;
pub mod status;
mod stream;

pub use error::SyncError;

pub use options::{BothStream, Options, Progress, Report, Way};
use seaway_codegen::config::Config;
use std::future::Future;

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
        return both_run::run(config, opts, stop, on_progress).await;
    }

    tokio::pin!(stop);
    let mut done: Option<Report> = None;
    loop {
        let mut report = None;
        match stream::run_once(config, opts, None, &mut stop, on_progress, &mut report).await {
            Err(SyncError::ColumnAdded { table, column }) => {
                if let Some(r) = report {
                    done = Some(evolve::merged(done, r));
                }
                let migration = evolve::evolve(config, &table, &column).await?;
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
                return Ok(evolve::merged(done, report));
            }
        }
    }
}
