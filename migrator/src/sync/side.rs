//! The side a stream of a sync both ways writes into, by engine: every statement the
//! receiving end (`receive.rs`) runs in the stream's apply transaction besides the
//! writes themselves, dispatched to `engine/<name>/both.rs`. Every match names every
//! engine, so a new side is decided here.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use super::change::Values;
use super::edit_order::EditOrder;
use super::side_tables;
use super::side_types::{Deleted, Held, Logged, key_text};
use crate::engine::mysql::both as my;
use crate::engine::postgres::both as pg;
use crate::engine::sqlite::both as lite;
use crate::rows::plan::{TablePlan, Target};
use crate::rows::write::{Tx, WriteError};
use seaway_codegen::model::Column;
use std::collections::HashMap;

/// What the side's statements need to know of the stream.
#[derive(Debug, Clone)]
pub struct Stream<'a> {
    /// The stream's name (its slot's or change table's).
    pub name: &'a str,
    /// Its version table here.
    pub versions: &'a str,
    /// Its replication origin's id here (PostgreSQL).
    pub origin: i64,
    /// A MySQL/MariaDB side that does not decide: where its local edits stand in its
    /// commit order (`edit_order.rs`).
    pub edit_order: Option<&'a EditOrder>,
}

/// What a MySQL/MariaDB side that decides is never asked: only the side that does not
/// decide records its deletes' order and how far the other had seen it.
fn deciding_only(what: &str) -> WriteError {
    WriteError::Declined(format!(
        "a MySQL/MariaDB side of a sync both ways decides its conflicts and keeps no {what} (a bug in both_run's choice of the deciding stream)"
    ))
}

/// Opens the stream's work in a new apply transaction (SQLite: its marker, the
/// transaction's first write; PostgreSQL's session carries its origin already).
pub async fn begin(tx: &mut Tx, stream: &Stream<'_>) -> Result<(), WriteError> {
    match tx {
        Tx::Postgres(_) => Ok(()),
        Tx::Sqlite(_) | Tx::Mysql(..) => Ok(side_tables::begin_applying(tx, stream.name).await?),
    }
}

/// Closes the stream's work before the commit (SQLite: removes its marker).
pub async fn end(tx: &mut Tx, stream: &Stream<'_>) -> Result<(), WriteError> {
    match tx {
        Tx::Postgres(_) => Ok(()),
        Tx::Sqlite(_) | Tx::Mysql(..) => Ok(side_tables::end_applying(tx, stream.name).await?),
    }
}

/// The rows `plan`'s table holds for `keys`, locked until the transaction ends, with
/// who wrote each last and when.
pub async fn held(
    tx: &mut Tx,
    stream: &Stream<'_>,
    plan: &TablePlan,
    columns: &[Column],
    keys: &[Values],
) -> Result<HashMap<Values, Held>, WriteError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    match tx {
        Tx::Postgres(t) => {
            Ok(pg::held(t, &plan.name, &plan.targets, columns, keys, stream.origin).await?)
        }
        Tx::Sqlite(t) => {
            Ok(lite::held(t, stream.name, &plan.name, &plan.targets, columns, keys).await?)
        }
        Tx::Mysql(t, _) => Ok(my::held(
            t,
            stream.name,
            stream.edit_order,
            &plan.name,
            &plan.targets,
            columns,
            keys,
        )
        .await?),
    }
}

/// The keys among `keys` the side's application deleted, with where and when.
pub async fn deleted(
    tx: &mut Tx,
    stream: &Stream<'_>,
    plan: &TablePlan,
    columns: &[Column],
    keys: &[Values],
) -> Result<HashMap<Values, Deleted>, WriteError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let table = plan.name.as_str();
    match tx {
        Tx::Postgres(t) => {
            let texts: Vec<String> = keys.iter().map(key_text).collect();
            let found = pg::tombstones(t, stream.name, table, &texts).await?;
            Ok(keys
                .iter()
                .zip(&texts)
                .filter_map(|(k, text)| found.get(text).map(|d| (k.clone(), *d)))
                .collect())
        }
        Tx::Sqlite(t) => Ok(lite::deleted(t, stream.name, table, keys).await?),
        Tx::Mysql(t, _) => match stream.edit_order {
            Some(order) => {
                Ok(my::deleted(t, stream.name, order, table, &plan.targets, columns, keys).await?)
            }
            None => Err(deciding_only("record of its deletes")),
        },
    }
}

/// The versions the stream recorded for `keys` (key text) of `table`: key ->
/// (version, the recording transaction's id where rows carry one, else 0).
pub async fn versions(
    tx: &mut Tx,
    stream: &Stream<'_>,
    table: &str,
    keys: &[String],
) -> Result<HashMap<String, (i64, i64)>, WriteError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    match tx {
        Tx::Postgres(t) => Ok(pg::versions(t, stream.versions, table, keys).await?),
        Tx::Sqlite(_) | Tx::Mysql(..) => {
            Ok(side_tables::versions(tx, stream.versions, table, keys).await?)
        }
    }
}

/// Records the versions of rows written as conflicts' outcomes.
pub async fn write_versions(
    tx: &mut Tx,
    stream: &Stream<'_>,
    table: &str,
    entries: &[(String, i64)],
) -> Result<(), WriteError> {
    if entries.is_empty() {
        return Ok(());
    }
    match tx {
        Tx::Postgres(t) => Ok(pg::write_versions(t, stream.versions, table, entries).await?),
        Tx::Sqlite(_) | Tx::Mysql(..) => {
            Ok(side_tables::write_versions(tx, stream.versions, table, entries).await?)
        }
    }
}

/// The stream wrote `keys` of `table` plainly: a version recorded for them no longer
/// holds (PostgreSQL tells by the row's `xmin`, so nothing is written there).
pub async fn wrote_plainly(
    tx: &mut Tx,
    stream: &Stream<'_>,
    table: &str,
    keys: &[Values],
) -> Result<(), WriteError> {
    match tx {
        Tx::Postgres(_) => Ok(()),
        Tx::Sqlite(_) | Tx::Mysql(..) => {
            let texts: Vec<String> = keys.iter().map(key_text).collect();
            Ok(side_tables::forget_versions(tx, stream.versions, table, &texts).await?)
        }
    }
}

/// Appends conflicts to the side's log.
pub async fn log_conflicts(
    tx: &mut Tx,
    stream: &Stream<'_>,
    logged: &[Logged],
) -> Result<(), WriteError> {
    if logged.is_empty() {
        return Ok(());
    }
    match tx {
        Tx::Postgres(t) => Ok(pg::log_conflicts(t, stream.name, logged).await?),
        Tx::Sqlite(_) | Tx::Mysql(..) => {
            Ok(side_tables::log_conflicts(tx, stream.name, logged).await?)
        }
    }
}

/// Sends a message (`change::Told`, as JSON) to the stream `to`, whose capture reads
/// this side, in order with this transaction's changes.
pub async fn send_told(tx: &mut Tx, to: &str, text: &str) -> Result<(), WriteError> {
    match tx {
        Tx::Postgres(t) => Ok(pg::send_told(t, to, text).await?),
        Tx::Sqlite(t) => Ok(lite::send_told(t, to, text).await?),
        Tx::Mysql(t, _) => Ok(my::send_told(t, to, text).await?),
    }
}

/// Stores how far the deciding side has seen this side's changes.
pub async fn write_seen(tx: &mut Tx, stream: &Stream<'_>, seen: i64) -> Result<(), WriteError> {
    match tx {
        Tx::Postgres(_) | Tx::Sqlite(_) => {
            write_versions(tx, stream, "", &[(String::new(), seen)]).await
        }
        Tx::Mysql(..) if stream.edit_order.is_some() => {
            write_versions(tx, stream, "", &[(String::new(), seen)]).await
        }
        Tx::Mysql(..) => Err(deciding_only("record of how far the other side saw it")),
    }
}

/// Inserts rows whose keys the table did not hold when read, leaving alone any a
/// local write inserted since; how many were inserted.
pub async fn insert_missing(
    tx: &mut Tx,
    table: &str,
    targets: &[Target],
    rows: &[Values],
) -> Result<u64, WriteError> {
    if rows.is_empty() {
        return Ok(0);
    }
    match tx {
        Tx::Postgres(t) => Ok(pg::insert_missing(t, table, targets, rows).await?),
        Tx::Sqlite(t) => Ok(lite::insert_missing(t, table, targets, rows).await?),
        Tx::Mysql(t, limits) => my::insert_missing(t, limits, table, targets, rows).await,
    }
}
