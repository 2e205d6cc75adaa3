//! The initial copy, handed over to the change stream with no gap and no double: the
//! watermark technique of Netflix's DBLog (Debezium's incremental snapshots do the
//! same).
//!
//! The stream runs from before the copy starts (the slot exists first). Each chunk is a
//! keyset page of one table, read between a low and a high watermark that sync writes
//! into the source's own stream. While the stream is between the two marks, every change
//! to a key of the chunk removes that key from the chunk: the stream carries a state of
//! that row at least as new as the read. At the high mark the chunk's remaining rows are
//! applied, in the same destination transaction as the high mark's position and the
//! copy's progress. A remaining row was not changed between the marks, and the read
//! happened between them, so it is the row's state at the high mark: applied there, it
//! is neither older than a change applied before it nor overwritten by an older one
//! after. A row whose last change the stream already applied is held exactly, and the
//! upsert leaves it alone (no second write, no trigger).
//!
//! Where the source makes transactions visible out of stream order (PostgreSQL), the
//! read also returns the snapshot it saw (`read_view.rs`): a streamed transaction the
//! read did not see takes its keys out of the chunk even before the low mark, and a
//! transaction the stream already delivered must be visible to the read (else the chunk
//! is read again).
//!
//! Chunks are read one at a time; the copy's progress (table, last key) is stored with
//! the position, so a restart continues with the next chunk. Watermarks carry a number
//! unique to the run, so marks of an interrupted run, met again in the stream, are
//! ignored.

use super::apply::{Applier, Route};
use super::capture::Setup;
use super::change::{Change, Mark, Values, clear_zero_dates};
use super::error::SyncError;
use super::position;
use super::read_view::{self, ReadView};
use crate::rows::read::{self, Page};
use crate::rows::source::Source;
use seaway_codegen::config::ZeroDates;
use std::collections::HashMap;

/// The copy's state in a running sync.
#[derive(Debug)]
pub struct Copy {
    /// Route indices still to copy, in load order; the first is the current table.
    todo: Vec<usize>,
    /// The current table's last key copied (plan key order).
    after: Option<Values>,
    tables: Vec<TableInfo>,
    chunk_size: usize,
    next_id: u64,
    chunk: Option<Chunk>,
    /// `transfer.zero_dates`, for rows of a source that stores zero dates.
    zero_dates: ZeroDates,
    /// The source transaction the stream is in (its Begin's id).
    xid: Option<String>,
    /// Transactions the stream delivered since the last chunk was read: the next read
    /// must see them all. Kept only while the source's reads come with a snapshot
    /// (`tracks`), as 4-byte ids: a stream far behind delivers many between two reads.
    delivered: Vec<u32>,
    tracks: bool,
}

/// What the copy needs of a route.
#[derive(Debug)]
struct TableInfo {
    name: String,
    source_table: String,
    columns: Vec<seaway_codegen::model::Column>,
    keys: Vec<seaway_codegen::model::Column>,
    /// Positions of the key in a row.
    key_positions: Vec<usize>,
    filter: Option<String>,
}

/// One chunk between its watermarks.
#[derive(Debug)]
struct Chunk {
    id: u64,
    table: usize,
    /// The rows read; `None` once a change to the key was seen between the marks.
    rows: Vec<Option<Values>>,
    by_key: HashMap<Values, usize>,
    /// The last key read, where the next chunk starts (`None`: the table is done).
    last: Option<Values>,
    low_seen: bool,
    /// What the read saw of the source's transactions.
    view: ReadView,
}

impl Copy {
    /// The copy as the destination's stored progress has it.
    pub fn resume(
        routes: &[Route],
        stored: &position::Copy,
        chunk_size: usize,
        zero_dates: ZeroDates,
    ) -> Copy {
        let tables: Vec<TableInfo> = routes
            .iter()
            .map(|r| TableInfo {
                name: r.plan.name.clone(),
                source_table: r.plan.source_table.clone(),
                columns: r.plan.src_cols.clone(),
                keys: r.plan.key_cols.clone(),
                key_positions: r
                    .plan
                    .key_cols
                    .iter()
                    .filter_map(|k| r.plan.src_cols.iter().position(|c| c.name == k.name))
                    .collect(),
                filter: r.plan.filter.clone(),
            })
            .collect();
        let start = stored
            .table
            .as_ref()
            .and_then(|t| tables.iter().position(|i| &i.name == t))
            .unwrap_or(0);
        Copy {
            todo: (start..tables.len()).collect(),
            after: stored.after.clone(),
            tables,
            chunk_size: chunk_size.max(1),
            // Unique to this run, so an earlier run's marks are not taken for ours.
            next_id: u64::try_from(super::apply::now_micros()).unwrap_or(1),
            chunk: None,
            zero_dates,
            xid: None,
            delivered: Vec::new(),
            tracks: true,
        }
    }

    /// Starts the next chunk if none is between its marks: low mark, read, high mark.
    pub async fn start_chunk(&mut self, setup: &Setup, source: &Source) -> Result<(), SyncError> {
        if self.chunk.is_some() {
            return Ok(());
        }
        let id = self.next_id;
        self.next_id += 1;
        setup.watermark(source, Mark::Low, id).await?;
        let (table, rows, last, view) = match self.todo.first() {
            Some(&t) => {
                let (rows, last, view) = self.read_seeing_delivered(t, setup, source).await?;
                (t, rows, last, view)
            }
            // Nothing left: an empty chunk whose high mark records the copy as done.
            None => (usize::MAX, Vec::new(), None, ReadView::StreamOrder),
        };
        self.delivered.clear();
        // A source whose reads see everything in stream order has nothing to track.
        self.tracks = !matches!(view, ReadView::StreamOrder);
        setup.watermark(source, Mark::High, id).await?;
        let by_key = match self.tables.get(table) {
            Some(info) => rows
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    (
                        info.key_positions.iter().map(|&k| r[k].clone()).collect(),
                        i,
                    )
                })
                .collect(),
            None => HashMap::new(),
        };
        self.chunk = Some(Chunk {
            id,
            table,
            rows: rows.into_iter().map(Some).collect(),
            by_key,
            last,
            low_seen: false,
            view,
        });
        Ok(())
    }

    /// Reads the next page of table `t`, again while the read does not see a
    /// transaction the stream already delivered: its commit is in the source's log but
    /// the source has not made it visible yet (`read_view.rs`), which takes moments.
    async fn read_seeing_delivered(
        &self,
        t: usize,
        setup: &Setup,
        source: &Source,
    ) -> Result<(Vec<Values>, Option<Values>, ReadView), SyncError> {
        let read = read_view::read_seeing(&self.delivered, || async {
            let (rows, last, view) = self.read(t, setup, source).await?;
            Ok::<_, SyncError>(((rows, last, view.clone()), view))
        })
        .await?;
        read.map_err(|xid| SyncError::Source {
            connection: self.tables[t].source_table.clone(),
            what: format!(
                "reading a chunk of `{}` for the initial copy",
                self.tables[t].source_table
            ),
            reason: read_view::still_unseen(xid),
        })
    }

    /// Reads the next page of table `t` after the last key; returns its rows and its
    /// last key, or no key when the page was the table's last.
    async fn read(
        &self,
        t: usize,
        setup: &Setup,
        source: &Source,
    ) -> Result<(Vec<Values>, Option<Values>, ReadView), SyncError> {
        let info = &self.tables[t];
        let dialect = match source {
            Source::Postgres(_) => seaway_codegen::model::Dialect::Postgres,
            Source::Mysql(_) => seaway_codegen::model::Dialect::Mysql,
            Source::Sqlite(_) => seaway_codegen::model::Dialect::Sqlite,
        };
        let columns: Vec<&seaway_codegen::model::Column> = info.columns.iter().collect();
        let keys: Vec<&seaway_codegen::model::Column> = info.keys.iter().collect();
        let query = read::page_query(
            dialect,
            Page {
                table: &info.source_table,
                columns: &columns,
                keys: &keys,
                after: self.after.is_some(),
                range: (None, None),
                key_range: (false, false),
                filter: info.filter.as_deref(),
                limit: self.chunk_size,
            },
        );
        let params: Vec<String> = self
            .after
            .iter()
            .flatten()
            .map(|v| v.clone().unwrap_or_default())
            .collect();
        let what = format!(
            "reading a chunk of `{}` for the initial copy",
            info.source_table
        );
        let (mut rows, view) = setup.read_chunk(source, &query.sql, &params, &what).await?;
        let full = rows.len() >= self.chunk_size;
        let last = rows.last().map(|r| r[query.width..].to_vec());
        let zero_dates = crate::engine::of(dialect).holds_zero_dates();
        for r in &mut rows {
            r.truncate(query.width);
            if zero_dates {
                clear_zero_dates(self.zero_dates, &info.columns, r).map_err(|what| {
                    SyncError::Unsupported {
                        table: info.source_table.clone(),
                        what,
                    }
                })?;
            }
        }
        Ok((rows, if full { last } else { None }, view))
    }

    /// The stream entered source transaction `xid`.
    pub fn begin(&mut self, xid: &str) {
        self.xid = Some(xid.to_string());
        if self.tracks
            && let Ok(id) = xid.parse::<u32>()
        {
            self.delivered.push(id);
        }
    }

    /// A change seen in the stream: between the marks, or before them when the read did
    /// not see its transaction, its keys leave the chunk.
    pub fn seen(&mut self, change: &Change) {
        let Some(chunk) = self.chunk.as_mut() else {
            return;
        };
        if chunk.table != change.table {
            return;
        }
        if !chunk.low_seen && self.xid.as_deref().is_some_and(|x| chunk.view.saw(x)) {
            return;
        }
        let Some(info) = self.tables.get(chunk.table) else {
            return;
        };
        let new_key = change.row.as_ref().map(|r| {
            info.key_positions
                .iter()
                .map(|&k| r[k].clone())
                .collect::<Values>()
        });
        if let (Some(row), Some(key), None) = (&change.row, &new_key, &change.old_key)
            && !change.unchanged.is_empty()
        {
            // Only some columns came (the rest did not change): the chunk's row stays,
            // with the columns that came, so the high mark writes the row whole.
            if let Some(held) = chunk.by_key.get(key).and_then(|&i| chunk.rows[i].as_mut()) {
                for (i, v) in row.iter().enumerate() {
                    if !change.unchanged.contains(&i) {
                        held[i] = v.clone();
                    }
                }
            }
            return;
        }
        for key in new_key.iter().chain(change.old_key.iter()) {
            if let Some(&i) = chunk.by_key.get(key) {
                chunk.rows[i] = None;
            }
        }
    }

    /// A watermark reached the stream. At the chunk's high mark its remaining rows go to
    /// the applier with the copy's new progress; returns whether the copy is done.
    pub async fn mark(
        &mut self,
        mark: Mark,
        id: u64,
        applier: &mut Applier<'_>,
    ) -> Result<bool, SyncError> {
        let Some(chunk) = self.chunk.as_mut() else {
            return Ok(false);
        };
        if chunk.id != id {
            return Ok(false);
        }
        match mark {
            Mark::Low => {
                chunk.low_seen = true;
                Ok(false)
            }
            Mark::High => {
                let Some(chunk) = self.chunk.take() else {
                    return Ok(false);
                };
                let rows: Vec<Values> = chunk.rows.into_iter().flatten().collect();
                if chunk.table != usize::MAX && !rows.is_empty() {
                    applier.copied(chunk.table, rows).await?;
                }
                match chunk.last {
                    Some(last) => self.after = Some(last),
                    None => {
                        self.after = None;
                        if !self.todo.is_empty() {
                            self.todo.remove(0);
                        }
                    }
                }
                let done = self.todo.is_empty();
                applier.copy = position::Copy {
                    table: self.todo.first().map(|&t| self.tables[t].name.clone()),
                    after: self.after.clone(),
                    done,
                };
                Ok(done)
            }
        }
    }
}
