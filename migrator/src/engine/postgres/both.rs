//! A PostgreSQL side of a sync both ways (`sync/both.rs`, `sync/receive.rs`):
//! - the replication origin each stream's applying session runs under, so that the
//!   other stream's capture drops what this one applied (pgoutput marks the
//!   transactions of a session with an origin);
//! - the rows a batch is about to change, read locked, with who wrote each and when
//!   (`pg_xact_commit_timestamp_origin`, which needs `track_commit_timestamp`);
//! - the stream's version table: the version of a row the stream wrote as the outcome
//!   of a conflict, whose commit time is the stream's, not the version it carries;
//! - the conflict log (`seaway_sync_conflicts`).
//!
//! Every statement here runs in the stream's apply transaction, so a crash loses or
//! keeps the rows, their versions, the log and the position together.

use super::write::{bind_columns, key_in_unnest, key_only};
use crate::rows::plan::Target;
use crate::rows::read::{quote, select_expr};
use crate::sync::change::Values;
use crate::sync::side_types::{Deleted, Held, Logged, text_row, tombstone_table};
use seaway_codegen::diff::CONFLICT_TABLE;
use seaway_codegen::model::{Column, Dialect};
use sqlx::Row;
use std::collections::HashMap;

/// The logical message prefix of a sync both ways' decided conflicts (the deciding
/// stream's apply transaction emits them; the other stream's capture reads them).
pub const RESOLVED_PREFIX: &str = "seaway_resolved";

/// Sends `told` (JSON: `change::Told`) to stream `to` through the log, in this
/// transaction.
pub async fn send_told(
    conn: &mut sqlx::PgConnection,
    to: &str,
    told: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_logical_emit_message(true, $1, $2)")
        .bind(RESOLVED_PREFIX)
        .bind(format!("{to}\n{told}"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Creates origin `name` where it does not exist; returns its id, which
/// `pg_xact_commit_timestamp_origin` reports for the transactions it applied.
pub async fn ensure_origin(pool: &sqlx::PgPool, name: &str) -> Result<i64, sqlx::Error> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT roident::bigint FROM pg_replication_origin WHERE roname = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    match found {
        Some(id) => Ok(id),
        None => {
            sqlx::query_scalar("SELECT pg_replication_origin_create($1)::bigint")
                .bind(name)
                .fetch_one(pool)
                .await
        }
    }
}

/// Drops origin `name`; whether there was one.
pub async fn drop_origin(pool: &sqlx::PgPool, name: &str) -> Result<bool, sqlx::Error> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT roname FROM pg_replication_origin WHERE roname = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    if found.is_none() {
        return Ok(false);
    }
    sqlx::query("SELECT pg_replication_origin_drop($1)")
        .bind(name)
        .execute(pool)
        .await?;
    Ok(true)
}

/// The statement each connection of the applying session runs first: from then on, its
/// transactions carry the origin.
pub fn origin_setup(name: &str) -> String {
    format!(
        "SELECT pg_replication_origin_session_setup('{}')",
        name.replace('\'', "''")
    )
}

/// Creates the stream's version table and the conflict log where missing.
pub async fn ensure_tables(pool: &sqlx::PgPool, versions: &str) -> Result<(), sqlx::Error> {
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (tbl text NOT NULL, key text NOT NULL, version bigint NOT NULL, xid bigint NOT NULL, PRIMARY KEY (tbl, key)); \
         CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, stream text NOT NULL, tbl text NOT NULL, key text NOT NULL, \
           source_version text, destination_version text, rule text NOT NULL, winner text NOT NULL, at timestamptz NOT NULL DEFAULT now())",
        quote(Dialect::Postgres, versions),
        quote(Dialect::Postgres, CONFLICT_TABLE),
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await?;
    Ok(())
}

/// Drops the stream's version table; whether there was one. The conflict log stays:
/// it is the record of what was decided.
pub async fn drop_versions(pool: &sqlx::PgPool, versions: &str) -> Result<bool, sqlx::Error> {
    let existed: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(quote(Dialect::Postgres, versions))
        .fetch_one(pool)
        .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS {}",
        quote(Dialect::Postgres, versions)
    )))
    .execute(pool)
    .await?;
    Ok(existed)
}

/// The rows `table` holds for `keys` (key targets' values in targets order), locked
/// until the transaction ends, by key. `columns` are the table's columns in targets
/// order (each read as canonical text); `origin` is the stream's origin id.
pub async fn held(
    conn: &mut sqlx::PgConnection,
    table: &str,
    targets: &[Target],
    columns: &[Column],
    keys: &[Values],
    origin: i64,
) -> Result<HashMap<Values, Held>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let (key_targets, key_columns) = key_only(targets);
    let origin_param = key_targets.len() + 1;
    let sql = format!(
        "SELECT {}, (pg_xact_commit_timestamp_origin(xmin)).roident::bigint = ${origin_param} AS seaway_ours, \
         (EXTRACT(EPOCH FROM (pg_xact_commit_timestamp_origin(xmin)).timestamp) * 1000000)::bigint AS seaway_micros, \
         xmin::text::bigint AS seaway_xmin \
         FROM {} WHERE {} FOR UPDATE",
        columns
            .iter()
            .map(|c| select_expr(Dialect::Postgres, c))
            .collect::<Vec<_>>()
            .join(", "),
        quote(Dialect::Postgres, table),
        key_in_unnest(targets),
    );
    let borrowed: Vec<Vec<Option<&str>>> = keys
        .iter()
        .map(|k| k.iter().map(|v| v.as_deref()).collect())
        .collect();
    let rows = bind_columns(
        sqlx::query(sqlx::AssertSqlSafe(sql)),
        &key_targets,
        &key_columns,
        &borrowed,
    )
    .bind(origin)
    .fetch_all(&mut *conn)
    .await?;
    let n = columns.len();
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        let (row, key) = text_row(&r, targets)?;
        // A row's place in this side's change order is its commit time: the scale of
        // `Told::seen` from a PostgreSQL side.
        let micros: Option<i64> = r.try_get(n + 1)?;
        out.insert(
            key,
            Held {
                row,
                ours: r.try_get::<Option<bool>, _>(n)?.unwrap_or(false),
                micros,
                edit: micros,
                xmin: r.try_get(n + 2)?,
            },
        );
    }
    Ok(out)
}

/// The versions the stream recorded for `keys` of `table` (key text, as
/// [`key_text`] spells it): key -> (version, writing transaction's 32-bit id).
pub async fn versions(
    conn: &mut sqlx::PgConnection,
    versions: &str,
    table: &str,
    keys: &[String],
) -> Result<HashMap<String, (i64, i64)>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT key, version, xid FROM {} WHERE tbl = $1 AND key = ANY($2)",
        quote(Dialect::Postgres, versions)
    );
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(table)
        .bind(keys)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().map(|(k, v, x)| (k, (v, x))).collect())
}

/// Records `entries` (key text, version) of `table` as written by this transaction.
pub async fn write_versions(
    conn: &mut sqlx::PgConnection,
    versions: &str,
    table: &str,
    entries: &[(String, i64)],
) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO {} (tbl, key, version, xid) \
         SELECT $1, k, v, txid_current() % 4294967296 FROM unnest($2::text[], $3::bigint[]) AS u(k, v) \
         ON CONFLICT (tbl, key) DO UPDATE SET version = EXCLUDED.version, xid = EXCLUDED.xid",
        quote(Dialect::Postgres, versions)
    );
    let (keys, values): (Vec<&str>, Vec<i64>) =
        entries.iter().map(|(k, v)| (k.as_str(), *v)).unzip();
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(table)
        .bind(keys)
        .bind(values)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Appends `conflicts`, decided by stream `stream`, to the conflict log.
pub async fn log_conflicts(
    conn: &mut sqlx::PgConnection,
    stream: &str,
    conflicts: &[Logged],
) -> Result<(), sqlx::Error> {
    if conflicts.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO {} (stream, tbl, key, source_version, destination_version, rule, winner) \
         SELECT $1, t, k, s, d, r, w FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u(t, k, s, d, r, w)",
        quote(Dialect::Postgres, CONFLICT_TABLE)
    );
    let col = |f: fn(&Logged) -> &str| -> Vec<&str> { conflicts.iter().map(f).collect() };
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream)
        .bind(col(|c| &c.table))
        .bind(col(|c| &c.key))
        .bind(col(|c| &c.source_version))
        .bind(col(|c| &c.destination_version))
        .bind(col(|c| c.rule))
        .bind(col(|c| c.winner))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The server's clock now (Unix microseconds).
pub async fn clock(pool: &sqlx::PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint")
        .fetch_one(pool)
        .await
}

/// Inserts `rows` (canonical text, targets order) whose keys `table` did not hold when
/// they were read, leaving alone any that a local write inserted since (the read could
/// not lock a row that did not exist); returns how many were inserted.
pub async fn insert_missing(
    conn: &mut sqlx::PgConnection,
    table: &str,
    targets: &[Target],
    rows: &[Values],
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let all: Vec<&Target> = targets.iter().collect();
    let keys: Vec<String> = targets
        .iter()
        .filter(|t| t.is_key)
        .map(|t| quote(Dialect::Postgres, &t.name))
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) {} ON CONFLICT ({}) DO NOTHING",
        quote(Dialect::Postgres, table),
        targets
            .iter()
            .map(|t| quote(Dialect::Postgres, &t.name))
            .collect::<Vec<_>>()
            .join(", "),
        super::write::unnest_select(&all, 1),
        keys.join(", ")
    );
    let borrowed: Vec<Vec<Option<&str>>> = rows
        .iter()
        .map(|r| r.iter().map(|v| v.as_deref()).collect())
        .collect();
    let columns: Vec<usize> = (0..targets.len()).collect();
    Ok(bind_columns(
        sqlx::query(sqlx::AssertSqlSafe(sql)),
        targets,
        &columns,
        &borrowed,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// The trigger (and its function) that fills the tombstone table.
fn tombstone_trigger(slot: &str) -> String {
    format!("{}_tombstone", slot)
}

/// Creates the tombstone table, its function, and an `AFTER DELETE` trigger on each of
/// `tables` (name, key targets in targets order) that records a delete made by any
/// session but the stream's own (which runs under a replication origin).
pub async fn ensure_tombstones(
    pool: &sqlx::PgPool,
    slot: &str,
    tables: &[(String, Vec<String>)],
) -> Result<(), sqlx::Error> {
    let store = quote(Dialect::Postgres, &tombstone_table(slot));
    let function = quote(Dialect::Postgres, &tombstone_trigger(slot));
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {store} (tbl text NOT NULL, key text NOT NULL, PRIMARY KEY (tbl, key)); \
         CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $seaway$ \
         BEGIN \
           IF pg_replication_origin_session_is_setup() THEN RETURN NULL; END IF; \
           INSERT INTO {store} (tbl, key) \
             SELECT TG_TABLE_NAME, json_agg(to_jsonb(OLD) ->> a.c ORDER BY a.n)::text \
             FROM unnest(TG_ARGV) WITH ORDINALITY AS a(c, n) \
           ON CONFLICT (tbl, key) DO UPDATE SET key = EXCLUDED.key; \
           RETURN NULL; \
         END $seaway$;"
    );
    for (table, keys) in tables {
        let args: Vec<String> = keys
            .iter()
            .map(|k| format!("'{}'", k.replace('\'', "''")))
            .collect();
        sql.push_str(&format!(
            " CREATE OR REPLACE TRIGGER {function} AFTER DELETE ON {} FOR EACH ROW EXECUTE FUNCTION {function}({});",
            quote(Dialect::Postgres, table),
            args.join(", ")
        ));
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await?;
    Ok(())
}

/// Removes the triggers, the function and the tombstone table; whether there were any.
pub async fn drop_tombstones(pool: &sqlx::PgPool, slot: &str) -> Result<bool, sqlx::Error> {
    let function = tombstone_trigger(slot);
    let existed: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = $1)")
            .bind(&function)
            .fetch_one(pool)
            .await?;
    // Dropping the function drops the triggers that call it.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP FUNCTION IF EXISTS {} CASCADE; DROP TABLE IF EXISTS {}",
        quote(Dialect::Postgres, &function),
        quote(Dialect::Postgres, &tombstone_table(slot))
    )))
    .execute(pool)
    .await?;
    Ok(existed)
}

/// The commit times of the local deletes recorded for `keys` (key text) of `table`.
pub async fn tombstones(
    conn: &mut sqlx::PgConnection,
    slot: &str,
    table: &str,
    keys: &[String],
) -> Result<HashMap<String, Deleted>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT key, (EXTRACT(EPOCH FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint FROM {} WHERE tbl = $1 AND key = ANY($2)",
        quote(Dialect::Postgres, &tombstone_table(slot))
    );
    let rows: Vec<(String, Option<i64>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(table)
        .bind(keys)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(k, t)| {
            let micros = t?;
            Some((
                k,
                Deleted {
                    edit: micros,
                    micros,
                },
            ))
        })
        .collect())
}

/// Whether the session's role may create, use and drop replication origins (only
/// superusers may, unless granted): `Some(role)` when it may not.
pub async fn lacks_origin_rights(pool: &sqlx::PgPool) -> Result<Option<String>, sqlx::Error> {
    let (user, may): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, \
         has_function_privilege('pg_replication_origin_create(text)', 'EXECUTE') \
         AND has_function_privilege('pg_replication_origin_session_setup(text)', 'EXECUTE') \
         AND has_function_privilege('pg_replication_origin_drop(text)', 'EXECUTE')",
    )
    .fetch_one(pool)
    .await?;
    Ok((!may).then_some(user))
}
