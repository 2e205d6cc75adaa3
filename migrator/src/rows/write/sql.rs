//! The SQL every engine's writer shares: multi-row inserts, statement execution, and
//! the presence check that proves a keyed write arrived (counted in the destination).
//! A leaf under the writers: it never dispatches to an engine.

use super::outcome::WriteError;
use crate::rows::plan::Target;
use crate::rows::values::Family;
use seaway_codegen::model::Dialect;
use std::collections::BTreeSet;

/// A value through an engine's `input` conversion, then the conversions common to all
/// (`None` in, `None` out).
pub(crate) fn for_input(
    input: fn(&Target, &str) -> Option<String>,
    target: &Target,
    value: Option<&str>,
) -> Option<String> {
    let v = value?;
    Some(
        input(target, v)
            .or_else(|| common_input(target, v))
            .unwrap_or_else(|| v.to_string()),
    )
}

/// The conversions of a non-NULL canonical value that every destination needs (after
/// its own `input` declined), or `None` when it takes the value as it is.
pub(crate) fn common_input(target: &Target, v: &str) -> Option<String> {
    match (target.source, Family::of(&target.ty)) {
        (Family::Set, Family::Json) => Some(crate::rows::values::set_to_json_array(v)),
        _ => None,
    }
}

/// A multi-row `INSERT INTO t (a, b) VALUES (..), (..)<tail>` for MySQL and SQLite, each
/// value's placeholder chosen by the dialect (`UNHEX(?)` where bytes arrive as hex).
pub(crate) struct MultiRowInsert {
    head: String,
    tuple: String,
    tail: String,
}

impl MultiRowInsert {
    pub(crate) fn new(
        dialect: Dialect,
        table: &str,
        targets: &[Target],
        placeholder: fn(&Target) -> &'static str,
        tail: String,
    ) -> MultiRowInsert {
        let q = |n: &str| seaway_codegen::engine::quote_ident(dialect, n);
        let cols: Vec<String> = targets.iter().map(|t| q(&t.name)).collect();
        let marks: Vec<&str> = targets.iter().map(placeholder).collect();
        MultiRowInsert {
            head: format!("INSERT INTO {} ({})", q(table), cols.join(", ")),
            tuple: format!("({})", marks.join(", ")),
            tail,
        }
    }

    /// The statement for `rows` rows.
    pub(crate) fn sql(&self, rows: usize) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(format!(
            "{} VALUES {}{}",
            self.head,
            vec![self.tuple.as_str(); rows].join(", "),
            self.tail
        ))
    }
}

/// Whether `table` holds no row with `key` in `(lo, hi]` (either end open when `None`;
/// the whole table when `key` is `None`): asked before a chunk's first load takes a
/// destination's bulk path (an empty range needs no staging table and no upsert).
pub(crate) async fn range_is_empty<'e, DB, E>(
    executor: E,
    dialect: Dialect,
    table: &str,
    key: Option<&str>,
    range: (Option<i64>, Option<i64>),
) -> Result<bool, sqlx::Error>
where
    DB: sqlx::Database,
    E: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    let sql = format!(
        "SELECT 1 FROM {}{} LIMIT 1",
        seaway_codegen::engine::quote_ident(dialect, table),
        crate::rows::read::where_clause(&crate::rows::read::key_range(dialect, key, range))
    );
    let found = sqlx::query::<DB>(sqlx::AssertSqlSafe(sql))
        .fetch_optional(executor)
        .await?;
    Ok(found.is_none())
}

/// Columns to update on conflict: every target that is not part of the key.
pub(crate) fn non_keys(targets: &[Target]) -> impl Iterator<Item = &Target> {
    targets.iter().filter(|t| !t.is_key)
}

/// Runs one statement with optional text parameters; returns the rows it affected.
pub(crate) async fn execute<'e, DB, E>(
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

/// Whether `sql` returns any row.
pub(crate) async fn any_row<'e, DB, E>(executor: E, sql: &str) -> Result<bool, sqlx::Error>
where
    DB: sqlx::Database,
    E: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    Ok(sqlx::query::<DB>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_optional(executor)
        .await?
        .is_some())
}

/// The affected-row count of each driver's query result.
pub(crate) trait RowsAffected {
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

/// The distinct keys of `rows` (the values of the key targets, in key order).
pub(crate) fn distinct_keys<'r>(
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

/// How an engine's writer asks which keys its destination holds.
#[derive(Clone, Copy)]
pub(crate) struct KeyCheck {
    pub dialect: Dialect,
    /// Keys per statement at most (the engine's parameter limit).
    pub per_statement: usize,
    /// The engine's marker for the n-th parameter (1-based).
    pub placeholder: fn(usize, &Target) -> String,
    /// The engine's own value conversions (its writer's `input`).
    pub input: fn(&Target, &str) -> Option<String>,
}

/// `(k1, k2) IN ((?, ?), (?, ?), ...)` for `rows` keys of the key targets (a single key
/// column without the parentheses), each parameter's marker from the engine's
/// `placeholder(n, target)` (1-based): the condition both the presence check and the
/// keyed deletes of `sync` select keys with.
pub(crate) fn key_in_list(
    dialect: Dialect,
    key_targets: &[&Target],
    rows: usize,
    placeholder: fn(usize, &Target) -> String,
) -> String {
    let q = |n: &str| seaway_codegen::engine::quote_ident(dialect, n);
    let columns: Vec<String> = key_targets.iter().map(|t| q(&t.name)).collect();
    let mut n = 0;
    let tuples: Vec<String> = (0..rows)
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
    format!("{left} IN ({list})")
}

/// Counts how many of `keys` (canonical text of the key targets, in key order) `table`
/// holds, in statements of at most `check.per_statement` keys. The count is what the
/// destination holds, not what was sent: it is how every keyed write proves its rows
/// arrived.
pub(crate) async fn count_present<DB>(
    conn: &mut DB::Connection,
    check: &KeyCheck,
    table: &str,
    targets: &[Target],
    keys: &[Vec<Option<&str>>],
) -> Result<u64, sqlx::Error>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    Option<String>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let KeyCheck {
        dialect,
        per_statement,
        placeholder,
        input,
    } = *check;
    let key_targets: Vec<&Target> = targets.iter().filter(|t| t.is_key).collect();
    let q = |n: &str| seaway_codegen::engine::quote_ident(dialect, n);
    let mut present = 0u64;
    for batch in keys.chunks(per_statement.max(1)) {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {}",
            q(table),
            key_in_list(dialect, &key_targets, batch.len(), placeholder)
        );
        let mut query = sqlx::query_scalar::<DB, i64>(sqlx::AssertSqlSafe(sql));
        for key in batch {
            for (t, v) in key_targets.iter().zip(key) {
                query = query.bind(for_input(input, t, *v));
            }
        }
        present += u64::try_from(query.fetch_one(&mut *conn).await?).unwrap_or(0);
    }
    Ok(present)
}

/// The `Missing` error when `present` of `keys` arrived, naming the `absent` ones found.
pub(crate) fn missing_error(
    keys: &[Vec<Option<&str>>],
    present: u64,
    absent: &[String],
) -> WriteError {
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
pub(crate) async fn check_present<DB>(
    conn: &mut DB::Connection,
    check: &KeyCheck,
    table: &str,
    targets: &[Target],
    keys: &[Vec<Option<&str>>],
) -> Result<u64, WriteError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    Option<String>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let present = count_present::<DB>(conn, check, table, targets, keys).await?;
    if present < keys.len() as u64 {
        // Only on the failure path: one small query per key, to name up to five.
        let mut absent = Vec::new();
        for key in keys {
            let one = std::slice::from_ref(key);
            let one_check = KeyCheck {
                per_statement: 1,
                ..*check
            };
            if count_present::<DB>(conn, &one_check, table, targets, one).await? == 0 {
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
