//! A MySQL/MariaDB side of a sync both ways (`sync/side.rs` dispatches here, as to
//! `engine/postgres/both.rs` and `engine/sqlite/both.rs`; docs/architecture.md, "Both
//! ways"). The server keeps no origin, no per-row commit time and no commit order a
//! row could be compared by, so:
//! - **its change order is its binary log's**: as a destination it does not decide
//!   (the source does), and the source's check of "changed after what it had seen"
//!   needs the local edits in commit order, which a row cannot give (a binlog position
//!   is not visible from a row, and a time or counter taken in a trigger is not in
//!   commit order); the stream reading this side's log places each edit (its row in the
//!   edits table carries a token) in GTID order (`sync/edit_order.rs`);
//! - **loop prevention by a marker**: the stream writing into this side inserts a row
//!   into its marker table first in every apply transaction (and deletes it before the
//!   commit, so no other session sees it); the row is the transaction's first event in
//!   the binary log, and the other stream's capture drops the transaction's changes
//!   (`capture.rs`);
//! - **local edits by triggers**: an `AFTER` trigger on each synced table records, per
//!   key the side's application changed, the trigger's clock in microseconds (the
//!   version `last_write_wins` compares), and forgets the key under the marker (the
//!   stream wrote it last);
//! - **messages** from the stream writing here to the other stream are rows of an inbox
//!   table the other stream's capture reads in the binary log (inserted and deleted in
//!   the same transaction);
//! - versions of conflicts' outcomes, forgotten when the stream writes a key plainly;
//!   the conflict log.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use super::write::{Limits, bind, key_placeholder};
use crate::rows::plan::Target;
use crate::sync::change::Values;
use crate::sync::edit_order::EditOrder;
use crate::sync::side_types::{
    Deleted, Held, applying_table, edits_table, numbered_keys, text_row, version_table,
};
use seaway_codegen::diff::CONFLICT_TABLE;
use seaway_codegen::engine::quote_ident;
use seaway_codegen::model::{Column, Dialect};
use sqlx::Row;
use std::collections::HashMap;

/// The triggers' clock: Unix microseconds.
pub const NOW_MICROS: &str = "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)";

/// Keys per locked read.
const KEYS_PER_READ: usize = 2_000;

fn quote(name: &str) -> String {
    quote_ident(Dialect::Mysql, name)
}

/// The inbox of stream `to` (whose capture reads this side): the other stream's
/// messages to it.
pub fn inbox_table(to: &str) -> String {
    format!("{}_inbox", version_table(to))
}

/// A key column exactly as written (a binary collation: keys are compared as bytes).
const KEY_TEXT: &str = "VARCHAR(700) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL";

/// Creates the tables of the stream `incoming` writing into this side (version table,
/// edits, marker), the inbox of the other stream `other` (whose capture reads this
/// side), and the conflict log, where missing.
pub async fn ensure_tables(
    conn: &mut sqlx::MySqlConnection,
    incoming: &str,
    other: &str,
) -> Result<(), sqlx::Error> {
    for sql in [
        format!(
            "CREATE TABLE IF NOT EXISTS {} (tbl VARCHAR(64) NOT NULL, `key` {KEY_TEXT}, version BIGINT NOT NULL, PRIMARY KEY (tbl, `key`)) ENGINE=InnoDB",
            quote(&version_table(incoming))
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (tbl VARCHAR(64) NOT NULL, `key` {KEY_TEXT}, at BIGINT NOT NULL, token BIGINT UNSIGNED NOT NULL, PRIMARY KEY (tbl, `key`)) ENGINE=InnoDB",
            quote(&edits_table(incoming))
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (applying INT NOT NULL) ENGINE=InnoDB",
            quote(&applying_table(incoming))
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, body LONGTEXT NOT NULL) ENGINE=InnoDB",
            quote(&inbox_table(other))
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, stream VARCHAR(64) NOT NULL, tbl VARCHAR(64) NOT NULL, \
             `key` TEXT NOT NULL, source_version LONGTEXT, destination_version LONGTEXT, rule VARCHAR(32) NOT NULL, winner VARCHAR(32) NOT NULL, \
             at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
            quote(CONFLICT_TABLE)
        ),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The first part of the names of stream `incoming`'s triggers on `table`: short
/// (MySQL allows 64 characters) and the same for the same stream and table.
fn trigger_prefix(incoming: &str, table: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{incoming}\n{table}").as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("seaway_edit_{hex}")
}

/// A trigger's name: its stream and table's prefix, then a digest of its body and its
/// event, so that a trigger whose body changes gets a new name.
fn trigger_name(prefix: &str, body: &str, event: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}_{event}")
}

/// `JSON_ARRAY(<canonical text of each key column of row side>)`.
fn key_image(side: &str, key: &[&Column]) -> String {
    let read = crate::engine::of(Dialect::Mysql);
    let exprs: Vec<String> = key
        .iter()
        .map(|c| read.select_expr(&format!("{side}.{}", quote(&c.name)), c))
        .collect();
    format!("JSON_ARRAY({})", exprs.join(", "))
}

/// Installs the local-edit triggers of stream `incoming` on `table` (`key`: its key
/// columns in key order) where they are missing or out of date.
///
/// Never dropped and created again in place: MySQL/MariaDB DDL commits at once, so
/// between a `DROP TRIGGER` and its `CREATE` the application's writes would go
/// unrecorded, and each stream's restart (after a deadlock, say) would open that gap
/// while the application writes. An edit missed there reads as the stream's own write,
/// and a decision of the deciding side would then overwrite it. So a trigger is named
/// by its body, created if missing, and an older one of the same stream and table is
/// dropped only once its replacement is in place (for that moment both record the
/// edit, which is the same write twice).
pub async fn ensure_triggers(
    conn: &mut sqlx::MySqlConnection,
    incoming: &str,
    table: &str,
    key: &[&Column],
) -> Result<(), sqlx::Error> {
    let edits = quote(&edits_table(incoming));
    let marker = quote(&applying_table(incoming));
    let t = table.replace('\'', "''");
    let prefix = trigger_prefix(incoming, table);
    let existing: Vec<String> = sqlx::query_scalar(
        "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() \
         AND EVENT_OBJECT_TABLE = ? AND LEFT(TRIGGER_NAME, CHAR_LENGTH(?)) = ?",
    )
    .bind(table)
    .bind(&prefix)
    .bind(&prefix)
    .fetch_all(&mut *conn)
    .await?;
    let mut wanted = Vec::new();
    for (event, sides) in [
        ("INSERT", &["NEW"][..]),
        ("UPDATE", &["NEW", "OLD"][..]),
        ("DELETE", &["OLD"][..]),
    ] {
        let keys: Vec<String> = sides.iter().map(|s| key_image(s, key)).collect();
        let values: Vec<String> = keys
            .iter()
            .map(|k| format!("('{t}', {k}, {NOW_MICROS}, UUID_SHORT())"))
            .collect();
        let body = format!(
            "IF EXISTS (SELECT 1 FROM {marker}) THEN \
               DELETE FROM {edits} WHERE tbl = '{t}' AND `key` IN ({}); \
             ELSE \
               INSERT INTO {edits} (tbl, `key`, at, token) VALUES {} ON DUPLICATE KEY UPDATE at = VALUES(at), token = VALUES(token); \
             END IF;",
            keys.join(", "),
            values.join(", ")
        );
        let name = trigger_name(&prefix, &body, &event[..1].to_lowercase());
        if !existing.contains(&name) {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE TRIGGER {} AFTER {event} ON {} FOR EACH ROW BEGIN {body} END",
                quote(&name),
                quote(table)
            )))
            .execute(&mut *conn)
            .await?;
        }
        wanted.push(name);
    }
    for old in existing.iter().filter(|e| !wanted.contains(e)) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP TRIGGER IF EXISTS {}",
            quote(old)
        )))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Where a local edit stands in the side's commit order (`Told::seen`'s scale): its
/// transaction's GTID sequence number where the stream reading this side's log has
/// read it, else after anything seen (`i64::MAX`). Without `order` (this side decides)
/// the edit's time.
fn edit_order(order: Option<&EditOrder>, table: &str, key: &str, token: u64, at: i64) -> i64 {
    match order {
        Some(o) => o.order_of(table, key, token).unwrap_or(i64::MAX),
        None => at,
    }
}

/// The rows `table` holds for `keys`, locked until the transaction ends, by key, with
/// the time of the application's last change of each (none: the stream wrote it last,
/// or the initial copy did) and, where this side does not decide (`order`), where that
/// change stands in its commit order.
pub async fn held(
    conn: &mut sqlx::MySqlConnection,
    incoming: &str,
    order: Option<&EditOrder>,
    table: &str,
    targets: &[Target],
    columns: &[Column],
    keys: &[Values],
) -> Result<HashMap<Values, Held>, sqlx::Error> {
    let key_targets: Vec<&Target> = targets.iter().filter(|t| t.is_key).collect();
    let qt = quote(table);
    let read = crate::engine::of(Dialect::Mysql);
    let exprs: Vec<String> = columns
        .iter()
        .map(|c| read.select_expr(&format!("{qt}.{}", quote(&c.name)), c))
        .collect();
    let key_columns: Vec<&Column> = targets
        .iter()
        .zip(columns)
        .filter(|(t, _)| t.is_key)
        .map(|(_, c)| c)
        .collect();
    let one = format!(
        "({})",
        key_targets
            .iter()
            .map(|t| format!("{qt}.{} = {}", quote(&t.name), key_placeholder(0, t)))
            .collect::<Vec<_>>()
            .join(" AND ")
    );
    let mut out = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(KEYS_PER_READ) {
        let sql = format!(
            "SELECT {}, e.at, e.token, e.`key` FROM {qt} LEFT JOIN {} AS e ON e.tbl = ? AND e.`key` = {} WHERE {} FOR UPDATE",
            exprs.join(", "),
            quote(&edits_table(incoming)),
            key_image(&qt, &key_columns),
            vec![one.as_str(); chunk.len()].join(" OR ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(table);
        for key in chunk {
            for (t, v) in key_targets.iter().zip(key) {
                query = bind(query, t, v.as_deref());
            }
        }
        let n = columns.len();
        for r in query.fetch_all(&mut *conn).await? {
            let (row, key) = text_row(&r, targets)?;
            let micros: Option<i64> = r.try_get(n)?;
            let token: Option<u64> = r.try_get(n + 1)?;
            let edit_key: Option<String> = r.try_get(n + 2)?;
            let edit = micros.map(|at| {
                edit_order(
                    order,
                    table,
                    edit_key.as_deref().unwrap_or_default(),
                    token.unwrap_or_default(),
                    at,
                )
            });
            out.insert(
                key,
                Held {
                    row,
                    ours: micros.is_none(),
                    micros,
                    edit,
                    xmin: 0,
                },
            );
        }
    }
    Ok(out)
}

/// The local edits recorded for `keys` (key targets' values) of `table` the side no
/// longer holds (its application deleted them), by key: where each stands in the
/// side's commit order (`order`) and when.
pub async fn deleted(
    conn: &mut sqlx::MySqlConnection,
    incoming: &str,
    order: &EditOrder,
    table: &str,
    targets: &[Target],
    columns: &[Column],
    keys: &[Values],
) -> Result<HashMap<Values, Deleted>, sqlx::Error> {
    let key_targets: Vec<&Target> = targets.iter().filter(|t| t.is_key).collect();
    let key_columns: Vec<&Column> = targets
        .iter()
        .zip(columns)
        .filter(|(t, _)| t.is_key)
        .map(|(_, c)| c)
        .collect();
    // The key's JSON as the triggers wrote it: the same expressions over a row of the
    // key's values, converted as the table's columns would hold them; `i` names the key
    // in `keys`. One statement per KEYS_PER_READ keys.
    let picked = |i: usize| -> String {
        let mut out = vec![format!("{i} AS i")];
        out.extend(key_targets.iter().zip(&key_columns).map(|(t, c)| {
            format!(
                "CAST({} AS {}) AS {}",
                key_placeholder(0, t),
                cast_type(c),
                quote(&c.name)
            )
        }));
        format!("SELECT {}", out.join(", "))
    };
    let mut out = HashMap::new();
    for (numbered, chunk) in numbered_keys(keys, KEYS_PER_READ, picked, " UNION ALL ") {
        let sql = format!(
            "SELECT k.i, e.at, e.token, e.`key` FROM ({numbered}) AS k JOIN {} AS e ON e.tbl = ? AND e.`key` = {}",
            quote(&edits_table(incoming)),
            key_image("k", &key_columns)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for key in chunk {
            for (t, v) in key_targets.iter().zip(key) {
                query = bind(query, t, v.as_deref());
            }
        }
        for r in query.bind(table).fetch_all(&mut *conn).await? {
            let (i, at, token, k): (i64, i64, u64, String) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            let Some(key) = usize::try_from(i).ok().and_then(|i| keys.get(i)) else {
                continue;
            };
            out.insert(
                key.clone(),
                Deleted {
                    edit: edit_order(Some(order), table, &k, token, at),
                    micros: at,
                },
            );
        }
    }
    Ok(out)
}

/// The type a key value is cast to so that it reads as the column does.
fn cast_type(c: &Column) -> String {
    let native = c.native.to_ascii_lowercase();
    if native.contains("int") {
        if native.contains("unsigned") {
            "UNSIGNED".into()
        } else {
            "SIGNED".into()
        }
    } else if native.starts_with("decimal") || native.starts_with("numeric") {
        c.native.to_uppercase().replace("NUMERIC", "DECIMAL")
    } else if native.starts_with("datetime") || native.starts_with("timestamp") {
        "DATETIME(6)".into()
    } else if native.starts_with("date") {
        "DATE".into()
    } else if native.contains("binary") || native.contains("blob") {
        "BINARY".into()
    } else {
        "CHAR CHARACTER SET utf8mb4".into()
    }
}

/// Where the server's commit order stands now: the sequence number of the last GTID its
/// binary log holds (domain 0, or the first listed): a first run's `seen`.
pub async fn commit_order(conn: &mut sqlx::MySqlConnection) -> Result<i64, sqlx::Error> {
    let pos: Option<String> = sqlx::query_scalar("SELECT @@gtid_binlog_pos")
        .fetch_optional(&mut *conn)
        .await?;
    Ok(pos.as_deref().and_then(gtid_seq).unwrap_or(0))
}

/// The sequence number of a MariaDB GTID (`domain-server-seq`), or of the first of a
/// list of them.
pub fn gtid_seq(gtid: &str) -> Option<i64> {
    gtid.split(',')
        .next()?
        .trim()
        .rsplit('-')
        .next()?
        .parse()
        .ok()
}

/// Sends `told` (JSON: `change::Told`) to stream `to`, whose capture reads this side's
/// binary log, in this transaction: a row of its inbox, deleted again at once (the log
/// keeps the insert).
pub async fn send_told(
    conn: &mut sqlx::MySqlConnection,
    to: &str,
    told: &str,
) -> Result<(), sqlx::Error> {
    let inbox = quote(&inbox_table(to));
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {inbox} (body) VALUES (?)"
    )))
    .bind(format!("{to}\n{told}"))
    .execute(&mut *conn)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {inbox} WHERE id = LAST_INSERT_ID()"
    )))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts `rows` whose keys `table` did not hold when read; how many were inserted.
pub async fn insert_missing(
    conn: &mut sqlx::MySqlConnection,
    limits: &Limits,
    table: &str,
    targets: &[Target],
    rows: &[Values],
) -> Result<u64, crate::rows::write::WriteError> {
    super::write::insert_missing(conn, limits, table, targets, rows).await
}

/// The server's clock now (Unix microseconds), as its triggers read it.
pub async fn clock(pool: &sqlx::MySqlPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {NOW_MICROS}")))
        .fetch_one(pool)
        .await
}

/// Drops the stream `incoming`'s local-edit triggers here; what was there.
pub async fn drop_triggers(
    pool: &sqlx::MySqlPool,
    incoming: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let triggers: Vec<String> = sqlx::query_scalar(
        "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() \
         AND TRIGGER_NAME LIKE 'seaway\\_edit\\_%' AND ACTION_STATEMENT LIKE CONCAT('%', ?, '%')",
    )
    .bind(edits_table(incoming))
    .fetch_all(pool)
    .await?;
    let mut dropped = Vec::new();
    for t in triggers {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP TRIGGER IF EXISTS {}",
            quote(&t)
        )))
        .execute(pool)
        .await?;
        dropped.push(format!("trigger {t}"));
    }
    Ok(dropped)
}

/// The tables the stream `incoming` keeps here, and the inbox of `other` (the conflict
/// log stays: it is the record of what was decided), each with what it is.
pub fn own_tables(incoming: &str, other: &str) -> Vec<(&'static str, String)> {
    vec![
        ("version table", version_table(incoming)),
        ("edits table", edits_table(incoming)),
        ("applying marker", applying_table(incoming)),
        ("inbox", inbox_table(other)),
    ]
}
