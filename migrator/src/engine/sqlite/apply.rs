//! SQLite: transactional DDL; `BEGIN IMMEDIATE` is the lock. Timestamps are UTC text.

use crate::apply::destination::Destination;
use crate::apply::ledger::{Key, LedgerRow, SELECT_LEDGER, count, millis};
use crate::apply::lock;
use seaway_codegen::config::Connection;
use seaway_codegen::inspect::{ConnectError, connect};
use sqlx::sqlite::SqlitePool;
use std::time::Duration;

#[derive(Debug)]
pub(crate) struct Sqlite {
    conn: sqlx::SqliteConnection,
}

async fn detach(conn: &Connection, pool: SqlitePool) -> Result<Sqlite, ConnectError> {
    let pooled = pool
        .acquire()
        .await
        .map_err(|e| connect::classify(conn, e))?;
    Ok(Sqlite {
        conn: pooled.detach(),
    })
}

impl Destination for Sqlite {
    const TRANSACTIONAL_DDL: bool = true;
    /// Takes the write lock at once, so a second applier waits here (busy_timeout)
    /// rather than failing halfway through a section.
    const BEGIN: &'static str = "BEGIN IMMEDIATE";

    async fn open(conn: &Connection) -> Result<Self, ConnectError> {
        detach(conn, connect::sqlite_writable(conn, true).await?).await
    }

    /// Read-only, and a missing file is an empty destination: a dry run or `status`
    /// must not create it.
    async fn open_read_only(conn: &Connection) -> Result<Option<Self>, ConnectError> {
        match connect::sqlite(conn).await {
            Ok(pool) => detach(conn, pool).await.map(Some),
            Err(ConnectError::SqliteMissing { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn close(self) {
        let _ = sqlx::Connection::close(self.conn).await;
    }

    async fn lock(&mut self, wait: Duration) -> Result<bool, sqlx::Error> {
        lock::sqlite(&mut self.conn, wait).await
    }

    fn is_busy(err: &sqlx::Error) -> bool {
        lock::sqlite_busy(err)
    }

    async fn ledger_exists(&mut self) -> Result<bool, sqlx::Error> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'seaway_migrations'")
                .fetch_one(&mut self.conn)
                .await?;
        Ok(n > 0)
    }

    async fn create_ledger(&mut self) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS seaway_migrations (
                version INTEGER NOT NULL,
                name TEXT NOT NULL,
                section TEXT NOT NULL,
                checksum TEXT NOT NULL,
                started_at TEXT NOT NULL,
                finished_at TEXT,
                duration_ms INTEGER,
                success BOOLEAN NOT NULL,
                statements_done INTEGER NOT NULL,
                error TEXT,
                PRIMARY KEY (version, section))",
        )
        .execute(&mut self.conn)
        .await
        .map(drop)
    }

    async fn read_ledger(&mut self) -> Result<Vec<LedgerRow>, sqlx::Error> {
        sqlx::query_as(SELECT_LEDGER)
            .fetch_all(&mut self.conn)
            .await
    }

    async fn is_applied(&mut self, key: &Key<'_>) -> Result<bool, sqlx::Error> {
        let success: Option<bool> = sqlx::query_scalar(
            "SELECT success FROM seaway_migrations WHERE version = ? AND section = ?",
        )
        .bind(key.version)
        .bind(key.section)
        .fetch_optional(&mut self.conn)
        .await?;
        Ok(success == Some(true))
    }

    async fn execute(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut self.conn)
            .await
            .map(drop)
    }

    async fn record_start(&mut self, key: &Key<'_>, done: usize) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT OR REPLACE INTO seaway_migrations
                (version, name, section, checksum, started_at, finished_at, duration_ms, success, statements_done, error)
             VALUES (?, ?, ?, ?, strftime('%Y-%m-%d %H:%M:%f', 'now'), NULL, NULL, 0, ?, NULL)",
        )
        .bind(key.version)
        .bind(key.name)
        .bind(key.section)
        .bind(key.checksum)
        .bind(count(done))
        .execute(&mut self.conn)
        .await
        .map(drop)
    }

    async fn record_progress(&mut self, key: &Key<'_>, done: usize) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE seaway_migrations SET statements_done = ? WHERE version = ? AND section = ?",
        )
        .bind(count(done))
        .bind(key.version)
        .bind(key.section)
        .execute(&mut self.conn)
        .await
        .map(drop)
    }

    async fn record_finish(
        &mut self,
        key: &Key<'_>,
        done: usize,
        duration: Duration,
        error: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE seaway_migrations SET finished_at = strftime('%Y-%m-%d %H:%M:%f', 'now'), duration_ms = ?,
                success = ?, statements_done = ?, error = ?
             WHERE version = ? AND section = ?",
        )
        .bind(millis(duration))
        .bind(error.is_none())
        .bind(count(done))
        .bind(error)
        .bind(key.version)
        .bind(key.section)
        .execute(&mut self.conn)
        .await
        .map(drop)
    }
}
