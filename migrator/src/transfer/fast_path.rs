//! The first load of an empty key range: a whole chunk in one `COPY` (the `COPY` pipe
//! between two PostgreSQL servers, the row pipe from any other source), with no staging
//! table and no upsert. Each entry point answers `Ok(false)` when the chunk is not
//! eligible or the pipe left the range empty, and the caller then pages the chunk.

use super::chunk::dated_columns;
use super::state::Chunk;
use super::{Event, Job, Progress, TableSpec, TransferError, copy_pipe, row_pipe};
use crate::rows::read;
use std::cell::Cell;

impl Job<'_> {
    /// Whether the rest of the chunk's key range is empty in the destination, so pages can
    /// go in as plain inserts. Asked once per chunk; a chunk resumed part-way, a composite
    /// or non-integer key split into ranges, or any error answers `false` (upsert).
    pub(super) async fn range_is_fresh(&self, spec: &TableSpec<'_>, chunk: &Chunk) -> bool {
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
    pub(super) async fn stream_chunk(
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
        let copy_in = crate::engine::postgres::write::copy_in_statement(spec.name, spec.targets);
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

    /// Loads a whole fresh chunk through the row pipe (see `row_pipe.rs`): one unpaged
    /// text-protocol read encoded straight into one PostgreSQL `COPY`, one MySQL/MariaDB
    /// `LOAD DATA LOCAL INFILE` where the server allows it, or one SQLite transaction.
    /// `Ok(false)`: not eligible (an SQLite source, a mask, a server without
    /// `local_infile`), or the pipe stopped (a refused row, a `LOAD DATA` warning) and
    /// left the range empty; the caller then loads the chunk page by page.
    pub(super) async fn pipe_chunk(
        &self,
        spec: &TableSpec<'_>,
        chunk: &Chunk,
        progress: &Progress<'_, '_>,
    ) -> Result<bool, TransferError> {
        let Some(source) = self.source.pipe_pool() else {
            return Ok(false);
        };
        if spec.masks.iter().any(Option::is_some) || spec.src_cols.len() != spec.targets.len() {
            return Ok(false);
        }
        let sink = match (
            self.writer.postgres(),
            self.writer.sqlite(),
            self.writer.mysql_load().await,
        ) {
            (Some(pg), _, _) => Sink::Copy(pg),
            (None, Some(lite), _) => Sink::Lite(lite),
            (None, None, Some(load)) => Sink::Load(load),
            (None, None, None) => return Ok(false),
        };
        // A pipe holds a connection on each side for its whole chunk: with as many
        // workers as a pool has connections, the count and the next chunk's range check
        // would wait out the acquire timeout behind them. Pages hold theirs briefly.
        let dest_max = match sink {
            Sink::Copy(pg) => {
                usize::try_from(pg.options().get_max_connections()).unwrap_or(usize::MAX)
            }
            Sink::Load(load) => load.sessions(),
            // One connection, taken in turns (`LiteWriter::turn`): no acquire waits out
            // its timeout behind a pipe.
            Sink::Lite(_) => usize::MAX,
        };
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
            value: match sink {
                Sink::Copy(_) => row_pipe::postgres_value,
                Sink::Load(_) => crate::engine::mysql::write::load_data::value,
                Sink::Lite(_) => crate::engine::sqlite::write::pipe_value,
            },
        };
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
        let piped = match sink {
            Sink::Copy(pg) => {
                let copy_in =
                    crate::engine::postgres::write::copy_in_statement(spec.name, spec.targets);
                row_pipe::pipe(source, pg, select, &copy_in, encoding, &mut on_progress).await
            }
            Sink::Load(load) => {
                row_pipe::load(source, load, spec.name, select, encoding, &mut on_progress).await
            }
            Sink::Lite(lite) => {
                row_pipe::lite(source, lite, spec.name, select, encoding, &mut on_progress).await
            }
        };
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
}

/// Where the row pipe writes a chunk.
#[derive(Clone, Copy)]
enum Sink<'w> {
    /// PostgreSQL: one `COPY ... FROM STDIN`.
    Copy(&'w sqlx::PgPool),
    /// MySQL/MariaDB: one `LOAD DATA LOCAL INFILE`.
    Load(&'w crate::engine::mysql::write::load_data::LoadData),
    /// SQLite: one transaction of multi-row inserts.
    Lite(&'w crate::engine::sqlite::write::LiteWriter),
}
