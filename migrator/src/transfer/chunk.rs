//! The chunk loop: a chunk's keyset pages, each read while the previous one is written,
//! masked, checked for zero dates and upserted (refused pages halved down to the
//! refused rows), with the last key recorded after every page so a killed run resumes.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use super::compare::Start;
use super::state::Chunk;
use super::{Event, Job, OnError, Progress, TableSpec, TransferError};
use crate::rows::plan::Target;
use crate::rows::range::KeyRange;
use crate::rows::values::{self, Family};
use crate::rows::write::{WriteError, Written};
use crate::rows::{apply_mask, read, source};
use seaway_codegen::config::ZeroDates;
use seaway_codegen::model::Column;

impl Job<'_> {
    /// Copies one chunk: compared first where the destination already holds its key range
    /// (`compare.rs`); whole through a fast path when that range is empty; otherwise page
    /// by page.
    pub(super) async fn chunk(
        &self,
        spec: &TableSpec<'_>,
        chunk: &Chunk,
        progress: &Progress<'_, '_>,
    ) -> Result<(), TransferError> {
        let fresh = match spec.compare {
            Some(comparing) => match self.compare_range(spec, chunk).await {
                Start::Compare(range) => {
                    return self
                        .compare_chunk(spec, comparing, chunk, range, progress)
                        .await;
                }
                Start::Fresh => true,
                Start::Pages => false,
            },
            None => self.range_is_fresh(spec, chunk).await,
        };
        if fresh
            && (self.stream_chunk(spec, chunk, progress).await?
                || self.pipe_chunk(spec, chunk, progress).await?)
        {
            return Ok(());
        }
        self.pages(
            spec,
            chunk,
            &chunk.range,
            chunk.last_key.as_deref(),
            fresh,
            progress,
        )
        .await?;
        self.state
            .chunk_done(chunk)
            .await
            .map_err(|e| self.state_error(e))
    }

    /// Copies `range` of a chunk (the whole chunk, or a piece compare-first found empty in
    /// the destination) page by page from after `after`, recording the chunk's last key
    /// after every page. `fresh`: the destination holds none of it, so pages go in as
    /// plain inserts first.
    pub(super) async fn pages(
        &self,
        spec: &TableSpec<'_>,
        chunk: &Chunk,
        range: &KeyRange,
        after: Option<&[String]>,
        fresh: bool,
        progress: &Progress<'_, '_>,
    ) -> Result<(), TransferError> {
        let TableSpec { name, targets, .. } = *spec;
        // One page of read-ahead: page n+1 is read while page n is written, so the source
        // and the destination work at the same time instead of in turn (memory: two pages
        // per chunk in flight).
        let mut rows = self.read_page(spec, range, after).await?;
        while !rows.is_empty() {
            let full = rows.len() == self.opts.page_size;
            let Page {
                data,
                keys,
                last_key,
                zero_refused,
            } = self.page(spec, rows, progress)?;
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
                    Some(n) => {
                        progress
                            .bulk_loaded
                            .set(progress.bulk_loaded.get() + n.rows());
                        (n, zero_refused)
                    }
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
                    self.read_page(spec, range, Some(&last_key)).await
                } else {
                    Ok(Vec::new())
                }
            };
            let (written, next) = futures_util::join!(write, ahead);
            written?;
            rows = next?;
        }
        Ok(())
    }

    /// A page read from the source made ready to write: each row split from its key and
    /// masked, its zero dates dealt with (`Job::screen`), and the page's last key kept
    /// (even when that row is refused).
    pub(super) fn page(
        &self,
        spec: &TableSpec<'_>,
        rows: source::Rows,
        progress: &Progress<'_, '_>,
    ) -> Result<Page, TransferError> {
        let width = spec.src_cols.len();
        let last_key: Vec<String> = rows
            .last()
            .map(|r| {
                r[width..]
                    .iter()
                    .map(|v| v.clone().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        let split = rows.into_iter().map(|mut row| {
            let key: Vec<Option<String>> = row.split_off(width);
            for (value, mask) in row.iter_mut().zip(spec.masks) {
                apply_mask(value, *mask, self.config);
            }
            (key, row)
        });
        let (data, keys, zero_refused) = self.screen(spec, split, progress)?;
        Ok(Page {
            data,
            keys,
            last_key,
            zero_refused,
        })
    }

    /// Rows (each with its key) ready to write: MySQL zero dates made NULL, or the row
    /// rejected (`zero_dates`). Returns the rows, their keys, and how many were refused.
    #[allow(clippy::type_complexity)]
    pub(super) fn screen(
        &self,
        spec: &TableSpec<'_>,
        rows: impl Iterator<Item = (Vec<Option<String>>, Vec<Option<String>>)>,
        progress: &Progress<'_, '_>,
    ) -> Result<(Vec<Vec<Option<String>>>, Vec<Vec<Option<String>>>, usize), TransferError> {
        let dated = dated_columns(self.source_schema.dialect, spec.src_cols);
        let (mut data, mut keys, mut refused) = (Vec::new(), Vec::new(), 0);
        for (key, mut row) in rows {
            if let Some(reason) = self.zero_dates(spec.src_cols, &dated, &mut row, progress) {
                self.reject(spec.name, &key, &reason)?;
                refused += 1;
                continue;
            }
            data.push(row);
            keys.push(key);
        }
        Ok((data, keys, refused))
    }

    /// Reads the page of `range` after `last` (from its start when `None`): rows of
    /// canonical text, each followed by its key columns.
    pub(super) async fn read_page(
        &self,
        spec: &TableSpec<'_>,
        range: &KeyRange,
        last: Option<&[String]>,
    ) -> Result<source::Rows, TransferError> {
        let (lo_key, hi_key) = range.keys();
        let page = read::Page {
            table: spec.source_table,
            columns: spec.src_cols,
            keys: spec.key_cols,
            after: last.is_some(),
            range: range.ints(),
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

    /// MySQL zero dates in a row (`0000-00-00`, a zero month or day), which no other
    /// engine stores: NULL and counted (`transfer.zero_dates: null`, the default), or the
    /// reason to reject the row (`reject`).
    pub(super) fn zero_dates(
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

    /// Upserts a page; if the destination refuses it, retries the halves, and their
    /// halves, until only the refused rows are left, which go to the reject file
    /// (pgloader's idea, with halving instead of row by row: one bad row in a page of
    /// 5,000 costs about 25 retries instead of 5,000). Returns (written, refused).
    pub(super) async fn write(
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
}

/// A page ready to write.
pub(super) struct Page {
    /// Rows after masks, in the targets' order.
    pub data: Vec<Vec<Option<String>>>,
    /// Each row's key, as read (for the reject file).
    pub keys: Vec<Vec<Option<String>>>,
    /// The page's last key, where the next page starts.
    pub last_key: Vec<String>,
    /// Rows refused for their zero dates (already in the reject file).
    pub zero_refused: usize,
}

/// The date and date-time columns among `cols` that may hold zero dates (an engine's
/// `Read::holds_zero_dates`: MySQL/MariaDB).
pub(super) fn dated_columns(d: seaway_codegen::model::Dialect, cols: &[&Column]) -> Vec<usize> {
    if !crate::engine::of(d).holds_zero_dates() {
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
