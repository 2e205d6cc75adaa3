//! MySQL/MariaDB: every DDL statement commits on its own, so the ledger counts them
//! (`statements_done`) and a re-run resumes; the lock is a named `GET_LOCK`.

use crate::apply::destination::Destination;
use crate::apply::ledger::{Key, LedgerRow, SELECT_LEDGER, count, millis};
use crate::apply::lock;
use seaway_codegen::config::Connection;
use seaway_codegen::inspect::{ConnectError, connect};
use std::time::Duration;

#[derive(Debug)]
pub(crate) struct Mysql {
    conn: sqlx::MySqlConnection,
    lock_name: String,
}

impl Destination for Mysql {
    const TRANSACTIONAL_DDL: bool = false;

    async fn open(conn: &Connection) -> Result<Self, ConnectError> {
        let pool = connect::mysql(conn).await?;
        let pooled = pool
            .acquire()
            .await
            .map_err(|e| connect::classify(conn, e))?;
        Ok(Mysql {
            conn: pooled.detach(),
            lock_name: lock::mysql_lock_name(conn.url.database().unwrap_or("")),
        })
    }

    async fn close(self) {
        let _ = sqlx::Connection::close(self.conn).await;
    }

    async fn lock(&mut self, wait: Duration) -> Result<bool, sqlx::Error> {
        lock::mysql(&mut self.conn, &self.lock_name, wait).await
    }

    async fn ledger_exists(&mut self) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables
             WHERE table_schema = DATABASE() AND table_name = 'seaway_migrations'",
        )
        .fetch_one(&mut self.conn)
        .await?;
        Ok(n > 0)
    }

    async fn create_ledger(&mut self) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS seaway_migrations (
                version INT NOT NULL,
                name VARCHAR(255) NOT NULL,
                section VARCHAR(16) NOT NULL,
                checksum VARCHAR(100) NOT NULL,
                started_at DATETIME(6) NOT NULL,
                finished_at DATETIME(6) NULL,
                duration_ms BIGINT NULL,
                success BOOLEAN NOT NULL,
                statements_done INT NOT NULL,
                error TEXT NULL,
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
        // REPLACE is one atomic statement: a crash never loses the row's count.
        sqlx::query(
            "REPLACE INTO seaway_migrations
                (version, name, section, checksum, started_at, finished_at, duration_ms, success, statements_done, error)
             VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6), NULL, NULL, FALSE, ?, NULL)",
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
            "UPDATE seaway_migrations SET finished_at = UTC_TIMESTAMP(6), duration_ms = ?,
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
