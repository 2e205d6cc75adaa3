//! Any source into a PostgreSQL key range the destination does not hold yet, when the
//! byte-for-byte `copy_pipe` does not apply (another source engine, or a value to
//! convert): the chunk is read with one unpaged query (`read::chunk_query`) over the
//! source's text protocol, each row is encoded straight from the driver's buffer into
//! `COPY` text (no `String` per value), and the text goes to one `COPY ... FROM STDIN`.
//!
//! Why not pages: a page loop reads page n+1 only after page n is written, so the source
//! and the destination wait on each other, and every value is decoded into its own
//! `String`, then converted and escaped again. Here a reader task on its own thread keeps
//! a few buffers ahead of the destination (bounded: memory does not grow with the chunk).
//!
//! Same contract as `copy_pipe`: the destination's `COPY` is one statement, hence atomic,
//! so any failure (a refused row, a lost connection, a zero date under
//! `transfer.zero_dates: reject`) leaves the range empty and the caller loads the chunk
//! page by page, which isolates refused rows into the reject file. Masked columns take
//! the page path (masks work on owned values).

use crate::engine::postgres::write::copy_value;
use crate::rows::plan::Target;
use crate::rows::source::SourcePool;
use crate::rows::values::is_zero_date;
use futures_util::StreamExt;
use seaway_codegen::config::ZeroDates;
use sqlx::postgres::PgPoolCopyExt;

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
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Batch, PipeError>>(IN_FLIGHT);
    let reader = match source {
        SourcePool::Postgres(p) => tokio::spawn(read(p, select, encoding, tx)),
        SourcePool::Mysql(p) => tokio::spawn(read(p, select, encoding, tx)),
    };
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

/// Appends one row to the batch as a `COPY` text line, each value converted for the
/// destination column exactly as the page path's `copy_text` does.
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
        copy_value(target, value, &mut batch.text);
    }
    batch.text.push('\n');
    batch.moved.rows += 1;
    batch.moved.zero_dates += zeros;
    Ok(())
}
