//! `migrator transfer`: copies the selected tables' rows from the source to the
//! destination, upserting on the primary key, in keyset pages within key-range chunks,
//! resumable from the state store, with rows the destination refuses written to reject
//! files instead of stopping the run (unless `--on-error stop`).

mod append;
mod chunk;
mod compare;
mod comparing;
pub mod copy_pipe;
pub mod distributed;
mod extras;
mod fast_path;
mod incremental;
mod leased;
pub mod queued;
mod reject;
pub mod row_pipe;
pub mod state;

use crate::rows::range::{self, KeyRange, Keyed};
use crate::rows::source::Source;
use crate::rows::write::{Writer, Written};
use crate::rows::{load_order, plan, read};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use plan::Target;
use seaway_codegen::config::{Config, Mask};
use seaway_codegen::model::{Column, Schema};
use seaway_codegen::stage::StageError;
use seaway_codegen::target::Desired;
use serde::Serialize;
use state::State;
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::time::Instant;

/// What to do with a row the destination refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnError {
    /// Write it to `.seaway/rejects/<table>.jsonl` with the reason and go on.
    Reject,
    /// Stop the run.
    Stop,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Start over instead of resuming an unfinished run.
    pub restart: bool,
    /// Rows per keyset page (one read, one bulk upsert).
    pub page_size: usize,
    /// Keys per chunk when an integer key is split by range.
    pub chunk_span: i64,
    pub on_error: OnError,
    /// Chunks of a table copied at the same time.
    pub workers: usize,
    /// Only rows whose watermark column is past this value (implies incremental mode).
    pub since: Option<String>,
    /// Copy every chunk without comparing it first, even where the destination holds rows.
    pub copy_all: bool,
    /// Delete destination rows the source does not hold (found by compare-first), after
    /// every table is copied.
    pub delete_extra: bool,
    /// Compare-first: key ranges a differing range is split into, and the rows at or
    /// under which a differing range is compared row by row instead (checksums in SQL).
    pub bisection_factor: usize,
    pub bisection_threshold: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            restart: false,
            page_size: 5_000,
            chunk_span: 100_000,
            on_error: OnError::Reject,
            workers: 2,
            since: None,
            copy_all: false,
            delete_extra: false,
            bisection_factor: 8,
            // Above verify's 256: a range compared row by row moves two values per row
            // (its key and row hash), while one more level of bisection is one more query
            // per side per differing range, and each level is a pass over its rows.
            bisection_threshold: 2048,
        }
    }
}

impl Options {
    /// What compare-first hands to verify's comparison: transfer's workers and bisection, and
    /// reads of a piece (a page of keys) in one query.
    pub(super) fn compare_options(&self) -> crate::verify::Options {
        crate::verify::Options {
            workers: self.workers.max(1),
            page_size: self.page_size.max(1) + 1,
            bisection_factor: self.bisection_factor.max(2),
            bisection_threshold: self.bisection_threshold,
            ..crate::verify::Options::default()
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    pub table: String,
    pub source_table: String,
    /// Rows the destination holds from this table's copy (a resumed run includes the
    /// rows the interrupted one wrote).
    pub rows: u64,
    /// What this run's writes did, as the destination counted them: rows inserted, rows
    /// changed, and rows it already held exactly (not written again).
    #[serde(flatten)]
    pub written: Written,
    pub rejected: u64,
    /// MySQL zero dates written as NULL (`transfer.zero_dates: null`) in this run.
    pub zero_dates: u64,
    /// How the destination's rows were compared before anything was written
    /// (compare-first): `sql` (checksums computed by both databases, bisected), `client`
    /// (rows read and hashed by seaway), `multiset` (a table without a key), or `none`
    /// (an empty destination table, `--copy-all`, or an incremental window).
    pub comparison: &'static str,
    /// Chunks of the table in this run, and how many of them compare-first found equal
    /// and skipped (nothing written).
    pub chunks: u64,
    pub chunks_equal: u64,
    /// Rows read from both sides to be compared one by one (the rows near a difference).
    pub rows_read: u64,
    /// Destination rows the source does not hold, found by compare-first (kept unless
    /// `--delete-extra`), and how many this run deleted.
    pub extra: u64,
    pub deleted: u64,
    /// Of this run's inserted rows, those written by the destination's bulk path into a
    /// key range it did not hold yet (PostgreSQL `COPY`, MySQL/MariaDB `LOAD DATA LOCAL
    /// INFILE`), without a staging table or an upsert.
    pub bulk_loaded: u64,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub source: String,
    pub destination: String,
    pub resumed: bool,
    /// The work-queue job the run was (`--distributed`, or a plain run on a PostgreSQL
    /// store): its rows are what the destination's fence rows hold, which do not keep
    /// the inserted/updated/unchanged split, so `written` is all zero.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    pub tables: Vec<TableReport>,
    pub rows: u64,
    #[serde(flatten)]
    pub written: Written,
    pub rejected: u64,
    pub zero_dates: u64,
    pub chunks: u64,
    pub chunks_equal: u64,
    pub rows_read: u64,
    pub extra: u64,
    pub deleted: u64,
    pub bulk_loaded: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
}

#[derive(Debug)]
pub enum Event<'a> {
    /// The run starts with this many tables.
    Started {
        tables: usize,
    },
    /// A table starts: its chunks, the rows the source holds for it (to show progress
    /// against), and the rows already written by an interrupted run being resumed.
    TableStarted {
        table: &'a str,
        chunks: usize,
        rows: Option<u64>,
        done: u64,
    },
    Page {
        table: &'a str,
        rows: u64,
    },
    TableDone(&'a TableReport),
    /// `--distributed`, or a plain run on a PostgreSQL state store: the job's chunks are
    /// in the work queue (`joined`: a job already planned by another run, which this one
    /// now waits for too; `slots`: chunks this process copies at once itself, as a
    /// worker of the job, `None` when it only waits).
    Distributed {
        job: &'a str,
        chunks: usize,
        joined: bool,
        slots: Option<u32>,
    },
    /// `--distributed`: how many of the job's chunks are in each state, when that changes.
    Queue(&'a crate::lease::Depth),
    /// After every table is copied, `--delete-extra` deleted this many of the table's
    /// extra rows.
    Deleted {
        table: &'a str,
        rows: u64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Prepare(#[from] StageError),
    #[error(transparent)]
    Connect(#[from] seaway_codegen::inspect::ConnectError),
    #[error("the transfer state store {store}")]
    State { store: String, source: sqlx::Error },
    #[error(
        "destination `{destination}` lacks table(s) {tables}; run `just apply` (at least `--section pre-data`) first"
    )]
    MissingTables { destination: String, tables: String },
    /// A circle of foreign keys the destination enforces blocks a first load.
    #[error("{0}")]
    ForeignKeyCycle(String),
    #[error(transparent)]
    Blocked(#[from] crate::rows::order::BlockedError),
    #[error(
        "table `{table}`: the destination refused a row ({reason}); stopped because of --on-error stop"
    )]
    Stopped { table: String, reason: String },
    #[error(
        "table `{table}`: the destination refused a row ({reason}); an append-only table is copied all or nothing, so none of this run's rows of it were written"
    )]
    AppendRefused { table: String, reason: String },
    #[error("table `{table}`: reading the source failed: {reason}")]
    Read { table: String, reason: String },
    #[error("table `{table}`: {reason}")]
    Missing { table: String, reason: String },
    /// `--distributed` or `migrator worker` cannot run this config or job as it is.
    #[error("{0}")]
    Distributed(String),
    #[error(transparent)]
    Queue(#[from] crate::lease::QueueError),
    #[error(transparent)]
    Fence(#[from] crate::lease::FenceError),
    /// Compare-first could not read or hash a side (the message names table and side).
    #[error(transparent)]
    Compare(#[from] crate::verify::VerifyError),
    #[error(
        "table `{table}`: deleting the destination's extra rows failed ({reason}); the rows copied stay, and the next `migrator transfer --delete-extra` resumes the deletion"
    )]
    Delete { table: String, reason: String },
    #[error("cannot write the reject file {}", path.display())]
    Rejects {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Runs a transfer for the config's source and destination.
pub async fn transfer(
    config: &Config,
    opts: &Options,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Report, TransferError> {
    let started = Instant::now();
    // The data connections are opened (and a connection per worker established) while
    // both schemas are read: a PostgreSQL connection through sqlx costs about 90 ms here
    // under the default `sslmode=prefer` (the TLS handshake), and opened one after
    // another after planning they added about 0.2 s to every run. Opening a pool changes
    // nothing, so doing it before the plan is known is harmless; the state store, which
    // records the run, still waits for the plan.
    let workers = opts.workers.max(1);
    let open_data = async {
        let source = Source::open(config.source_connection()).await?;
        // `prepare` reports a missing or invalid destination; here it is only skipped.
        let writer = match config.destination_connection("transfer") {
            Ok(conn) => Some(Writer::open(conn).await?),
            Err(_) => None,
        };
        // Each chunk worker holds a connection on both sides; the count holds another.
        futures_util::join!(source.warm(workers + 1), async {
            if let Some(w) = &writer {
                w.warm(workers).await;
            }
        });
        Ok::<_, TransferError>((source, writer))
    };
    // The destination opened for reading too, for compare-first (re-syncs): opening it
    // later, at the first table that holds rows, cost about 0.2 s in sequence. A reader
    // whose opening fails here (a SQLite file the writer has not created yet) is opened
    // again when needed, and the error, if any, reported then.
    let open_reader = async {
        let conn = config.destination_connection("transfer").ok()?;
        if opts.copy_all {
            return None;
        }
        let reader = Source::open(conn).await.ok()?;
        reader.warm(workers).await;
        Some(reader)
    };
    let (prepared, opened, early_reader) =
        futures_util::join!(plan::prepare(config, "transfer"), open_data, open_reader);
    let (prepared, missing) = prepared?;
    if let Some(tables) = missing {
        return Err(TransferError::MissingTables {
            destination: prepared.dest_conn.name.clone(),
            tables,
        });
    }
    let (source, writer) = opened?;
    if let Some(cycle) =
        crate::rows::order::blocked_first_load(&prepared, &source, config.source_connection())
            .await?
    {
        return Err(TransferError::ForeignKeyCycle(
            cycle.refusal(&prepared.dest_conn.name),
        ));
    }
    let plan::Prepared {
        dest_conn,
        source_schema,
        desired,
        ..
    } = prepared;
    let writer = match writer {
        Some(w) => w,
        None => Writer::open(dest_conn).await?,
    };

    let base = config
        .path
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".seaway");
    let (state, store) = open_state(config, &base, &dest_conn.name, opts.restart).await?;
    let reader = tokio::sync::OnceCell::new_with(early_reader);
    let job = Job {
        config,
        opts,
        desired: &desired,
        source_schema: &source_schema,
        source: &source,
        writer: &writer,
        state: &state,
        store: store.clone(),
        rejects_dir: base.join("rejects"),
        dest_conn,
        reader: &reader,
        by_value: tokio::sync::OnceCell::new(),
        compare_opts: opts.compare_options(),
    };

    let mut tables = Vec::new();
    let order = load_order(&desired.schema);
    on_event(Event::Started {
        tables: order.len(),
    });
    for name in order {
        let report = job.table(&name, on_event).await;
        let report = match report {
            Ok(r) => r,
            Err(
                e @ (TransferError::Stopped { .. }
                | TransferError::State { .. }
                | TransferError::Rejects { .. }),
            ) => {
                drop(job);
                close(source, writer, state, reader).await;
                return Err(e);
            }
            Err(e) => {
                let mut failed = TableReport::new(
                    &name,
                    desired
                        .origins
                        .get(&name)
                        .map(|o| o.source_table.as_str())
                        .unwrap_or_default(),
                );
                failed.error = Some(dest_conn.url.scrub(&e.to_string()));
                failed
            }
        };
        on_event(Event::TableDone(&report));
        tables.push(report);
    }
    let finished = async {
        if opts.delete_extra {
            job.delete_extras(&mut tables, on_event).await?;
        }
        job.state
            .finish()
            .await
            .map_err(|source| TransferError::State {
                store: store.clone(),
                source,
            })
    }
    .await;
    drop(job);
    let resumed = state.resumed;
    close(source, writer, state, reader).await;
    finished?;
    let seconds = started.elapsed().as_secs_f64();
    let rows = tables.iter().map(|t| t.rows).sum();
    let mut written = Written::default();
    for t in &tables {
        written += t.written;
    }
    let sum = |f: fn(&TableReport) -> u64| tables.iter().map(f).sum::<u64>();
    Ok(Report {
        job: None,
        written,
        source: config.source.clone(),
        destination: dest_conn.name.clone(),
        resumed,
        rejected: sum(|t| t.rejected),
        zero_dates: sum(|t| t.zero_dates),
        chunks: sum(|t| t.chunks),
        chunks_equal: sum(|t| t.chunks_equal),
        rows_read: sum(|t| t.rows_read),
        extra: sum(|t| t.extra),
        deleted: sum(|t| t.deleted),
        bulk_loaded: sum(|t| t.bulk_loaded),
        rows_per_second: if seconds > 0.0 {
            rows as f64 / seconds
        } else {
            0.0
        },
        rows,
        seconds,
        tables,
    })
}

/// Closes the run's connections and the state store.
async fn close(
    source: Source,
    writer: Writer,
    state: State,
    reader: tokio::sync::OnceCell<Source>,
) {
    source.close().await;
    writer.close().await;
    state.close().await;
    if let Some(reader) = reader.into_inner() {
        reader.close().await;
    }
}

impl TableReport {
    /// A table's report before anything is copied.
    fn new(table: &str, source_table: &str) -> TableReport {
        TableReport {
            table: table.to_string(),
            source_table: source_table.to_string(),
            rows: 0,
            written: Written::default(),
            rejected: 0,
            zero_dates: 0,
            comparison: "none",
            chunks: 0,
            chunks_equal: 0,
            rows_read: 0,
            extra: 0,
            deleted: 0,
            bulk_loaded: 0,
            seconds: 0.0,
            error: None,
        }
    }
}

/// Opens the transfer state: in the PostgreSQL connection `transfer.state` names, else in
/// the SQLite file `<config dir>/.seaway/state.sqlite`. Returns it with how errors name it.
async fn open_state(
    config: &Config,
    base: &std::path::Path,
    destination: &str,
    restart: bool,
) -> Result<(State, String), TransferError> {
    match &config.state {
        Some(name) => {
            let conn = &config.connections[name];
            let store = format!("in connection `{name}` ({})", conn.url.redacted());
            let pool = seaway_codegen::inspect::connect::postgres(
                conn,
                &seaway_codegen::engine::postgres::search_path_of(conn),
            )
            .await?;
            let state = State::open_postgres(pool, &config.source, destination, restart)
                .await
                .map_err(|source| TransferError::State {
                    store: store.clone(),
                    source,
                })?;
            Ok((state, store))
        }
        None => {
            let path = base.join("state.sqlite");
            let store = path.display().to_string();
            let state = State::open(&path, &config.source, destination, restart)
                .await
                .map_err(|source| TransferError::State {
                    store: store.clone(),
                    source,
                })?;
            Ok((state, store))
        }
    }
}

/// What every chunk of one table shares.
#[derive(Clone, Copy)]
struct TableSpec<'a> {
    name: &'a str,
    source_table: &'a str,
    src_cols: &'a [&'a Column],
    key_cols: &'a [&'a Column],
    targets: &'a [Target],
    masks: &'a [Option<Mask>],
    filter: Option<&'a str>,
    /// The table's comparison, when its chunks are compared before they are written.
    compare: Option<&'a comparing::Comparing<'a>>,
}

/// Counters the chunks of a table update as they go; the chunks run concurrently inside
/// one task (`buffer_unordered`), so cells suffice.
struct Progress<'e, 'f> {
    rows: Cell<u64>,
    /// This run's writes, as the destination counted them.
    written: Cell<Written>,
    rejected: Cell<u64>,
    zero_dates: Cell<u64>,
    /// Compare-first's counts: chunks found equal, rows read to compare, extra rows.
    chunks_equal: Cell<u64>,
    rows_read: Cell<u64>,
    extra: Cell<u64>,
    /// Rows written by a bulk path into an empty key range (`TableReport::bulk_loaded`).
    bulk_loaded: Cell<u64>,
    events: RefCell<&'e mut (dyn FnMut(Event<'_>) + 'f)>,
}

impl Progress<'_, '_> {
    /// Counts a write: rows held, and what the destination did for them.
    fn add(&self, w: Written) {
        self.rows.set(self.rows.get() + w.rows());
        let mut total = self.written.get();
        total += w;
        self.written.set(total);
    }

    /// Counts the rows a pipe inserted, whose rows were counted as they streamed.
    fn add_inserted(&self, rows: u64) {
        let mut total = self.written.get();
        total += Written::inserted(rows);
        self.written.set(total);
        self.bulk_loaded.set(self.bulk_loaded.get() + rows);
    }
}

struct Job<'a> {
    config: &'a Config,
    opts: &'a Options,
    desired: &'a Desired,
    source_schema: &'a Schema,
    source: &'a Source,
    writer: &'a Writer,
    state: &'a State,
    /// How errors name the state store (a path, or a connection with its URL redacted).
    store: String,
    rejects_dir: PathBuf,
    dest_conn: &'a seaway_codegen::config::Connection,
    /// The destination opened for reading, when a table is compared before it is written
    /// (opened at the first such table: a first load never needs it).
    reader: &'a tokio::sync::OnceCell<Source>,
    /// Whether both sides hash rows by value (asked once, at the first comparison).
    by_value: tokio::sync::OnceCell<bool>,
    /// What compare-first hands to verify's comparison (workers, page size, bisection).
    compare_opts: crate::verify::Options,
}

impl Job<'_> {
    async fn table(
        &self,
        name: &str,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<TableReport, TransferError> {
        let started = Instant::now();
        let origin = &self.desired.origins[name];
        let mut report = TableReport::new(name, &origin.source_table);

        let plan = match plan::TablePlan::new(name, self.desired, self.source_schema, self.config) {
            Ok(plan) => plan,
            Err(e) => {
                report.error = Some(format!("{e}; it was not transferred"));
                return Ok(report);
            }
        };
        let src_cols: Vec<&Column> = plan.src_cols.iter().collect();
        let key_cols: Vec<&Column> = plan.key_cols.iter().collect();
        let targets = &plan.targets;
        let mapping = self.config.mappings.get(&origin.source_table);
        let window = self
            .watermark_window(name, &origin.source_table, mapping)
            .await?;
        let combined: Option<String> = match (plan.filter.as_deref(), &window) {
            (Some(f), Some(w)) => Some(format!("({f}) AND {}", w.condition)),
            (None, Some(w)) => Some(w.condition.clone()),
            (Some(f), None) => Some(f.to_string()),
            (None, None) => None,
        };
        let filter = combined.as_deref();
        let masks = &plan.masks;

        let chunks = match self
            .state
            .chunks(name)
            .await
            .map_err(|e| self.state_error(e))?
        {
            Some(chunks) => chunks,
            None => {
                let ranges = self.ranges(&origin.source_table, &key_cols, filter).await?;
                self.state
                    .plan(name, &ranges)
                    .await
                    .map_err(|e| self.state_error(e))?
            }
        };
        report.rows = chunks.iter().map(|c| c.rows.max(0) as u64).sum();
        report.rejected = chunks.iter().map(|c| c.rejected.max(0) as u64).sum();
        report.chunks = chunks.len() as u64;
        let comparing = if chunks.iter().all(|c| c.done) {
            None
        } else {
            self.comparing(name, &plan, window.is_some()).await?
        };
        if let Some(c) = &comparing {
            report.comparison = c.kind(plan.append_only);
        }
        // Chunks of the table in flight at once; each holds at most two pages (one written,
        // one read ahead) or a pipe's few buffers, so memory is bounded by workers x two
        // pages whatever the table's size.
        let progress = Progress {
            rows: Cell::new(report.rows),
            written: Cell::new(Written::default()),
            rejected: Cell::new(report.rejected),
            zero_dates: Cell::new(0),
            chunks_equal: Cell::new(0),
            rows_read: Cell::new(0),
            extra: Cell::new(chunks.iter().map(|c| c.extra.max(0) as u64).sum()),
            bulk_loaded: Cell::new(0),
            events: RefCell::new(on_event),
        };
        let spec = TableSpec {
            name,
            source_table: &origin.source_table,
            src_cols: &src_cols,
            key_cols: &key_cols,
            targets,
            masks,
            filter,
            compare: comparing.as_ref(),
        };
        let this = self;
        // The count only gives progress its total, so it runs beside the copy instead of
        // before it: a `count(*)` is a scan of its own (0.3-0.5 s of a million-row
        // InnoDB table, measured). Pages seen before it lands are counted all the same.
        let n_chunks = chunks.len();
        let announce = async {
            let total = this.count(&origin.source_table, filter).await;
            (progress.events.borrow_mut())(Event::TableStarted {
                table: name,
                chunks: n_chunks,
                rows: total,
                done: progress.rows.get(),
            });
        };
        let copy = async {
            if plan.append_only {
                if let Some(chunk) = chunks.iter().find(|c| !c.done)
                    && !this.append_equal(&spec, chunk, &progress).await?
                {
                    this.append(&spec, chunk, window.as_ref(), mapping, &progress)
                        .await?;
                }
                Ok(())
            } else {
                stream::iter(chunks.iter().filter(|c| !c.done))
                    .map(|chunk| this.chunk(&spec, chunk, &progress))
                    .buffer_unordered(this.opts.workers.max(1))
                    .try_collect::<Vec<()>>()
                    .await
                    .map(drop)
            }
        };
        let ((), copied) = futures_util::join!(announce, copy);
        copied?;
        report.rows = progress.rows.get();
        report.written = progress.written.get();
        report.rejected = progress.rejected.get();
        report.zero_dates = progress.zero_dates.get();
        report.chunks_equal = progress.chunks_equal.get();
        report.rows_read = progress.rows_read.get();
        report.extra = progress.extra.get();
        report.bulk_loaded = progress.bulk_loaded.get();
        self.writer
            .finish_table(name, targets)
            .await
            .map_err(self.destination_error(name))?;
        if let Some(upper) = window.and_then(|w| w.upper) {
            self.state
                .set_watermark(
                    &self.config.source,
                    &self.desired_destination(),
                    name,
                    &upper,
                )
                .await
                .map_err(|e| self.state_error(e))?;
        }
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// How many rows the source holds for the table (after the mapping's filter); `None`
    /// if counting fails, which only costs the progress display its total.
    async fn count(&self, table: &str, filter: Option<&str>) -> Option<u64> {
        let sql = read::count_query(self.source_schema.dialect, table, filter);
        let rows = self.source.rows(&sql, &[]).await.ok()?;
        rows.first()?.first()?.as_deref()?.parse().ok()
    }

    /// `table`'s failed destination statement as a transfer error, the driver's message
    /// with the destination's password removed.
    fn destination_error<'t>(
        &'t self,
        table: &'t str,
    ) -> impl Fn(sqlx::Error) -> TransferError + 't {
        move |e| TransferError::Read {
            table: table.to_string(),
            reason: self.scrub_destination(&e),
        }
    }

    /// A destination driver message with the destination's password removed.
    fn scrub_destination(&self, e: &sqlx::Error) -> String {
        match self.config.destination_connection("transfer") {
            Ok(c) => c.url.scrub(&e.to_string()),
            Err(_) => e.to_string(),
        }
    }

    /// A message that may quote either connection (the row pipe's errors come from both),
    /// with both passwords removed.
    fn scrub_either(&self, text: &str) -> String {
        let text = self.config.source_connection().url.scrub(text);
        match self.config.destination_connection("transfer") {
            Ok(c) => c.url.scrub(&text),
            Err(_) => text,
        }
    }

    /// Reading the source failed: the table and the driver's message, password removed.
    fn read_error(&self, table: &str, e: &sqlx::Error) -> TransferError {
        TransferError::Read {
            table: table.to_string(),
            reason: self.config.source_connection().url.scrub(&e.to_string()),
        }
    }

    fn state_error(&self, source: sqlx::Error) -> TransferError {
        TransferError::State {
            store: self.store.clone(),
            source,
        }
    }

    /// The table's chunks (`rows::range`): spans of `--chunk-span` source keys.
    async fn ranges(
        &self,
        table: &str,
        keys: &[&Column],
        filter: Option<&str>,
    ) -> Result<Vec<KeyRange>, TransferError> {
        let source = Keyed {
            db: self.source,
            dialect: self.source_schema.dialect,
            table,
            keys,
            filter,
        };
        range::ranges(source, None, async { self.opts.chunk_span })
            .await
            .map(|r| r.ranges)
            .map_err(|e| self.read_error(&e.table, &e.source))
    }
}
