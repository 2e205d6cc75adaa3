//! SQLite change capture: triggers that seaway installs on each selected table write
//! every row change into a change table of the source (`seaway_changes_<hash>`, hashed
//! like a PostgreSQL slot's name; every stage leaves it out of the source's schema), and
//! the capture reads that table in order.
//!
//! SQLite has no transaction id and no commit time: the change table's sequence (an
//! `AUTOINCREMENT` key, never reused) is the position, and the trigger's clock stands in
//! for the commit time. The triggers write each value with the same canonical
//! expression `rows::read` selects (`select_expr`, over a subquery of `NEW` or `OLD`), so
//! a captured value is the text a copy would read. SQLite has one writer at a time and a
//! transaction's rows become visible together, so a read sees whole transactions; their
//! boundaries are not recorded, so a read is applied as one destination transaction,
//! which may join several source transactions or (past [`READ_ROWS`] changes) cut one.
//! Watermarks for the copy's handover are rows of the same table.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use super::both::NOW_MICROS;
use crate::rows::read::{quote as quote_in, select_expr};
use crate::sync::change::{
    Change, Event, Mark, Op, Position, SelectedTable, Selection, Told, Values,
};
use crate::sync::error::SyncError;
use crate::sync::slot::SourceState;
use seaway_codegen::config::Connection;
use seaway_codegen::model::Dialect;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Changes read at once (one destination transaction at most).
const READ_ROWS: i64 = 5_000;

/// The trigger's clock (`NOW_MICROS`, from `julianday('now')`) moves in milliseconds.
const TRIGGER_CLOCK_STEP: i64 = 1_000;

/// How often an idle change table is read again.
const POLL: Duration = Duration::from_millis(20);

fn quote(name: &str) -> String {
    quote_in(Dialect::Sqlite, name)
}

fn source_error(conn: &Connection, what: &str, e: sqlx::Error) -> SyncError {
    SyncError::Source {
        connection: conn.name.clone(),
        what: what.to_string(),
        reason: conn.url.scrub(&e.to_string()),
    }
}

/// A column added at a SQLite source of a sync both ways, with changes its old triggers
/// wrote since the `ALTER`: not carried yet. Those changes lack the column, and the
/// receiving end, which judges whole rows against what the other side holds, cannot take
/// a partial one. (Without such changes the column is carried as one way.)
fn both_ways_column(table: &str, column: &str) -> SyncError {
    SyncError::SchemaChange {
        table: table.to_string(),
        change: format!(
            "column `{column}` was added at this SQLite source while a sync both ways ran, and the changes written before sync saw it lack the column, which a sync both ways cannot apply yet; stop writing to the table, run `just sync drop`, then `just diff`, `just apply` and `just transfer`, and start the sync again"
        ),
    }
}

/// Refuses what triggers cannot carry: a `where:` filter (arbitrary SQL over the table,
/// which a change row cannot be checked against).
pub fn check(selection: &Selection) -> Result<(), SyncError> {
    if let Some(t) = selection.tables.iter().find(|t| t.filter.is_some()) {
        return Err(SyncError::Unsupported {
            table: t.source_table.clone(),
            what: format!(
                "it has a `where:` filter, which sync cannot evaluate on a SQLite source's changes (a row leaving the filter would have to become a delete); remove `mappings.{}.where` or leave the table out of `tables:`",
                t.source_table
            ),
        });
    }
    Ok(())
}

/// `json_array(<canonical expressions>)` of `columns`, over `(SELECT <side>.c AS c, ...)`.
fn image(side: &str, columns: &[&seaway_codegen::model::Column]) -> String {
    let picked: Vec<String> = columns
        .iter()
        .map(|c| format!("{side}.{q} AS {q}", q = quote(&c.name)))
        .collect();
    let exprs: Vec<String> = columns
        .iter()
        .map(|c| select_expr(Dialect::Sqlite, c))
        .collect();
    format!(
        "(SELECT json_array({}) FROM (SELECT {}))",
        exprs.join(", "),
        picked.join(", ")
    )
}

/// The triggers of one table: name and statement each. A sync both ways (`incoming`:
/// the stream that writes into this source) records the whole old row too, skips what
/// that stream applies, and keeps the keys' local edits (`both.rs`).
fn triggers(name: &str, table: &SelectedTable, incoming: Option<&str>) -> Vec<(String, String)> {
    let columns: Vec<&seaway_codegen::model::Column> = table.columns.iter().collect();
    let key: Vec<&seaway_codegen::model::Column> =
        table.key.iter().map(|&i| &table.columns[i]).collect();
    let t = table.source_table.replace('\'', "''");
    let mut out = Vec::new();
    for (suffix, event, op, row, old) in [
        ("i", "INSERT", "I", Some("NEW"), None),
        ("u", "UPDATE", "U", Some("NEW"), Some("OLD")),
        ("d", "DELETE", "D", None, Some("OLD")),
    ] {
        let trigger = format!("{name}_{}_{suffix}", table.source_table);
        let image_of = |side: Option<&str>, of: &[&seaway_codegen::model::Column]| {
            side.map_or("NULL".to_string(), |side| image(side, of))
        };
        let (new_row, old_key) = (image_of(row, &columns), image_of(old, &key));
        let body = match incoming {
            None => format!(
                "INSERT INTO {} (tbl, op, row, old_key, at) VALUES ('{t}', '{op}', {new_row}, {old_key}, {NOW_MICROS});",
                quote(name)
            ),
            Some(incoming) => {
                let keys: Vec<String> = [row, old]
                    .into_iter()
                    .flatten()
                    .map(|side| image(side, &key))
                    .collect();
                format!(
                    "INSERT INTO {} (tbl, op, row, old_key, old_row, at) SELECT '{t}', '{op}', {new_row}, {old_key}, {}, {NOW_MICROS} WHERE {};{}",
                    quote(name),
                    image_of(old, &columns),
                    super::both::capture_condition(incoming),
                    super::both::trigger_statements(incoming, name, &table.source_table, &keys)
                )
            }
        };
        out.push((
            trigger.clone(),
            format!(
                "CREATE TRIGGER {} AFTER {event} ON {} BEGIN {body} END",
                quote(&trigger),
                quote(&table.source_table),
            ),
        ));
    }
    out
}

/// A column added to a table while sync ran is missing from the changes its old triggers
/// wrote between the `ALTER` and the triggers' re-creation (their rows are shorter than
/// the table's columns now): an update made then, of the new column too, would arrive
/// without it. Run as the triggers are re-created, under the same write lock, this
/// writes the current whole row of every key such a change names (keys deleted since
/// have their delete in the stream), as an update after them: the stream applies the
/// short changes as partial ones, then these, then what the new triggers record.
fn refresh(name: &str, table: &SelectedTable) -> String {
    const ROW: &str = "seaway_row";
    let columns: Vec<&seaway_codegen::model::Column> = table.columns.iter().collect();
    let key: Vec<&seaway_codegen::model::Column> =
        table.key.iter().map(|&i| &table.columns[i]).collect();
    // A short change's key, rebuilt as the triggers build a key image: its values are
    // the same canonical JSON values, at the key's positions of the row.
    let short_key: Vec<String> = table
        .key
        .iter()
        .map(|&i| format!("json_extract(row, '$[{i}]')"))
        .collect();
    format!(
        "INSERT INTO {changes} (tbl, op, row, old_key, at) SELECT '{t}', 'U', {whole}, NULL, {NOW_MICROS} FROM {source} AS {ROW} \
         WHERE EXISTS (SELECT 1 {short}) AND {key_image} IN (SELECT json_array({short_key}) {short})",
        changes = quote(name),
        t = table.source_table.replace('\'', "''"),
        whole = image(ROW, &columns),
        source = quote(&table.source_table),
        key_image = image(ROW, &key),
        short_key = short_key.join(", "),
        // The table is only scanned when a short change is there (SQLite tests a term
        // that names no row of the scan once, before it).
        short = format!(
            "FROM {} WHERE tbl = '{}' AND row IS NOT NULL AND json_array_length(row) < {}",
            quote(name),
            table.source_table.replace('\'', "''"),
            columns.len()
        ),
    )
}

/// Creates the change table if missing and (re)creates each selected table's triggers
/// (so they follow the tables' columns); whether the change table is new.
pub async fn prepare(
    pool: &sqlx::SqlitePool,
    conn: &Connection,
    name: &str,
    selection: &Selection,
) -> Result<bool, SyncError> {
    let existed = status(pool, conn, name).await?.exists;
    // IMMEDIATE: the transaction takes the write lock at once (waiting for the
    // application's writers and the other stream of a sync both ways); a deferred one
    // would read the schema first and have to upgrade its lock, which SQLite refuses
    // with "database is locked" instead of waiting when another connection wrote since.
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| source_error(conn, "opening the source for writing", e))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS {} (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, op TEXT NOT NULL, row TEXT, old_key TEXT, at INTEGER NOT NULL, old_row TEXT)",
        quote(name)
    )))
    .execute(&mut *tx)
    .await
    .map_err(|e| source_error(conn, "creating the change table", e))?;
    // A change table from before the old row was recorded gains its column.
    let has_old_row: bool =
        sqlx::query_scalar("SELECT count(*) > 0 FROM pragma_table_info(?) WHERE name = 'old_row'")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| source_error(conn, "reading the change table's columns", e))?;
    let mut statements = Vec::new();
    if !has_old_row {
        statements.push(format!(
            "ALTER TABLE {} ADD COLUMN old_row TEXT",
            quote(name)
        ));
    }
    if let Some(incoming) = &selection.incoming {
        super::both::ensure_tables(&mut tx, incoming)
            .await
            .map_err(|e| source_error(conn, "creating the sync both ways' tables", e))?;
    }
    for table in &selection.tables {
        for (trigger, create) in triggers(name, table, selection.incoming.as_deref()) {
            statements.push(format!("DROP TRIGGER IF EXISTS {}", quote(&trigger)));
            statements.push(create);
        }
        if selection.incoming.is_none() {
            statements.push(refresh(name, table));
        }
    }
    for sql in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .map_err(|e| source_error(conn, "installing the change triggers", e))?;
    }
    tx.commit()
        .await
        .map_err(|e| source_error(conn, "installing the change triggers", e))?;
    Ok(!existed)
}

/// Writes a watermark row into the change table.
pub async fn watermark(
    pool: &sqlx::SqlitePool,
    conn: &Connection,
    name: &str,
    mark: Mark,
    chunk: u64,
) -> Result<(), SyncError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {} (tbl, op, row, at) VALUES ('', 'W', ?, {NOW_MICROS})",
        quote(name)
    )))
    .bind(format!("{}:{chunk}", mark.as_str()))
    .execute(pool)
    .await
    .map_err(|e| source_error(conn, "writing a watermark", e))?;
    Ok(())
}

/// Whether the change table exists, and how many changes it holds not yet confirmed.
pub async fn status(
    pool: &sqlx::SqlitePool,
    conn: &Connection,
    name: &str,
) -> Result<SourceState, SyncError> {
    let exists: bool = sqlx::query_scalar(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?",
    )
    .bind(name)
    .fetch_one(pool)
    .await
    .map_err(|e| source_error(conn, "reading sqlite_master", e))?;
    let (behind, current) = if exists {
        let (n, max): (i64, Option<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), max(seq) FROM {}",
            quote(name)
        )))
        .fetch_one(pool)
        .await
        .map_err(|e| source_error(conn, "reading the change table", e))?;
        (Some(n), max.map(|m| m.to_string()).unwrap_or_default())
    } else {
        (None, String::new())
    };
    Ok(SourceState {
        exists,
        active: None,
        behind,
        behind_unit: "changes",
        current,
        kind: "change table",
        note: None,
    })
}

/// Removes the triggers and the change table; returns what was there.
pub async fn drop_all(
    pool: &sqlx::SqlitePool,
    conn: &Connection,
    name: &str,
) -> Result<Vec<String>, SyncError> {
    let pattern = format!("{name}_%");
    let triggers: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE ? ESCAPE '\\'",
    )
    .bind(pattern.replace('_', "\\_"))
    .fetch_all(pool)
    .await
    .map_err(|e| source_error(conn, "reading sqlite_master", e))?;
    let mut dropped = Vec::new();
    for t in triggers {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP TRIGGER IF EXISTS {}",
            quote(&t)
        )))
        .execute(pool)
        .await
        .map_err(|e| source_error(conn, "dropping a change trigger", e))?;
        dropped.push(format!("trigger {t}"));
    }
    if status(pool, conn, name).await?.exists {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE {}", quote(name))))
            .execute(pool)
            .await
            .map_err(|e| source_error(conn, "dropping the change table", e))?;
        dropped.push(format!("change table {name}"));
    }
    Ok(dropped)
}

/// An open change stream: the change table read in sequence order.
#[derive(Debug)]
pub struct LiteCapture {
    pool: sqlx::SqlitePool,
    conn: Connection,
    name: String,
    selection: Selection,
    /// The last sequence number read.
    last: i64,
    /// Confirmed as applied (its rows may go), and what was already deleted.
    confirmed: i64,
    deleted: i64,
    pending: VecDeque<Event>,
    /// Each selected table's columns at the source when sync started.
    known: Vec<Vec<String>>,
    /// The source's `schema_version` when its tables were last checked against `known`.
    schema_version: Option<i64>,
}

impl LiteCapture {
    pub fn open(
        pool: sqlx::SqlitePool,
        conn: &Connection,
        name: &str,
        selection: &Selection,
        known: Vec<Vec<String>>,
        resume: Option<&Position>,
    ) -> LiteCapture {
        let last = resume.and_then(|p| p.0.parse().ok()).unwrap_or(0);
        LiteCapture {
            pool,
            conn: conn.clone(),
            name: name.to_string(),
            selection: selection.clone(),
            last,
            confirmed: last,
            deleted: 0,
            pending: VecDeque::new(),
            known,
            schema_version: None,
        }
    }

    /// Everything up to `position` is applied: its rows leave the change table at the
    /// next read.
    pub fn confirm(&mut self, position: &Position) {
        if let Ok(seq) = position.0.parse::<i64>() {
            self.confirmed = self.confirmed.max(seq);
        }
    }

    /// The next event, waiting at most `wait`.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<Event>, SyncError> {
        let started = Instant::now();
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            self.read().await?;
            if !self.pending.is_empty() {
                continue;
            }
            if started.elapsed() >= wait {
                return Ok(None);
            }
            tokio::time::sleep(POLL.min(wait.saturating_sub(started.elapsed()))).await;
        }
    }

    /// Reads the next changes as one transaction of events; deletes confirmed rows first.
    async fn read(&mut self) -> Result<(), SyncError> {
        let table = quote(&self.name);
        if self.confirmed > self.deleted {
            let cleared = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE seq <= ?"
            )))
            .bind(self.confirmed)
            .execute(&self.pool)
            .await;
            match cleared {
                Ok(_) => self.deleted = self.confirmed,
                // Housekeeping, tried again at the next read: SQLite answers "busy" at
                // once, without waiting, where waiting could deadlock (a rollback
                // journal's reader that would write while another writer waits for
                // the readers to leave).
                Err(e) if crate::apply::lock::sqlite_busy(&e) => {}
                Err(e) => return Err(source_error(&self.conn, "clearing applied changes", e)),
            }
        }
        type Row = (
            i64,
            String,
            String,
            Option<String>,
            Option<String>,
            i64,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT seq, tbl, op, row, old_key, at, old_row FROM {table} WHERE seq > ? ORDER BY seq LIMIT {READ_ROWS}"
        )))
        .bind(self.last)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| source_error(&self.conn, "reading the change table", e))?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        // After the read, and only when it found rows (not at every idle poll): a
        // schema unchanged now was unchanged when the rows were written, so none of
        // them lacks a column the table has.
        self.check_schema().await?;
        self.last = last.0;
        // A sync both ways orders versions by their time: each moment the trigger's
        // clock read is a transaction of its own (a read of one moment is, one way).
        let both = self.selection.incoming.is_some();
        let mut open: Option<i64> = None;
        let mut at_seq = 0;
        for (seq, tbl, op, row, old_key, at, old_row) in rows {
            if open.is_some_and(|t| both && t != at) {
                self.pending.push_back(Event::Commit {
                    position: Position(at_seq.to_string()),
                    commit_micros: open.unwrap_or(at),
                    clock_step_micros: TRIGGER_CLOCK_STEP,
                });
                open = None;
            }
            if open.is_none() {
                self.pending.push_back(Event::Begin {
                    xid: format!("seq {seq}"),
                });
            }
            open = Some(at);
            at_seq = seq;
            if let Some(event) = self.event(&tbl, &op, row, old_key, old_row)? {
                self.pending.push_back(event);
            }
        }
        if let Some(at) = open {
            self.pending.push_back(Event::Commit {
                position: Position(at_seq.to_string()),
                commit_micros: at,
                clock_step_micros: TRIGGER_CLOCK_STEP,
            });
        }
        Ok(())
    }

    /// One change row as an event.
    /// Whether a selected table gained a column since sync started (its triggers do not
    /// record it): `SyncError::ColumnAdded`, so the destination is migrated and the
    /// stream restarts with triggers that do (`prepare`). Asked of the catalog only when
    /// the source's `schema_version` moved, and at the first read that finds rows.
    async fn check_schema(&mut self) -> Result<(), SyncError> {
        let version: i64 = sqlx::query_scalar("PRAGMA schema_version")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| source_error(&self.conn, "reading the schema version", e))?;
        if self.schema_version == Some(version) {
            return Ok(());
        }
        for (table, known) in self.selection.tables.iter().zip(&self.known) {
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                    .bind(&table.source_table)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| source_error(&self.conn, "reading a table's columns", e))?;
            if let Some(added) = columns.into_iter().find(|c| !known.contains(c)) {
                return Err(SyncError::ColumnAdded {
                    table: table.source_table.clone(),
                    column: added,
                });
            }
        }
        self.schema_version = Some(version);
        Ok(())
    }

    fn event(
        &self,
        tbl: &str,
        op: &str,
        row: Option<String>,
        old_key: Option<String>,
        old_row: Option<String>,
    ) -> Result<Option<Event>, SyncError> {
        if op == "M" {
            // A message of the other stream of a sync both ways (`both::send_told`).
            let text = row.unwrap_or_default();
            return Told::addressed(&text, &self.name, &self.selection)
                .map(|told| told.map(Event::Told))
                .map_err(|reason| SyncError::Stream {
                    connection: self.conn.name.clone(),
                    reason,
                });
        }
        if op == "W" {
            let text = row.unwrap_or_default();
            let (mark, chunk) = text.split_once(':').unwrap_or_default();
            return Ok(match (Mark::parse(mark), chunk.parse()) {
                (Some(mark), Ok(chunk)) => Some(Event::Watermark { mark, chunk }),
                _ => None,
            });
        }
        let Some(table) = self.selection.index(tbl) else {
            return Ok(None);
        };
        let parse = |json: Option<String>| -> Result<Option<Values>, SyncError> {
            json.map(|j| {
                serde_json::from_str::<Values>(&j).map_err(|e| SyncError::Stream {
                    connection: self.conn.name.clone(),
                    reason: format!(
                        "change table {}: a row that is not a JSON array: {e}",
                        self.name
                    ),
                })
            })
            .transpose()
        };
        let op = match op {
            "I" => Op::Insert,
            "U" => Op::Update,
            "D" => Op::Delete,
            other => {
                return Err(SyncError::Stream {
                    connection: self.conn.name.clone(),
                    reason: format!("change table {}: unknown operation `{other}`", self.name),
                });
            }
        };
        let (row, unchanged) = self.widened(table, parse(row)?)?;
        let (old_row, _) = self.widened(table, parse(old_row)?)?;
        let mut old_key = parse(old_key)?;
        if let (Some(r), Some(old)) = (&row, &old_key) {
            let key = &self.selection.tables[table].key;
            let new_key: Values = key.iter().map(|&k| r[k].clone()).collect();
            if &new_key == old {
                old_key = None;
            }
        }
        Ok(Some(Event::Change(Change {
            table,
            op,
            row,
            unchanged,
            old_key,
            // Recorded for a sync both ways only.
            old_row,
        })))
    }

    /// A recorded row as wide as the table's columns now: one its triggers wrote before
    /// a column was added (the columns are added last) lacks the new ones, which come as
    /// unchanged (the destination keeps what it holds; `refresh` brings their values).
    /// A sync both ways refuses such a row (`both_ways_column`): its receiving end judges
    /// whole rows.
    fn widened(
        &self,
        table: usize,
        row: Option<Values>,
    ) -> Result<(Option<Values>, Vec<usize>), SyncError> {
        let Some(mut row) = row else {
            return Ok((None, Vec::new()));
        };
        let selected = &self.selection.tables[table];
        let width = selected.columns.len();
        if self.selection.incoming.is_some()
            && let Some(added) = selected.columns.get(row.len())
        {
            return Err(both_ways_column(&selected.source_table, &added.name));
        }
        if row.len() > width {
            return Err(SyncError::Stream {
                connection: self.conn.name.clone(),
                reason: format!(
                    "change table {}: a row of {} values for a table of {width} columns",
                    self.name,
                    row.len()
                ),
            });
        }
        let unchanged = (row.len()..width).collect();
        row.resize(width, None);
        Ok((Some(row), unchanged))
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}
