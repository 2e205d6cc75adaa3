//! Destination side: bulk upserts, one writer per engine (`engine/<name>/write.rs`), matched on the primary key,
//! so a page written twice (a resumed or repeated run) leaves one row.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

pub(crate) mod outcome;
pub(crate) mod sql;
pub(crate) mod statements;
pub use statements::Statements;

pub use outcome::{WriteError, Written};
use sql::execute;

use crate::engine::mysql::write as mysql;
use crate::engine::postgres::write as postgres;
use crate::engine::sqlite::write as sqlite;
use crate::rows::plan::Target;
use seaway_codegen::model::Dialect;

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
            Dialect::Sqlite => Writer::Sqlite(sqlite::LiteWriter::new(
                connect::sqlite_writable(conn, false).await?,
            )),
        })
    }

    /// Establishes up to `n` pooled connections at once (see `Source::warm`); SQLite's
    /// single connection is left alone.
    /// A writer of one session that runs `setup` as it connects (a sync both ways'
    /// applying session, under the stream's replication origin). Only PostgreSQL
    /// destinations are asked for one (`sync::both::pair` refuses the others), so the
    /// other engines open a plain writer and leave `setup` unused.
    pub async fn open_session(
        conn: &seaway_codegen::config::Connection,
        setup: String,
    ) -> Result<Writer, seaway_codegen::inspect::ConnectError> {
        use seaway_codegen::inspect::connect;
        match conn.url.dialect() {
            Dialect::Postgres => Ok(Writer::Postgres(postgres::PgWriter(
                connect::postgres_session(
                    conn,
                    &seaway_codegen::engine::postgres::search_path_of(conn),
                    setup,
                )
                .await?,
            ))),
            Dialect::Mysql | Dialect::Sqlite => Writer::open(conn).await,
        }
    }

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
    /// `PgWriter::range_is_empty`). PostgreSQL (a plain `COPY` against staging + `ON
    /// CONFLICT`), MySQL/MariaDB (`LOAD DATA LOCAL INFILE` instead of a staging table and
    /// a merge, where the server allows it) and SQLite (plain inserts, a chunk per
    /// transaction) have a faster path for it.
    pub async fn range_is_empty(
        &self,
        table: &str,
        key: Option<&str>,
        range: (Option<i64>, Option<i64>),
    ) -> Result<bool, sqlx::Error> {
        match self {
            Writer::Postgres(w) => w.range_is_empty(table, key, range).await,
            Writer::Mysql(w) => w.range_is_empty(table, key, range).await,
            Writer::Sqlite(w) => w.range_is_empty(table, key, range).await,
        }
    }

    /// Whether `table` holds no row at all, asked of every engine: a table that holds
    /// rows is compared before it is written into (transfer's compare-first), an empty
    /// one is loaded as on a first load.
    pub async fn is_empty(&self, table: &str) -> Result<bool, sqlx::Error> {
        let sql = format!(
            "SELECT 1 FROM {} LIMIT 1",
            crate::rows::read::quote(self.dialect(), table)
        );
        let found = match self {
            Writer::Postgres(w) => sql::any_row(&w.0, &sql).await?,
            Writer::Mysql(w) => sql::any_row(&w.pool, &sql).await?,
            Writer::Sqlite(w) => sql::any_row(&mut *w.turn().await?, &sql).await?,
        };
        Ok(!found)
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
            Writer::Mysql(w) => w.insert_fresh(table, targets, rows).await,
            Writer::Sqlite(w) => w.insert_fresh(table, targets, rows).await,
        }
    }

    /// The `LOAD DATA LOCAL INFILE` path, when the destination is MySQL/MariaDB and
    /// allows it (for the row pipe's chunk loads).
    pub async fn mysql_load(&self) -> Option<&crate::engine::mysql::write::load_data::LoadData> {
        match self {
            Writer::Mysql(w) => w.load_data().await,
            Writer::Postgres(_) | Writer::Sqlite(_) => None,
        }
    }

    /// The writer, when the destination is SQLite (for the row pipe's chunk loads).
    pub fn sqlite(&self) -> Option<&sqlite::LiteWriter> {
        match self {
            Writer::Sqlite(w) => Some(w),
            Writer::Postgres(_) | Writer::Mysql(_) => None,
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

    /// The destination's engine.
    fn dialect(&self) -> Dialect {
        match self {
            Writer::Postgres(_) => Dialect::Postgres,
            Writer::Mysql(_) => Dialect::Mysql,
            Writer::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Deletes every row of `table` whose integer `key` is in `(lo, hi]` (`None`: open);
    /// returns the rows deleted. For compare-first's `--delete-extra`: a range the source
    /// holds no row of.
    pub async fn delete_range(
        &self,
        table: &str,
        key: &seaway_codegen::model::Column,
        range: (Option<i64>, Option<i64>),
    ) -> Result<u64, sqlx::Error> {
        let dialect = self.dialect();
        let conditions = crate::rows::read::range_conditions(dialect, Some(key), range, None);
        let sql = format!(
            "DELETE FROM {}{}",
            crate::rows::read::quote(dialect, table),
            crate::rows::read::where_clause(&conditions)
        );
        match self {
            Writer::Postgres(w) => execute(&w.0, &sql, &[]).await,
            Writer::Mysql(w) => execute(&w.pool, &sql, &[]).await,
            Writer::Sqlite(w) => execute(&mut *w.turn().await?, &sql, &[]).await,
        }
    }

    /// Deletes the rows whose key (canonical text as the destination reads it, in key
    /// order) is in `keys`, one statement per row; returns the rows deleted. Verify's
    /// `--delete-extra` and transfer's use it, and extra rows are few.
    pub async fn delete(
        &self,
        table: &str,
        key_cols: &[seaway_codegen::model::Column],
        keys: &[Vec<Option<String>>],
    ) -> Result<u64, sqlx::Error> {
        let dialect = self.dialect();
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
                Writer::Sqlite(w) => execute(&mut *w.turn().await?, &sql, key).await?,
            };
        }
        Ok(deleted)
    }

    /// Where the destination's log stands, for commits made with [`Tx::defer_flush`]:
    /// `(mark, flushed)`, a point past every commit so far and how far the log is on
    /// disk. `None` where a commit is durable when it returns (MySQL, SQLite: their
    /// flush settings are server- or file-wide, and `sync` leaves them alone).
    pub async fn log_marks(&self) -> Result<Option<(u64, u64)>, sqlx::Error> {
        match self {
            Writer::Postgres(w) => Ok(Some(w.log_marks().await?)),
            Writer::Mysql(_) | Writer::Sqlite(_) => Ok(None),
        }
    }

    /// Opens a destination transaction whose commit may return before the destination's
    /// log is on disk, where the engine can do so for one transaction (PostgreSQL; the
    /// others open a plain one): `sync`, which then confirms a position to the source
    /// only once [`Writer::log_marks`] shows the log flushed past its commit.
    pub async fn begin_deferred(&self) -> Result<Tx, sqlx::Error> {
        match self {
            Writer::Postgres(w) => Ok(Tx::Postgres(
                w.0.begin_with(postgres::BEGIN_DEFERRED).await?,
            )),
            Writer::Mysql(_) | Writer::Sqlite(_) => self.begin().await,
        }
    }

    /// Opens a destination transaction for an append-only table's window (see [`Tx`]).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Writer::Postgres(w) => Tx::Postgres(w.0.begin().await?),
            Writer::Mysql(w) => Tx::Mysql(w.pool.begin().await?, w.limits.clone()),
            // IMMEDIATE: the transaction takes the write lock as it begins, waiting for
            // other writers, where a deferred one that read first would fail at once
            // ("database is locked") when another connection wrote since its read.
            Writer::Sqlite(w) => Tx::Sqlite(w.pool.begin_with("BEGIN IMMEDIATE").await?),
        })
    }

    pub async fn close(self) {
        match self {
            Writer::Postgres(w) => w.0.close().await,
            Writer::Mysql(w) => w.close().await,
            Writer::Sqlite(w) => w.pool.close().await,
        }
    }
}

/// Converts a canonical value for a destination whose input syntax differs; `None` in,
/// `None` out. Each engine's writer owns its own conversions (`input`); what is left
/// is common to all (`sql::common_input`).
pub fn for_destination(dialect: Dialect, target: &Target, value: Option<&str>) -> Option<String> {
    let input = match dialect {
        Dialect::Postgres => postgres::input,
        Dialect::Mysql => mysql::input,
        Dialect::Sqlite => sqlite::input,
    };
    sql::for_input(input, target, value)
}

impl Statements for Tx {
    fn engine(&self) -> Dialect {
        self.dialect()
    }

    async fn execute(&mut self, sql: &str, params: &[Option<String>]) -> Result<u64, sqlx::Error> {
        Tx::execute(self, sql, params).await
    }

    async fn texts(
        &mut self,
        sql: &str,
        params: &[String],
    ) -> Result<crate::rows::source::Rows, sqlx::Error> {
        use crate::rows::source::fetch;
        match self {
            Tx::Postgres(tx) => fetch(&mut **tx, sql, params).await,
            Tx::Mysql(tx, _) => fetch(&mut **tx, sql, params).await,
            Tx::Sqlite(tx) => fetch(&mut **tx, sql, params).await,
        }
    }

    async fn commit(self) -> Result<(), sqlx::Error> {
        Tx::commit(self).await
    }

    async fn rollback(self) -> Result<(), sqlx::Error> {
        Tx::rollback(self).await
    }
}

/// One destination transaction: the one in which `sync` applies a batch of source
/// transactions with the position they reach, and the one in which an append-only table
/// (no key to match rows on) gets its window replaced: the rows an earlier, interrupted
/// copy of the same window wrote are deleted, then the window's rows inserted, all or
/// nothing. Without a key a copy cannot resume part-way or upsert, so it is made atomic
/// instead.
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
    /// The PostgreSQL connection of the transaction, for statements only a PostgreSQL
    /// side runs (a sync both ways: `engine/postgres/both.rs`).
    pub fn postgres(&mut self) -> Option<&mut sqlx::PgConnection> {
        match self {
            Tx::Postgres(tx) => Some(&mut *tx),
            Tx::Mysql(..) | Tx::Sqlite(_) => None,
        }
    }

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
            let placeholder = crate::engine::of(d).key_param(1, &column.native);
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

    /// Upserts `rows` (distinct keys) inside this transaction, exactly as
    /// [`Writer::upsert`] does on its own (rows held exactly left alone, every key checked
    /// present afterwards): for `sync`, which applies a batch of source transactions and
    /// its position together. PostgreSQL sends the rows as column arrays in one statement
    /// (no staging table per run of changes).
    pub async fn upsert(
        &mut self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<Written, WriteError> {
        match self {
            Tx::Postgres(tx) => postgres::upsert_rows(tx, table, targets, rows).await,
            Tx::Mysql(tx, limits) => mysql::upsert_on(tx, limits, table, targets, rows).await,
            Tx::Sqlite(tx) => sqlite::upsert_on(tx, table, targets, rows).await,
        }
    }

    /// Loads `rows` (canonical text, in `targets` order) into a key range this
    /// transaction's caller found empty, by the engine's bulk path inside the
    /// transaction: PostgreSQL one plain `COPY` (no staging table, no `ON CONFLICT`),
    /// kept only when the table took every row sent. `Ok(None)` where the engine has no
    /// such path inside a sqlx transaction (MySQL/MariaDB load through `LoadTx`; SQLite
    /// upserts in process, which is its fastest path). Any error leaves the transaction
    /// to be rolled back: a PostgreSQL `COPY` that fails aborts it.
    pub async fn bulk_insert(
        &mut self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<Option<u64>, sqlx::Error> {
        match self {
            Tx::Postgres(tx) => {
                let copied = postgres::copy_rows(tx, table, targets, rows).await?;
                if copied != rows.len() as u64 {
                    return Err(sqlx::Error::Protocol(format!(
                        "COPY took {copied} of {} rows",
                        rows.len()
                    )));
                }
                Ok(Some(copied))
            }
            Tx::Mysql(..) | Tx::Sqlite(_) => Ok(None),
        }
    }

    /// How this transaction's engine marks and converts key parameters.
    fn key_check(&self) -> sql::KeyCheck {
        match self {
            Tx::Postgres(_) => postgres::key_check(1),
            Tx::Mysql(..) => mysql::key_check(1),
            Tx::Sqlite(_) => sqlite::key_check(1),
        }
    }

    /// Deletes the rows whose key is one of `keys` (canonical text of the key targets, in
    /// `targets` order), in statements of at most 1,000 keys (PostgreSQL: one statement,
    /// the keys as column arrays); returns the rows the destination deleted. A key it does
    /// not hold is no error: the row may never have reached it (inserted and deleted
    /// before a copy read it).
    pub async fn delete_keys(
        &mut self,
        table: &str,
        targets: &[Target],
        keys: &[Vec<Option<String>>],
    ) -> Result<u64, sqlx::Error> {
        if let Tx::Postgres(tx) = self {
            return postgres::delete_keys(tx, table, targets, keys).await;
        }
        let check = self.key_check();
        let key_targets: Vec<&Target> = targets.iter().filter(|t| t.is_key).collect();
        let mut deleted = 0;
        for batch in keys.chunks(1_000) {
            let sql = format!(
                "DELETE FROM {} WHERE {}",
                crate::rows::read::quote(check.dialect, table),
                sql::key_in_list(check.dialect, &key_targets, batch.len(), check.placeholder)
            );
            let params: Vec<Option<String>> = batch
                .iter()
                .flat_map(|key| {
                    key_targets
                        .iter()
                        .zip(key)
                        .map(|(t, v)| sql::for_input(check.input, t, v.as_deref()))
                })
                .collect();
            deleted += self.execute(&sql, &params).await?;
        }
        Ok(deleted)
    }

    /// Updates the non-key targets of the rows whose key (the key targets) is each
    /// row's, one statement per row, inserting nothing: for changes that carry only
    /// some of a row's columns (PostgreSQL's unchanged TOASTed values are left out),
    /// which must neither null the others nor make a row of their own. Returns the rows
    /// the destination updated (a key it does not hold is skipped).
    pub async fn update_columns(
        &mut self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<u64, sqlx::Error> {
        let check = self.key_check();
        let q = |n: &str| crate::rows::read::quote(check.dialect, n);
        // Parameters in statement order: the values set, then the key.
        let order: Vec<usize> = (0..targets.len())
            .filter(|&i| !targets[i].is_key)
            .chain((0..targets.len()).filter(|&i| targets[i].is_key))
            .collect();
        let mut n = 0;
        let mut next = |t: &Target| {
            n += 1;
            (check.placeholder)(n, t)
        };
        let sets: Vec<String> = sql::non_keys(targets)
            .map(|t| format!("{} = {}", q(&t.name), next(t)))
            .collect();
        if sets.is_empty() {
            return Ok(0);
        }
        let keys: Vec<String> = targets
            .iter()
            .filter(|t| t.is_key)
            .map(|t| format!("{} = {}", q(&t.name), next(t)))
            .collect();
        let statement = format!(
            "UPDATE {} SET {} WHERE {}",
            q(table),
            sets.join(", "),
            keys.join(" AND ")
        );
        let mut updated = 0;
        for row in rows {
            let params: Vec<Option<String>> = order
                .iter()
                .map(|&i| sql::for_input(check.input, &targets[i], row[i].as_deref()))
                .collect();
            updated += self.execute(&statement, &params).await?;
        }
        Ok(updated)
    }

    /// Runs one statement with text parameters in this transaction (`sync` records its
    /// position with it); returns the rows it affected.
    pub async fn execute(
        &mut self,
        sql: &str,
        params: &[Option<String>],
    ) -> Result<u64, sqlx::Error> {
        match self {
            Tx::Postgres(tx) => execute(&mut **tx, sql, params).await,
            Tx::Mysql(tx, _) => execute(&mut **tx, sql, params).await,
            Tx::Sqlite(tx) => execute(&mut **tx, sql, params).await,
        }
    }

    /// How many rows `table` holds, as this transaction sees it.
    pub async fn row_count(&mut self, table: &str) -> Result<u64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {}",
            crate::rows::read::quote(self.dialect(), table)
        ));
        let n: i64 = match self {
            Tx::Postgres(tx) => sqlx::query_scalar(sql).fetch_one(&mut **tx).await?,
            Tx::Mysql(tx, _) => sqlx::query_scalar(sql).fetch_one(&mut **tx).await?,
            Tx::Sqlite(tx) => sqlx::query_scalar(sql).fetch_one(&mut **tx).await?,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The destination's engine.
    pub fn engine(&self) -> Dialect {
        self.dialect()
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Postgres(tx) => tx.rollback().await,
            Tx::Mysql(tx, _) => tx.rollback().await,
            Tx::Sqlite(tx) => tx.rollback().await,
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
