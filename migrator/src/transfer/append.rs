//! Append-only tables (no key at all): each window is replaced in one destination
//! transaction instead of being upserted page by page, so a copy is all or nothing.

use super::chunk::dated_columns;
use super::incremental::Window;
use super::state::Chunk;
use super::{Event, Job, OnError, Progress, TableSpec, TransferError};
use crate::rows::write::{WriteError, Written};
use crate::rows::{apply_mask, read};
use futures_util::StreamExt;
use seaway_codegen::model::Column;

impl Job<'_> {
    /// An append-only table (no key to match rows on): the window's rows replace what an
    /// earlier copy of the same window wrote (rows past the window's lower mark; every
    /// row in full mode or on a first run), in one destination transaction
    /// (`write::Tx`). Without a key a copy can neither resume part-way nor upsert, so it
    /// is all or nothing instead: a refused row rolls the window back and fails the table,
    /// and a killed run leaves the destination as it was.
    pub(super) async fn append(
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
    pub(super) fn append_refused(&self, table: &str, e: &dyn std::fmt::Display) -> TransferError {
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
    pub(super) async fn canonical_mark(
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
}
