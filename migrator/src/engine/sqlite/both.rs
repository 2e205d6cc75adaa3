//! A SQLite side of a sync both ways (`sync/side.rs` dispatches here; the PostgreSQL
//! side is `engine/postgres/both.rs`, and docs/architecture.md, "Both ways", says what
//! each answers). SQLite keeps no origin, commit time or transaction id per row, so the
//! side keeps them itself, with the triggers that capture its changes for the other
//! stream (`capture.rs` installs them, with the statements here):
//! - the applying marker: the stream that writes into this side inserts a row into its
//!   marker table first in every transaction and deletes it before the commit, so no
//!   other session ever sees it; while it is there the triggers capture nothing (the
//!   other stream must not carry back what this one applied) and forget the keys'
//!   local edits (the stream wrote them last);
//! - the edits table: for each key the side's own application changed, the change
//!   table's sequence of that change (its place in the side's change order, compared
//!   with how far the deciding side has seen: `Told::seen`) and the trigger's clock (its
//!   version for `last_write_wins`); a key deleted keeps its entry.
//!
//! SQLite has one writer at a time, and the marker is the apply transaction's first
//! write, so the transaction holds the write lock before it reads the rows it judges:
//! they cannot change under it.

use super::write::{bind, placeholder};
use crate::rows::plan::Target;
use crate::rows::read::quote as quote_in;
use crate::sync::change::Values;
use crate::sync::side_types::{
    Deleted, Held, applying_table, edits_table, numbered_keys, text_row, version_table,
};
use seaway_codegen::diff::CONFLICT_TABLE;
use seaway_codegen::model::{Column, Dialect};
use sqlx::Row;
use std::collections::HashMap;

/// The triggers' clock, in Unix microseconds (SQLite's `now` has milliseconds): the
/// change table's time, and a local edit's version.
pub(crate) const NOW_MICROS: &str =
    "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)";

fn quote(name: &str) -> String {
    quote_in(Dialect::Sqlite, name)
}

/// Parameters per statement (SQLite's limit is 32,766).
const PARAMS: usize = 30_000;

/// The tables of the stream `incoming` writing into this side: its version table, its
/// edits table, its applying marker, and the conflict log. Created by whichever comes
/// first, the stream's receiving end or the other stream's capture (whose triggers name
/// them).
pub async fn ensure_tables(
    conn: &mut sqlx::SqliteConnection,
    incoming: &str,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (tbl TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (tbl, key)); \
         CREATE TABLE IF NOT EXISTS {} (tbl TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (tbl, key)); \
         CREATE TABLE IF NOT EXISTS {} (applying INTEGER NOT NULL); \
         CREATE TABLE IF NOT EXISTS {} (id INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL, tbl TEXT NOT NULL, key TEXT NOT NULL, \
           source_version TEXT, destination_version TEXT, rule TEXT NOT NULL, winner TEXT NOT NULL, at INTEGER NOT NULL DEFAULT ({NOW_MICROS}))",
        quote(&version_table(incoming)),
        quote(&edits_table(incoming)),
        quote(&applying_table(incoming)),
        quote(CONFLICT_TABLE),
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The statements a capture trigger runs on a both-ways side, after the one that
/// records the change (`changes`: the change table): the change is recorded only
/// without the marker of the stream `incoming`, and each key the change touched
/// (`keys`: JSON images of `NEW`'s and `OLD`'s key) gets its local edit recorded, or
/// forgotten under the marker.
pub fn trigger_statements(incoming: &str, changes: &str, table: &str, keys: &[String]) -> String {
    let marker = format!("SELECT 1 FROM {}", quote(&applying_table(incoming)));
    let edits = quote(&edits_table(incoming));
    let t = table.replace('\'', "''");
    let mut out = String::new();
    for key in keys {
        out.push_str(&format!(
            " INSERT INTO {edits} (tbl, key, seq, at) SELECT '{t}', {key}, (SELECT max(seq) FROM {changes}), {NOW_MICROS} WHERE NOT EXISTS ({marker}) \
             ON CONFLICT (tbl, key) DO UPDATE SET seq = excluded.seq, at = excluded.at; \
             DELETE FROM {edits} WHERE tbl = '{t}' AND key = {key} AND EXISTS ({marker});",
            changes = quote(changes)
        ));
    }
    out
}

/// The condition under which a both-ways side's trigger records a change: not while
/// the stream `incoming` applies.
pub fn capture_condition(incoming: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM {})",
        quote(&applying_table(incoming))
    )
}

/// `key1 = ? AND key2 = ?` ORed for `n` keys.
fn key_match(key_targets: &[&Target], n: usize) -> String {
    let one = format!(
        "({})",
        key_targets
            .iter()
            .map(|t| format!("{} = {}", quote(&t.name), placeholder(t)))
            .collect::<Vec<_>>()
            .join(" AND ")
    );
    vec![one; n].join(" OR ")
}

/// The rows `table` holds for `keys` (key targets' values in targets order), by key,
/// with the local edit each has (none: the stream wrote it last, or the initial copy
/// did). `columns` are the table's columns in targets order.
pub async fn held(
    conn: &mut sqlx::SqliteConnection,
    incoming: &str,
    table: &str,
    targets: &[Target],
    columns: &[Column],
    keys: &[Values],
) -> Result<HashMap<Values, Held>, sqlx::Error> {
    let key_targets: Vec<&Target> = targets.iter().filter(|t| t.is_key).collect();
    let qt = quote(table);
    let read = crate::engine::of(Dialect::Sqlite);
    let exprs: Vec<String> = columns
        .iter()
        .map(|c| read.select_expr(&format!("{qt}.{}", quote(&c.name)), c))
        .collect();
    let key_image: Vec<String> = targets
        .iter()
        .zip(&exprs)
        .filter(|(t, _)| t.is_key)
        .map(|(_, e)| e.clone())
        .collect();
    let edits = quote(&edits_table(incoming));
    let per = (PARAMS / key_targets.len().max(1)).max(1);
    let mut out = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(per) {
        let sql = format!(
            "SELECT {}, e.seq, e.at FROM {qt} LEFT JOIN {edits} AS e ON e.tbl = '{}' AND e.key = json_array({}) WHERE {}",
            exprs.join(", "),
            table.replace('\'', "''"),
            key_image.join(", "),
            key_match(&key_targets, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for key in chunk {
            for (t, v) in key_targets.iter().zip(key) {
                query = bind(query, t, v.as_deref());
            }
        }
        let n = columns.len();
        for r in query.fetch_all(&mut *conn).await? {
            let (row, key) = text_row(&r, targets)?;
            let edit: Option<i64> = r.try_get(n)?;
            let micros: Option<i64> = r.try_get(n + 1)?;
            out.insert(
                key,
                Held {
                    row,
                    ours: edit.is_none(),
                    micros,
                    edit,
                    xmin: 0,
                },
            );
        }
    }
    Ok(out)
}

/// The local edits recorded for `keys` of `table` the side no longer holds (its
/// application deleted them), by key.
pub async fn deleted(
    conn: &mut sqlx::SqliteConnection,
    incoming: &str,
    table: &str,
    keys: &[Values],
) -> Result<HashMap<Values, Deleted>, sqlx::Error> {
    // The key's values as the triggers wrote them (canonical text); `i` names the key in
    // `keys`. One statement per PARAMS bound values.
    let width = keys.first().map_or(0, Vec::len);
    let one = |i: usize| format!("({i}, json_array({}))", vec!["?"; width].join(", "));
    let per = (PARAMS / width.max(1)).max(1);
    let mut out = HashMap::new();
    for (numbered, chunk) in numbered_keys(keys, per, one, ", ") {
        let sql = format!(
            "WITH k(i, key) AS (VALUES {numbered}) SELECT k.i, e.seq, e.at FROM k JOIN {} AS e ON e.tbl = ? AND e.key = k.key",
            quote(&edits_table(incoming)),
        );
        let mut query = sqlx::query_as::<_, (i64, i64, i64)>(sqlx::AssertSqlSafe(sql));
        for v in chunk.iter().flatten() {
            query = query.bind(v.clone());
        }
        for (i, edit, micros) in query.bind(table).fetch_all(&mut *conn).await? {
            if let Some(key) = usize::try_from(i).ok().and_then(|i| keys.get(i)) {
                out.insert(key.clone(), Deleted { edit, micros });
            }
        }
    }
    Ok(out)
}

/// Sends `told` (JSON: `change::Told`) to stream `to`, whose change table is in this
/// side (its name is the stream's), in this transaction: a row the capture reads in
/// order with the changes around it.
pub async fn send_told(
    conn: &mut sqlx::SqliteConnection,
    to: &str,
    told: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {} (tbl, op, row, at) VALUES ('', 'M', ?, {NOW_MICROS})",
        quote(to)
    )))
    .bind(format!("{to}\n{told}"))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Where the side's change order stands now: the last sequence of the change table
/// `changes` (0 when it holds none yet): a first run's `seen`.
pub async fn change_order(
    conn: &mut sqlx::SqliteConnection,
    changes: &str,
) -> Result<i64, sqlx::Error> {
    // The sequence outlives deleted rows: `sqlite_sequence` keeps the highest used.
    let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = ?")
        .bind(changes)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(seq.unwrap_or(0))
}

/// Inserts `rows` whose keys `table` did not hold when read; returns how many were
/// inserted.
pub async fn insert_missing(
    conn: &mut sqlx::SqliteConnection,
    table: &str,
    targets: &[Target],
    rows: &[Values],
) -> Result<u64, sqlx::Error> {
    super::write::insert_missing(conn, table, targets, rows).await
}

/// The side's clock now (Unix microseconds), as its triggers read it.
pub async fn clock(pool: &sqlx::SqlitePool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {NOW_MICROS}")))
        .fetch_one(pool)
        .await
}

/// The tables the stream `incoming` keeps here (the conflict log stays: it is the
/// record of what was decided), each with what it is.
pub fn own_tables(incoming: &str) -> Vec<(&'static str, String)> {
    vec![
        ("version table", version_table(incoming)),
        ("edits table", edits_table(incoming)),
        ("applying marker", applying_table(incoming)),
    ]
}
