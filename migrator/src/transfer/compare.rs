//! Compare-first: into a destination table that already holds rows, each chunk whose
//! key range holds rows is compared before anything is written, by the checksums verify
//! computes (`verify::compare_first`), and only what differs is written, as rsync does.
//! Where both databases compute the checksums (PostgreSQL and MySQL/MariaDB, a single
//! integer key), an equal chunk costs one checksum query per side and moves no row; a
//! differing one is bisected down to small ranges (`verify/bisect.rs`), which are compared
//! row by row by the databases' row hashes, and only the differing rows are read.
//! Elsewhere (SQLite, other keys) the chunk is read in pieces of a page and diffed, and
//! nothing equal is written. Missing and changed rows go through the ordinary upsert (rejects
//! and all); a range the destination does not hold is copied page by page; extra
//! destination rows are counted, and deleted only with `--delete-extra`, after every
//! table is copied (`extras.rs`).
//!
//! The pieces of a chunk are compared a few at a time but written and recorded in key
//! order, with the last key each step covers, so a chunk killed part-way resumes after
//! it exactly as a paged chunk does; a comparison repeated after a kill finds what was
//! already written equal.

pub(super) use super::comparing::Comparing;
use super::state::{Chunk, Extra, Tally};
use super::{Event, Job, Progress, TableSpec, TransferError};
use crate::rows::plan::TablePlan;
use crate::rows::range::KeyRange;
use crate::rows::read;
use crate::rows::source::Source;
use crate::rows::write::Written;
use crate::verify::compare_first::{Comparer, Database, Leaf, RangeDiff, SourceRow, split};
use futures_util::{StreamExt, TryStreamExt, stream};

/// Pieces of a chunk compared at the same time (their reads; writes go in key order).
const PIECES_AHEAD: usize = 4;

/// How a chunk of a compared table starts.
pub(super) enum Start {
    /// Compare this part of it.
    Compare(KeyRange),
    /// The destination holds none of it: load it as on a first load.
    Fresh,
    /// Page by page with upserts (a resumed chunk whose last key cannot be a range's).
    Pages,
}

/// A chunk's piece in key order, as the comparison found it, up to the key it ends at.
enum Piece {
    Equal {
        hi: Option<Vec<String>>,
        rows: u64,
    },
    Diffed {
        hi: Option<Vec<String>>,
        diff: RangeDiff,
    },
    /// The destination holds none of the piece: copied page by page.
    Fresh {
        range: KeyRange,
    },
    /// The source holds none of the piece's `rows` destination rows.
    Extra {
        range: (Option<i64>, Option<i64>),
        rows: u64,
    },
}

/// What a chunk's pieces add up to until it is written and recorded.
#[derive(Default)]
struct Batch {
    send: Vec<SourceRow>,
    extras: Vec<Extra>,
    /// Rows found equal (held, nothing written), and extra rows found.
    unchanged: u64,
    extra: u64,
    /// The last key the batch covers (`None`: none yet, or the chunk's open end).
    last: Option<Vec<String>>,
}

impl Job<'_> {
    /// The table's comparison, when its chunks are to be compared first: the destination
    /// table holds rows, and neither `--copy-all` nor an incremental window (whose
    /// source side is only the rows past the mark) says otherwise. `None` also when the
    /// source's integer key is not one in the destination (no common ranges).
    pub(super) async fn comparing(
        &self,
        name: &str,
        plan: &TablePlan,
        windowed: bool,
    ) -> Result<Option<Comparing<'_>>, TransferError> {
        if self.opts.copy_all || windowed {
            return Ok(None);
        }
        let empty = self
            .writer
            .is_empty(name)
            .await
            .map_err(self.destination_error(name))?;
        if empty {
            return Ok(None);
        }
        let reader = self
            .reader
            .get_or_try_init(|| async {
                let reader = Source::open(self.dest_conn).await?;
                reader.warm(self.opts.workers.max(1)).await;
                Ok::<_, TransferError>(reader)
            })
            .await?;
        let by_value = *self
            .by_value
            .get_or_init(|| Comparer::by_value(self.source, reader))
            .await;
        let comparer = Comparer::new(
            self.config,
            &self.compare_opts,
            Database {
                db: self.source,
                conn: self.config.source_connection(),
                dialect: self.source_schema.dialect,
            },
            Database {
                db: reader,
                conn: self.dest_conn,
                dialect: self.dest_conn.url.dialect(),
            },
            by_value,
        );
        let table = comparer.table(plan.clone(), self.desired).await?;
        if plan.integer_key() && table.bounds().is_none() {
            tracing::info!(
                table = name,
                "the destination's key is not an integer like the source's: copied without comparing"
            );
            return Ok(None);
        }
        Ok(Some(Comparing { comparer, table }))
    }

    /// The part of a chunk to compare, or `None` when the destination holds none of the
    /// chunk's key range (then it is loaded as on a first load, fast paths and all). The
    /// first integer chunk is compared open below, so rows the destination holds under
    /// the source's smallest key are seen; a chunk resumed part-way, from after its last
    /// recorded key.
    pub(super) async fn compare_range(&self, spec: &TableSpec<'_>, chunk: &Chunk) -> Start {
        let range = match (&chunk.range, chunk.last_key.as_deref()) {
            (KeyRange::Ints { hi, .. }, Some([last])) => {
                return match last.parse::<i64>() {
                    Ok(lo) => Start::Compare(KeyRange::Ints {
                        lo: Some(lo),
                        hi: *hi,
                    }),
                    Err(_) => Start::Pages,
                };
            }
            (KeyRange::Ints { .. }, Some(_)) => return Start::Pages,
            (KeyRange::Keys { hi, .. }, Some(last)) => {
                return Start::Compare(KeyRange::Keys {
                    lo: Some(last.to_vec()),
                    hi: hi.clone(),
                });
            }
            (KeyRange::Keys { .. }, None) => return Start::Compare(chunk.range.clone()),
            (KeyRange::Ints { lo, hi }, None) => KeyRange::Ints {
                lo: if chunk.index == 0 { None } else { *lo },
                hi: *hi,
            },
        };
        let key = match spec.targets.iter().filter(|t| t.is_key).collect::<Vec<_>>()[..] {
            [k] => Some(k.name.as_str()),
            _ => None,
        };
        let ranged = !matches!(range, KeyRange::Ints { lo: None, hi: None });
        let empty = self
            .writer
            .range_is_empty(spec.name, key.filter(|_| ranged), range.ints())
            .await
            .unwrap_or(false);
        if empty {
            Start::Fresh
        } else {
            Start::Compare(range)
        }
    }

    /// Compares a chunk's `range` and writes only what differs (see the module's
    /// comment); records its progress step by step and the chunk done at the end.
    pub(super) async fn compare_chunk(
        &self,
        spec: &TableSpec<'_>,
        comparing: &Comparing<'_>,
        chunk: &Chunk,
        range: KeyRange,
        progress: &Progress<'_, '_>,
    ) -> Result<(), TransferError> {
        let pieces = self.pieces(spec, comparing, &range).await?;
        let (cmp, table) = (&comparing.comparer, &comparing.table);
        let mut pieces = stream::iter(pieces)
            .map(|piece| async move {
                match piece {
                    Planned::Leaf(leaf) => Ok::<_, TransferError>(leaf),
                    Planned::Diff(range) => {
                        let diff = match (&range, table.checksums_in_sql()) {
                            (KeyRange::Ints { lo, hi }, true) => {
                                cmp.diff_by_rows(table, (*lo, *hi)).await?
                            }
                            _ => cmp.diff(table, &range).await?,
                        };
                        Ok(Piece::Diffed {
                            hi: upper(&range),
                            diff,
                        })
                    }
                }
            })
            .buffered(PIECES_AHEAD);
        let mut batch = Batch::default();
        let mut equal = true;
        while let Some(piece) = pieces.try_next().await? {
            match piece {
                Piece::Equal { hi, rows } => {
                    batch.unchanged += rows;
                    batch.last = hi;
                }
                Piece::Diffed { hi, diff } => {
                    progress
                        .rows_read
                        .set(progress.rows_read.get() + diff.rows_read);
                    let sent = diff.send.len() as u64;
                    batch.unchanged += diff.source_rows.saturating_sub(sent);
                    batch.extra += diff.extra.len() as u64;
                    equal &= sent == 0 && diff.extra.is_empty();
                    if self.opts.delete_extra {
                        batch.extras.extend(diff.extra.into_iter().map(Extra::Key));
                    }
                    batch.send.extend(diff.send);
                    batch.last = hi;
                    if batch.send.len() >= self.opts.page_size {
                        self.step(spec, chunk, &mut batch, false, progress).await?;
                    }
                }
                Piece::Fresh { range } => {
                    equal = false;
                    self.step(spec, chunk, &mut batch, false, progress).await?;
                    self.pages(spec, chunk, &range, None, true, progress)
                        .await?;
                }
                Piece::Extra { range, rows } => {
                    equal = false;
                    batch.extra += rows;
                    if self.opts.delete_extra {
                        batch.extras.push(Extra::Range {
                            lo: range.0,
                            hi: range.1,
                        });
                    }
                    batch.last = range.1.map(|hi| vec![hi.to_string()]);
                }
            }
        }
        self.step(spec, chunk, &mut batch, true, progress).await?;
        if equal {
            progress.chunks_equal.set(progress.chunks_equal.get() + 1);
        }
        Ok(())
    }

    /// Writes a batch's rows (zero dates and refusals handled as pages are), keeps its
    /// extra rows for deletion, and records the step: rows held, refused and extra, and
    /// the last key covered (with `done`, the chunk done).
    async fn step(
        &self,
        spec: &TableSpec<'_>,
        chunk: &Chunk,
        batch: &mut Batch,
        done: bool,
        progress: &Progress<'_, '_>,
    ) -> Result<(), TransferError> {
        let batch = std::mem::take(batch);
        let rows = batch.send.into_iter().map(|s| (s.key, s.values));
        let (data, keys, zero_refused) = self.screen(spec, rows, progress)?;
        let (written, refused) = if data.is_empty() {
            (Written::default(), 0)
        } else {
            self.write(spec.name, spec.targets, &data, &keys).await?
        };
        let refused = refused + zero_refused;
        self.state
            .record_extras(spec.name, &batch.extras)
            .await
            .map_err(|e| self.state_error(e))?;
        let mut held = written;
        held.unchanged += batch.unchanged;
        let tally = Tally {
            rows: held.rows(),
            rejected: refused as u64,
            extra: batch.extra,
        };
        self.state
            .compared(chunk, batch.last.as_deref(), tally, done)
            .await
            .map_err(|e| self.state_error(e))?;
        progress.add(held);
        progress
            .rejected
            .set(progress.rejected.get() + refused as u64);
        progress.extra.set(progress.extra.get() + batch.extra);
        (progress.events.borrow_mut())(Event::Page {
            table: spec.name,
            rows: progress.rows.get(),
        });
        Ok(())
    }

    /// The pieces of `range`, in key order: with checksums in SQL, the leaves its
    /// narrowing found (equal, one-sided, or to be diffed); otherwise consecutive ranges of
    /// at most a page of keys, each to be diffed.
    async fn pieces(
        &self,
        spec: &TableSpec<'_>,
        comparing: &Comparing<'_>,
        range: &KeyRange,
    ) -> Result<Vec<Planned>, TransferError> {
        let (cmp, table) = (&comparing.comparer, &comparing.table);
        match range {
            KeyRange::Ints { lo, hi } => {
                if let Some(narrowed) = cmp.narrow(table, (*lo, *hi)).await? {
                    return Ok(narrowed.leaves.into_iter().map(planned).collect());
                }
                let Some(bounds) = table.bounds() else {
                    return Ok(vec![Planned::Diff(range.clone())]);
                };
                let (from, to) = (
                    lo.unwrap_or(bounds.0.saturating_sub(1)),
                    hi.unwrap_or(bounds.1),
                );
                let width = (to as i128 - from as i128).max(1);
                let parts = (width / self.opts.page_size.max(1) as i128 + 1).min(1 << 20) as usize;
                let split = split((*lo, *hi), bounds, parts);
                Ok(if split.is_empty() {
                    vec![Planned::Diff(range.clone())]
                } else {
                    split
                        .into_iter()
                        .map(|(lo, hi)| Planned::Diff(KeyRange::Ints { lo, hi }))
                        .collect()
                })
            }
            KeyRange::Keys { lo, hi } => {
                let cuts = self.key_cuts(spec, range).await?;
                let mut pieces = Vec::with_capacity(cuts.len() + 1);
                let mut from = lo.clone();
                for cut in cuts {
                    pieces.push(Planned::Diff(KeyRange::Keys {
                        lo: from.take(),
                        hi: Some(cut.clone()),
                    }));
                    from = Some(cut);
                }
                pieces.push(Planned::Diff(KeyRange::Keys {
                    lo: from,
                    hi: hi.clone(),
                }));
                Ok(pieces)
            }
        }
    }

    /// Every page-size-th source key of a sampled range, in the source's key order: where
    /// its pieces end (only the keys are read).
    async fn key_cuts(
        &self,
        spec: &TableSpec<'_>,
        range: &KeyRange,
    ) -> Result<Vec<Vec<String>>, TransferError> {
        let (lo, hi) = range.keys();
        let mut cuts: Vec<Vec<String>> = Vec::new();
        loop {
            let after = cuts.last().map(Vec::as_slice);
            let page = read::Page {
                table: spec.source_table,
                columns: &[],
                keys: spec.key_cols,
                after: after.is_some(),
                range: (None, None),
                key_range: (after.is_none() && lo.is_some(), hi.is_some()),
                filter: spec.filter,
                limit: self.opts.page_size.max(1),
            };
            let q = read::page_query(self.source_schema.dialect, page);
            let params: Vec<String> = after
                .or(lo)
                .into_iter()
                .flatten()
                .chain(hi.into_iter().flatten())
                .cloned()
                .collect();
            let rows = self
                .source
                .rows(&q.sql, &params)
                .await
                .map_err(|e| self.read_error(spec.source_table, &e))?;
            if rows.len() < self.opts.page_size.max(1) {
                return Ok(cuts);
            }
            match rows.last() {
                Some(last) => {
                    cuts.push(last.iter().map(|v| v.clone().unwrap_or_default()).collect())
                }
                None => return Ok(cuts),
            }
        }
    }

    /// An append-only table in full mode whose destination holds exactly the source's
    /// rows (compared as multisets): recorded as copied, nothing written. `false` when it
    /// is to be replaced as usual.
    pub(super) async fn append_equal(
        &self,
        spec: &TableSpec<'_>,
        chunk: &Chunk,
        progress: &Progress<'_, '_>,
    ) -> Result<bool, TransferError> {
        let Some(comparing) = spec.compare else {
            return Ok(false);
        };
        let found = comparing.comparer.keyless(&comparing.table).await?;
        progress
            .rows_read
            .set(progress.rows_read.get() + found.rows_read);
        if !found.equal {
            return Ok(false);
        }
        self.state
            .chunk_streamed(chunk, found.source_rows)
            .await
            .map_err(|e| self.state_error(e))?;
        progress.add(Written {
            unchanged: found.source_rows,
            ..Written::default()
        });
        progress.chunks_equal.set(progress.chunks_equal.get() + 1);
        Ok(true)
    }
}

/// A piece before its rows are read: a leaf already settled by checksums, or a range
/// to diff.
enum Planned {
    Leaf(Piece),
    Diff(KeyRange),
}

/// A narrowing leaf as a piece (a leaf that differs is diffed).
fn planned(leaf: Leaf) -> Planned {
    let hi = |h: Option<i64>| h.map(|h| vec![h.to_string()]);
    match leaf {
        Leaf::Equal { range, rows } => Planned::Leaf(Piece::Equal {
            hi: hi(range.1),
            rows,
        }),
        Leaf::Differs { range } => Planned::Diff(KeyRange::Ints {
            lo: range.0,
            hi: range.1,
        }),
        Leaf::Fresh { range, .. } => Planned::Leaf(Piece::Fresh {
            range: KeyRange::Ints {
                lo: range.0,
                hi: range.1,
            },
        }),
        Leaf::Extra { range, rows } => Planned::Leaf(Piece::Extra { range, rows }),
    }
}

/// The key a range ends at, as the state records a last key (`None`: open above).
fn upper(range: &KeyRange) -> Option<Vec<String>> {
    match range {
        KeyRange::Ints { hi, .. } => hi.map(|h| vec![h.to_string()]),
        KeyRange::Keys { hi, .. } => hi.clone(),
    }
}
