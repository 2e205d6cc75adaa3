//! Destination side: bulk upserts, one module per dialect, matched on the primary key,
//! so a page written twice (a resumed or repeated run) leaves one row.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

mod mysql;
pub(crate) mod postgres;
mod sqlite;

use crate::rows::plan::Target;
use crate::rows::values::Family;
use seaway_codegen::model::Dialect;
use serde::Serialize;
use std::collections::BTreeSet;

/// What one write did, as the destination counted it: rows it inserted, rows it changed,
/// and rows it already held exactly (left alone: no write, no trigger, no WAL).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Written {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl Written {
    /// Rows the destination now holds from this write, whatever it had to do for them.
    pub fn rows(&self) -> u64 {
        self.inserted + self.updated + self.unchanged
    }

    pub fn inserted(n: u64) -> Written {
        Written {
            inserted: n,
            ..Written::default()
        }
    }

    /// A keyed write of `sent` distinct keys that the destination inserted and updated
    /// as counted: every other key sent was already held exactly (the write checked
    /// that every key is present).
    fn tally(sent: usize, inserted: u64, updated: u64) -> Written {
        Written {
            inserted,
            updated,
            unchanged: (sent as u64).saturating_sub(inserted + updated),
        }
    }
}

impl std::ops::AddAssign for Written {
    fn add_assign(&mut self, other: Written) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
    }
}

/// Why a write did not land.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The destination refused the statement (a value, a constraint, the connection).
    #[error(transparent)]
    Refused(#[from] sqlx::Error),
    /// A row larger than the MySQL server accepts in one packet: sending it would only
    /// have the server drop the connection ("Connection reset by peer").
    #[error(
        "the row is {bytes} bytes, larger than the MySQL/MariaDB server at {endpoint} accepts in one packet (max_allowed_packet = {limit} bytes); raise the server setting max_allowed_packet above {bytes} (SET GLOBAL max_allowed_packet = {suggested}, or max_allowed_packet under [mysqld] in its configuration) and run the transfer again"
    )]
    TooLarge {
        bytes: u64,
        limit: u64,
        suggested: u64,
        endpoint: String,
    },
    /// The destination accepted a write, yet afterwards does not hold every key sent: a
    /// row was dropped or renumbered on the way in (a trigger, a rule, an
    /// `AUTO_INCREMENT` that treated a key as "generate one"). Never a silent success.
    #[error(
        "{missing} of the {sent} row(s) just written are not in the destination afterwards (key {keys}), although it accepted them; something in the destination dropped or renumbered them (a trigger, a rule, an AUTO_INCREMENT column, a server sql_mode). Nothing was counted as written: fix the cause and run again"
    )]
    Missing {
        missing: u64,
        sent: u64,
        keys: String,
    },
}

impl WriteError {
    /// Whether the error concerns the rows sent (the caller isolates and rejects them),
    /// rather than the destination as a whole.
    pub fn is_row_refusal(&self) -> bool {
        match self {
            WriteError::Refused(_) | WriteError::TooLarge { .. } => true,
            WriteError::Missing { .. } => false,
        }
    }
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
            Dialect::Postgres => Writer::Postgres(postgres::PgWriter(
                connect::postgres(
                    conn,
                    &seaway_codegen::engine::postgres::search_path_of(conn),
                )
                .await?,
            )),
            Dialect::Mysql => Writer::Mysql(mysql::MyWriter::open(conn).await?),
            Dialect::Sqlite => Writer::Sqlite(sqlite::LiteWriter(
                connect::sqlite_writable(conn, false).await?,
            )),
        })
    }

    /// Establishes up to `n` pooled connections at once (see `Source::warm`); SQLite's
    /// single connection is left alone.
    pub async fn warm(&self, n: usize) {
        match self {
            Writer::Postgres(w) => crate::rows::source::warm(&w.0, n).await,
            Writer::Mysql(w) => crate::rows::source::warm(&w.pool, n).await,
            Writer::Sqlite(_) => {}
        }
    }

    /// Upserts `rows` (canonical text, in `targets` order) into `table`, leaving rows the
    /// destination already holds exactly untouched, and checks afterwards that every key
    /// sent is there. Returns what the destination did, by its own counts.
    pub async fn upsert(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<Written, WriteError> {
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
            Writer::Mysql(_) | Writer::Sqlite(_) => Ok(false),
        }
    }

    /// Inserts rows whose keys the destination does not hold (checked by
    /// `range_is_empty`); where no faster path exists, this is `upsert`.
    pub async fn insert_fresh(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<Written, WriteError> {
        match self {
            Writer::Postgres(w) => Ok(w.insert_fresh(table, targets, rows).await?),
            Writer::Mysql(_) | Writer::Sqlite(_) => self.upsert(table, targets, rows).await,
        }
    }

    /// The pool, when the destination is PostgreSQL (for `COPY ... FROM STDIN`).
    pub fn postgres(&self) -> Option<&sqlx::PgPool> {
        match self {
            Writer::Postgres(w) => Some(&w.0),
            Writer::Mysql(_) | Writer::Sqlite(_) => None,
        }
    }

    /// After a table is loaded: move identity sequences past the loaded keys.
    pub async fn finish_table(&self, table: &str, targets: &[Target]) -> Result<(), sqlx::Error> {
        match self {
            Writer::Postgres(w) => w.finish_table(table, targets).await,
            Writer::Mysql(_) | Writer::Sqlite(_) => Ok(()),
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
                    crate::rows::read::quote(dialect, &k.name),
                    crate::rows::read::key_param(dialect, i + 1, k)
                )
            })
            .collect();
        let sql = format!(
            "DELETE FROM {} WHERE {}",
            crate::rows::read::quote(dialect, table),
            conditions.join(" AND ")
        );
        let mut deleted = 0;
        for key in keys {
            deleted += match self {
                Writer::Postgres(w) => execute(&w.0, &sql, key).await?,
                Writer::Mysql(w) => execute(&w.pool, &sql, key).await?,
                Writer::Sqlite(w) => execute(&w.0, &sql, key).await?,
            };
        }
        Ok(deleted)
    }

    /// Opens a destination transaction for an append-only table's window (see [`Tx`]).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Writer::Postgres(w) => Tx::Postgres(w.0.begin().await?),
            Writer::Mysql(w) => Tx::Mysql(w.pool.begin().await?, w.limits.clone()),
            Writer::Sqlite(w) => Tx::Sqlite(w.0.begin().await?),
        })
    }

    pub async fn close(self) {
        match self {
            Writer::Postgres(w) => w.0.close().await,
            Writer::Mysql(w) => w.pool.close().await,
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
        (Family::Set, Family::Json) => Some(crate::rows::values::set_to_json_array(v)),
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
        let q = |n: &str| crate::rows::read::quote(dialect, n);
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
    Mysql(sqlx::Transaction<'static, sqlx::MySql>, mysql::Limits),
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
            Tx::Mysql(..) => Dialect::Mysql,
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
        let mut sql = format!("DELETE FROM {}", crate::rows::read::quote(d, table));
        let mut params = Vec::new();
        if let Some((column, mark)) = after {
            let placeholder = match d {
                Dialect::Postgres => format!("CAST($1 AS {})", column.native),
                Dialect::Mysql | Dialect::Sqlite => "?".to_string(),
            };
            sql.push_str(&format!(
                " WHERE {} > {placeholder}",
                crate::rows::read::quote(d, &column.name)
            ));
            params.push(for_destination(d, column, Some(mark)));
        }
        match self {
            Tx::Postgres(tx) => execute(&mut **tx, &sql, &params).await,
            Tx::Mysql(tx, _) => execute(&mut **tx, &sql, &params).await,
            Tx::Sqlite(tx) => execute(&mut **tx, &sql, &params).await,
        }
    }

    /// Inserts rows (canonical text, in `targets` order, no key among the targets).
    pub async fn insert(
        &mut self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<u64, WriteError> {
        match self {
            Tx::Postgres(tx) => Ok(postgres::copy_rows(tx, table, targets, rows).await?),
            Tx::Mysql(tx, limits) => mysql::insert_plain(tx, limits, table, targets, rows).await,
            Tx::Sqlite(tx) => sqlite::insert_plain(tx, table, targets, rows).await,
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Postgres(tx) => tx.commit().await,
            Tx::Mysql(tx, _) => tx.commit().await,
            Tx::Sqlite(tx) => tx.commit().await,
        }
    }
}

/// The distinct keys of `rows` (the values of the key targets, in key order).
fn distinct_keys<'r>(
    targets: &[Target],
    rows: &'r [Vec<Option<String>>],
) -> Vec<Vec<Option<&'r str>>> {
    let positions: Vec<usize> = targets
        .iter()
        .enumerate()
        .filter(|(_, t)| t.is_key)
        .map(|(i, _)| i)
        .collect();
    let keys: BTreeSet<Vec<Option<&str>>> = rows
        .iter()
        .map(|r| positions.iter().map(|&i| r[i].as_deref()).collect())
        .collect();
    keys.into_iter().collect()
}

/// Counts how many of `keys` (canonical text of the key targets, in key order) `table`
/// holds, in statements of at most `per_statement` keys; `placeholder(n, target)` is the
/// dialect's marker for the n-th parameter (1-based). The count is what the destination
/// holds, not what was sent: it is how every keyed write proves its rows arrived.
async fn count_present<DB>(
    conn: &mut DB::Connection,
    dialect: Dialect,
    table: &str,
    targets: &[Target],
    keys: &[Vec<Option<&str>>],
    per_statement: usize,
    placeholder: fn(usize, &Target) -> String,
) -> Result<u64, sqlx::Error>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    Option<String>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let key_targets: Vec<&Target> = targets.iter().filter(|t| t.is_key).collect();
    let q = |n: &str| crate::rows::read::quote(dialect, n);
    let columns: Vec<String> = key_targets.iter().map(|t| q(&t.name)).collect();
    let mut present = 0u64;
    for batch in keys.chunks(per_statement.max(1)) {
        let mut n = 0;
        let tuples: Vec<String> = batch
            .iter()
            .map(|_| {
                let marks: Vec<String> = key_targets
                    .iter()
                    .map(|t| {
                        n += 1;
                        placeholder(n, t)
                    })
                    .collect();
                match marks.as_slice() {
                    [one] => one.clone(),
                    _ => format!("({})", marks.join(", ")),
                }
            })
            .collect();
        let list = match (columns.len(), dialect) {
            (1, _) | (_, Dialect::Mysql) => tuples.join(", "),
            // SQLite takes a list of row values only from a VALUES clause.
            (_, Dialect::Postgres | Dialect::Sqlite) => format!("VALUES {}", tuples.join(", ")),
        };
        let left = match columns.as_slice() {
            [one] => one.clone(),
            many => format!("({})", many.join(", ")),
        };
        let sql = format!("SELECT count(*) FROM {} WHERE {left} IN ({list})", q(table));
        let mut query = sqlx::query_scalar::<DB, i64>(sqlx::AssertSqlSafe(sql));
        for key in batch {
            for (t, v) in key_targets.iter().zip(key) {
                query = query.bind(for_destination(dialect, t, *v));
            }
        }
        present += u64::try_from(query.fetch_one(&mut *conn).await?).unwrap_or(0);
    }
    Ok(present)
}

/// The `Missing` error when `present` of `keys` arrived, naming the `absent` ones found.
fn missing_error(keys: &[Vec<Option<&str>>], present: u64, absent: &[String]) -> WriteError {
    let sent = keys.len() as u64;
    let mut named: Vec<String> = absent.iter().take(5).cloned().collect();
    if named.is_empty() {
        named.push("not identified".into());
    }
    WriteError::Missing {
        missing: sent.saturating_sub(present),
        sent,
        keys: named.join(", "),
    }
}

/// A key as printed in messages: its values joined with `, `, NULL as `NULL`.
fn key_text(key: &[Option<&str>]) -> String {
    let parts: Vec<&str> = key.iter().map(|v| v.unwrap_or("NULL")).collect();
    if parts.len() == 1 {
        parts[0].to_string()
    } else {
        format!("({})", parts.join(", "))
    }
}

/// After a keyed write: proves every distinct key sent is in `table`, or names the ones
/// that are not. Returns how many the destination holds.
async fn check_present<DB>(
    conn: &mut DB::Connection,
    dialect: Dialect,
    table: &str,
    targets: &[Target],
    keys: &[Vec<Option<&str>>],
    per_statement: usize,
    placeholder: fn(usize, &Target) -> String,
) -> Result<u64, WriteError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    Option<String>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let present = count_present::<DB>(
        conn,
        dialect,
        table,
        targets,
        keys,
        per_statement,
        placeholder,
    )
    .await?;
    if present < keys.len() as u64 {
        // Only on the failure path: one small query per key, to name up to five.
        let mut absent = Vec::new();
        for key in keys {
            let one = std::slice::from_ref(key);
            if count_present::<DB>(conn, dialect, table, targets, one, 1, placeholder).await? == 0 {
                absent.push(key_text(key));
                if absent.len() == 5 {
                    break;
                }
            }
        }
        return Err(missing_error(keys, present, &absent));
    }
    Ok(present)
}
