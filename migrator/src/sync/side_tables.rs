//! The version table and the conflict log of a SQLite or MySQL/MariaDB side of a sync
//! both ways, in SQL both engines take (`side.rs` calls it for those two; PostgreSQL's
//! home sends a batch's rows as arrays instead: `engine/postgres/both.rs`). Each side
//! creates the tables in its own types (`engine/<name>/both.rs`, `ensure_tables`).
//! Statements run one row at a time: a batch's conflicts and decided rows are few.

use super::side_types::{Logged, applying_table};
use crate::rows::read::quote;
use crate::rows::source::Source;
use crate::rows::write::Statements;
use seaway_codegen::diff::CONFLICT_TABLE;
use seaway_codegen::model::Dialect;
use std::collections::HashMap;

/// `key`, quoted: a reserved word in MySQL.
fn key_column(t: &impl Statements) -> String {
    quote(t.engine(), "key")
}

/// The versions the stream recorded for `keys` (key text) of `table`: key -> (version,
/// 0: these engines' rows carry no transaction id, so a version is forgotten when the
/// stream writes the key plainly instead).
pub async fn versions(
    tx: &mut impl Statements,
    versions: &str,
    table: &str,
    keys: &[String],
) -> Result<HashMap<String, (i64, i64)>, sqlx::Error> {
    let d = tx.engine();
    let engine = crate::engine::of(d);
    let sql = format!(
        "SELECT {} FROM {} WHERE tbl = {} AND {} = {}",
        engine.as_text("version"),
        quote(d, versions),
        engine.param(1),
        key_column(tx),
        engine.param(2)
    );
    let mut out = HashMap::new();
    for key in keys {
        let rows = tx.texts(&sql, &[table.to_string(), key.clone()]).await?;
        if let Some(v) = rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|v| v.parse().ok())
        {
            out.insert(key.clone(), (v, 0));
        }
    }
    Ok(out)
}

/// Records `entries` (key text, version) of `table`: each key's row replaced.
pub async fn write_versions(
    tx: &mut impl Statements,
    versions: &str,
    table: &str,
    entries: &[(String, i64)],
) -> Result<(), sqlx::Error> {
    let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
    forget_versions(tx, versions, table, &keys).await?;
    let d = tx.engine();
    let engine = crate::engine::of(d);
    let sql = format!(
        "INSERT INTO {} (tbl, {}, version) VALUES ({}, {}, {})",
        quote(d, versions),
        key_column(tx),
        engine.param(1),
        engine.param(2),
        engine.key_param(3, "BIGINT")
    );
    for (key, version) in entries {
        tx.execute(
            &sql,
            &[
                Some(table.to_string()),
                Some(key.clone()),
                Some(version.to_string()),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Keys per statement where keys are listed.
const KEYS_PER_STATEMENT: usize = 500;

/// Forgets the versions of `keys` (key text) of `table`: the stream wrote them plainly,
/// so their version is the change's, not a conflict's outcome. Called for every run a
/// stream writes, so the keys go [`KEYS_PER_STATEMENT`] at a time, not one per
/// statement.
pub async fn forget_versions(
    tx: &mut impl Statements,
    versions: &str,
    table: &str,
    keys: &[String],
) -> Result<(), sqlx::Error> {
    let d = tx.engine();
    let engine = crate::engine::of(d);
    for chunk in keys.chunks(KEYS_PER_STATEMENT) {
        let marks: Vec<String> = (0..chunk.len()).map(|i| engine.param(i + 2)).collect();
        let sql = format!(
            "DELETE FROM {} WHERE tbl = {} AND {} IN ({})",
            quote(d, versions),
            engine.param(1),
            key_column(tx),
            marks.join(", ")
        );
        let mut params = Vec::with_capacity(chunk.len() + 1);
        params.push(Some(table.to_string()));
        params.extend(chunk.iter().map(|k| Some(k.clone())));
        tx.execute(&sql, &params).await?;
    }
    Ok(())
}

/// Appends `conflicts`, decided by stream `stream`, to the conflict log (its time is
/// the column's default: the server's clock).
pub async fn log_conflicts(
    tx: &mut impl Statements,
    stream: &str,
    conflicts: &[Logged],
) -> Result<(), sqlx::Error> {
    let d = tx.engine();
    let engine = crate::engine::of(d);
    let params: Vec<String> = (1..=7).map(|n| engine.param(n)).collect();
    let sql = format!(
        "INSERT INTO {} (stream, tbl, {}, source_version, destination_version, rule, winner) VALUES ({})",
        quote(d, CONFLICT_TABLE),
        key_column(tx),
        params.join(", ")
    );
    for c in conflicts {
        tx.execute(
            &sql,
            &[
                Some(stream.to_string()),
                Some(c.table.clone()),
                Some(c.key.clone()),
                Some(c.source_version.clone()),
                Some(c.destination_version.clone()),
                Some(c.rule.to_string()),
                Some(c.winner.to_string()),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Marks the open transaction as the stream `incoming`'s (SQLite, MySQL: its marker
/// row, the transaction's first write; `engine/<name>/both.rs` says what sees it).
pub async fn begin_applying(tx: &mut impl Statements, incoming: &str) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO {} (applying) VALUES (1)",
        quote(tx.engine(), &applying_table(incoming))
    );
    tx.execute(&sql, &[]).await.map(drop)
}

/// Removes the marker before the commit, so no other session ever sees it.
pub async fn end_applying(tx: &mut impl Statements, incoming: &str) -> Result<(), sqlx::Error> {
    let sql = format!(
        "DELETE FROM {}",
        quote(tx.engine(), &applying_table(incoming))
    );
    tx.execute(&sql, &[]).await.map(drop)
}

/// The stored `seen` of the stream (its version table's row '', ''), on any engine.
pub async fn read_seen(
    side: &Source,
    dialect: Dialect,
    versions: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let sql = format!(
        "SELECT {} FROM {} WHERE tbl = '' AND {} = ''",
        crate::engine::of(dialect).as_text("version"),
        quote(dialect, versions),
        quote(dialect, "key")
    );
    let rows = side.rows(&sql, &[]).await?;
    Ok(rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|v| v.parse().ok()))
}

/// Conflicts the log holds for `stream` (0 when there is no log yet), on any engine.
pub async fn conflict_count(
    side: &Source,
    dialect: Dialect,
    stream: &str,
) -> Result<i64, sqlx::Error> {
    let engine = crate::engine::of(dialect);
    let sql = format!(
        "SELECT {} FROM {} WHERE stream = {}",
        engine.as_text("count(*)"),
        quote(dialect, CONFLICT_TABLE),
        engine.param(1)
    );
    match side.rows(&sql, &[stream.to_string()]).await {
        Ok(rows) => Ok(rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)),
        Err(sqlx::Error::Database(e)) if super::position::is_missing_table(e.message()) => Ok(0),
        Err(e) => Err(e),
    }
}

/// Drops those of `tables` (what each is, its name) that exist; what was there.
pub async fn drop_tables(
    tx: &mut impl Statements,
    tables: &[(&'static str, String)],
) -> Result<Vec<String>, sqlx::Error> {
    let d = tx.engine();
    let mut dropped = Vec::new();
    for (what, name) in tables {
        let probe = format!("SELECT 1 FROM {} WHERE 1 = 0", quote(d, name));
        match tx.texts(&probe, &[]).await {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if super::position::is_missing_table(e.message()) => {
                continue;
            }
            Err(e) => return Err(e),
        }
        tx.execute(&format!("DROP TABLE {}", quote(d, name)), &[])
            .await?;
        dropped.push(format!("{what} {name}"));
    }
    Ok(dropped)
}
