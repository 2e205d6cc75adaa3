//! The first load of an empty key range into SQLite: a whole chunk in one transaction of
//! plain multi-row `INSERT`s (no `ON CONFLICT`, no presence check before and after), the
//! statement for a full batch of rows prepared once and reused, under settings that
//! spare the load work without weakening what a commit guarantees.
//!
//! Why one transaction per chunk: the page path commits every page, and a commit in
//! SQLite's default rollback-journal mode is several `fsync`s; a chunk of 100,000 rows
//! commits once. A kill mid-chunk leaves a hot journal that the next connection rolls
//! back, so the range is empty again and the resumed run loads the chunk anew (the same
//! contract as PostgreSQL's `COPY` and MySQL's `LOAD DATA`: `transfer/row_pipe.rs`).
//!
//! The settings ([`Raised`]) are the connection's own, never the file's, and are put back
//! when the load ends: `cache_size` (64 MiB, so a chunk's dirty pages stay in memory
//! instead of spilling to the file mid-transaction, each spill syncing the journal) and
//! `temp_store = MEMORY`. Left alone on purpose: `synchronous` (a commit must be on disk
//! when it returns, because the state store then records the chunk as done, and a power
//! loss must not take back rows the state says are there; with a commit per chunk its
//! cost is a few `fsync`s per 100,000 rows), `journal_mode` (a file setting that outlives
//! the run; `OFF` or `MEMORY` can corrupt the file on a crash) and `locking_mode =
//! EXCLUSIVE` (it would lock readers, such as a user counting the rows in flight, out
//! until the run ends, for no gain once commits are per chunk).
//!
//! A refused row (a NOT NULL or CHECK constraint, a duplicate key, a STRICT table's
//! type) fails its statement: the whole chunk is rolled back, and the caller loads it
//! page by page, which isolates the refused rows into the reject file. The rows taken
//! are SQLite's own count (`changes()` of every statement), which must equal the rows
//! sent, or the chunk is rolled back too.

use super::{MAX_PLACEHOLDERS, bind_input, placeholder};
use crate::rows::plan::Target;
use crate::rows::write::sql::MultiRowInsert;
use seaway_codegen::model::Dialect;
use sqlx::Connection;

/// The page cache during a load, in KiB (SQLite's negative `cache_size`): 64 MiB.
const LOAD_CACHE_KIB: i64 = 64 * 1024;
/// Rows per `INSERT` at most, whatever the parameter limit allows: more rows per
/// statement save little once the statement is prepared once, and a smaller one keeps
/// the values bound at a time small.
const MAX_ROWS_PER_STATEMENT: usize = 500;

/// Why a first load was not kept; the range is as empty as before either way, and the
/// caller writes the rows page by page.
#[derive(Debug, thiserror::Error)]
pub enum Declined {
    #[error("SQLite refused the load: {0}; rolled back")]
    Refused(#[source] sqlx::Error),
    #[error("SQLite took {inserted} of {sent} rows; rolled back")]
    Short { inserted: u64, sent: u64 },
    #[error("a line of the row pipe's text has {found} values for {expected} columns")]
    Malformed { found: usize, expected: usize },
}

/// The connection settings a load changes, as they were before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raised {
    pub cache_size: i64,
    pub temp_store: i64,
}

impl Raised {
    /// The connection's current values of the settings a load changes.
    pub async fn read(conn: &mut sqlx::SqliteConnection) -> Result<Raised, sqlx::Error> {
        let cache_size: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&mut *conn)
            .await?;
        let temp_store: i64 = sqlx::query_scalar("PRAGMA temp_store")
            .fetch_one(&mut *conn)
            .await?;
        Ok(Raised {
            cache_size,
            temp_store,
        })
    }

    /// Reads the current values, then sets the load's (a larger cache, temporary
    /// structures in memory); returns what to put back with [`finish`].
    pub async fn raise(conn: &mut sqlx::SqliteConnection) -> Result<Raised, sqlx::Error> {
        let before = Raised::read(conn).await?;
        // Only ever larger: a connection someone gave a bigger cache keeps it.
        let cache = if before.cache_size < 0 {
            before.cache_size.min(-LOAD_CACHE_KIB)
        } else {
            -LOAD_CACHE_KIB
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "PRAGMA cache_size = {cache}; PRAGMA temp_store = MEMORY"
        )))
        .execute(&mut *conn)
        .await?;
        Ok(before)
    }

    /// Puts the values back (integers, as `PRAGMA` reads them).
    async fn restore(&self, conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "PRAGMA cache_size = {}; PRAGMA temp_store = {}",
            self.cache_size, self.temp_store
        )))
        .execute(&mut *conn)
        .await
        .map(drop)
    }
}

/// One chunk's load in progress: its transaction, and the rows parsed but not yet sent
/// (a statement takes a full batch; the rest waits for the next text, or the end).
pub struct FirstLoad<'c> {
    tx: sqlx::Transaction<'c, sqlx::Sqlite>,
    targets: &'c [Target],
    insert: MultiRowInsert,
    per_statement: usize,
    /// Values of the rows waiting, row after row.
    pending: Vec<Option<String>>,
    inserted: u64,
}

impl std::fmt::Debug for FirstLoad<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstLoad")
            .field("inserted", &self.inserted)
            .finish_non_exhaustive()
    }
}

impl<'c> FirstLoad<'c> {
    /// Opens the load's transaction on `conn` (whose settings [`Raised::raise`] set).
    pub async fn begin(
        conn: &'c mut sqlx::SqliteConnection,
        table: &str,
        targets: &'c [Target],
    ) -> Result<FirstLoad<'c>, sqlx::Error> {
        let tx = conn.begin().await?;
        let insert =
            MultiRowInsert::new(Dialect::Sqlite, table, targets, placeholder, String::new());
        let per_statement =
            (MAX_PLACEHOLDERS / targets.len().max(1)).clamp(1, MAX_ROWS_PER_STATEMENT);
        Ok(FirstLoad {
            tx,
            targets,
            insert,
            per_statement,
            pending: Vec::with_capacity(per_statement * targets.len()),
            inserted: 0,
        })
    }

    /// Adds the rows of `text` (the row pipe's text: one line per row, values in
    /// `targets` order separated by tabs, `COPY`'s escapes, already converted for SQLite
    /// by [`super::pipe_value`]), sending every full statement's worth.
    pub async fn rows(&mut self, text: &str) -> Result<(), Declined> {
        let width = self.targets.len();
        for line in text.split_terminator('\n') {
            let before = self.pending.len();
            self.pending
                .extend(line.split('\t').map(crate::rows::values::copy_unescape));
            let found = self.pending.len() - before;
            if found != width {
                return Err(Declined::Malformed {
                    found,
                    expected: width,
                });
            }
            if self.pending.len() == self.per_statement * width {
                self.send(true).await?;
            }
        }
        Ok(())
    }

    /// Sends the rows waiting as one statement; `full`: a full batch, whose prepared
    /// statement is kept for the next (a last, shorter one is prepared once and
    /// dropped).
    async fn send(&mut self, full: bool) -> Result<(), Declined> {
        let rows = self.pending.len() / self.targets.len().max(1);
        let mut query = sqlx::query(self.insert.sql(rows)).persistent(full);
        for (i, v) in self.pending.drain(..).enumerate() {
            query = bind_input(query, &self.targets[i % self.targets.len()], v);
        }
        let done = query
            .execute(&mut *self.tx)
            .await
            .map_err(Declined::Refused)?;
        self.inserted += done.rows_affected();
        Ok(())
    }

    /// Sends what is left and commits, if SQLite took exactly the `sent` rows; otherwise
    /// rolls back. Returns the rows the table took.
    pub async fn commit(mut self, sent: u64) -> Result<u64, Declined> {
        if !self.pending.is_empty() {
            self.send(false).await?;
        }
        if self.inserted != sent {
            let inserted = self.inserted;
            self.tx.rollback().await.map_err(Declined::Refused)?;
            return Err(Declined::Short { inserted, sent });
        }
        self.tx.commit().await.map_err(Declined::Refused)?;
        Ok(sent)
    }

    /// Rolls the chunk back (also what dropping it does).
    pub async fn abandon(self) {
        let _ = self.tx.rollback().await;
    }
}

/// After a load on `conn` (kept or not): the settings put back. An error here leaves
/// only a connection with a larger cache, which the pool closes with the run.
pub async fn finish(conn: &mut sqlx::SqliteConnection, raised: &Raised) {
    if let Err(e) = raised.restore(conn).await {
        tracing::debug!("could not put SQLite's cache_size and temp_store back: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::values::Family;
    use seaway_codegen::model::NeutralType;

    fn targets() -> Vec<Target> {
        let int = NeutralType::Int {
            bits: 64,
            unsigned: false,
        };
        vec![
            Target {
                name: "id".into(),
                source: Family::of(&int),
                native: String::new(),
                ty: int,
                is_key: true,
            },
            Target {
                name: "note".into(),
                source: Family::Text,
                native: String::new(),
                ty: NeutralType::Text,
                is_key: false,
            },
        ]
    }

    /// A file with `t (id INTEGER PRIMARY KEY, note TEXT NOT NULL)` and a connection to it
    /// whose settings differ from both SQLite's defaults and the load's.
    async fn file() -> (tempfile::TempDir, sqlx::SqliteConnection) {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("d.sqlite"))
            .create_if_missing(true);
        let mut conn = <sqlx::SqliteConnection as Connection>::connect_with(&opts)
            .await
            .expect("open");
        sqlx::raw_sql(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT NOT NULL);
             PRAGMA cache_size = -1234; PRAGMA temp_store = FILE;",
        )
        .execute(&mut conn)
        .await
        .expect("schema");
        (dir, conn)
    }

    /// `n` rows of the row pipe's text, the value at id `null_at` NULL.
    fn text(n: usize, null_at: Option<usize>) -> String {
        (1..=n)
            .map(|i| {
                let note = if Some(i) == null_at {
                    "\\N".to_string()
                } else {
                    format!("note\\t{i}")
                };
                format!("{i}\t{note}\n")
            })
            .collect()
    }

    async fn count(conn: &mut sqlx::SqliteConnection) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(conn)
            .await
            .expect("count")
    }

    #[tokio::test]
    async fn a_load_commits_every_row_and_puts_the_settings_back() {
        let (_dir, mut conn) = file().await;
        let before = Raised::read(&mut conn).await.expect("read");
        assert_eq!(
            before,
            Raised {
                cache_size: -1234,
                temp_store: 1
            }
        );
        let targets = targets();
        let raised = Raised::raise(&mut conn).await.expect("raise");
        let mut load = FirstLoad::begin(&mut conn, "t", &targets)
            .await
            .expect("begin");
        // Three texts, the statement boundary falling inside the second.
        let all = text(1_200, None);
        let (a, rest) = all.split_at(all.find("301\t").expect("row 301"));
        let (b, c) = rest.split_at(rest.find("1001\t").expect("row 1001"));
        for part in [a, b, c] {
            load.rows(part).await.expect("rows");
        }
        assert_eq!(load.commit(1_200).await.expect("commit"), 1_200);
        finish(&mut conn, &raised).await;
        assert_eq!(Raised::read(&mut conn).await.expect("read"), before);
        assert_eq!(count(&mut conn).await, 1_200);
        let note: String = sqlx::query_scalar("SELECT note FROM t WHERE id = 777")
            .fetch_one(&mut conn)
            .await
            .expect("row");
        assert_eq!(note, "note\t777");
    }

    #[tokio::test]
    async fn a_refused_row_rolls_the_whole_chunk_back_and_the_settings_too() {
        let (_dir, mut conn) = file().await;
        let before = Raised::read(&mut conn).await.expect("read");
        let targets = targets();
        let raised = Raised::raise(&mut conn).await.expect("raise");
        let mut load = FirstLoad::begin(&mut conn, "t", &targets)
            .await
            .expect("begin");
        // Row 900 violates NOT NULL, in the second statement: the first was sent already.
        let refused = match load.rows(&text(1_000, Some(900))).await {
            Err(e) => {
                load.abandon().await;
                e
            }
            Ok(()) => load
                .commit(1_000)
                .await
                .expect_err("NOT NULL refuses row 900"),
        };
        assert!(
            matches!(&refused, Declined::Refused(e) if e.to_string().contains("NOT NULL")),
            "{refused}"
        );
        finish(&mut conn, &raised).await;
        assert_eq!(Raised::read(&mut conn).await.expect("read"), before);
        assert_eq!(count(&mut conn).await, 0, "nothing of the chunk is kept");
    }

    #[tokio::test]
    async fn fewer_rows_taken_than_sent_is_not_kept() {
        let (_dir, mut conn) = file().await;
        let targets = targets();
        let raised = Raised::raise(&mut conn).await.expect("raise");
        let mut load = FirstLoad::begin(&mut conn, "t", &targets)
            .await
            .expect("begin");
        load.rows(&text(10, None)).await.expect("rows");
        let short = load.commit(11).await.expect_err("11 sent, 10 taken");
        assert!(
            matches!(
                short,
                Declined::Short {
                    inserted: 10,
                    sent: 11
                }
            ),
            "{short}"
        );
        finish(&mut conn, &raised).await;
        assert_eq!(count(&mut conn).await, 0);
    }
}
