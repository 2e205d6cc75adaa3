//! Reading the destination's ledger (`seaway_migrations`), which `migrator apply` writes:
//! one row per (version, section) with a success flag. `codegen diff` reads it to refuse
//! stacking a new migration on ones not yet applied.

use super::Section;
use crate::config::Connection;
use crate::diff::LEDGER_TABLE;
use crate::inspect::{ConnectError, connect};
use crate::model::Dialect;
use std::collections::{BTreeMap, BTreeSet};

/// (version, section) pairs applied successfully; empty when there is no ledger yet.
pub async fn applied(conn: &Connection) -> Result<BTreeSet<(u32, Section)>, ConnectError> {
    Ok(applied_checksums(conn).await?.into_keys().collect())
}

/// Successfully applied (version, section) pairs with the checksum the file had then.
pub async fn applied_checksums(
    conn: &Connection,
) -> Result<BTreeMap<(u32, Section), String>, ConnectError> {
    let sql = format!("SELECT version, section, checksum FROM {LEDGER_TABLE} WHERE success");
    let rows: Vec<(i32, String, String)> = match conn.url.dialect() {
        Dialect::Postgres => {
            let pool = connect::postgres(conn, &crate::engine::postgres::search_path_of(conn)).await?;
            let rows = read(&pool, &sql, "select to_regclass('seaway_migrations') is not null").await;
            pool.close().await;
            rows
        }
        Dialect::Mysql => {
            let pool = connect::mysql(conn).await?;
            let rows = read(&pool, &sql, "select count(*) > 0 from information_schema.tables where table_schema = database() and table_name = 'seaway_migrations'").await;
            pool.close().await;
            rows
        }
        Dialect::Sqlite => {
            if conn.url.sqlite_path().is_none_or(|p| !p.is_file()) {
                return Ok(BTreeMap::new());
            }
            let pool = connect::sqlite(conn).await?;
            let rows = read(&pool, &sql, "select count(*) > 0 from sqlite_master where type = 'table' and name = 'seaway_migrations'").await;
            pool.close().await;
            rows
        }
    }
    .map_err(|e| connect::classify(conn, e))?;
    Ok(rows
        .into_iter()
        .filter_map(|(v, s, c)| Some(((u32::try_from(v).ok()?, Section::parse(&s)?), c)))
        .collect())
}

async fn read<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    sql: &str,
    exists: &'static str,
) -> Result<Vec<(i32, String, String)>, sqlx::Error>
where
    for<'e> &'e sqlx::Pool<DB>: sqlx::Executor<'e, Database = DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    bool: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    i32: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    String: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let present: bool = sqlx::query_scalar::<DB, bool>(exists)
        .fetch_one(pool)
        .await?;
    if !present {
        return Ok(Vec::new());
    }
    sqlx::query_as::<DB, (i32, String, String)>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_all(pool)
        .await
}
