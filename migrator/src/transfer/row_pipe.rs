//! A PostgreSQL or MySQL/MariaDB source into a key range the destination does not hold
//! yet, when the byte-for-byte `copy_pipe` does not apply (another source engine, a
//! value to convert, or a MySQL or SQLite destination): the chunk is read with one
//! unpaged query (`read::chunk_query`) over the source's text protocol, each row is
//! encoded straight from the driver's buffer into the destination's bulk text (no
//! `String` per value), and the text goes to one `COPY ... FROM STDIN` ([`pipe`]), one
//! `LOAD DATA LOCAL INFILE` ([`load`]) or one SQLite transaction of multi-row inserts
//! ([`lite`], which parses the text back into values to bind); the texts share their
//! escapes, each engine converts its own values.
//!
//! Why not pages: a page loop reads page n+1 only after page n is written, so the source
//! and the destination wait on each other, and every value is decoded into its own
//! `String`, then converted and escaped again. Here a reader task on its own thread keeps
//! a few buffers ahead of the destination (bounded: memory does not grow with the chunk).
//!
//! Same contract as `copy_pipe`: the destination's `COPY` is one statement, hence atomic,
//! so any failure (a refused row, a lost connection, a zero date under
//! `transfer.zero_dates: reject`) leaves the range empty and the caller loads the chunk
//! page by page, which isolates refused rows into the reject file. `LOAD DATA` is one
//! statement in one transaction, rolled back on any warning (`load_data.rs`), with the
//! same effect, and so is SQLite's chunk transaction (`first_load.rs`). Masked columns
//! take the page path (masks work on owned values).

use crate::engine::mysql::write::load_data::{Declined, LoadData};
use crate::engine::sqlite::write::LiteWriter;
use crate::engine::sqlite::write::first_load::{self, FirstLoad, Raised};
use crate::rows::plan::Target;
use crate::rows::source::SourcePool;
use crate::rows::values::is_zero_date;
use futures_util::StreamExt;
use seaway_codegen::config::ZeroDates;
use sqlx::postgres::PgPoolCopyExt;
use std::cell::{Cell, RefCell};

/// Bytes of `COPY` text per message to the destination.
const BATCH_BYTES: usize = 1 << 20;
/// Buffers encoded ahead of the destination, per pipe.
const IN_FLIGHT: usize = 2;

/// How the reader turns rows into `COPY` text; owned, because it runs on its own task.
#[derive(Debug, Clone)]
pub struct Encoding {
    /// The destination columns, in the query's column order.
    pub targets: Vec<Target>,
    /// Per column, whether it may hold a MySQL zero date (MySQL date and date-time
    /// columns; see `transfer::dated_columns`).
    pub dated: Vec<bool>,
    pub zero_dates: ZeroDates,
    /// Appends one value in the destination's bulk text ([`postgres_value`], or
    /// `load_data::value`); `false` when it cannot travel that way (the chunk then takes
    /// the page path).
    pub value: fn(&Target, Option<&str>, &mut String) -> bool,
}

/// A value as `COPY` text (`postgres::write::copy_value`), which takes every value.
pub fn postgres_value(t: &Target, v: Option<&str>, out: &mut String) -> bool {
    crate::engine::postgres::write::copy_value(t, v, out);
    true
}

/// What a finished pipe moved.
#[derive(Debug, Clone, Copy, Default)]
pub struct Moved {
    pub rows: u64,
    /// Zero dates written as NULL (`transfer.zero_dates: null`).
    pub zero_dates: u64,
}

/// Why a pipe stopped; the range is empty again either way.
#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    #[error("reading the source: {0}")]
    Source(sqlx::Error),
    #[error("a value is not UTF-8 text: {0}")]
    Decode(String),
    #[error("writing the destination: {0}")]
    Destination(sqlx::Error),
    /// The reader task panicked or was cancelled (a bug, never the data).
    #[error("the row pipe's reader stopped: {0}")]
    Reader(String),
    /// A zero date under `transfer.zero_dates: reject`: the page path writes the reject.
    #[error("a row holds a MySQL zero date, which is rejected row by row")]
    ZeroDate,
    #[error("column `{0}` holds a value the bulk text cannot carry")]
    Unencodable(String),
    /// MySQL's `LOAD DATA` was rolled back (warnings, fewer rows taken, refused).
    #[error(transparent)]
    Declined(#[from] Declined),
    /// SQLite's chunk transaction was rolled back (a refused row, fewer rows taken).
    #[error(transparent)]
    Lite(#[from] first_load::Declined),
}

/// One encoded buffer and what it holds.
struct Batch {
    text: String,
    moved: Moved,
}

/// Runs `select` on the source and loads its rows with `copy_in` into the destination;
/// `on_progress` hears the running totals after each buffer.
pub async fn pipe(
    source: SourcePool,
    destination: &sqlx::PgPool,
    select: String,
    copy_in: &str,
    encoding: Encoding,
    on_progress: &mut dyn FnMut(Moved),
) -> Result<Moved, PipeError> {
    let mut copy = destination
        .copy_in_raw(copy_in)
        .await
        .map_err(PipeError::Destination)?;
    let (reader, mut rx) = spawn_reader(source, select, encoding);
    let mut moved = Moved::default();
    while let Some(batch) = rx.recv().await {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                // `abort` ends the COPY with an error so the destination keeps nothing.
                let _ = copy.abort("seaway: the source read stopped").await;
                return Err(e);
            }
        };
        if let Err(e) = copy.send(batch.text.into_bytes()).await {
            reader.abort();
            return Err(PipeError::Destination(e));
        }
        moved.rows += batch.moved.rows;
        moved.zero_dates += batch.moved.zero_dates;
        on_progress(moved);
    }
    // The channel also closes when the reader dies without a word (a panic): then the
    // rows sent so far are only part of the chunk, and must not be committed.
    if let Err(e) = reader.await {
        let _ = copy.abort("seaway: the source reader stopped").await;
        return Err(PipeError::Reader(e.to_string()));
    }
    copy.finish().await.map_err(PipeError::Destination)?;
    Ok(moved)
}

/// Runs `select` on the source and loads its rows into MySQL/MariaDB `table` with one
/// `LOAD DATA LOCAL INFILE`, kept only if the server took every row without a warning
/// (`LoadData::load`); `on_progress` hears the running totals after each buffer.
pub async fn load(
    source: SourcePool,
    destination: &LoadData,
    table: &str,
    select: String,
    encoding: Encoding,
    on_progress: &mut dyn FnMut(Moved),
) -> Result<Moved, PipeError> {
    let targets = encoding.targets.clone();
    let (mut reader, mut rx) = spawn_reader(source, select, encoding);
    // The statement's data: what the reader encoded, handed on as it comes.
    let (tx, data) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(1);
    let data = futures_util::stream::unfold(data, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let moved = Cell::new(Moved::default());
    let stopped: RefCell<Option<PipeError>> = RefCell::new(None);
    let forward = async {
        // Owned here, so the data ends (and the statement with it) when this does.
        let tx = tx;
        let stop = |e: PipeError| {
            *stopped.borrow_mut() = Some(e);
            // An error item ends the file with an error: the statement is rolled back.
            std::io::Error::other("seaway: the source read stopped")
        };
        while let Some(batch) = rx.recv().await {
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    let _ = tx.send(Err(stop(e))).await;
                    return;
                }
            };
            let sent = batch.moved;
            if tx
                .send(Ok(bytes::Bytes::from(batch.text.into_bytes())))
                .await
                .is_err()
            {
                // The statement stopped reading (it failed): so does the reader.
                reader.abort();
                return;
            }
            let mut m = moved.get();
            m.rows += sent.rows;
            m.zero_dates += sent.zero_dates;
            moved.set(m);
            on_progress(m);
        }
        // The channel also closes when the reader dies without a word (a panic): then
        // the rows sent so far are only part of the chunk, and must not be committed.
        if let Err(e) = (&mut reader).await {
            let _ = tx.send(Err(stop(PipeError::Reader(e.to_string())))).await;
        }
    };
    let sent = || moved.get().rows;
    let loading = destination.load(table, &targets, data.boxed(), &sent);
    let ((), loaded) = futures_util::join!(forward, loading);
    if let Some(e) = stopped.into_inner() {
        return Err(e);
    }
    loaded?;
    Ok(moved.get())
}

/// Runs `select` on the source and loads its rows into SQLite `table` in one transaction
/// (`first_load.rs`), kept only if SQLite took every row; `on_progress` hears the running
/// totals after each buffer. The reader starts before the writer's turn is taken, so a
/// chunk's first rows are read while another chunk is still being written.
pub async fn lite(
    source: SourcePool,
    destination: &LiteWriter,
    table: &str,
    select: String,
    encoding: Encoding,
    on_progress: &mut dyn FnMut(Moved),
) -> Result<Moved, PipeError> {
    let targets = encoding.targets.clone();
    let (reader, mut rx) = spawn_reader(source, select, encoding);
    let mut conn = match destination.turn().await {
        Ok(c) => c,
        Err(e) => {
            reader.abort();
            return Err(PipeError::Destination(e));
        }
    };
    let raised = match Raised::raise(&mut conn).await {
        Ok(raised) => raised,
        Err(e) => {
            reader.abort();
            return Err(PipeError::Destination(e));
        }
    };
    let kept = match FirstLoad::begin(&mut conn, table, &targets).await {
        Ok(mut load) => match fill(&mut load, reader, &mut rx, on_progress).await {
            Ok(moved) => load
                .commit(moved.rows)
                .await
                .map(|_| moved)
                .map_err(PipeError::from),
            Err(e) => {
                load.abandon().await;
                Err(e)
            }
        },
        Err(e) => {
            reader.abort();
            Err(PipeError::Destination(e))
        }
    };
    first_load::finish(&mut conn, &raised).await;
    kept
}

/// Hands every buffer the reader sends to `load`, until the reader is done.
async fn fill(
    load: &mut FirstLoad<'_>,
    mut reader: tokio::task::JoinHandle<()>,
    rx: &mut tokio::sync::mpsc::Receiver<Result<Batch, PipeError>>,
    on_progress: &mut dyn FnMut(Moved),
) -> Result<Moved, PipeError> {
    let mut moved = Moved::default();
    while let Some(batch) = rx.recv().await {
        let batch = batch?;
        if let Err(e) = load.rows(&batch.text).await {
            reader.abort();
            return Err(e.into());
        }
        moved.rows += batch.moved.rows;
        moved.zero_dates += batch.moved.zero_dates;
        on_progress(moved);
    }
    // The channel also closes when the reader dies without a word (a panic): then the
    // rows sent so far are only part of the chunk, and must not be committed.
    if let Err(e) = (&mut reader).await {
        return Err(PipeError::Reader(e.to_string()));
    }
    Ok(moved)
}

/// Starts the reader task: `select`'s rows, encoded, a buffer at a time.
fn spawn_reader(
    source: SourcePool,
    select: String,
    encoding: Encoding,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::mpsc::Receiver<Result<Batch, PipeError>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Batch, PipeError>>(IN_FLIGHT);
    let reader = match source {
        SourcePool::Postgres(p) => tokio::spawn(read(p, select, encoding, tx)),
        SourcePool::Mysql(p) => tokio::spawn(read(p, select, encoding, tx)),
    };
    (reader, rx)
}

/// The reader task: streams the query's rows and sends them encoded, a buffer at a time.
/// Stops quietly when the destination side has gone (the receiver is dropped).
async fn read<DB>(
    pool: sqlx::Pool<DB>,
    select: String,
    encoding: Encoding,
    tx: tokio::sync::mpsc::Sender<Result<Batch, PipeError>>,
) where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'r> &'r str: sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    // The text protocol (no prepared statement): MySQL then sends every value as text,
    // which `read::text_expr` relies on; the others read text columns either way.
    let mut rows = sqlx::raw_sql(sqlx::AssertSqlSafe(select)).fetch(&pool);
    let mut batch = Batch {
        text: String::with_capacity(BATCH_BYTES + BATCH_BYTES / 8),
        moved: Moved::default(),
    };
    while let Some(row) = rows.next().await {
        let encoded = match row {
            Ok(row) => encode(&row, &encoding, &mut batch),
            Err(e) => Err(PipeError::Source(e)),
        };
        if let Err(e) = encoded {
            let _ = tx.send(Err(e)).await;
            return;
        }
        if batch.text.len() >= BATCH_BYTES {
            let full = std::mem::replace(
                &mut batch,
                Batch {
                    text: String::with_capacity(BATCH_BYTES + BATCH_BYTES / 8),
                    moved: Moved::default(),
                },
            );
            if tx.send(Ok(full)).await.is_err() {
                return;
            }
        }
    }
    if batch.moved.rows > 0 {
        let _ = tx.send(Ok(batch)).await;
    }
}

/// Appends one row to the batch as a line of bulk text, each value converted for the
/// destination column exactly as the page path converts it.
fn encode<R>(row: &R, encoding: &Encoding, batch: &mut Batch) -> Result<(), PipeError>
where
    R: sqlx::Row,
    for<'r> &'r str: sqlx::Decode<'r, R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    use sqlx::{Decode, ValueRef};
    let line_start = batch.text.len();
    let mut zeros = 0;
    for (i, target) in encoding.targets.iter().enumerate() {
        if i > 0 {
            batch.text.push('\t');
        }
        let raw = row.try_get_raw(i).map_err(PipeError::Source)?;
        let value = if raw.is_null() {
            None
        } else {
            Some(
                <&str as Decode<R::Database>>::decode(raw)
                    .map_err(|e| PipeError::Decode(e.to_string()))?,
            )
        };
        let value = match value {
            Some(v) if encoding.dated.get(i).copied().unwrap_or(false) && is_zero_date(v) => {
                match encoding.zero_dates {
                    ZeroDates::Null => {
                        zeros += 1;
                        None
                    }
                    ZeroDates::Reject => {
                        batch.text.truncate(line_start);
                        return Err(PipeError::ZeroDate);
                    }
                }
            }
            v => v,
        };
        if !(encoding.value)(target, value, &mut batch.text) {
            batch.text.truncate(line_start);
            return Err(PipeError::Unencodable(target.name.clone()));
        }
    }
    batch.text.push('\n');
    batch.moved.rows += 1;
    batch.moved.zero_dates += zeros;
    Ok(())
}
