//! Where a transfer is: one row per run and per chunk, holding the last key written, in
//! an SQLite file (`.seaway/state.sqlite` beside the config, the default) or in PostgreSQL
//! tables `seaway_transfer_*` (`transfer.state: <connection>`), for runs from machines
//! that share no disk. A killed run is resumed by the next one: finished chunks are
//! skipped, an unfinished chunk restarts after its last recorded key, and because every
//! write is an upsert, a page written but not yet recorded is simply written again, never
//! doubled.

use crate::rows::range::KeyRange;
use sqlx::{PgPool, SqlitePool};
use std::path::Path;
#[derive(Debug, Clone)]
pub struct Chunk {
    pub table: String,
    pub index: i64,
    /// The keys the chunk covers, as planned (`rows::range`).
    pub range: KeyRange,
    /// Canonical text of the last key written, as a JSON array.
    pub last_key: Option<Vec<String>>,
    pub rows: i64,
    /// Rows of this chunk refused by the destination so far (kept so a resumed run still
    /// reports them).
    pub rejected: i64,
    /// Extra destination rows (keys the source does not hold) compare-first found in
    /// this chunk so far.
    pub extra: i64,
    pub done: bool,
}

/// A `chunks` row: idx, lo, hi, last_key, rows, done, rejected, lo_key, hi_key, extra.
#[derive(sqlx::FromRow)]
struct ChunkRow(
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    i64,
);

/// What a compare-first step adds to its chunk: rows the destination now holds from it,
/// rows refused, and extra destination rows found.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    pub rows: u64,
    pub rejected: u64,
    pub extra: u64,
}

/// Extra destination rows found by compare-first with `--delete-extra`, kept in the
/// store until they are deleted after every table is copied (children before parents,
/// so foreign keys never refuse): a range of a single integer key the source holds no
/// row of, or one row's key (the destination's canonical text, in key order).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Extra {
    Range { lo: Option<i64>, hi: Option<i64> },
    Key(Vec<Option<String>>),
}

/// The database behind the state (and behind `migrator serve`'s jobs, which live in the
/// same store).
#[derive(Debug, Clone)]
pub(crate) enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool the store has: the same sqlx calls
/// compile for both drivers, so each statement is written once.
macro_rules! on_store {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_store;

/// Table names: the SQLite file is seaway's own; in a shared PostgreSQL database the
/// tables carry a prefix so they cannot be mistaken for (or collide with) the user's.
struct Names {
    runs: &'static str,
    chunks: &'static str,
    watermarks: &'static str,
    extras: &'static str,
}

const SQLITE_NAMES: Names = Names {
    runs: "runs",
    chunks: "chunks",
    watermarks: "watermarks",
    extras: "extras",
};
const POSTGRES_NAMES: Names = Names {
    runs: "seaway_transfer_runs",
    chunks: "seaway_transfer_chunks",
    watermarks: "seaway_transfer_watermarks",
    extras: "seaway_transfer_extras",
};

#[derive(Debug)]
pub struct State {
    store: Store,
    pub run: i64,
    /// True when this run continues one that did not finish.
    pub resumed: bool,
}

impl State {
    /// Opens the SQLite state file at `path` and starts a run for (source, destination),
    /// resuming an unfinished one unless `restart`.
    pub async fn open(
        path: &Path,
        source: &str,
        destination: &str,
        restart: bool,
    ) -> Result<State, sqlx::Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
        }
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, source TEXT NOT NULL, destination TEXT NOT NULL,
                 started_at TEXT NOT NULL, finished_at TEXT);
             CREATE TABLE IF NOT EXISTS chunks (run INTEGER NOT NULL, tbl TEXT NOT NULL, idx INTEGER NOT NULL,
                 lo INTEGER, hi INTEGER, last_key TEXT, rows INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0, rejected INTEGER NOT NULL DEFAULT 0,
                 extra INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (run, tbl, idx));",
        )
        .execute(&pool)
        .await?;
        upgrade(&pool).await?;
        Self::start(Store::Sqlite(pool), source, destination, restart).await
    }

    /// Opens the state in PostgreSQL (`pool`'s search path), creating its tables if
    /// needed, and starts a run as [`State::open`] does.
    pub async fn open_postgres(
        pool: PgPool,
        source: &str,
        destination: &str,
        restart: bool,
    ) -> Result<State, sqlx::Error> {
        let n = &POSTGRES_NAMES;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE IF NOT EXISTS {runs} (id BIGSERIAL PRIMARY KEY, source TEXT NOT NULL, destination TEXT NOT NULL,
                 started_at TEXT NOT NULL, finished_at TEXT);
             CREATE TABLE IF NOT EXISTS {chunks} (run BIGINT NOT NULL, tbl TEXT NOT NULL, idx BIGINT NOT NULL,
                 lo BIGINT, hi BIGINT, last_key TEXT, rows BIGINT NOT NULL DEFAULT 0, done BIGINT NOT NULL DEFAULT 0,
                 rejected BIGINT NOT NULL DEFAULT 0, lo_key TEXT, hi_key TEXT, extra BIGINT NOT NULL DEFAULT 0,
                 PRIMARY KEY (run, tbl, idx));
             ALTER TABLE {chunks} ADD COLUMN IF NOT EXISTS extra BIGINT NOT NULL DEFAULT 0;
             CREATE TABLE IF NOT EXISTS {marks} (source TEXT NOT NULL, destination TEXT NOT NULL, tbl TEXT NOT NULL,
                 mark TEXT NOT NULL, PRIMARY KEY (source, destination, tbl));
             CREATE TABLE IF NOT EXISTS {extras} (run BIGINT NOT NULL, tbl TEXT NOT NULL, what TEXT NOT NULL,
                 PRIMARY KEY (run, tbl, what));",
            runs = n.runs,
            chunks = n.chunks,
            marks = n.watermarks,
            extras = n.extras,
        )))
        .execute(&pool)
        .await?;
        Self::start(Store::Postgres(pool), source, destination, restart).await
    }

    async fn start(
        store: Store,
        source: &str,
        destination: &str,
        restart: bool,
    ) -> Result<State, sqlx::Error> {
        let (names, now) = names_of(&store);
        let unfinished: Option<i64> = on_store!(&store, pool => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(placeholders(&store, &format!(
                "SELECT id FROM {} WHERE source = ? AND destination = ? AND finished_at IS NULL ORDER BY id DESC LIMIT 1",
                names.runs
            ))))
            .bind(source)
            .bind(destination)
            .fetch_optional(pool)
            .await?
        });
        if let (Some(run), false) = (unfinished, restart) {
            return Ok(State {
                store,
                run,
                resumed: true,
            });
        }
        on_store!(&store, pool => {
            sqlx::query(sqlx::AssertSqlSafe(placeholders(&store, &format!(
                "UPDATE {} SET finished_at = 'abandoned' WHERE source = ? AND destination = ? AND finished_at IS NULL",
                names.runs
            ))))
            .bind(source)
            .bind(destination)
            .execute(pool)
            .await
            .map(drop)?
        });
        let run: i64 = on_store!(&store, pool => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(placeholders(&store, &format!(
                "INSERT INTO {} (source, destination, started_at) VALUES (?, ?, {now}) RETURNING id",
                names.runs
            ))))
            .bind(source)
            .bind(destination)
            .fetch_one(pool)
            .await?
        });
        Ok(State {
            store,
            run,
            resumed: false,
        })
    }

    /// A view of run `run` in a store `migrator serve` already has open, for reading its
    /// chunks while (or after) a job's transfer writes them. Starts nothing; never
    /// [`State::close`] it, the pool is the server's.
    pub(crate) fn observe(store: Store, run: i64) -> State {
        State {
            store,
            run,
            resumed: false,
        }
    }

    /// The newest run of (source, destination), finished or not; `None` when the pair has
    /// never been transferred (or the store has no tables yet).
    pub async fn newest_run(
        &self,
        source: &str,
        destination: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        let sql = self.sql(&format!(
            "SELECT id FROM {} WHERE source = ? AND destination = ? ORDER BY id DESC LIMIT 1",
            self.names().runs
        ));
        let found: Result<Option<i64>, sqlx::Error> = on_store!(&self.store, pool => {
            sqlx::query_scalar(sql).bind(source).bind(destination).fetch_optional(pool).await
        });
        match found {
            Err(sqlx::Error::Database(e)) if e.message().contains("runs") => Ok(None),
            other => other,
        }
    }

    fn sql(&self, statement: &str) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(placeholders(&self.store, statement))
    }

    fn names(&self) -> &'static Names {
        names_of(&self.store).0
    }

    /// The table's chunks in this run, or `None` if not planned yet.
    pub async fn chunks(&self, table: &str) -> Result<Option<Vec<Chunk>>, sqlx::Error> {
        let sql = self.sql(&format!(
            "SELECT idx, lo, hi, last_key, rows, done, rejected, lo_key, hi_key, extra FROM {} WHERE run = ? AND tbl = ? ORDER BY idx",
            self.names().chunks
        ));
        let rows: Vec<ChunkRow> = on_store!(&self.store, pool => {
            sqlx::query_as(sql).bind(self.run).bind(table).fetch_all(pool).await?
        });
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            rows.into_iter()
                .map(
                    |ChunkRow(
                        index,
                        lo,
                        hi,
                        last_key,
                        rows,
                        done,
                        rejected,
                        lo_key,
                        hi_key,
                        extra,
                    )| {
                        Chunk {
                            rejected,
                            extra,
                            table: table.to_string(),
                            index,
                            range: KeyRange::from_parts(
                                lo,
                                hi,
                                lo_key.and_then(|k| serde_json::from_str(&k).ok()),
                                hi_key.and_then(|k| serde_json::from_str(&k).ok()),
                            ),
                            last_key: last_key.and_then(|k| serde_json::from_str(&k).ok()),
                            rows,
                            done: done != 0,
                        }
                    },
                )
                .collect(),
        ))
    }

    pub async fn plan(&self, table: &str, ranges: &[KeyRange]) -> Result<Vec<Chunk>, sqlx::Error> {
        let statement = format!(
            "INSERT INTO {} (run, tbl, idx, lo, hi, lo_key, hi_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
            self.names().chunks
        );
        let json = |k: Option<&[String]>| k.map(|k| serde_json::to_string(k).unwrap_or_default());
        on_store!(&self.store, pool => {
            let mut tx = pool.begin().await?;
            for (i, range) in ranges.iter().enumerate() {
                let ((lo, hi), (lo_key, hi_key)) = (range.ints(), range.keys());
                sqlx::query(self.sql(&statement))
                    .bind(self.run)
                    .bind(table)
                    .bind(i as i64)
                    .bind(lo)
                    .bind(hi)
                    .bind(json(lo_key))
                    .bind(json(hi_key))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?
        });
        Ok(self.chunks(table).await?.unwrap_or_default())
    }

    /// Records a page written: the chunk's last key, rows written and rows refused.
    pub async fn progress(
        &self,
        chunk: &Chunk,
        last_key: &[String],
        rows: usize,
        rejected: usize,
    ) -> Result<(), sqlx::Error> {
        let sql = self.sql(&format!(
            "UPDATE {} SET last_key = ?, rows = rows + ?, rejected = rejected + ? WHERE run = ? AND tbl = ? AND idx = ?",
            self.names().chunks
        ));
        on_store!(&self.store, pool => {
            sqlx::query(sql)
                .bind(serde_json::to_string(last_key).unwrap_or_default())
                .bind(rows as i64)
                .bind(rejected as i64)
                .bind(self.run)
                .bind(&chunk.table)
                .bind(chunk.index)
                .execute(pool)
                .await
                .map(drop)
        })
    }

    /// Records a chunk loaded in one piece (the COPY pipe, an append-only window): its
    /// rows, and done.
    pub async fn chunk_streamed(&self, chunk: &Chunk, rows: u64) -> Result<(), sqlx::Error> {
        let sql = self.sql(&format!(
            "UPDATE {} SET rows = ?, done = 1 WHERE run = ? AND tbl = ? AND idx = ?",
            self.names().chunks
        ));
        on_store!(&self.store, pool => {
            sqlx::query(sql)
                .bind(i64::try_from(rows).unwrap_or(i64::MAX))
                .bind(self.run)
                .bind(&chunk.table)
                .bind(chunk.index)
                .execute(pool)
                .await
                .map(drop)
        })
    }

    /// Records a compare-first step of a chunk: what it adds, the last key it covers
    /// (`None`: unchanged) and, at the chunk's end, done.
    pub async fn compared(
        &self,
        chunk: &Chunk,
        last_key: Option<&[String]>,
        tally: Tally,
        done: bool,
    ) -> Result<(), sqlx::Error> {
        let sql = self.sql(&format!(
            "UPDATE {} SET last_key = COALESCE(?, last_key), rows = rows + ?, rejected = rejected + ?, extra = extra + ?, done = ? WHERE run = ? AND tbl = ? AND idx = ?",
            self.names().chunks
        ));
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        on_store!(&self.store, pool => {
            sqlx::query(sql)
                .bind(last_key.map(|k| serde_json::to_string(k).unwrap_or_default()))
                .bind(n(tally.rows))
                .bind(n(tally.rejected))
                .bind(n(tally.extra))
                .bind(i64::from(done))
                .bind(self.run)
                .bind(&chunk.table)
                .bind(chunk.index)
                .execute(pool)
                .await
                .map(drop)
        })
    }

    /// Keeps extra rows to delete once every table is copied (`--delete-extra`); a row or
    /// range recorded twice (a resumed chunk finds it again) is kept once.
    pub async fn record_extras(&self, table: &str, extras: &[Extra]) -> Result<(), sqlx::Error> {
        if extras.is_empty() {
            return Ok(());
        }
        let statement = format!(
            "INSERT INTO {} (run, tbl, what) VALUES (?, ?, ?) ON CONFLICT (run, tbl, what) DO NOTHING",
            self.names().extras
        );
        on_store!(&self.store, pool => {
            let mut tx = pool.begin().await?;
            for extra in extras {
                sqlx::query(self.sql(&statement))
                    .bind(self.run)
                    .bind(table)
                    .bind(serde_json::to_string(extra).unwrap_or_default())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?
        });
        Ok(())
    }

    /// The extra rows recorded for `table` in this run and not deleted yet.
    pub async fn extras(&self, table: &str) -> Result<Vec<Extra>, sqlx::Error> {
        let sql = self.sql(&format!(
            "SELECT what FROM {} WHERE run = ? AND tbl = ? ORDER BY what",
            self.names().extras
        ));
        let rows: Vec<String> = on_store!(&self.store, pool => {
            sqlx::query_scalar(sql).bind(self.run).bind(table).fetch_all(pool).await?
        });
        Ok(rows
            .iter()
            .filter_map(|w| serde_json::from_str(w).ok())
            .collect())
    }

    /// Forgets extra rows once the destination has deleted them.
    pub async fn forget_extras(&self, table: &str, extras: &[Extra]) -> Result<(), sqlx::Error> {
        let statement = format!(
            "DELETE FROM {} WHERE run = ? AND tbl = ? AND what = ?",
            self.names().extras
        );
        on_store!(&self.store, pool => {
            let mut tx = pool.begin().await?;
            for extra in extras {
                sqlx::query(self.sql(&statement))
                    .bind(self.run)
                    .bind(table)
                    .bind(serde_json::to_string(extra).unwrap_or_default())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?
        });
        Ok(())
    }

    pub async fn chunk_done(&self, chunk: &Chunk) -> Result<(), sqlx::Error> {
        let sql = self.sql(&format!(
            "UPDATE {} SET done = 1 WHERE run = ? AND tbl = ? AND idx = ?",
            self.names().chunks
        ));
        on_store!(&self.store, pool => {
            sqlx::query(sql)
                .bind(self.run)
                .bind(&chunk.table)
                .bind(chunk.index)
                .execute(pool)
                .await
                .map(drop)
        })
    }

    /// The high-water mark an incremental run reached for `table`, if any.
    pub async fn watermark(
        &self,
        source: &str,
        destination: &str,
        table: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let sql = self.sql(&format!(
            "SELECT mark FROM {} WHERE source = ? AND destination = ? AND tbl = ?",
            self.names().watermarks
        ));
        on_store!(&self.store, pool => {
            sqlx::query_scalar(sql)
                .bind(source)
                .bind(destination)
                .bind(table)
                .fetch_optional(pool)
                .await
        })
    }

    /// Records the mark once every row up to it is in the destination.
    pub async fn set_watermark(
        &self,
        source: &str,
        destination: &str,
        table: &str,
        mark: &str,
    ) -> Result<(), sqlx::Error> {
        let sql = self.sql(&format!(
            "INSERT INTO {} (source, destination, tbl, mark) VALUES (?, ?, ?, ?)
             ON CONFLICT (source, destination, tbl) DO UPDATE SET mark = excluded.mark",
            self.names().watermarks
        ));
        on_store!(&self.store, pool => {
            sqlx::query(sql)
                .bind(source)
                .bind(destination)
                .bind(table)
                .bind(mark)
                .execute(pool)
                .await
                .map(drop)
        })
    }

    pub async fn finish(&self) -> Result<(), sqlx::Error> {
        let now = names_of(&self.store).1;
        let sql = self.sql(&format!(
            "UPDATE {} SET finished_at = {now} WHERE id = ?",
            self.names().runs
        ));
        on_store!(&self.store, pool => {
            sqlx::query(sql).bind(self.run).execute(pool).await.map(drop)
        })
    }

    pub async fn close(self) {
        on_store!(self.store, pool => pool.close().await)
    }
}

/// The store's table names and its SQL for "now" as text.
fn names_of(store: &Store) -> (&'static Names, &'static str) {
    match store {
        Store::Sqlite(_) => (&SQLITE_NAMES, "datetime('now')"),
        Store::Postgres(_) => (&POSTGRES_NAMES, "now()::text"),
    }
}

/// Statements are written with `?`; PostgreSQL numbers its placeholders (`$1`, `$2`).
/// None of the statements holds a `?` anywhere else.
pub(crate) fn placeholders(store: &Store, statement: &str) -> String {
    if matches!(store, Store::Sqlite(_)) {
        return statement.to_string();
    }
    numbered(statement)
}

/// `?` placeholders as PostgreSQL's `$1`, `$2`, ... (for statements holding no other `?`).
pub(crate) fn numbered(statement: &str) -> String {
    let mut out = String::with_capacity(statement.len() + 8);
    let mut n = 0;
    for c in statement.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// Brings a state file written by an older seaway up to date, so upgrading never breaks
/// a resume. Each step is idempotent.
async fn upgrade(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS watermarks (source TEXT NOT NULL, destination TEXT NOT NULL, tbl TEXT NOT NULL,
             mark TEXT NOT NULL, PRIMARY KEY (source, destination, tbl));
         CREATE TABLE IF NOT EXISTS extras (run INTEGER NOT NULL, tbl TEXT NOT NULL, what TEXT NOT NULL,
             PRIMARY KEY (run, tbl, what))",
    )
    .execute(pool)
    .await?;
    let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('chunks')")
        .fetch_all(pool)
        .await?;
    for (column, ddl) in [
        (
            "rejected",
            "ALTER TABLE chunks ADD COLUMN rejected INTEGER NOT NULL DEFAULT 0",
        ),
        ("lo_key", "ALTER TABLE chunks ADD COLUMN lo_key TEXT"),
        ("hi_key", "ALTER TABLE chunks ADD COLUMN hi_key TEXT"),
        (
            "extra",
            "ALTER TABLE chunks ADD COLUMN extra INTEGER NOT NULL DEFAULT 0",
        ),
    ] {
        if !columns.iter().any(|c| c == column) {
            sqlx::raw_sql(ddl).execute(pool).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a state file from before reject counts were kept made every later
    /// transfer fail with "no such column: rejected".
    #[tokio::test]
    async fn opens_a_state_file_written_before_reject_counts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.sqlite");
        {
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .connect_with(opts)
                .await
                .expect("create");
            sqlx::raw_sql(
                "CREATE TABLE runs (id INTEGER PRIMARY KEY, source TEXT NOT NULL, destination TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT);
                 CREATE TABLE chunks (run INTEGER NOT NULL, tbl TEXT NOT NULL, idx INTEGER NOT NULL, lo INTEGER, hi INTEGER, last_key TEXT,
                     rows INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (run, tbl, idx));
                 INSERT INTO runs (source, destination, started_at) VALUES ('s', 'd', 'then');
                 INSERT INTO chunks (run, tbl, idx, rows) VALUES (1, 't', 0, 7);",
            )
            .execute(&pool)
            .await
            .expect("old schema");
            pool.close().await;
        }
        let state = State::open(&path, "s", "d", false)
            .await
            .expect("opens and upgrades");
        assert!(state.resumed);
        let chunks = state.chunks("t").await.expect("read").expect("planned");
        assert_eq!((chunks[0].rows, chunks[0].rejected), (7, 0));
        state.close().await;
    }
}
