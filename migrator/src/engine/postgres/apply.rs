//! PostgreSQL: transactional DDL, an advisory lock, the ledger in the connection's schema.

use crate::apply::destination::Destination;
use crate::apply::ledger::{Key, LedgerRow, SELECT_LEDGER, count, millis};
use crate::apply::lock;
use seaway_codegen::config::Connection;
use seaway_codegen::inspect::{ConnectError, connect};
use std::time::Duration;

#[derive(Debug)]
pub(crate) struct Postgres {
    conn: sqlx::PgConnection,
}

impl Destination for Postgres {
    const TRANSACTIONAL_DDL: bool = true;

    async fn open(conn: &Connection) -> Result<Self, ConnectError> {
        // The configured schema first on search_path: migrations and the ledger land there.
        let pool = connect::postgres(
            conn,
            &seaway_codegen::engine::postgres::search_path_of(conn),
        )
        .await?;
        let pooled = pool
            .acquire()
            .await
            .map_err(|e| connect::classify(conn, e))?;
        Ok(Postgres {
            conn: pooled.detach(),
        })
    }

    async fn close(self) {
        let _ = sqlx::Connection::close(self.conn).await;
    }

    async fn lock(&mut self, wait: Duration) -> Result<bool, sqlx::Error> {
        lock::postgres(&mut self.conn, wait).await
    }

    async fn ledger_exists(&mut self) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar("SELECT to_regclass('seaway_migrations') IS NOT NULL")
            .fetch_one(&mut self.conn)
            .await
    }

    async fn create_ledger(&mut self) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS seaway_migrations (
                version integer NOT NULL,
                name text NOT NULL,
                section text NOT NULL,
                checksum text NOT NULL,
                started_at timestamptz NOT NULL,
                finished_at timestamptz,
                duration_ms bigint,
                success boolean NOT NULL,
                statements_done integer NOT NULL,
                error text,
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
            "SELECT success FROM seaway_migrations WHERE version = $1 AND section = $2",
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
        // clock_timestamp(), not now(): now() is the transaction's start.
        sqlx::query(
            "INSERT INTO seaway_migrations
                (version, name, section, checksum, started_at, finished_at, duration_ms, success, statements_done, error)
             VALUES ($1, $2, $3, $4, clock_timestamp(), NULL, NULL, false, $5, NULL)
             ON CONFLICT (version, section) DO UPDATE SET
                name = excluded.name, checksum = excluded.checksum, started_at = excluded.started_at,
                finished_at = NULL, duration_ms = NULL, success = false,
                statements_done = excluded.statements_done, error = NULL",
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
            "UPDATE seaway_migrations SET statements_done = $1 WHERE version = $2 AND section = $3",
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
            "UPDATE seaway_migrations SET finished_at = clock_timestamp(), duration_ms = $1,
                success = $2, statements_done = $3, error = $4
             WHERE version = $5 AND section = $6",
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
