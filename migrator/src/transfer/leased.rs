//! A chunk copied under a lease (`migrator worker`, `lease/`): the same pages as the
//! chunk loop (`chunk.rs`: read ahead, masks, zero dates, refused rows halved down and
//! rejected), but each page is one destination transaction that first passes the fence
//! and ends by recording where the chunk got to in the destination's fence row. So the
//! destination alone says how far the chunk is: a worker killed at any instant leaves
//! either the whole page, counted, or nothing, and the chunk's next holder continues
//! after the last page that committed.
//!
//! Pages go in by the destination's bulk path (PostgreSQL `COPY`, MySQL/MariaDB `LOAD
//! DATA LOCAL INFILE`) while the destination holds nothing of the chunk beyond where it
//! got to, in the same fenced transaction; otherwise, or when the bulk path declines a
//! page, by the upsert. The whole-chunk pipes of a plain run (`copy_pipe`, `row_pipe`)
//! are not used: a pipe reads the source inside its destination transaction, which would
//! then hold the chunk's fence row for the whole chunk, and a holder stalled there
//! (SIGSTOP, a network partition) would block the chunk's next holder at the fence until
//! it woke, where a page holds it only while it writes.

use super::chunk::Page;
use super::state::Chunk;
use super::{Event, Job, OnError, Progress, TableSpec, TransferError};
use crate::lease::{Fence, FenceError, Held, Lease};
use crate::rows::write::{Statements, Tx, WriteError, Written};
use seaway_codegen::model::NeutralType;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// The lease a chunk is copied under, the destination's fence, and the worker's stop
/// flag (SIGTERM: the page in hand is finished and recorded, then the chunk stops).
#[derive(Debug, Clone, Copy)]
pub struct Guard<'a> {
    pub fence: &'a Fence,
    pub lease: &'a Lease,
    pub stop: &'a AtomicBool,
}

/// The savepoint each attempt at a page (or a part of it) runs in, so a refused part
/// is undone without losing the fence's row lock or the parts already written.
const SAVEPOINT: &str = "seaway_page";

/// How a fenced page ended.
enum Landed {
    /// In, counted, and the chunk's position moved past it.
    Written,
    /// The bulk path declined the page (a refused row, a key already there, a warning):
    /// nothing was written; the page goes again by the upsert.
    Declined,
    /// The chunk was not where this holder thought: an older holder's page committed
    /// after this holder read the position and before its own first page. Nothing was
    /// written; the holder continues from there.
    Moved(Held),
}

impl Job<'_> {
    /// Copies `chunk` (whose `last_key` is where the destination's fence row says it
    /// got to) page by page under `guard`; false when stopped before the end. While the
    /// destination holds no row of the chunk beyond that key, pages go in by the
    /// engine's bulk path; the first page it declines turns the rest of the chunk to
    /// the upsert.
    pub(super) async fn leased_chunk(
        &self,
        spec: &TableSpec<'_>,
        chunk: &Chunk,
        guard: Guard<'_>,
        progress: &Progress<'_, '_>,
    ) -> Result<bool, TransferError> {
        let mut at = chunk.last_key.clone();
        let bulk = Cell::new(self.rest_is_empty(spec, chunk, at.as_deref()).await);
        let mut rows = self.read_page(spec, &chunk.range, at.as_deref()).await?;
        while !rows.is_empty() {
            let full = rows.len() == self.opts.page_size;
            let page = self.page(spec, rows, progress)?;
            let write = self.leased_page(spec, guard, &page, at.as_deref(), &bulk, progress);
            let ahead = async {
                if full {
                    self.read_page(spec, &chunk.range, Some(&page.last_key))
                        .await
                } else {
                    Ok(Vec::new())
                }
            };
            let (landed, next) = futures_util::join!(write, ahead);
            match landed? {
                None => {
                    rows = next?;
                    at = Some(page.last_key);
                }
                Some(held) => {
                    // The read-ahead is dropped; what the older holder wrote is there,
                    // so the rest of the chunk is upserted.
                    progress.rows.set(held.rows);
                    progress.rejected.set(held.rejected);
                    at = held.last_key;
                    bulk.set(false);
                    rows = self.read_page(spec, &chunk.range, at.as_deref()).await?;
                }
            }
            if !rows.is_empty() && guard.stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether the destination holds no row of `chunk` after key `after` (the chunk's
    /// start when `None`), so its pages can go in by the bulk path: asked once per
    /// claim, outside any transaction. Each page's transaction then checks that the
    /// chunk's fence row still says `after` (no other holder wrote in between), and a
    /// row someone else put there makes the bulk load fail and the page go by the
    /// upsert. Only an integer key (or a chunk that is the whole table) is asked; a
    /// sampled or composite range, or any error, answers `false`.
    async fn rest_is_empty(
        &self,
        spec: &TableSpec<'_>,
        chunk: &Chunk,
        after: Option<&[String]>,
    ) -> bool {
        // Only PostgreSQL (`COPY`) and MySQL/MariaDB (`LOAD DATA`) load a page in bulk
        // inside a fenced transaction; an SQLite destination upserts in process.
        if self.writer.postgres().is_none() && self.writer.mysql_load().await.is_none() {
            return false;
        }
        let (lo_key, hi_key) = chunk.range.keys();
        if lo_key.is_some() || hi_key.is_some() {
            return false;
        }
        let key = match spec.key_cols {
            [k] if matches!(k.ty, NeutralType::Int { .. }) => Some(k.name.as_str()),
            _ => None,
        };
        let after = match after {
            None => None,
            Some([k]) => match k.parse::<i64>() {
                Ok(k) => Some(k),
                Err(_) => return false,
            },
            Some(_) => return false,
        };
        let (lo, hi) = chunk.range.ints();
        let lo = after.or(lo);
        if lo.is_none() && hi.is_none() {
            // The chunk is the whole table, from its start.
            return self
                .writer
                .range_is_empty(spec.name, None, (None, None))
                .await
                .unwrap_or(false);
        }
        let Some(key) = key else {
            return false;
        };
        self.writer
            .range_is_empty(spec.name, Some(key), (lo, hi))
            .await
            .unwrap_or(false)
    }

    /// Writes one page in its fenced transaction: by the bulk path while `bulk` holds
    /// (turned off for good when the bulk path declines, and the page goes again by the
    /// upsert). `Some(position)`: another holder had moved the chunk, nothing written.
    async fn leased_page(
        &self,
        spec: &TableSpec<'_>,
        guard: Guard<'_>,
        page: &Page,
        at: Option<&[String]>,
        bulk: &Cell<bool>,
        progress: &Progress<'_, '_>,
    ) -> Result<Option<Held>, TransferError> {
        loop {
            let landed = if bulk.get() {
                self.bulk_page(spec, guard, page, at, progress).await?
            } else {
                self.fenced_page(spec, guard, page, at, progress).await?
            };
            match landed {
                Landed::Written => return Ok(None),
                Landed::Moved(held) => return Ok(Some(held)),
                Landed::Declined => bulk.set(false),
            }
        }
    }

    /// Runs one page in its destination transaction `tx`: passes the fence, checks that
    /// the chunk is where this holder thinks (`at`; else `Landed::Moved`), has `write`
    /// write the rows (`Ok(None)`: the bulk path declined them, `Landed::Declined`),
    /// records the chunk's new position and commits. Anything short of the commit rolls
    /// the whole page back, fence update included.
    #[allow(clippy::too_many_arguments)]
    async fn in_fenced_tx<T: Statements>(
        &self,
        spec: &TableSpec<'_>,
        guard: Guard<'_>,
        page: &Page,
        at: Option<&[String]>,
        mut tx: T,
        bulk: bool,
        progress: &Progress<'_, '_>,
        write: impl AsyncFnOnce(&mut T) -> Result<Option<(Written, usize)>, TransferError>,
    ) -> Result<Landed, TransferError> {
        let admitted = async {
            guard.fence.admit(&mut tx, guard.lease).await?;
            let held = guard.fence.held_in(&mut tx, guard.lease).await?;
            Ok::<_, FenceError>((held.last_key.as_deref() != at).then_some(held))
        }
        .await;
        let moved = match admitted {
            Ok(moved) => moved,
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e.into());
            }
        };
        if let Some(held) = moved {
            let _ = tx.rollback().await;
            return Ok(Landed::Moved(held));
        }
        let (written, refused) = match write(&mut tx).await {
            Ok(Some(w)) => w,
            Ok(None) => {
                let _ = tx.rollback().await;
                return Ok(Landed::Declined);
            }
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e);
            }
        };
        if let Err(e) = self.record(&mut tx, guard, page, written, refused).await {
            let _ = tx.rollback().await;
            return Err(e);
        }
        tx.commit()
            .await
            .map_err(self.destination_error(spec.name))?;
        self.count_page(spec, page, (written, refused), bulk, progress);
        Ok(Landed::Written)
    }

    /// A page by the destination's bulk path, in one transaction with the fence:
    /// PostgreSQL one plain `COPY` into the table, MySQL/MariaDB one `LOAD DATA LOCAL
    /// INFILE` on the load session (whose transaction then holds the fence statements
    /// too). Anything the bulk path refuses rolls the whole page back
    /// (`Landed::Declined`).
    async fn bulk_page(
        &self,
        spec: &TableSpec<'_>,
        guard: Guard<'_>,
        page: &Page,
        at: Option<&[String]>,
        progress: &Progress<'_, '_>,
    ) -> Result<Landed, TransferError> {
        let name = spec.name;
        let declined = |why: &str| -> Result<Option<(Written, usize)>, TransferError> {
            tracing::debug!(
                table = name,
                chunk = guard.lease.index,
                "bulk load declined, upserting: {}",
                self.scrub_either(why)
            );
            Ok(None)
        };
        if let Some(load) = self.writer.mysql_load().await {
            let tx = match load.begin().await {
                Ok(tx) => tx,
                Err(e) => {
                    declined(&e.to_string())?;
                    return Ok(Landed::Declined);
                }
            };
            return self
                .in_fenced_tx(spec, guard, page, at, tx, true, progress, async |tx| {
                    if page.data.is_empty() {
                        return Ok(Some((Written::default(), 0)));
                    }
                    match tx.load_rows(name, spec.targets, &page.data).await {
                        Ok(n) => Ok(Some((Written::inserted(n), 0))),
                        Err(e) => declined(&e.to_string()),
                    }
                })
                .await;
        }
        let tx = self
            .writer
            .begin()
            .await
            .map_err(self.destination_error(name))?;
        self.in_fenced_tx(
            spec,
            guard,
            page,
            at,
            tx,
            true,
            progress,
            async |tx| match tx.bulk_insert(name, spec.targets, &page.data).await {
                Ok(Some(n)) => Ok(Some((Written::inserted(n), 0))),
                Ok(None) => Ok(None),
                Err(e) => declined(&e.to_string()),
            },
        )
        .await
    }

    /// Writes one page by the upsert in one destination transaction: the fence first,
    /// then the rows (parts the destination refuses halved down in savepoints, the
    /// refused rows rejected), then the chunk's new position, then the commit.
    async fn fenced_page(
        &self,
        spec: &TableSpec<'_>,
        guard: Guard<'_>,
        page: &Page,
        at: Option<&[String]>,
        progress: &Progress<'_, '_>,
    ) -> Result<Landed, TransferError> {
        let tx = self
            .writer
            .begin()
            .await
            .map_err(self.destination_error(spec.name))?;
        self.in_fenced_tx(spec, guard, page, at, tx, false, progress, async |tx| {
            self.write_in(tx, spec, page).await.map(Some)
        })
        .await
    }

    /// Records in the page's transaction that the chunk now ends at the page's last key
    /// and holds `written` more rows, `refused` (and the page's zero-date rejects) more
    /// refused.
    async fn record(
        &self,
        tx: &mut impl Statements,
        guard: Guard<'_>,
        page: &Page,
        written: Written,
        refused: usize,
    ) -> Result<(), TransferError> {
        let last_key = serde_json::to_string(&page.last_key).unwrap_or_default();
        guard
            .fence
            .record(
                tx,
                guard.lease,
                &last_key,
                written.rows(),
                (refused + page.zero_refused) as u64,
            )
            .await?;
        Ok(())
    }

    /// Counts a committed page in the chunk's progress (`bulk`: written by the bulk
    /// path).
    fn count_page(
        &self,
        spec: &TableSpec<'_>,
        page: &Page,
        (written, refused): (Written, usize),
        bulk: bool,
        progress: &Progress<'_, '_>,
    ) {
        progress.add(written);
        if bulk {
            progress
                .bulk_loaded
                .set(progress.bulk_loaded.get() + written.inserted);
        }
        progress
            .rejected
            .set(progress.rejected.get() + (refused + page.zero_refused) as u64);
        (progress.events.borrow_mut())(Event::Page {
            table: spec.name,
            rows: progress.rows.get(),
        });
    }

    /// Upserts the page's rows in `tx`; a part the destination refuses is rolled back
    /// to its savepoint and halved until only refused rows are left, which go to the
    /// reject file (as `Job::write` does outside a lease). Returns (written, refused).
    async fn write_in(
        &self,
        tx: &mut Tx,
        spec: &TableSpec<'_>,
        page: &Page,
    ) -> Result<(Written, usize), TransferError> {
        let name = spec.name;
        let scrub = |e: &WriteError| self.scrub_either(&e.to_string());
        let dest = self.destination_error(name);
        let (mut written, mut refused) = (Written::default(), 0);
        let mut pending = vec![(0, page.data.len())];
        while let Some((start, end)) = pending.pop() {
            if start == end {
                continue;
            }
            tx.execute(&format!("SAVEPOINT {SAVEPOINT}"), &[])
                .await
                .map_err(&dest)?;
            match tx.upsert(name, spec.targets, &page.data[start..end]).await {
                Ok(w) => {
                    tx.execute(&format!("RELEASE SAVEPOINT {SAVEPOINT}"), &[])
                        .await
                        .map_err(&dest)?;
                    written += w;
                    continue;
                }
                Err(e) if !e.is_row_refusal() => {
                    return Err(TransferError::Missing {
                        table: name.to_string(),
                        reason: scrub(&e),
                    });
                }
                Err(e) => {
                    tx.execute(&format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}"), &[])
                        .await
                        .map_err(&dest)?;
                    if self.opts.on_error == OnError::Stop {
                        return Err(TransferError::Stopped {
                            table: name.to_string(),
                            reason: scrub(&e),
                        });
                    }
                    if end - start == 1 {
                        refused += 1;
                        self.reject(name, &page.keys[start], &scrub(&e))?;
                    } else {
                        let mid = start + (end - start) / 2;
                        pending.push((mid, end));
                        pending.push((start, mid));
                    }
                }
            }
        }
        Ok((written, refused))
    }
}
