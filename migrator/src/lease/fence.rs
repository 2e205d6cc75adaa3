//! The destination's side of a lease: table `seaway_fence`, one row per (job, table,
//! chunk) holding the largest fencing token that has written there.
//!
//! Each page a worker writes goes into a destination transaction that first moves the
//! chunk's row to the worker's token, only where the row's token is not larger. The
//! update also counts the page, so it changes the row whenever it matches and the
//! affected-row count says whether it did on every engine (MariaDB counts only rows it
//! changed). Its row lock is held to the commit, so of two holders of one chunk the
//! older one either commits first (and the newer one, whose source read came later,
//! writes after it) or finds the newer token and aborts with nothing written.

use super::queue::Lease;
use crate::rows::write::{Tx, Writer};

/// The table's name; `codegen diff` leaves it alone like the migration ledger.
pub const TABLE: &str = seaway_codegen::diff::FENCE_TABLE;

#[derive(Debug, thiserror::Error)]
pub enum FenceError {
    #[error("the destination's fence table `{TABLE}`: {0}")]
    Destination(#[from] sqlx::Error),
    /// A worker with a newer lease of the chunk has written there: this one's page must
    /// not land.
    #[error(
        "chunk {index} of table `{table}` (job `{job}`) was taken over by a newer lease than token {token}; this worker's page was not written"
    )]
    Superseded {
        job: String,
        table: String,
        index: i64,
        token: i64,
    },
}

/// The fence of one destination.
#[derive(Debug, Clone, Copy)]
pub struct Fence;

impl Fence {
    /// Creates the fence table in the destination if missing.
    pub async fn ensure(writer: &Writer) -> Result<Fence, FenceError> {
        let mut tx = writer.begin().await?;
        tx.execute(
            &format!(
                "CREATE TABLE IF NOT EXISTS {TABLE} (job VARCHAR(64) NOT NULL, tbl VARCHAR(255) NOT NULL, \
                 idx BIGINT NOT NULL, token BIGINT NOT NULL, pages BIGINT NOT NULL DEFAULT 0, \
                 PRIMARY KEY (job, tbl, idx))"
            ),
            &[],
        )
        .await?;
        tx.commit().await?;
        Ok(Fence)
    }

    /// Admits `lease`'s page into `tx`: the first statement of the page's transaction.
    /// Refused (roll `tx` back) when a newer lease of the chunk has written.
    pub async fn admit(&self, tx: &mut Tx, lease: &Lease) -> Result<(), FenceError> {
        let engine = crate::engine::of(tx.engine());
        let index = lease.index.to_string();
        let token = lease.token.to_string();
        let values = format!(
            "{}, {}, {}, {}",
            engine.param(1),
            engine.param(2),
            engine.key_param(3, "BIGINT"),
            engine.key_param(4, "BIGINT"),
        );
        tx.execute(
            &engine.insert_if_missing(TABLE, "job, tbl, idx, token", &values),
            &[
                Some(lease.job.clone()),
                Some(lease.table.clone()),
                Some(index.clone()),
                Some("0".into()),
            ],
        )
        .await?;
        let moved = tx
            .execute(
                &format!(
                    "UPDATE {TABLE} SET token = {t}, pages = pages + 1 \
                     WHERE job = {} AND tbl = {} AND idx = {} AND token <= {t2}",
                    engine.param(2),
                    engine.param(3),
                    engine.key_param(4, "BIGINT"),
                    t = engine.key_param(1, "BIGINT"),
                    t2 = engine.key_param(5, "BIGINT"),
                ),
                &[
                    Some(token.clone()),
                    Some(lease.job.clone()),
                    Some(lease.table.clone()),
                    Some(index),
                    Some(token),
                ],
            )
            .await?;
        if moved == 0 {
            return Err(FenceError::Superseded {
                job: lease.job.clone(),
                table: lease.table.clone(),
                index: lease.index,
                token: lease.token,
            });
        }
        Ok(())
    }

    /// Removes job `job`'s rows (the job is done and forgotten).
    pub async fn forget(&self, writer: &Writer, job: &str) -> Result<(), FenceError> {
        let mut tx = writer.begin().await?;
        let engine = crate::engine::of(tx.engine());
        tx.execute(
            &format!("DELETE FROM {TABLE} WHERE job = {}", engine.param(1)),
            &[Some(job.to_string())],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
