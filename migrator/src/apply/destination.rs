//! The SQL `apply` needs from an engine (`engine/<name>/apply.rs` implements it).

use super::ledger::{Key, LedgerRow};
use seaway_codegen::config::Connection;
use seaway_codegen::inspect::ConnectError;
use std::time::Duration;

/// One engine's SQL. Errors are the driver's; [`Run::error`] adds the context.
///
/// Every method runs on the single connection the run holds (and, on PostgreSQL and
/// MySQL, that holds the lock).
pub(crate) trait Destination: Sized {
    /// DDL runs in transactions (PostgreSQL, SQLite), not committed one by one (MySQL).
    const TRANSACTIONAL_DDL: bool;
    /// How a section's transaction starts (SQLite: `BEGIN IMMEDIATE`, to take the lock).
    const BEGIN: &'static str = "BEGIN";

    /// Connects for writing (creating a missing SQLite file).
    async fn open(conn: &Connection) -> Result<Self, ConnectError>;
    /// Connects without changing anything; `None` when there is nothing to read yet (a
    /// SQLite file that does not exist).
    async fn open_read_only(conn: &Connection) -> Result<Option<Self>, ConnectError> {
        Self::open(conn).await.map(Some)
    }
    async fn close(self);
    /// Takes the run's lock, waiting at most `wait`; `Ok(false)` when another run has it.
    async fn lock(&mut self, wait: Duration) -> Result<bool, sqlx::Error>;
    /// True for the engine's "locked by another connection" error.
    fn is_busy(_err: &sqlx::Error) -> bool {
        false
    }
    async fn ledger_exists(&mut self) -> Result<bool, sqlx::Error>;
    async fn create_ledger(&mut self) -> Result<(), sqlx::Error>;
    async fn read_ledger(&mut self) -> Result<Vec<LedgerRow>, sqlx::Error>;
    /// Whether the ledger says this section succeeded.
    async fn is_applied(&mut self, key: &Key<'_>) -> Result<bool, sqlx::Error>;
    /// Runs trusted SQL: a migration statement (checksummed and reviewed) or BEGIN/COMMIT.
    async fn execute(&mut self, sql: &str) -> Result<(), sqlx::Error>;
    /// Creates or resets the row: started now, not finished, `done` statements in effect.
    async fn record_start(&mut self, key: &Key<'_>, done: usize) -> Result<(), sqlx::Error>;
    async fn record_progress(&mut self, key: &Key<'_>, done: usize) -> Result<(), sqlx::Error>;
    /// Finishes the row: success when `error` is `None`.
    async fn record_finish(
        &mut self,
        key: &Key<'_>,
        done: usize,
        duration: Duration,
        error: Option<&str>,
    ) -> Result<(), sqlx::Error>;

    /// The ledger, empty when its table does not exist yet.
    async fn ledger(&mut self) -> Result<Vec<LedgerRow>, sqlx::Error> {
        if self.ledger_exists().await? {
            self.read_ledger().await
        } else {
            Ok(Vec::new())
        }
    }
}
