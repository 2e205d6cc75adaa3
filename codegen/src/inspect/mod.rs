//! Introspection: a live database in, the neutral [`Schema`] out.
//!
//! sea-schema does the discovery for every dialect; each engine's reader
//! (`engine/<name>/inspect/`) then reads the catalog itself for what sea-schema 0.18 does
//! not report (see `docs/architecture.md`), and owns its native-type -> neutral-type
//! table. This module dispatches on the URL's dialect and holds what the engines share:
//! connecting, and turning driver errors into messages that name the host, port,
//! database and connection at fault.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

pub mod connect;
mod lift;

pub use connect::ConnectError;

use crate::config::Connection;
use crate::engine::{mysql, postgres, sqlite};
use crate::model::{Dialect, Schema};

/// What introspection found: the schema and what the user should know about it.
#[derive(Debug, Clone)]
pub struct Introspection {
    pub schema: Schema,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("connection `{connection}` ({url}): PostgreSQL schema `{schema}` does not exist{hint}")]
    SchemaMissing {
        connection: String,
        url: String,
        schema: String,
        hint: String,
    },
    #[error("connection `{connection}` ({url}): reading the catalog ({what}) failed: {reason}")]
    Catalog {
        connection: String,
        url: String,
        what: String,
        reason: String,
    },
}

impl InspectError {
    /// A catalog query failure, with any secret scrubbed from the driver's message.
    pub(crate) fn catalog(
        conn: &Connection,
        what: &str,
        err: impl std::fmt::Display,
    ) -> InspectError {
        InspectError::Catalog {
            connection: conn.name.clone(),
            url: conn.url.redacted().to_string(),
            what: what.to_string(),
            reason: conn.url.scrub(&err.to_string()),
        }
    }
}

/// Connects to `conn`, reads its schema, and names every `other` type in a warning.
pub async fn introspect(conn: &Connection) -> Result<Introspection, InspectError> {
    // The whole reader runs on its own task: a panic anywhere in it (sea-schema or ours)
    // becomes an error naming the connection, never a crash with a backtrace.
    let owned = conn.clone();
    let reader = tokio::spawn(async move {
        match owned.url.dialect() {
            Dialect::Postgres => postgres::inspect::introspect(&owned).await,
            Dialect::Mysql => mysql::inspect::introspect(&owned).await,
            Dialect::Sqlite => sqlite::inspect::introspect(&owned).await,
        }
    });
    let mut found = match reader.await {
        Ok(result) => result?,
        Err(join) => {
            return Err(InspectError::catalog(
                conn,
                "introspection",
                if join.is_panic() {
                    "seaway panicked on this schema; please report it with `SEAWAY_LOG=debug` output"
                } else {
                    "the reader was cancelled"
                },
            ));
        }
    };
    lift::lift(&mut found.schema);
    found.schema.normalize();
    for (table, column, native) in found.schema.other_types() {
        found.warnings.push(format!(
            "{table}.{column}: native type `{native}` has no neutral form; carried as other({native})"
        ));
    }
    Ok(found)
}

/// Lower-cases and trims a native type name for matching.
pub(crate) fn norm(native: &str) -> String {
    native.trim().to_ascii_lowercase()
}

/// Runs a sea-schema discovery on its own task, so that a `panic!` inside it (its parsers
/// panic on catalog rows they do not expect) becomes an error naming the connection
/// instead of a crash.
pub(crate) async fn guarded<T, E, F>(
    conn: &Connection,
    what: &str,
    discovery: F,
) -> Result<T, InspectError>
where
    F: std::future::Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    match tokio::spawn(discovery).await {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(e)) => Err(InspectError::catalog(conn, what, e)),
        Err(join) if join.is_panic() => Err(InspectError::catalog(
            conn,
            what,
            "sea-schema panicked on this schema; please report it with the output of `SEAWAY_LOG=debug`",
        )),
        Err(join) => Err(InspectError::catalog(conn, what, join)),
    }
}

/// The server's version string (`SELECT version()`, or SQLite's library version).
pub async fn server_version(conn: &Connection) -> Result<String, ConnectError> {
    let version = match conn.url.dialect() {
        Dialect::Postgres => {
            one_string(
                connect::postgres(conn, &crate::engine::postgres::search_path_of(conn)).await?,
                "select version()",
            )
            .await
        }
        Dialect::Mysql => {
            one_string(
                connect::mysql(conn).await?,
                "select concat('MySQL/MariaDB ', version())",
            )
            .await
        }
        Dialect::Sqlite => {
            one_string(
                connect::sqlite(conn).await?,
                "select 'SQLite ' || sqlite_version()",
            )
            .await
        }
    };
    version.map_err(|e| connect::classify(conn, e))
}

/// Runs a query returning one text value, then closes the pool.
async fn one_string<DB: sqlx::Database>(
    pool: sqlx::Pool<DB>,
    sql: &'static str,
) -> Result<String, sqlx::Error>
where
    for<'e> &'e sqlx::Pool<DB>: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    String: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let value = sqlx::query_scalar::<DB, String>(sql).fetch_one(&pool).await;
    pool.close().await;
    value
}

/// How many tables one emptiness query asks about: SQLite refuses a compound `SELECT`
/// of more than 500 parts (`SQLITE_MAX_COMPOUND_SELECT`).
const EXISTS_PER_QUERY: usize = 400;

/// Which of `tables` hold at least one row (a NOT NULL column without a default cannot
/// be added to those). One connection and one query for up to [`EXISTS_PER_QUERY`]
/// tables (`SELECT i WHERE EXISTS (SELECT 1 FROM t_i) UNION ALL ...`): a query and a
/// connection per table made a second `diff` of 30 tables take seconds. Names come from
/// the introspected schema and are quoted.
pub async fn populated_tables(
    conn: &Connection,
    tables: &[String],
) -> Result<std::collections::BTreeSet<String>, ConnectError> {
    let mut out = std::collections::BTreeSet::new();
    if tables.is_empty() {
        return Ok(out);
    }
    let dialect = conn.url.dialect();
    // MySQL needs `FROM DUAL` before a `WHERE`; its integer type is SIGNED.
    let (number, from) = match dialect {
        Dialect::Postgres | Dialect::Sqlite => ("BIGINT", ""),
        Dialect::Mysql => ("SIGNED", " FROM DUAL"),
    };
    let queries: Vec<String> = tables
        .iter()
        .enumerate()
        .map(|(i, table)| {
            format!(
                "SELECT CAST({i} AS {number}){from} WHERE EXISTS (SELECT 1 FROM {})",
                crate::engine::quote_ident(dialect, table)
            )
        })
        .collect::<Vec<_>>()
        .chunks(EXISTS_PER_QUERY)
        .map(|parts| parts.join(" UNION ALL "))
        .collect();
    let found = match dialect {
        Dialect::Postgres => {
            row_numbers(
                connect::postgres(conn, &crate::engine::postgres::search_path_of(conn)).await?,
                &queries,
            )
            .await
        }
        Dialect::Mysql => row_numbers(connect::mysql(conn).await?, &queries).await,
        Dialect::Sqlite => row_numbers(connect::sqlite(conn).await?, &queries).await,
    }
    .map_err(|e| connect::classify(conn, e))?;
    for i in found {
        if let Some(table) = usize::try_from(i).ok().and_then(|i| tables.get(i)) {
            out.insert(table.clone());
        }
    }
    Ok(out)
}

/// Runs each query on one pool and collects the first column of every row (a number),
/// then closes the pool.
async fn row_numbers<DB: sqlx::Database>(
    pool: sqlx::Pool<DB>,
    queries: &[String],
) -> Result<Vec<i64>, sqlx::Error>
where
    for<'e> &'e sqlx::Pool<DB>: sqlx::Executor<'e, Database = DB>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    use sqlx::Row;
    let mut found = Vec::new();
    for sql in queries {
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(&pool)
            .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                pool.close().await;
                return Err(e);
            }
        };
        for row in rows {
            found.push(row.try_get::<i64, _>(0)?);
        }
    }
    pool.close().await;
    Ok(found)
}
