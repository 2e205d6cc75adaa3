//! Destination side: bulk upserts, one module per dialect, matched on the primary key,
//! so a page written twice (a resumed or repeated run) leaves one row.

mod mysql;
pub(crate) mod postgres;
mod sqlite;

use super::values::Family;
use seaway_codegen::model::{Dialect, NeutralType};

/// A destination column being written, with the family of the source value feeding it.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub ty: NeutralType,
    /// The destination's DDL type (for PostgreSQL staging tables).
    pub native: String,
    pub source: Family,
    pub is_key: bool,
}

/// An open destination writer.
pub enum Writer {
    Postgres(postgres::PgWriter),
    Mysql(mysql::MyWriter),
    Sqlite(sqlite::LiteWriter),
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    pub async fn open(
        conn: &seaway_codegen::config::Connection,
    ) -> Result<Writer, seaway_codegen::inspect::ConnectError> {
        use seaway_codegen::inspect::connect;
        Ok(match conn.url.dialect() {
            Dialect::Postgres => {
                let schema = conn.schema.clone().unwrap_or_else(|| "public".into());
                Writer::Postgres(postgres::PgWriter(
                    connect::postgres(conn, &format!("\"{}\"", schema.replace('"', "\"\"")))
                        .await?,
                ))
            }
            Dialect::Mysql => Writer::Mysql(mysql::MyWriter(connect::mysql(conn).await?)),
            Dialect::Sqlite => Writer::Sqlite(sqlite::LiteWriter(
                connect::sqlite_writable(conn, false).await?,
            )),
        })
    }

    /// Establishes up to `n` pooled connections at once (see `Source::warm`); SQLite's
    /// single connection is left alone.
    pub async fn warm(&self, n: usize) {
        match self {
            Writer::Postgres(w) => super::source::warm(&w.0, n).await,
            Writer::Mysql(w) => super::source::warm(&w.0, n).await,
            Writer::Sqlite(_) => {}
        }
    }

    /// Upserts `rows` (canonical text, in `targets` order) into `table`; returns rows written.
    pub async fn upsert(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<usize, sqlx::Error> {
        match self {
            Writer::Postgres(w) => w.upsert(table, targets, rows).await,
            Writer::Mysql(w) => w.upsert(table, targets, rows).await,
            Writer::Sqlite(w) => w.upsert(table, targets, rows).await,
        }
    }

    /// Whether a plain load can go into the key range `(lo, hi]` of `table` (see
    /// `PgWriter::range_is_empty`). Only PostgreSQL has a faster path for it (a plain
    /// `COPY` against staging + `ON CONFLICT`); the others answer `false` without asking.
    pub async fn range_is_empty(
        &self,
        table: &str,
        key: Option<&str>,
        range: (Option<i64>, Option<i64>),
    ) -> Result<bool, sqlx::Error> {
        match self {
            Writer::Postgres(w) => w.range_is_empty(table, key, range).await,
            _ => Ok(false),
        }
    }

    /// Inserts rows whose keys the destination does not hold (checked by
    /// `range_is_empty`); where no faster path exists, this is `upsert`.
    pub async fn insert_fresh(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<usize, sqlx::Error> {
        match self {
            Writer::Postgres(w) => w.insert_fresh(table, targets, rows).await,
            _ => self.upsert(table, targets, rows).await,
        }
    }

    /// The pool, when the destination is PostgreSQL (for `COPY ... FROM STDIN`).
    pub fn postgres(&self) -> Option<&sqlx::PgPool> {
        match self {
            Writer::Postgres(w) => Some(&w.0),
            _ => None,
        }
    }

    /// After a table is loaded: move identity sequences past the loaded keys.
    pub async fn finish_table(&self, table: &str, targets: &[Target]) -> Result<(), sqlx::Error> {
        match self {
            Writer::Postgres(w) => w.finish_table(table, targets).await,
            _ => Ok(()),
        }
    }

    /// Deletes the rows whose key (canonical text as the destination reads it, in key
    /// order) is in `keys`, one statement per row; returns the rows deleted. Verify's
    /// `--delete-extra` is its only user, and extra rows are few.
    pub async fn delete(
        &self,
        table: &str,
        key_cols: &[seaway_codegen::model::Column],
        keys: &[Vec<Option<String>>],
    ) -> Result<u64, sqlx::Error> {
        let dialect = match self {
            Writer::Postgres(_) => Dialect::Postgres,
            Writer::Mysql(_) => Dialect::Mysql,
            Writer::Sqlite(_) => Dialect::Sqlite,
        };
        let conditions: Vec<String> = key_cols
            .iter()
            .enumerate()
            .map(|(i, k)| {
                format!(
                    "{} = {}",
                    super::read::quote(dialect, &k.name),
                    super::read::key_param(dialect, i + 1, k)
                )
            })
            .collect();
        let sql = format!(
            "DELETE FROM {} WHERE {}",
            super::read::quote(dialect, table),
            conditions.join(" AND ")
        );
        let mut deleted = 0;
        for key in keys {
            deleted += match self {
                Writer::Postgres(w) => execute(&w.0, &sql, key).await?,
                Writer::Mysql(w) => execute(&w.0, &sql, key).await?,
                Writer::Sqlite(w) => execute(&w.0, &sql, key).await?,
            };
        }
        Ok(deleted)
    }

    /// Opens a destination transaction for an append-only table's window (see [`Tx`]).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Writer::Postgres(w) => Tx::Postgres(w.0.begin().await?),
            Writer::Mysql(w) => Tx::Mysql(w.0.begin().await?),
            Writer::Sqlite(w) => Tx::Sqlite(w.0.begin().await?),
        })
    }

    pub async fn close(self) {
        match self {
            Writer::Postgres(w) => w.0.close().await,
            Writer::Mysql(w) => w.0.close().await,
            Writer::Sqlite(w) => w.0.close().await,
        }
    }
}

/// Converts a canonical value for a destination whose input syntax differs; `None` in,
/// `None` out. Each dialect's module owns its own conversions (`input`); what is left
/// is common to all.
pub fn for_destination(dialect: Dialect, target: &Target, value: Option<&str>) -> Option<String> {
    let v = value?;
    Some(converted(dialect, target, v).unwrap_or_else(|| v.to_string()))
}

/// The converted text of a non-NULL canonical value, or `None` when the destination takes
/// it as it is (most values): callers that only copy it on then need no allocation.
pub(crate) fn converted(dialect: Dialect, target: &Target, v: &str) -> Option<String> {
    let own = match dialect {
        Dialect::Postgres => postgres::input(target, v),
        Dialect::Mysql => mysql::input(target, v),
        Dialect::Sqlite => sqlite::input(target, v),
    };
    own.or_else(|| match (target.source, Family::of(&target.ty)) {
        (Family::Set, Family::Json) => Some(super::values::set_to_json_array(v)),
        _ => None,
    })
}

/// A multi-row `INSERT INTO t (a, b) VALUES (..), (..)<tail>` for MySQL and SQLite, each
/// value's placeholder chosen by the dialect (`UNHEX(?)` where bytes arrive as hex).
pub(super) struct MultiRowInsert {
    head: String,
    tuple: String,
    tail: String,
}

impl MultiRowInsert {
    pub(super) fn new(
        dialect: Dialect,
        table: &str,
        targets: &[Target],
        placeholder: fn(&Target) -> &'static str,
        tail: String,
    ) -> MultiRowInsert {
        let q = |n: &str| super::read::quote(dialect, n);
        let cols: Vec<String> = targets.iter().map(|t| q(&t.name)).collect();
        let marks: Vec<&str> = targets.iter().map(placeholder).collect();
        MultiRowInsert {
            head: format!("INSERT INTO {} ({})", q(table), cols.join(", ")),
            tuple: format!("({})", marks.join(", ")),
            tail,
        }
    }

    /// The statement for `rows` rows.
    pub(super) fn sql(&self, rows: usize) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(format!(
            "{} VALUES {}{}",
            self.head,
            vec![self.tuple.as_str(); rows].join(", "),
            self.tail
        ))
    }
}

/// Columns to update on conflict: every target that is not part of the key.
fn non_keys(targets: &[Target]) -> impl Iterator<Item = &Target> {
    targets.iter().filter(|t| !t.is_key)
}

/// Runs one statement with optional text parameters; returns the rows it affected.
async fn execute<'e, DB, E>(
    executor: E,
    sql: &str,
    params: &[Option<String>],
) -> Result<u64, sqlx::Error>
where
    DB: sqlx::Database,
    E: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    Option<String>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
    DB::QueryResult: RowsAffected,
{
    let mut query = sqlx::query::<DB>(sqlx::AssertSqlSafe(sql.to_string()));
    for p in params {
        query = query.bind(p.clone());
    }
    Ok(query.execute(executor).await?.rows())
}

/// The affected-row count of each driver's query result.
trait RowsAffected {
    fn rows(&self) -> u64;
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::mysql::MySqlQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

/// One destination transaction in which an append-only table (no key to match rows on)
/// gets its window replaced: the rows an earlier, interrupted copy of the same window
/// wrote are deleted, then the window's rows inserted, all or nothing. Without a key a
/// copy cannot resume part-way or upsert, so it is made atomic instead.
pub enum Tx {
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    Mysql(sqlx::Transaction<'static, sqlx::MySql>),
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tx")
    }
}

impl Tx {
    fn dialect(&self) -> Dialect {
        match self {
            Tx::Postgres(_) => Dialect::Postgres,
            Tx::Mysql(_) => Dialect::Mysql,
            Tx::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Deletes the table's rows whose watermark column `after.0` is past `after.1`
    /// (canonical text), or every row when `after` is `None`; returns the rows deleted.
    pub async fn clear(
        &mut self,
        table: &str,
        after: Option<(&Target, &str)>,
    ) -> Result<u64, sqlx::Error> {
        let d = self.dialect();
        let mut sql = format!("DELETE FROM {}", super::read::quote(d, table));
        let mut params = Vec::new();
        if let Some((column, mark)) = after {
            let placeholder = match d {
                Dialect::Postgres => format!("CAST($1 AS {})", column.native),
                _ => "?".to_string(),
            };
            sql.push_str(&format!(
                " WHERE {} > {placeholder}",
                super::read::quote(d, &column.name)
            ));
            params.push(for_destination(d, column, Some(mark)));
        }
        match self {
            Tx::Postgres(tx) => execute(&mut **tx, &sql, &params).await,
            Tx::Mysql(tx) => execute(&mut **tx, &sql, &params).await,
            Tx::Sqlite(tx) => execute(&mut **tx, &sql, &params).await,
        }
    }

    /// Inserts rows (canonical text, in `targets` order, no key among the targets).
    pub async fn insert(
        &mut self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<u64, sqlx::Error> {
        match self {
            Tx::Postgres(tx) => postgres::copy_rows(tx, table, targets, rows).await,
            Tx::Mysql(tx) => mysql::insert_rows(tx, table, targets, rows)
                .await
                .map(|n| n as u64),
            Tx::Sqlite(tx) => sqlite::insert_rows(tx, table, targets, rows)
                .await
                .map(|n| n as u64),
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Postgres(tx) => tx.commit().await,
            Tx::Mysql(tx) => tx.commit().await,
            Tx::Sqlite(tx) => tx.commit().await,
        }
    }
}
