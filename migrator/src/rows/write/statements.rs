//! The statements a destination transaction runs with text parameters, whichever
//! driver holds it: a leaf, so the engine homes that implement it (MySQL's `LOAD DATA`
//! session) and `rows::write`, which implements it for sqlx's transactions, both import
//! it without importing each other.

use seaway_codegen::model::Dialect;

/// A destination transaction that statements with text parameters can run in: sqlx's
/// ([`Tx`]) or, for MySQL/MariaDB, the `LOAD DATA LOCAL INFILE` session's (`load_data`'s
/// `LoadTx`, a `mysql_async` connection, since sqlx cannot serve `LOAD DATA LOCAL`). The
/// fence (`lease::fence`) runs its statements through it, so a leased page's rows and the
/// chunk's fence row move in one transaction whichever path writes the rows.
///
/// Its futures are awaited on the caller's task (a worker's single thread), never sent
/// elsewhere, so they need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Statements {
    /// The destination's engine.
    fn engine(&self) -> Dialect;
    /// Runs one statement; returns the rows it affected.
    async fn execute(&mut self, sql: &str, params: &[Option<String>]) -> Result<u64, sqlx::Error>;
    /// Runs one query whose columns are text (`rows::read::as_text`); returns its rows.
    async fn texts(
        &mut self,
        sql: &str,
        params: &[String],
    ) -> Result<crate::rows::source::Rows, sqlx::Error>;
    async fn commit(self) -> Result<(), sqlx::Error>
    where
        Self: Sized;
    async fn rollback(self) -> Result<(), sqlx::Error>
    where
        Self: Sized;
}
