//! The destination's side of a lease: table `seaway_fence`, one row per (job, table,
//! chunk) holding the largest fencing token that has written there, and where the chunk
//! got to (its last key, the rows it holds, the rows refused), moved in the same
//! transaction as each page: the destination itself says how far a chunk is, so a new
//! holder continues exactly after the last page that committed and no page is counted
//! twice, whoever wrote it.
//!
//! Each page a worker writes goes into a destination transaction that first moves the
//! chunk's row to the worker's token, only where the row's token is not larger. The
//! update also counts the page, so it changes the row whenever it matches and the
//! affected-row count says whether it did on every engine (MariaDB counts only rows it
//! changed). Its row lock is held to the commit, so of two holders of one chunk the
//! older one either commits first (and the newer one, whose source read came later,
//! writes after it) or finds the newer token and aborts with nothing written.

use super::queue::Lease;
use crate::rows::read::as_text;
use crate::rows::source::Source;
use crate::rows::write::{Statements, Writer};
use seaway_codegen::model::Dialect;

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

/// Where a chunk got to, as the destination holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    /// The last key written, as a JSON array of canonical text.
    pub last_key: Option<Vec<String>>,
    pub rows: u64,
    pub rejected: u64,
}

impl Held {
    /// From a row (last_key, rows_held, rejected) of text.
    fn of(row: &[Option<String>]) -> Held {
        let int = |i: usize| {
            row.get(i)
                .and_then(|v| v.as_deref())
                .and_then(|v| v.split('.').next()?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Held {
            last_key: row
                .first()
                .and_then(|v| v.as_deref())
                .and_then(|j| serde_json::from_str(j).ok()),
            rows: int(1),
            rejected: int(2),
        }
    }
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
                 last_key TEXT, rows_held BIGINT NOT NULL DEFAULT 0, rejected BIGINT NOT NULL DEFAULT 0, \
                 PRIMARY KEY (job, tbl, idx))"
            ),
            &[],
        )
        .await?;
        tx.commit().await?;
        Ok(Fence)
    }

    /// Makes the chunk's row if it has none yet, in a transaction of its own before the
    /// chunk's first page: a page's transaction then only updates a row that exists, and
    /// a holder stalled before its first page never holds a lock that a newer holder
    /// would wait on.
    pub async fn open_chunk(&self, writer: &Writer, lease: &Lease) -> Result<(), FenceError> {
        let mut tx = writer.begin().await?;
        let engine = crate::engine::of(tx.engine());
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
                Some(lease.index.to_string()),
                Some("0".into()),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Admits `lease`'s page into `tx`: the first statement of the page's transaction
    /// (after [`Fence::open_chunk`]). Refused (roll `tx` back) when a newer lease of the
    /// chunk has written, or the job was closed.
    pub async fn admit(&self, tx: &mut impl Statements, lease: &Lease) -> Result<(), FenceError> {
        let engine = crate::engine::of(tx.engine());
        let index = lease.index.to_string();
        let token = lease.token.to_string();
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

    /// Where the chunk got to, read inside the page's transaction right after
    /// [`Fence::admit`], whose row lock it holds: no other holder can move the chunk
    /// until this transaction ends. A holder compares it with the position it started
    /// from: a page an older holder committed in between (admitted before this holder's
    /// first page) moved it, and the holder must continue from there, or its page would
    /// be counted a second time.
    pub async fn held_in(
        &self,
        tx: &mut impl Statements,
        lease: &Lease,
    ) -> Result<Held, FenceError> {
        let dialect = tx.engine();
        let sql = Self::position_sql(dialect);
        let rows = tx
            .texts(
                &sql,
                &[
                    lease.job.clone(),
                    lease.table.clone(),
                    lease.index.to_string(),
                ],
            )
            .await?;
        Ok(rows
            .into_iter()
            .next()
            .map(|r| Held::of(&r))
            .unwrap_or_default())
    }

    /// The query of a chunk's position: last key (JSON), rows held, rows refused.
    fn position_sql(dialect: Dialect) -> String {
        let engine = crate::engine::of(dialect);
        format!(
            "SELECT last_key, {}, {} FROM {TABLE} WHERE job = {} AND tbl = {} AND idx = {}",
            as_text(dialect, "rows_held"),
            as_text(dialect, "rejected"),
            engine.param(1),
            engine.param(2),
            engine.key_param(3, "BIGINT"),
        )
    }

    /// Records, inside the page's transaction (after [`Fence::admit`]), that the chunk
    /// now ends at `last_key` (canonical text of the key, as a JSON array) and holds
    /// `rows` more rows, `rejected` more refused.
    pub async fn record(
        &self,
        tx: &mut impl Statements,
        lease: &Lease,
        last_key: &str,
        rows: u64,
        rejected: u64,
    ) -> Result<(), FenceError> {
        let engine = crate::engine::of(tx.engine());
        tx.execute(
            &format!(
                "UPDATE {TABLE} SET last_key = {}, rows_held = rows_held + {}, rejected = rejected + {} \
                 WHERE job = {} AND tbl = {} AND idx = {}",
                engine.param(1),
                engine.key_param(2, "BIGINT"),
                engine.key_param(3, "BIGINT"),
                engine.param(4),
                engine.param(5),
                engine.key_param(6, "BIGINT"),
            ),
            &[
                Some(last_key.to_string()),
                Some(rows.to_string()),
                Some(rejected.to_string()),
                Some(lease.job.clone()),
                Some(lease.table.clone()),
                Some(lease.index.to_string()),
            ],
        )
        .await?;
        Ok(())
    }

    /// Where chunk (`job`, `table`, `index`) got to in the destination: its last key
    /// (JSON), rows held and rows refused; `None` before its first page.
    pub async fn position(
        dest: &Source,
        dialect: Dialect,
        job: &str,
        table: &str,
        index: i64,
    ) -> Result<Option<Held>, FenceError> {
        let sql = Self::position_sql(dialect);
        let rows = dest
            .rows(
                &sql,
                &[job.to_string(), table.to_string(), index.to_string()],
            )
            .await?;
        Ok(rows.into_iter().next().map(|r| Held::of(&r)))
    }

    /// What every chunk of job `job` holds, per table: (table, rows, rejected).
    pub async fn totals(
        dest: &Source,
        dialect: Dialect,
        job: &str,
    ) -> Result<Vec<(String, Held)>, FenceError> {
        let engine = crate::engine::of(dialect);
        let sql = format!(
            "SELECT tbl, {}, {} FROM {TABLE} WHERE job = {} GROUP BY tbl ORDER BY tbl",
            as_text(dialect, "sum(rows_held)"),
            as_text(dialect, "sum(rejected)"),
            engine.param(1),
        );
        let rows = dest.rows(&sql, &[job.to_string()]).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let table = r[0].clone().unwrap_or_default();
                let held = Held::of(&[None, r[1].clone(), r[2].clone()]);
                (table, held)
            })
            .collect())
    }

    /// Closes job `job` (all its chunks are done): its rows take the largest token, so a
    /// holder that lost its lease long ago and wakes up now is refused too.
    pub async fn close(&self, writer: &Writer, job: &str) -> Result<(), FenceError> {
        let mut tx = writer.begin().await?;
        let engine = crate::engine::of(tx.engine());
        tx.execute(
            &format!(
                "UPDATE {TABLE} SET token = {} WHERE job = {}",
                engine.key_param(1, "BIGINT"),
                engine.param(2)
            ),
            &[Some(i64::MAX.to_string()), Some(job.to_string())],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
