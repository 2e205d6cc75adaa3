//! Reading rows as canonical text from either side, whichever engine it is: transfer
//! reads its source through it, verify both sides.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use seaway_codegen::config::Connection;
use seaway_codegen::inspect::{ConnectError, connect};
use seaway_codegen::model::Dialect;

pub enum Source {
    Postgres(sqlx::PgPool),
    Mysql(sqlx::MySqlPool),
    Sqlite(sqlx::SqlitePool),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Source")
    }
}

/// Rows of canonical text.
pub type Rows = Vec<Vec<Option<String>>>;

impl Source {
    /// The engine this source is.
    pub fn dialect(&self) -> Dialect {
        match self {
            Source::Postgres(_) => Dialect::Postgres,
            Source::Mysql(_) => Dialect::Mysql,
            Source::Sqlite(_) => Dialect::Sqlite,
        }
    }

    pub async fn open(conn: &Connection) -> Result<Source, ConnectError> {
        Ok(match conn.url.dialect() {
            Dialect::Postgres => {
                // ISO 8601 intervals read back everywhere (and PostgreSQL accepts them); set
                // once per session, not per page.
                let pool = connect::postgres_with(
                    conn,
                    &seaway_codegen::engine::postgres::search_path_of(conn),
                    &[("IntervalStyle", "iso_8601")],
                )
                .await?;
                Source::Postgres(pool)
            }
            Dialect::Mysql => Source::Mysql(connect::mysql(conn).await?),
            Dialect::Sqlite => Source::Sqlite(connect::sqlite(conn).await?),
        })
    }

    /// Runs `sql` with text parameters; every column is read as optional text.
    pub async fn rows(&self, sql: &str, params: &[String]) -> Result<Rows, sqlx::Error> {
        match self {
            Source::Postgres(p) => fetch(p, sql, params).await,
            Source::Mysql(p) => fetch(p, sql, params).await,
            Source::Sqlite(p) => fetch(p, sql, params).await,
        }
    }

    /// Runs `sql` and streams its rows as optional text, for reads that cannot be paged
    /// by key (an append-only table has none); memory holds what the caller keeps.
    pub fn stream<'a>(
        &'a self,
        sql: &str,
    ) -> futures_util::stream::BoxStream<'a, Result<Vec<Option<String>>, sqlx::Error>> {
        match self {
            Source::Postgres(p) => stream_rows(p, sql),
            Source::Mysql(p) => stream_rows(p, sql),
            Source::Sqlite(p) => stream_rows(p, sql),
        }
    }

    /// Runs `sql` over the text protocol (no prepared statement, so MySQL sends every
    /// value as text) and hands each row's values to `f` as borrowed text, without a
    /// `String` per value: for reads that only hash what they see.
    pub async fn for_each_text_row(
        &self,
        sql: &str,
        f: &mut (dyn FnMut(&[Option<&str>]) + Send),
    ) -> Result<(), sqlx::Error> {
        match self {
            Source::Postgres(p) => for_each_text_row(p, sql, f).await,
            Source::Mysql(p) => for_each_text_row(p, sql, f).await,
            Source::Sqlite(p) => for_each_text_row(p, sql, f).await,
        }
    }

    /// The pool, when the source is PostgreSQL (for `COPY ... TO STDOUT`).
    pub fn postgres(&self) -> Option<&sqlx::PgPool> {
        match self {
            Source::Postgres(p) => Some(p),
            Source::Mysql(_) | Source::Sqlite(_) => None,
        }
    }

    /// The pool, when the source is SQLite (a sync both ways reads its own tables
    /// there).
    pub fn sqlite(&self) -> Option<&sqlx::SqlitePool> {
        match self {
            Source::Sqlite(p) => Some(p),
            Source::Postgres(_) | Source::Mysql(_) => None,
        }
    }

    /// The pool, when the source is MySQL/MariaDB (sync's capture reads its settings and
    /// catalog through it).
    pub fn mysql(&self) -> Option<&sqlx::MySqlPool> {
        match self {
            Source::Mysql(p) => Some(p),
            Source::Postgres(_) | Source::Sqlite(_) => None,
        }
    }

    /// Establishes up to `n` pooled connections at once (fewer if the pool allows fewer),
    /// so the chunks that start together do not each wait for a connection in turn.
    /// Errors are left to the first real use. Not for SQLite, whose pool has one.
    pub async fn warm(&self, n: usize) {
        match self {
            Source::Postgres(p) => warm(p, n).await,
            Source::Mysql(p) => warm(p, n).await,
            Source::Sqlite(_) => {}
        }
    }

    /// A handle on the pool for the row pipe's reader task (`row_pipe.rs`), which holds
    /// one connection for a whole chunk. Not for SQLite: its pool has one connection, and
    /// a second worker's pipe would wait out the acquire timeout behind the first.
    pub fn pipe_pool(&self) -> Option<SourcePool> {
        match self {
            Source::Postgres(p) => Some(SourcePool::Postgres(p.clone())),
            Source::Mysql(p) => Some(SourcePool::Mysql(p.clone())),
            Source::Sqlite(_) => None,
        }
    }

    pub async fn close(self) {
        match self {
            Source::Postgres(p) => p.close().await,
            Source::Mysql(p) => p.close().await,
            Source::Sqlite(p) => p.close().await,
        }
    }
}

/// A source pool the row pipe (`transfer/row_pipe.rs`) reads from on its own task: an
/// owned handle, so the reader can outlive the borrow of the `Source`. It lives here, by
/// `Source`, so that reading never depends on the transfer that uses it.
#[derive(Debug)]
pub enum SourcePool {
    Postgres(sqlx::PgPool),
    Mysql(sqlx::MySqlPool),
}

impl SourcePool {
    /// The most connections the pool opens: a pipe holds one for its whole chunk.
    pub fn max_connections(&self) -> usize {
        let max = match self {
            SourcePool::Postgres(p) => p.options().get_max_connections(),
            SourcePool::Mysql(p) => p.options().get_max_connections(),
        };
        usize::try_from(max).unwrap_or(usize::MAX)
    }
}

/// Holds `n` connections of `pool` at once (at most its maximum), then returns them to it.
pub(crate) async fn warm<DB: sqlx::Database>(pool: &sqlx::Pool<DB>, n: usize) {
    let max = usize::try_from(pool.options().get_max_connections()).unwrap_or(usize::MAX);
    let held = futures_util::future::join_all((0..n.min(max)).map(|_| pool.acquire())).await;
    drop(held);
}

async fn for_each_text_row<DB>(
    pool: &sqlx::Pool<DB>,
    sql: &str,
    f: &mut (dyn FnMut(&[Option<&str>]) + Send),
) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'r> &'r str: sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    use futures_util::StreamExt;
    use sqlx::{Decode, Row, ValueRef};
    let mut rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).fetch(pool);
    while let Some(row) = rows.next().await {
        let row = row?;
        let mut values: Vec<Option<&str>> = Vec::with_capacity(row.len());
        for i in 0..row.len() {
            let raw = row.try_get_raw(i)?;
            values.push(if raw.is_null() {
                None
            } else {
                Some(<&str as Decode<DB>>::decode(raw).map_err(sqlx::Error::Decode)?)
            });
        }
        f(&values);
    }
    Ok(())
}

fn stream_rows<'e, DB, E>(
    executor: E,
    sql: &str,
) -> futures_util::stream::BoxStream<'e, Result<Vec<Option<String>>, sqlx::Error>>
where
    DB: sqlx::Database,
    E: sqlx::Executor<'e, Database = DB> + 'e,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    String: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    use futures_util::StreamExt;
    use sqlx::Row;
    sqlx::query::<DB>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch(executor)
        .map(|row| {
            let row = row?;
            (0..row.len())
                .map(|i| row.try_get::<Option<String>, _>(i))
                .collect()
        })
        .boxed()
}

pub(crate) async fn fetch<'e, DB, E>(
    executor: E,
    sql: &str,
    params: &[String],
) -> Result<Rows, sqlx::Error>
where
    DB: sqlx::Database,
    E: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    String: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB> + for<'r> sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    use sqlx::Row;
    let mut query = sqlx::query::<DB>(sqlx::AssertSqlSafe(sql.to_string()));
    for p in params {
        query = query.bind(p.clone());
    }
    let rows = query.fetch_all(executor).await?;
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| row.try_get::<Option<String>, _>(i))
                .collect()
        })
        .collect()
}
