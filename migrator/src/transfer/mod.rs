//! `migrator transfer`: copies the selected tables' rows from the source to the
//! destination, upserting on the primary key, in keyset pages within key-range chunks,
//! resumable from the state store, with rows the destination refuses written to reject
//! files instead of stopping the run (unless `--on-error stop`).

pub mod copy_pipe;
pub mod row_pipe;
pub mod state;
pub mod write;

use crate::rows::range::{self, KeyRange, Keyed};
use crate::rows::source::{self, Source};
use crate::rows::values::{self, Family};
use crate::rows::{apply_mask, load_order, plan, read};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use plan::Target;
use seaway_codegen::commands::diff::DiffError;
use seaway_codegen::config::{Config, Mask, ZeroDates};
use seaway_codegen::model::{Column, Schema};
use seaway_codegen::target::Desired;
use serde::Serialize;
use state::{Chunk, State};
use std::cell::{Cell, RefCell};
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;
use write::{WriteError, Writer, Written};

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
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub source: String,
    pub destination: String,
    pub resumed: bool,
    pub tables: Vec<TableReport>,
    pub rows: u64,
    #[serde(flatten)]
    pub written: Written,
    pub rejected: u64,
    pub zero_dates: u64,
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
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Prepare(#[from] DiffError),
    #[error(transparent)]
    Connect(#[from] seaway_codegen::inspect::ConnectError),
    #[error("the transfer state store {store}")]
    State { store: String, source: sqlx::Error },
    #[error(
        "destination `{destination}` lacks table(s) {tables}; run `just apply` (at least `--section pre-data`) first"
    )]
    MissingTables { destination: String, tables: String },
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
    let (prepared, opened) = futures_util::join!(plan::prepare(config, "transfer"), open_data);
    let (
        plan::Prepared {
            dest_conn,
            source_schema,
            desired,
        },
        missing,
    ) = prepared?;
    if let Some(tables) = missing {
        return Err(TransferError::MissingTables {
            destination: dest_conn.name.clone(),
            tables,
        });
    }
    let (source, writer) = opened?;
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
    let mut job = Job {
        config,
        opts,
        desired: &desired,
        source_schema: &source_schema,
        source: &source,
        writer: &writer,
        state: &state,
        store: store.clone(),
        rejects_dir: base.join("rejects"),
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
                source.close().await;
                writer.close().await;
                state.close().await;
                return Err(e);
            }
            Err(e) => TableReport {
                table: name.clone(),
                source_table: desired
                    .origins
                    .get(&name)
                    .map(|o| o.source_table.clone())
                    .unwrap_or_default(),
                rows: 0,
                written: Written::default(),
                rejected: 0,
                zero_dates: 0,
                seconds: 0.0,
                error: Some(dest_conn.url.scrub(&e.to_string())),
            },
        };
        on_event(Event::TableDone(&report));
        tables.push(report);
    }
    job.state
        .finish()
        .await
        .map_err(|source| TransferError::State {
            store: store.clone(),
            source,
        })?;
    let resumed = state.resumed;
    source.close().await;
    writer.close().await;
    state.close().await;
    let seconds = started.elapsed().as_secs_f64();
    let rows = tables.iter().map(|t| t.rows).sum();
    let mut written = Written::default();
    for t in &tables {
        written += t.written;
    }
    Ok(Report {
        written,
        source: config.source.clone(),
        destination: dest_conn.name.clone(),
        resumed,
        rejected: tables.iter().map(|t| t.rejected).sum(),
        zero_dates: tables.iter().map(|t| t.zero_dates).sum(),
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
            let schema = conn.schema.clone().unwrap_or_else(|| "public".into());
            let pool = seaway_codegen::inspect::connect::postgres(
                conn,
                &read::quote(seaway_codegen::model::Dialect::Postgres, &schema),
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

/// The rows of one incremental run of a table: a SQL condition on the watermark column,
/// and the mark to record once they are all copied.
#[derive(Debug, Clone)]
struct Window {
    condition: String,
    /// The mark the window starts after (the last run's, or `--since`), as the source
    /// printed it.
    lower: Option<String>,
    upper: Option<String>,
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
}

/// Counters the chunks of a table update as they go; the chunks run concurrently inside
/// one task (`buffer_unordered`), so cells suffice.
struct Progress<'e, 'f> {
    rows: Cell<u64>,
    /// This run's writes, as the destination counted them.
    written: Cell<Written>,
    rejected: Cell<u64>,
    zero_dates: Cell<u64>,
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
}

impl Job<'_> {
    async fn table(
        &mut self,
        name: &str,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<TableReport, TransferError> {
        let started = Instant::now();
        let origin = &self.desired.origins[name];
        let mut report = TableReport {
            table: name.to_string(),
            source_table: origin.source_table.clone(),
            rows: 0,
            written: Written::default(),
            rejected: 0,
            zero_dates: 0,
            seconds: 0.0,
            error: None,
        };

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
        // Chunks of the table in flight at once; each holds at most two pages (one written,
        // one read ahead) or a pipe's few buffers, so memory is bounded by workers x two
        // pages whatever the table's size.
        let progress = Progress {
            rows: Cell::new(report.rows),
            written: Cell::new(Written::default()),
            rejected: Cell::new(report.rejected),
            zero_dates: Cell::new(0),
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
        };
        let this = &*self;
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
                if let Some(chunk) = chunks.iter().find(|c| !c.done) {
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
        self.writer
            .finish_table(name, targets)
            .await
            .map_err(|e| TransferError::Read {
                table: name.to_string(),
                reason: self.scrub_destination(&e),
            })?;
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

    /// In incremental mode, the rows to copy for a table with a watermark column: past the
    /// mark the last run reached (or `--since`), up to the source's current maximum, read
    /// now so rows changing during the run are taken by the next one. The new mark is
    /// stored only after the table is done, so a crash never skips rows.
    async fn watermark_window(
        &self,
        name: &str,
        table: &str,
        mapping: Option<&seaway_codegen::config::Mapping>,
    ) -> Result<Option<Window>, TransferError> {
        let incremental = self.opts.since.is_some()
            || self.config.transfer_mode == seaway_codegen::config::TransferMode::Incremental;
        let Some(column) = mapping
            .and_then(|m| m.watermark.as_deref())
            .filter(|_| incremental)
        else {
            return Ok(None);
        };
        let d = self.source_schema.dialect;
        let col = read::quote(d, column);
        let as_text = match d {
            seaway_codegen::model::Dialect::Mysql => format!("CAST(max({col}) AS CHAR)"),
            _ => format!("CAST(max({col}) AS TEXT)"),
        };
        let sql = format!("SELECT {as_text} FROM {}", read::quote(d, table));
        let rows = self
            .source
            .rows(&sql, &[])
            .await
            .map_err(|e| self.read_error(table, &e))?;
        let upper = rows.first().and_then(|r| r.first()).cloned().flatten();
        let lower = match &self.opts.since {
            Some(since) => Some(since.clone()),
            None => self
                .state
                .watermark(&self.config.source, &self.desired_destination(), name)
                .await
                .map_err(|e| self.state_error(e))?,
        };
        let literal = |v: &str| format!("'{}'", v.replace('\'', "''"));
        let condition = match (&lower, &upper) {
            (_, None) => "1 = 0".to_string(), // empty table: nothing to copy
            (Some(lo), Some(hi)) => format!("{col} > {} AND {col} <= {}", literal(lo), literal(hi)),
            (None, Some(hi)) => format!("{col} <= {}", literal(hi)),
        };
        Ok(Some(Window {
            condition,
            lower,
            upper,
        }))
    }

    fn desired_destination(&self) -> String {
        self.config.destination.clone().unwrap_or_default()
    }

    /// How many rows the source holds for the table (after the mapping's filter); `None`
    /// if counting fails, which only costs the progress display its total.
    async fn count(&self, table: &str, filter: Option<&str>) -> Option<u64> {
        let sql = read::count_query(self.source_schema.dialect, table, filter);
        let rows = self.source.rows(&sql, &[]).await.ok()?;
        rows.first()?.first()?.as_deref()?.parse().ok()
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

    async fn chunk(
        &self,
        spec: &TableSpec<'_>,
        chunk: &Chunk,
        progress: &Progress<'_, '_>,
    ) -> Result<(), TransferError> {
        let TableSpec {
            name,
            src_cols,
            targets,
            masks,
            ..
        } = *spec;
        let d = self.source_schema.dialect;
        let dated = dated_columns(d, src_cols);
        let fresh = self.range_is_fresh(spec, chunk).await;
        if fresh
            && (self.stream_chunk(spec, chunk, progress).await?
                || self.pipe_chunk(spec, chunk, progress).await?)
        {
            return Ok(());
        }
        // One page of read-ahead: page n+1 is read while page n is written, so the source
        // and the destination work at the same time instead of in turn (memory: two pages
        // per chunk in flight).
        let mut rows = self
            .read_page(spec, chunk, chunk.last_key.as_deref())
            .await?;
        let width = src_cols.len();
        while !rows.is_empty() {
            let full = rows.len() == self.opts.page_size;
            let mut data = Vec::with_capacity(rows.len());
            let mut keys = Vec::with_capacity(rows.len());
            let mut zero_refused = 0;
            // The page's last key, even when its row is refused below.
            let last_key: Vec<String> = rows
                .last()
                .map(|r| {
                    r[width..]
                        .iter()
                        .map(|v| v.clone().unwrap_or_default())
                        .collect()
                })
                .unwrap_or_default();
            for mut row in rows {
                let key: Vec<Option<String>> = row.split_off(width);
                for (value, mask) in row.iter_mut().zip(masks) {
                    apply_mask(value, *mask, self.config);
                }
                if let Some(reason) = self.zero_dates(src_cols, &dated, &mut row, progress) {
                    self.reject(name, &key, &reason)?;
                    zero_refused += 1;
                    continue;
                }
                data.push(row);
                keys.push(key);
            }
            let write = async {
                // Into a range that was empty, a plain insert first; any refusal (a row
                // the destination rejects, a key someone else wrote meanwhile) falls back
                // to the upsert, which isolates refused rows.
                let plain = if fresh {
                    self.writer.insert_fresh(name, targets, &data).await.ok()
                } else {
                    None
                };
                let (written, refused) = match plain {
                    Some(n) => (n, zero_refused),
                    None => {
                        let (w, r) = self.write(name, targets, &data, &keys).await?;
                        (w, r + zero_refused)
                    }
                };
                self.state
                    .progress(chunk, &last_key, written.rows() as usize, refused)
                    .await
                    .map_err(|e| self.state_error(e))?;
                progress.add(written);
                progress
                    .rejected
                    .set(progress.rejected.get() + refused as u64);
                // Borrowed only for the call, never across an await.
                (progress.events.borrow_mut())(Event::Page {
                    table: name,
                    rows: progress.rows.get(),
                });
                Ok::<_, TransferError>(())
            };
            let ahead = async {
                if full {
                    self.read_page(spec, chunk, Some(&last_key)).await
                } else {
                    Ok(Vec::new())
                }
            };
            let (written, next) = futures_util::join!(write, ahead);
            written?;
            rows = next?;
        }
        self.state
            .chunk_done(chunk)
            .await
            .map_err(|e| self.state_error(e))
    }

    /// Reads the chunk's page after `last` (from its start when `None`): rows of
    /// canonical text, each followed by its key columns.
    async fn read_page(
        &self,
        spec: &TableSpec<'_>,
        chunk: &Chunk,
        last: Option<&[String]>,
    ) -> Result<source::Rows, TransferError> {
        let (lo_key, hi_key) = chunk.range.keys();
        let page = read::Page {
            table: spec.source_table,
            columns: spec.src_cols,
            keys: spec.key_cols,
            after: last.is_some(),
            range: chunk.range.ints(),
            key_range: (lo_key.is_some(), hi_key.is_some()),
            filter: spec.filter,
            limit: self.opts.page_size,
        };
        let q = read::page_query(self.source_schema.dialect, page);
        let params: Vec<String> = last
            .into_iter()
            .flatten()
            .chain(lo_key.into_iter().flatten())
            .chain(hi_key.into_iter().flatten())
            .cloned()
            .collect();
        self.source
            .rows(&q.sql, &params)
            .await
            .map_err(|e| self.read_error(spec.source_table, &e))
    }

    /// An append-only table (no key to match rows on): the window's rows replace what an
    /// earlier copy of the same window wrote (rows past the window's lower mark; every
    /// row in full mode or on a first run), in one destination transaction
    /// (`write::Tx`). Without a key a copy can neither resume part-way nor upsert, so it
    /// is all or nothing instead: a refused row rolls the window back and fails the table,
    /// and a killed run leaves the destination as it was.
    async fn append(
        &self,
        spec: &TableSpec<'_>,
        chunk: &Chunk,
        window: Option<&Window>,
        mapping: Option<&seaway_codegen::config::Mapping>,
        progress: &Progress<'_, '_>,
    ) -> Result<(), TransferError> {
        let d = self.source_schema.dialect;
        let source_err = |e: sqlx::Error| self.read_error(spec.source_table, &e);
        let refused = |e: sqlx::Error| self.append_refused(spec.name, &e);
        let refused_write = |e: WriteError| self.append_refused(spec.name, &e);
        let column = mapping.and_then(|m| m.watermark.as_deref());
        let after = match (window.and_then(|w| w.lower.as_deref()), column) {
            (Some(lower), Some(column)) => {
                match spec.src_cols.iter().position(|c| c.name == column) {
                    Some(i) => self
                        .canonical_mark(spec, spec.src_cols[i], lower)
                        .await
                        .map_err(source_err)?
                        .map(|mark| (&spec.targets[i], mark)),
                    None => None,
                }
            }
            _ => None,
        };
        let mut tx = self.writer.begin().await.map_err(refused)?;
        tx.clear(spec.name, after.as_ref().map(|(t, m)| (*t, m.as_str())))
            .await
            .map_err(refused)?;

        let sql = read::whole_query(d, spec.source_table, spec.src_cols, spec.filter);
        let dated = dated_columns(d, spec.src_cols);
        let mut pages = self.source.stream(&sql).chunks(self.opts.page_size.max(1));
        let (mut written, mut rejected, mut ordinal) = (0u64, 0u64, 0u64);
        while let Some(page) = pages.next().await {
            let mut data = Vec::with_capacity(page.len());
            for row in page {
                let mut row = row.map_err(source_err)?;
                ordinal += 1;
                for (value, mask) in row.iter_mut().zip(spec.masks) {
                    apply_mask(value, *mask, self.config);
                }
                if let Some(reason) = self.zero_dates(spec.src_cols, &dated, &mut row, progress) {
                    // No key to name it by: the row's place in the read.
                    self.reject(spec.name, &[Some(format!("row {ordinal}"))], &reason)?;
                    rejected += 1;
                    continue;
                }
                data.push(row);
            }
            let took = tx
                .insert(spec.name, spec.targets, &data)
                .await
                .map_err(refused_write)?;
            written += took;
            progress.add(Written::inserted(took));
            (progress.events.borrow_mut())(Event::Page {
                table: spec.name,
                rows: progress.rows.get(),
            });
        }
        drop(pages);
        tx.commit().await.map_err(refused)?;
        progress.rejected.set(progress.rejected.get() + rejected);
        self.state
            .chunk_streamed(chunk, written)
            .await
            .map_err(|e| self.state_error(e))
    }

    /// An append-only window the destination refused: the run stops (`--on-error stop`)
    /// or the table fails whole, since its window is all or nothing.
    fn append_refused(&self, table: &str, e: &dyn std::fmt::Display) -> TransferError {
        let reason = self.scrub_either(&e.to_string());
        match self.opts.on_error {
            OnError::Stop => TransferError::Stopped {
                table: table.to_string(),
                reason,
            },
            OnError::Reject => TransferError::AppendRefused {
                table: table.to_string(),
                reason,
            },
        }
    }

    /// The canonical text of the largest watermark value at or below `mark` (a mark as
    /// the source printed it), to compare with the destination's copy; `None` when no
    /// row is that old.
    async fn canonical_mark(
        &self,
        spec: &TableSpec<'_>,
        column: &Column,
        mark: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let d = self.source_schema.dialect;
        let col = read::quote(d, &column.name);
        let sql = format!(
            "SELECT {} FROM (SELECT max({col}) AS {col} FROM {} WHERE {col} <= {}) AS seaway_mark",
            read::select_expr(d, column),
            read::quote(d, spec.source_table),
            format_args!("'{}'", mark.replace('\'', "''")),
        );
        let rows = self.source.rows(&sql, &[]).await?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten()))
    }

    /// MySQL zero dates in a row (`0000-00-00`, a zero month or day), which no other
    /// engine stores: NULL and counted (`transfer.zero_dates: null`, the default), or the
    /// reason to reject the row (`reject`).
    fn zero_dates(
        &self,
        src_cols: &[&Column],
        dated: &[usize],
        row: &mut [Option<String>],
        progress: &Progress<'_, '_>,
    ) -> Option<String> {
        for &i in dated {
            let Some(v) = row.get(i).and_then(|v| v.as_deref()) else {
                continue;
            };
            if !values::is_zero_date(v) {
                continue;
            }
            match self.config.zero_dates {
                ZeroDates::Null => {
                    row[i] = None;
                    progress.zero_dates.set(progress.zero_dates.get() + 1);
                }
                ZeroDates::Reject => {
                    return Some(format!(
                        "column `{}` holds the MySQL zero date `{v}`, which the destination cannot store (transfer.zero_dates: reject)",
                        src_cols[i].name
                    ));
                }
            }
        }
        None
    }

    /// Whether the rest of the chunk's key range is empty in the destination, so pages can
    /// go in as plain inserts. Asked once per chunk; a chunk resumed part-way, a composite
    /// or non-integer key split into ranges, or any error answers `false` (upsert).
    async fn range_is_fresh(&self, spec: &TableSpec<'_>, chunk: &Chunk) -> bool {
        let key = match spec.targets.iter().filter(|t| t.is_key).collect::<Vec<_>>()[..] {
            [k] => Some(k.name.as_str()),
            _ => None,
        };
        let (lo, hi) = chunk.range.ints();
        let (lo_key, hi_key) = chunk.range.keys();
        let ranged = lo.is_some() || hi.is_some();
        let sampled = lo_key.is_some() || hi_key.is_some();
        if chunk.last_key.is_some() || sampled || (ranged && key.is_none()) {
            return false;
        }
        let range = if ranged { (lo, hi) } else { (None, None) };
        self.writer
            .range_is_empty(spec.name, key.filter(|_| ranged), range)
            .await
            .unwrap_or(false)
    }

    /// Loads a whole fresh chunk PostgreSQL to PostgreSQL as one `COPY` pipe (see
    /// `copy_pipe.rs`) when no value needs converting. `Ok(false)`: not eligible, or the pipe
    /// failed and left the range empty; the caller then loads the chunk page by page.
    async fn stream_chunk(
        &self,
        spec: &TableSpec<'_>,
        chunk: &Chunk,
        progress: &Progress<'_, '_>,
    ) -> Result<bool, TransferError> {
        let (Some(source), Some(destination)) = (self.source.postgres(), self.writer.postgres())
        else {
            return Ok(false);
        };
        let masked = spec.masks.iter().any(Option::is_some);
        if !copy_pipe::eligible(spec.src_cols, spec.targets, masked) {
            return Ok(false);
        }
        let key = match spec.key_cols {
            [k] => Some(*k),
            _ => None,
        };
        let copy_out = copy_pipe::select(
            spec.source_table,
            spec.src_cols,
            key,
            chunk.range.ints(),
            spec.filter,
        );
        let copy_in = write::postgres::copy_in_statement(spec.name, spec.targets);
        // Other chunks add to the same counter meanwhile: add this chunk's increments.
        let counted = Cell::new(0u64);
        let mut on_rows = |rows: u64| {
            progress
                .rows
                .set(progress.rows.get() + rows - counted.replace(rows));
            (progress.events.borrow_mut())(Event::Page {
                table: spec.name,
                rows: progress.rows.get(),
            });
        };
        match copy_pipe::pipe(source, destination, &copy_out, &copy_in, &mut on_rows).await {
            Ok(rows) => {
                self.state
                    .chunk_streamed(chunk, rows)
                    .await
                    .map_err(|e| self.state_error(e))?;
                progress.add_inserted(rows);
                Ok(true)
            }
            Err(e) => {
                tracing::debug!(
                    table = spec.name,
                    chunk = chunk.index,
                    "COPY pipe refused, loading page by page: {}",
                    self.scrub_destination(&e)
                );
                progress.rows.set(progress.rows.get() - counted.get());
                Ok(false)
            }
        }
    }

    /// Loads a whole fresh chunk into PostgreSQL through the row pipe (see `row_pipe.rs`):
    /// one unpaged text-protocol read encoded straight into one `COPY`. `Ok(false)`: not
    /// eligible (another destination, or a mask), or the pipe stopped and left the range
    /// empty; the caller then loads the chunk page by page.
    async fn pipe_chunk(
        &self,
        spec: &TableSpec<'_>,
        chunk: &Chunk,
        progress: &Progress<'_, '_>,
    ) -> Result<bool, TransferError> {
        let (Some(source), Some(destination)) = (self.source.pipe_pool(), self.writer.postgres())
        else {
            return Ok(false);
        };
        if spec.masks.iter().any(Option::is_some) || spec.src_cols.len() != spec.targets.len() {
            return Ok(false);
        }
        // A pipe holds a connection on each side for its whole chunk: with as many
        // workers as a pool has connections, the count and the next chunk's range check
        // would wait out the acquire timeout behind them. Pages hold theirs briefly.
        let dest_max =
            usize::try_from(destination.options().get_max_connections()).unwrap_or(usize::MAX);
        if self.opts.workers >= source.max_connections().min(dest_max) {
            return Ok(false);
        }
        let d = self.source_schema.dialect;
        let key = match spec.key_cols {
            [k] => Some(*k),
            _ => None,
        };
        let select = read::chunk_query(
            d,
            spec.source_table,
            spec.src_cols,
            key,
            chunk.range.ints(),
            spec.filter,
        );
        let dated = dated_columns(d, spec.src_cols);
        let encoding = row_pipe::Encoding {
            targets: spec.targets.to_vec(),
            dated: (0..spec.src_cols.len())
                .map(|i| dated.contains(&i))
                .collect(),
            zero_dates: self.config.zero_dates,
        };
        let copy_in = write::postgres::copy_in_statement(spec.name, spec.targets);
        // Other chunks add to the same counters meanwhile: add this chunk's increments.
        let counted = Cell::new(row_pipe::Moved::default());
        let mut on_progress = |moved: row_pipe::Moved| {
            let before = counted.replace(moved);
            progress
                .rows
                .set(progress.rows.get() + moved.rows - before.rows);
            progress
                .zero_dates
                .set(progress.zero_dates.get() + moved.zero_dates - before.zero_dates);
            (progress.events.borrow_mut())(Event::Page {
                table: spec.name,
                rows: progress.rows.get(),
            });
        };
        let piped = row_pipe::pipe(
            source,
            destination,
            select,
            &copy_in,
            encoding,
            &mut on_progress,
        )
        .await;
        match piped {
            Ok(moved) => {
                self.state
                    .chunk_streamed(chunk, moved.rows)
                    .await
                    .map_err(|e| self.state_error(e))?;
                progress.add_inserted(moved.rows);
                Ok(true)
            }
            Err(e) => {
                tracing::debug!(
                    table = spec.name,
                    chunk = chunk.index,
                    "row pipe stopped, loading page by page: {}",
                    self.scrub_either(&e.to_string())
                );
                let moved = counted.get();
                progress.rows.set(progress.rows.get() - moved.rows);
                progress
                    .zero_dates
                    .set(progress.zero_dates.get() - moved.zero_dates);
                Ok(false)
            }
        }
    }

    /// Upserts a page; if the destination refuses it, retries the halves, and their
    /// halves, until only the refused rows are left, which go to the reject file
    /// (pgloader's idea, with halving instead of row by row: one bad row in a page of
    /// 5,000 costs about 25 retries instead of 5,000). Returns (written, refused).
    async fn write(
        &self,
        name: &str,
        targets: &[Target],
        data: &[Vec<Option<String>>],
        keys: &[Vec<Option<String>>],
    ) -> Result<(Written, usize), TransferError> {
        let scrub = |e: WriteError| self.scrub_either(&e.to_string());
        let (mut written, mut refused) = (Written::default(), 0);
        let mut pending = vec![(0, data.len())];
        while let Some((start, end)) = pending.pop() {
            match self.writer.upsert(name, targets, &data[start..end]).await {
                Ok(w) => written += w,
                // Rows accepted yet absent: not a row to reject but a destination that
                // loses rows; the table stops with the keys named.
                Err(e) if !e.is_row_refusal() => {
                    return Err(TransferError::Missing {
                        table: name.to_string(),
                        reason: scrub(e),
                    });
                }
                Err(e) if self.opts.on_error == OnError::Stop => {
                    return Err(TransferError::Stopped {
                        table: name.to_string(),
                        reason: scrub(e),
                    });
                }
                Err(e) if end - start == 1 => {
                    refused += 1;
                    self.reject(name, &keys[start], &scrub(e))?;
                }
                Err(_) => {
                    let mid = start + (end - start) / 2;
                    pending.push((mid, end));
                    pending.push((start, mid));
                }
            }
        }
        Ok((written, refused))
    }

    fn reject(
        &self,
        table: &str,
        key: &[Option<String>],
        reason: &str,
    ) -> Result<(), TransferError> {
        let path = self.rejects_dir.join(format!("{table}.jsonl"));
        let err = |source| TransferError::Rejects {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.rejects_dir).map_err(err)?;
        // One write per line: a kill can then never leave half a JSON line behind.
        let line = format!(
            "{}\n",
            serde_json::json!({ "run": self.state.run, "table": table, "key": key, "reason": reason })
        );
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(err)?;
        file.write_all(line.as_bytes()).map_err(err)
    }
}

/// The MySQL date and date-time columns among `cols`, which may hold zero dates.
fn dated_columns(d: seaway_codegen::model::Dialect, cols: &[&Column]) -> Vec<usize> {
    if d != seaway_codegen::model::Dialect::Mysql {
        return Vec::new();
    }
    cols.iter()
        .enumerate()
        .filter(|(_, c)| {
            matches!(
                Family::of(&c.ty),
                Family::Date | Family::Timestamp | Family::TimestampTz
            )
        })
        .map(|(i, _)| i)
        .collect()
}
