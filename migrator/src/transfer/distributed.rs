//! A transfer whose chunks many `migrator worker` processes share (`transfer
//! --distributed`): the planner plans the chunks as a plain run would, in the shared
//! PostgreSQL state store, hands them to the work queue (`lease::Queue`) and waits;
//! workers, each with its own config and connections (the store names connections,
//! never their URLs), take chunks under leases and copy them page by page through the
//! destination's fence (`leased.rs`). The job's totals are the fence rows' own, so a
//! chunk's rows are counted once whoever wrote them.

use super::leased::Guard;
use super::state::State;
use super::{Event, Job, Options, Progress, TableSpec, TransferError};
use crate::lease::{Fence, Lease};
use crate::rows::plan;
use crate::rows::source::Source;
use crate::rows::write::{Writer, Written};
use seaway_codegen::config::Config;
use seaway_codegen::model::{Column, Schema};
use seaway_codegen::target::Desired;
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// What a worker needs to run a job's chunks: connection names (resolved in the
/// worker's own config) and the run's options, never a URL or a password.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    pub source: String,
    pub destination: String,
    /// The transfer run in the state store whose chunks these are.
    pub run: i64,
    pub page_size: usize,
    pub on_error_stop: bool,
}

/// The queue's name for run `run`'s job.
pub fn job_name(run: i64) -> String {
    format!("transfer-{run}")
}

/// The PostgreSQL state store the config names (`transfer.state`), which a distributed
/// job needs: every worker must see the same chunks.
pub async fn store_pool(config: &Config) -> Result<(sqlx::PgPool, String), TransferError> {
    let Some(name) = &config.state else {
        return Err(TransferError::Distributed(
            "work shared by several processes needs a shared state store: set `transfer.state: <connection>` in seaway.yaml to a PostgreSQL connection that every worker can reach (docs/config.md)".into(),
        ));
    };
    let conn = &config.connections[name];
    let store = format!("in connection `{name}` ({})", conn.url.redacted());
    if !conn.url.dialect().holds_shared_state() {
        return Err(TransferError::Distributed(format!(
            "`transfer.state: {name}` is not a PostgreSQL connection; workers share their chunks through PostgreSQL (`FOR UPDATE SKIP LOCKED`), so name one"
        )));
    }
    let pool = seaway_codegen::inspect::connect::postgres(
        conn,
        &seaway_codegen::engine::postgres::search_path_of(conn),
    )
    .await?;
    Ok((pool, store))
}

/// What a worker holds open for one job: its plan and both connections, from the
/// worker's own config.
pub struct Session {
    config: Config,
    spec: Spec,
    job: String,
    opts: Options,
    desired: Desired,
    source_schema: Schema,
    source: Source,
    writer: Writer,
    dest_read: Source,
    /// `Job`'s lazily opened destination reader (compare-first; unused by workers).
    reader: tokio::sync::OnceCell<Source>,
    state: State,
    fence: Fence,
    /// The destination's connection, from the worker's config.
    dest_conn: seaway_codegen::config::Connection,
    /// The destination's engine.
    dialect: seaway_codegen::model::Dialect,
    store: String,
    rejects_dir: PathBuf,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("job", &self.job)
            .finish_non_exhaustive()
    }
}

/// How one leased chunk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every page is in: the chunk holds this many rows.
    Done(u64),
    /// Stopped between two pages (SIGTERM): the lease is to be released.
    Stopped,
}

impl Session {
    /// Opens job `job` (planned with `spec`) with the worker's `config`: the spec's
    /// connections must be the config's source and destination.
    pub async fn open(
        config: Config,
        job: &str,
        spec: Spec,
        pool: sqlx::PgPool,
        store: String,
    ) -> Result<Session, TransferError> {
        if spec.source != config.source || Some(&spec.destination) != config.destination.as_ref() {
            return Err(TransferError::Distributed(format!(
                "job `{job}` copies `{}` into `{}`, but this worker's config has source `{}` and destination `{}`; start the worker with the planner's seaway.yaml (its URLs may differ, e.g. through ${{VAR}}, the names may not)",
                spec.source,
                spec.destination,
                config.source,
                config.destination.as_deref().unwrap_or("(none)")
            )));
        }
        let (prepared, missing) = plan::prepare(&config, "worker").await?;
        if let Some(tables) = missing {
            return Err(TransferError::MissingTables {
                destination: prepared.dest_conn.name.clone(),
                tables,
            });
        }
        let dest_conn = prepared.dest_conn.clone();
        let (source_schema, desired) = (prepared.source_schema, prepared.desired);
        let source = Source::open(config.source_connection()).await?;
        let writer = Writer::open(&dest_conn).await?;
        let dest_read = Source::open(&dest_conn).await?;
        let fence = Fence::ensure(&writer).await?;
        let state = State::observe(super::state::Store::Postgres(pool), spec.run);
        let rejects_dir = config
            .path
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(".seaway")
            .join("rejects");
        let opts = Options {
            page_size: spec.page_size,
            on_error: if spec.on_error_stop {
                super::OnError::Stop
            } else {
                super::OnError::Reject
            },
            ..Options::default()
        };
        Ok(Session {
            config,
            job: job.to_string(),
            spec,
            opts,
            desired,
            source_schema,
            source,
            writer,
            dest_read,
            reader: tokio::sync::OnceCell::new(),
            state,
            fence,
            dialect: dest_conn.url.dialect(),
            dest_conn,
            store,
            rejects_dir,
        })
    }

    /// Copies leased chunk `lease` from where the destination says it got to, page by
    /// page, until done or `stop` is set (checked between pages).
    pub async fn run(
        &self,
        lease: &Lease,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Ended, TransferError> {
        let job = Job {
            config: &self.config,
            opts: &self.opts,
            desired: &self.desired,
            source_schema: &self.source_schema,
            source: &self.source,
            writer: &self.writer,
            state: &self.state,
            store: self.store.clone(),
            rejects_dir: self.rejects_dir.clone(),
            dest_conn: &self.dest_conn,
            reader: &self.reader,
            by_value: tokio::sync::OnceCell::new(),
            compare_opts: self.opts.compare_options(),
        };
        let name = lease.table.as_str();
        let plan = plan::TablePlan::new(name, &self.desired, &self.source_schema, &self.config)
            .map_err(|e| TransferError::Distributed(e.to_string()))?;
        let chunks = self
            .state
            .chunks(name)
            .await
            .map_err(|e| job.state_error(e))?
            .unwrap_or_default();
        let Some(mut chunk) = chunks.into_iter().find(|c| c.index == lease.index) else {
            return Err(TransferError::Distributed(format!(
                "job `{}`: run {} has no chunk {} of table `{name}` in the state store",
                self.job, self.spec.run, lease.index
            )));
        };
        let dialect = self.dialect;
        let held = Fence::position(&self.dest_read, dialect, &lease.job, name, lease.index)
            .await?
            .unwrap_or_default();
        self.fence.open_chunk(&self.writer, lease).await?;
        chunk.last_key = held.last_key;
        chunk.rows = i64::try_from(held.rows).unwrap_or(i64::MAX);
        let src_cols: Vec<&Column> = plan.src_cols.iter().collect();
        let key_cols: Vec<&Column> = plan.key_cols.iter().collect();
        let spec = TableSpec {
            name,
            source_table: &plan.source_table,
            src_cols: &src_cols,
            key_cols: &key_cols,
            targets: &plan.targets,
            masks: &plan.masks,
            filter: plan.filter.as_deref(),
            compare: None,
        };
        let progress = Progress {
            rows: Cell::new(held.rows),
            written: Cell::new(Written::default()),
            rejected: Cell::new(held.rejected),
            zero_dates: Cell::new(0),
            chunks_equal: Cell::new(0),
            rows_read: Cell::new(0),
            extra: Cell::new(0),
            bulk_loaded: Cell::new(0),
            events: RefCell::new(on_event),
        };
        let guard = Guard {
            fence: &self.fence,
            lease,
            stop,
        };
        if !job.leased_chunk(&spec, &chunk, guard, &progress).await? {
            return Ok(Ended::Stopped);
        }
        let held = Fence::position(&self.dest_read, dialect, &lease.job, name, lease.index)
            .await?
            .unwrap_or_default();
        Ok(Ended::Done(held.rows))
    }

    pub async fn close(self) {
        self.source.close().await;
        self.writer.close().await;
        self.dest_read.close().await;
    }
}
