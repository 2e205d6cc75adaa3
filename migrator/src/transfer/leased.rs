//! A chunk copied under a lease (`migrator worker`, `lease/`): the same pages as the
//! chunk loop (`chunk.rs`: read ahead, masks, zero dates, refused rows halved down and
//! rejected), but each page is one destination transaction that first passes the fence
//! and ends by recording where the chunk got to in the destination's fence row. So the
//! destination alone says how far the chunk is: a worker killed at any instant leaves
//! either the whole page, counted, or nothing, and the chunk's next holder continues
//! after the last page that committed. No fast path (COPY pipe, streamed insert) runs
//! under a lease: neither can be fenced page by page.

use super::chunk::Page;
use super::state::Chunk;
use super::{Event, Job, OnError, Progress, TableSpec, TransferError};
use crate::lease::{Fence, Lease};
use crate::rows::write::{Tx, WriteError, Written};
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

impl Job<'_> {
    /// Copies `chunk` (whose `last_key` is where the destination's fence row says it
    /// got to) page by page under `guard`; false when stopped before the end.
    pub(super) async fn leased_chunk(
        &self,
        spec: &TableSpec<'_>,
        chunk: &Chunk,
        guard: Guard<'_>,
        progress: &Progress<'_, '_>,
    ) -> Result<bool, TransferError> {
        let mut rows = self
            .read_page(spec, &chunk.range, chunk.last_key.as_deref())
            .await?;
        while !rows.is_empty() {
            let full = rows.len() == self.opts.page_size;
            let page = self.page(spec, rows, progress)?;
            let write = self.fenced_page(spec, guard, &page, progress);
            let ahead = async {
                if full {
                    self.read_page(spec, &chunk.range, Some(&page.last_key))
                        .await
                } else {
                    Ok(Vec::new())
                }
            };
            let (written, next) = futures_util::join!(write, ahead);
            written?;
            rows = next?;
            if !rows.is_empty() && guard.stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Writes one page in one destination transaction: the fence first, then the rows
    /// (parts the destination refuses halved down in savepoints, the refused rows
    /// rejected), then the chunk's new position, then the commit.
    async fn fenced_page(
        &self,
        spec: &TableSpec<'_>,
        guard: Guard<'_>,
        page: &Page,
        progress: &Progress<'_, '_>,
    ) -> Result<(), TransferError> {
        let name = spec.name;
        let dest = |e: sqlx::Error| TransferError::Read {
            table: name.to_string(),
            reason: self.scrub_destination(&e),
        };
        let mut tx = self.writer.begin().await.map_err(dest)?;
        if let Err(e) = guard.fence.admit(&mut tx, guard.lease).await {
            let _ = tx.rollback().await;
            return Err(e.into());
        }
        let written = self.write_in(&mut tx, spec, page).await;
        let (written, refused) = match written {
            Ok(w) => w,
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e);
            }
        };
        let refused = refused + page.zero_refused;
        let last_key = serde_json::to_string(&page.last_key).unwrap_or_default();
        let recorded = guard
            .fence
            .record(
                &mut tx,
                guard.lease,
                &last_key,
                written.rows(),
                refused as u64,
            )
            .await;
        if let Err(e) = recorded {
            let _ = tx.rollback().await;
            return Err(e.into());
        }
        tx.commit().await.map_err(dest)?;
        progress.add(written);
        progress
            .rejected
            .set(progress.rejected.get() + refused as u64);
        (progress.events.borrow_mut())(Event::Page {
            table: name,
            rows: progress.rows.get(),
        });
        Ok(())
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
        let dest = |e: sqlx::Error| TransferError::Read {
            table: name.to_string(),
            reason: self.scrub_destination(&e),
        };
        let (mut written, mut refused) = (Written::default(), 0);
        let mut pending = vec![(0, page.data.len())];
        while let Some((start, end)) = pending.pop() {
            if start == end {
                continue;
            }
            tx.execute(&format!("SAVEPOINT {SAVEPOINT}"), &[])
                .await
                .map_err(dest)?;
            match tx.upsert(name, spec.targets, &page.data[start..end]).await {
                Ok(w) => {
                    tx.execute(&format!("RELEASE SAVEPOINT {SAVEPOINT}"), &[])
                        .await
                        .map_err(dest)?;
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
                        .map_err(dest)?;
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
