//! Where a sync stands, kept in the destination itself (table `seaway_sync`, one row per
//! sync): the source position it has applied through, the commit time of that source
//! transaction, the initial copy's progress, and running counts. The row is updated in
//! the same destination transaction as the changes it covers, so after a crash at any
//! instant the destination holds exactly the changes up to its stored position, and the
//! stream resumes just after it.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use super::change::{Position, Values};
use crate::rows::read::as_text;
use crate::rows::source::Source;
use crate::rows::write::{Tx, Writer};
use seaway_codegen::model::Dialect;

/// The table's name; `codegen diff` leaves it alone like the migration ledger.
pub const TABLE: &str = seaway_codegen::diff::SYNC_TABLE;

/// What the destination's row says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    pub position: Option<Position>,
    /// Commit time (Unix microseconds) of the last source transaction applied.
    pub commit_micros: Option<i64>,
    /// When it was applied (Unix microseconds, seaway's clock).
    pub applied_micros: Option<i64>,
    /// Changes applied in all runs.
    pub changes: i64,
    pub copy: Copy,
}

/// The initial copy's progress: the table being copied and the last key copied (JSON
/// array of canonical text), or done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copy {
    pub table: Option<String>,
    pub after: Option<Values>,
    pub done: bool,
}

/// Parameter marker `n` (1-based), in the engine's spelling (`engine::Write::param`).
fn mark(dialect: Dialect, n: usize) -> String {
    crate::engine::of(dialect).param(n)
}

/// Creates the table if missing and this sync's row if missing (a new sync starts with
/// no position and its copy not done; `copy_done` says whether to skip the copy).
pub async fn ensure(writer: &Writer, name: &str, copy_done: bool) -> Result<(), sqlx::Error> {
    let mut tx = writer.begin().await?;
    let d = tx.engine();
    let create = format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (name VARCHAR(64) NOT NULL PRIMARY KEY, position VARCHAR(255), \
         commit_micros BIGINT, applied_micros BIGINT, changes BIGINT NOT NULL DEFAULT 0, \
         copy_table VARCHAR(255), copy_after TEXT, copy_done INTEGER NOT NULL DEFAULT 0)"
    );
    tx.execute(&create, &[]).await?;
    // Parameters arrive as text: the count is cast where the engine will not convert it.
    let engine = crate::engine::of(d);
    let values = format!("{}, {}", engine.param(1), engine.key_param(2, "INTEGER"));
    let insert = engine.insert_if_missing(TABLE, "name, copy_done", &values);
    tx.execute(
        &insert,
        &[
            Some(name.to_string()),
            Some(i32::from(copy_done).to_string()),
        ],
    )
    .await?;
    tx.commit().await
}

/// Reads this sync's row, if the table and the row exist.
pub async fn read(
    dest: &Source,
    dialect: Dialect,
    name: &str,
) -> Result<Option<Stored>, sqlx::Error> {
    let cols = [
        "position",
        "commit_micros",
        "applied_micros",
        "changes",
        "copy_table",
        "copy_after",
        "copy_done",
    ];
    let select: Vec<String> = cols.iter().map(|c| as_text(dialect, c)).collect();
    let sql = format!(
        "SELECT {} FROM {TABLE} WHERE name = {}",
        select.join(", "),
        mark(dialect, 1)
    );
    let rows = match dest.rows(&sql, &[name.to_string()]).await {
        Ok(rows) => rows,
        // No table yet: no sync has run into this destination.
        Err(sqlx::Error::Database(e)) if is_missing_table(e.message()) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let int = |i: usize| row[i].as_deref().and_then(|v| v.parse::<i64>().ok());
    Ok(Some(Stored {
        position: row[0].clone().map(Position),
        commit_micros: int(1),
        applied_micros: int(2),
        changes: int(3).unwrap_or(0),
        copy: Copy {
            table: row[4].clone(),
            after: row[5]
                .as_deref()
                .and_then(|j| serde_json::from_str::<Values>(j).ok()),
            done: int(6).unwrap_or(0) != 0,
        },
    }))
}

/// Each engine's "no such table" message.
pub(crate) fn is_missing_table(message: &str) -> bool {
    message.contains("does not exist")
        || message.contains("doesn't exist")
        || message.contains("no such table")
}

/// What a batch moves the row to.
#[derive(Debug, Clone)]
pub struct Advance<'a> {
    pub position: &'a Position,
    pub commit_micros: i64,
    pub applied_micros: i64,
    pub changes: u64,
    pub copy: &'a Copy,
}

/// Moves this sync's row on, inside the batch's transaction.
pub async fn write(tx: &mut Tx, name: &str, advance: &Advance<'_>) -> Result<(), sqlx::Error> {
    let d = tx.engine();
    // Parameters arrive as text: numbers are cast where the engine will not convert them.
    let engine = crate::engine::of(d);
    let int = |n: usize| engine.key_param(n, "BIGINT");
    let sql = format!(
        "UPDATE {TABLE} SET position = {}, commit_micros = {}, applied_micros = {}, changes = changes + {}, \
         copy_table = {}, copy_after = {}, copy_done = {} WHERE name = {}",
        mark(d, 1),
        int(2),
        int(3),
        int(4),
        mark(d, 5),
        mark(d, 6),
        engine.key_param(7, "INTEGER"),
        mark(d, 8),
    );
    let copy = advance.copy;
    let after = copy
        .after
        .as_ref()
        .map(|k| serde_json::to_string(k).unwrap_or_default());
    let updated = tx
        .execute(
            &sql,
            &[
                Some(advance.position.0.clone()),
                Some(advance.commit_micros.to_string()),
                Some(advance.applied_micros.to_string()),
                Some(advance.changes.to_string()),
                copy.table.clone(),
                after,
                Some(i32::from(copy.done).to_string()),
                Some(name.to_string()),
            ],
        )
        .await?;
    if updated != 1 {
        return Err(sqlx::Error::Protocol(format!(
            "the sync's row `{name}` in {TABLE} is gone (a `sync drop` while it ran?)"
        )));
    }
    Ok(())
}

/// Deletes this sync's row (`sync drop`); whether there was one.
pub async fn forget(writer: &Writer, name: &str) -> Result<bool, sqlx::Error> {
    let mut tx = writer.begin().await?;
    let d = tx.engine();
    let sql = format!("DELETE FROM {TABLE} WHERE name = {}", mark(d, 1));
    let n = match tx.execute(&sql, &[Some(name.to_string())]).await {
        Ok(n) => n,
        Err(sqlx::Error::Database(e)) if is_missing_table(e.message()) => 0,
        Err(e) => return Err(e),
    };
    tx.commit().await?;
    Ok(n > 0)
}
