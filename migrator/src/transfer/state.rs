//! Where a transfer is: an SQLite file (`.seaway/state.sqlite` beside the config) with one
//! row per run and per chunk, holding the last key written. A killed run is resumed by
//! the next one: finished chunks are skipped, an unfinished chunk restarts after its last
//! recorded key, and because every write is an upsert, a page written but not yet
//! recorded is simply written again, never doubled.

use sqlx::SqlitePool;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Chunk {
    pub table: String,
    pub index: i64,
    /// Exclusive lower and inclusive upper bound of an integer key, when planned by range.
    pub lo: Option<i64>,
    pub hi: Option<i64>,
    /// Canonical text of the last key written, as a JSON array.
    pub last_key: Option<Vec<String>>,
    pub rows: i64,
    /// Rows of this chunk refused by the destination so far (kept so a resumed run still
    /// reports them).
    pub rejected: i64,
    pub done: bool,
}

/// A `chunks` row: idx, lo, hi, last_key, rows, done, rejected.
#[derive(sqlx::FromRow)]
struct ChunkRow(i64, Option<i64>, Option<i64>, Option<String>, i64, i64, i64);

#[derive(Debug)]
pub struct State {
    pool: SqlitePool,
    pub run: i64,
    /// True when this run continues one that did not finish.
    pub resumed: bool,
}

impl State {
    /// Opens the store and starts a run for (source, destination), resuming an
    /// unfinished one unless `restart`.
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
                 PRIMARY KEY (run, tbl, idx));",
        )
        .execute(&pool)
        .await?;
        upgrade(&pool).await?;
        let unfinished: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM runs WHERE source = ? AND destination = ? AND finished_at IS NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(source)
        .bind(destination)
        .fetch_optional(&pool)
        .await?;
        if let (Some(run), false) = (unfinished, restart) {
            return Ok(State {
                pool,
                run,
                resumed: true,
            });
        }
        sqlx::query("UPDATE runs SET finished_at = 'abandoned' WHERE source = ? AND destination = ? AND finished_at IS NULL")
            .bind(source)
            .bind(destination)
            .execute(&pool)
            .await?;
        let run = sqlx::query(
            "INSERT INTO runs (source, destination, started_at) VALUES (?, ?, datetime('now'))",
        )
        .bind(source)
        .bind(destination)
        .execute(&pool)
        .await?
        .last_insert_rowid();
        Ok(State {
            pool,
            run,
            resumed: false,
        })
    }

    /// The table's chunks in this run, or `None` if not planned yet.
    pub async fn chunks(&self, table: &str) -> Result<Option<Vec<Chunk>>, sqlx::Error> {
        let rows: Vec<ChunkRow> =
            sqlx::query_as("SELECT idx, lo, hi, last_key, rows, done, rejected FROM chunks WHERE run = ? AND tbl = ? ORDER BY idx")
                .bind(self.run)
                .bind(table)
                .fetch_all(&self.pool)
                .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            rows.into_iter()
                .map(
                    |ChunkRow(index, lo, hi, last_key, rows, done, rejected)| Chunk {
                        rejected,
                        table: table.to_string(),
                        index,
                        lo,
                        hi,
                        last_key: last_key.and_then(|k| serde_json::from_str(&k).ok()),
                        rows,
                        done: done != 0,
                    },
                )
                .collect(),
        ))
    }

    pub async fn plan(
        &self,
        table: &str,
        ranges: &[(Option<i64>, Option<i64>)],
    ) -> Result<Vec<Chunk>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for (i, (lo, hi)) in ranges.iter().enumerate() {
            sqlx::query("INSERT INTO chunks (run, tbl, idx, lo, hi) VALUES (?, ?, ?, ?, ?)")
                .bind(self.run)
                .bind(table)
                .bind(i as i64)
                .bind(lo)
                .bind(hi)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
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
        sqlx::query(
            "UPDATE chunks SET last_key = ?, rows = rows + ?, rejected = rejected + ? WHERE run = ? AND tbl = ? AND idx = ?",
        )
        .bind(serde_json::to_string(last_key).unwrap_or_default())
        .bind(rows as i64)
        .bind(rejected as i64)
        .bind(self.run)
        .bind(&chunk.table)
        .bind(chunk.index)
        .execute(&self.pool)
        .await
        .map(drop)
    }

    /// Records a chunk loaded in one piece (the streaming path): its rows, and done.
    pub async fn chunk_streamed(&self, chunk: &Chunk, rows: u64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE chunks SET rows = ?, done = 1 WHERE run = ? AND tbl = ? AND idx = ?")
            .bind(i64::try_from(rows).unwrap_or(i64::MAX))
            .bind(self.run)
            .bind(&chunk.table)
            .bind(chunk.index)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    pub async fn chunk_done(&self, chunk: &Chunk) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE chunks SET done = 1 WHERE run = ? AND tbl = ? AND idx = ?")
            .bind(self.run)
            .bind(&chunk.table)
            .bind(chunk.index)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    /// The high-water mark an incremental run reached for `table`, if any.
    pub async fn watermark(
        &self,
        source: &str,
        destination: &str,
        table: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT mark FROM watermarks WHERE source = ? AND destination = ? AND tbl = ?",
        )
        .bind(source)
        .bind(destination)
        .bind(table)
        .fetch_optional(&self.pool)
        .await
    }

    /// Records the mark once every row up to it is in the destination.
    pub async fn set_watermark(
        &self,
        source: &str,
        destination: &str,
        table: &str,
        mark: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT OR REPLACE INTO watermarks (source, destination, tbl, mark) VALUES (?, ?, ?, ?)")
            .bind(source)
            .bind(destination)
            .bind(table)
            .bind(mark)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    pub async fn finish(&self) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE runs SET finished_at = datetime('now') WHERE id = ?")
            .bind(self.run)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// Brings a state file written by an older seaway up to date, so upgrading never breaks
/// a resume. Each step is idempotent.
async fn upgrade(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS watermarks (source TEXT NOT NULL, destination TEXT NOT NULL, tbl TEXT NOT NULL,
             mark TEXT NOT NULL, PRIMARY KEY (source, destination, tbl))",
    )
    .execute(pool)
    .await?;
    let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('chunks')")
        .fetch_all(pool)
        .await?;
    if !columns.iter().any(|c| c == "rejected") {
        sqlx::raw_sql("ALTER TABLE chunks ADD COLUMN rejected INTEGER NOT NULL DEFAULT 0")
            .execute(pool)
            .await?;
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
