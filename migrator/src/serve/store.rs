//! Jobs, their per-table progress and the audit log, in the same store as the transfer
//! state: the SQLite file `.seaway/state.sqlite` beside the config, or the PostgreSQL
//! connection `transfer.state` names. A restarted server reads its jobs back from here.
//!
//! Nothing written here holds a password: a job names its connections from the
//! server's config, and a `/migrate` run's inline connection is recorded by host and
//! database only.

use crate::transfer::state::{self, State, Store, on_store, placeholders};
use seaway_codegen::config::Config;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use std::path::PathBuf;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the jobs store {store}: {source}")]
    Sql { store: String, source: sqlx::Error },
    #[error(transparent)]
    Connect(#[from] seaway_codegen::inspect::ConnectError),
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> JobState {
        match text {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "cancelled" => JobState::Cancelled,
            // Anything else was written by a newer seaway; showing it failed is safe.
            _ => JobState::Failed,
        }
    }

    /// True once the job will not change again (until retried).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

/// A job as stored.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    /// The request, as JSON (names only).
    pub spec: String,
    pub state: JobState,
    pub created_by: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
    /// The transfer run in the transfer state that this job's chunks are in.
    pub run: Option<i64>,
    /// The job's connections carried an inline password (kept in memory only).
    pub inline: bool,
}

#[derive(FromRow)]
struct RawJob {
    id: i64,
    kind: String,
    spec: String,
    state: String,
    created_by: String,
    created_at: String,
    finished_at: Option<String>,
    error: Option<String>,
    run: Option<i64>,
    inline_secret: i64,
}

impl From<RawJob> for JobRow {
    fn from(r: RawJob) -> JobRow {
        JobRow {
            id: r.id,
            kind: r.kind,
            spec: r.spec,
            state: JobState::parse(&r.state),
            created_by: r.created_by,
            created_at: r.created_at,
            finished_at: r.finished_at,
            error: r.error,
            run: r.run,
            inline: r.inline_secret != 0,
        }
    }
}

/// One table of a job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, FromRow, ToSchema)]
pub struct TableRow {
    #[serde(rename = "table")]
    pub tbl: String,
    /// queued, running, done or failed.
    pub state: String,
    /// Rows the destination holds from this table's copy (or rows checked, for verify).
    pub rows_done: i64,
    /// Rows the source holds, once counted.
    pub rows_total: Option<i64>,
    /// Rows the destination refused (transfer) or rows that differ (verify).
    pub rejected: i64,
    pub chunks: i64,
    pub error: Option<String>,
    /// The source table it is copied from, once known.
    #[sqlx(rename = "source_tbl")]
    pub source_table: Option<String>,
}

/// An audit record.
#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct AuditRow {
    pub at: String,
    /// The token's name.
    pub who: String,
    /// started, retried, cancelled, migrate.
    pub action: String,
    pub job: Option<i64>,
    pub detail: Option<String>,
}

/// The jobs store.
#[derive(Debug, Clone)]
pub struct JobStore {
    store: Store,
    /// How errors name it.
    name: String,
}

/// The jobs store's tables; `{int}` and `{serial}` are the engine's integer and
/// auto-numbered key types.
const DDL: &str = "
CREATE TABLE IF NOT EXISTS seaway_serve_jobs (id {serial}, kind TEXT NOT NULL, spec TEXT NOT NULL,
    state TEXT NOT NULL, created_by TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT, error TEXT,
    run {int}, inline_secret {int} NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS seaway_serve_job_tables (job {int} NOT NULL, tbl TEXT NOT NULL, state TEXT NOT NULL,
    rows_done {int} NOT NULL DEFAULT 0, rows_total {int}, rejected {int} NOT NULL DEFAULT 0,
    chunks {int} NOT NULL DEFAULT 0, error TEXT, source_tbl TEXT, PRIMARY KEY (job, tbl));
CREATE TABLE IF NOT EXISTS seaway_serve_audit (id {serial}, at TEXT NOT NULL, who TEXT NOT NULL,
    action TEXT NOT NULL, job {int}, detail TEXT);";

const JOB_COLUMNS: &str =
    "id, kind, spec, state, created_by, created_at, finished_at, error, run, inline_secret";
const TABLE_COLUMNS: &str =
    "tbl, state, rows_done, rows_total, rejected, chunks, error, source_tbl";

/// The SQLite state file of a config without `transfer.state`.
pub fn sqlite_path(config: &Config) -> PathBuf {
    config
        .path
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".seaway")
        .join("state.sqlite")
}

impl JobStore {
    /// Opens (creating its tables if needed) the store the config's transfers use.
    pub async fn open(config: &Config) -> Result<JobStore, StoreError> {
        let (store, name) = match &config.state {
            Some(conn_name) => {
                let conn = &config.connections[conn_name];
                let pool = seaway_codegen::inspect::connect::postgres(
                    conn,
                    &seaway_codegen::engine::postgres::search_path_of(conn),
                )
                .await?;
                (
                    Store::Postgres(pool),
                    format!("in connection `{conn_name}` ({})", conn.url.redacted()),
                )
            }
            None => {
                let path = sqlite_path(config);
                let name = path.display().to_string();
                let sql_err = |source| StoreError::Sql {
                    store: name.clone(),
                    source,
                };
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| sql_err(sqlx::Error::Io(e)))?;
                }
                let opts = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(std::time::Duration::from_secs(30));
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(opts)
                    .await
                    .map_err(sql_err)?;
                (Store::Sqlite(pool), name)
            }
        };
        let this = JobStore { store, name };
        let (int, serial) = match &this.store {
            Store::Sqlite(_) => ("INTEGER", "INTEGER PRIMARY KEY"),
            Store::Postgres(_) => ("BIGINT", "BIGSERIAL PRIMARY KEY"),
        };
        let ddl = DDL.replace("{int}", int).replace("{serial}", serial);
        on_store!(&this.store, pool => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(ddl)).execute(pool).await.map(drop)
        })
        .map_err(|e| this.err(e))?;
        Ok(this)
    }

    fn err(&self, source: sqlx::Error) -> StoreError {
        StoreError::Sql {
            store: self.name.clone(),
            source,
        }
    }

    fn sql(&self, statement: &str) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(placeholders(&self.store, statement))
    }

    /// SQL for "now" as ISO 8601 UTC text.
    fn now(&self) -> &'static str {
        match &self.store {
            Store::Sqlite(_) => "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
            Store::Postgres(_) => {
                "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
            }
        }
    }

    /// The store's PostgreSQL pool, where `migrator worker` processes share chunks; `None`
    /// for the SQLite file, which no worker on another machine can reach.
    pub fn postgres(&self) -> Option<&sqlx::PgPool> {
        match &self.store {
            Store::Postgres(pool) => Some(pool),
            Store::Sqlite(_) => None,
        }
    }

    /// True when the store answers (for `/health`).
    pub async fn reachable(&self) -> bool {
        let sql = self.sql("SELECT 1");
        let one: Result<i32, sqlx::Error> =
            on_store!(&self.store, pool => sqlx::query_scalar(sql).fetch_one(pool).await);
        one.is_ok()
    }

    pub async fn create(
        &self,
        kind: &str,
        spec: &str,
        by: &str,
        inline: bool,
    ) -> Result<i64, StoreError> {
        let sql = self.sql(&format!(
            "INSERT INTO seaway_serve_jobs (kind, spec, state, created_by, created_at, inline_secret) VALUES (?, ?, 'queued', ?, {}, ?) RETURNING id",
            self.now()
        ));
        let id: Result<i64, sqlx::Error> = on_store!(&self.store, pool => {
            sqlx::query_scalar(sql)
                .bind(kind)
                .bind(spec)
                .bind(by)
                .bind(i64::from(inline))
                .fetch_one(pool)
                .await
        });
        id.map_err(|e| self.err(e))
    }

    /// Moves a job to `state`; a final state records the time and the error (if any).
    pub async fn set_state(
        &self,
        id: i64,
        state: JobState,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let finished = if state.is_final() { self.now() } else { "NULL" };
        let sql = self.sql(&format!(
            "UPDATE seaway_serve_jobs SET state = ?, error = ?, finished_at = {finished} WHERE id = ?"
        ));
        let done: Result<(), sqlx::Error> = on_store!(&self.store, pool => {
            sqlx::query(sql).bind(state.as_str()).bind(error).bind(id).execute(pool).await.map(drop)
        });
        done.map_err(|e| self.err(e))
    }

    pub async fn set_run(&self, id: i64, run: i64) -> Result<(), StoreError> {
        let sql = self.sql("UPDATE seaway_serve_jobs SET run = ? WHERE id = ?");
        let done: Result<(), sqlx::Error> = on_store!(&self.store, pool => {
            sqlx::query(sql).bind(run).bind(id).execute(pool).await.map(drop)
        });
        done.map_err(|e| self.err(e))
    }

    /// Records one table's progress (insert or replace).
    pub async fn put_table(&self, job: i64, t: &TableRow) -> Result<(), StoreError> {
        let sql = self.sql(
            "INSERT INTO seaway_serve_job_tables (job, tbl, state, rows_done, rows_total, rejected, chunks, error, source_tbl)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (job, tbl) DO UPDATE SET state = excluded.state, rows_done = excluded.rows_done,
                 rows_total = excluded.rows_total, rejected = excluded.rejected, chunks = excluded.chunks,
                 error = excluded.error, source_tbl = COALESCE(excluded.source_tbl, seaway_serve_job_tables.source_tbl)",
        );
        let done: Result<(), sqlx::Error> = on_store!(&self.store, pool => {
            sqlx::query(sql)
                .bind(job)
                .bind(&t.tbl)
                .bind(&t.state)
                .bind(t.rows_done)
                .bind(t.rows_total)
                .bind(t.rejected)
                .bind(t.chunks)
                .bind(&t.error)
                .bind(&t.source_table)
                .execute(pool)
                .await
                .map(drop)
        });
        done.map_err(|e| self.err(e))
    }

    pub async fn job(&self, id: i64) -> Result<Option<JobRow>, StoreError> {
        let sql = self.sql(&format!(
            "SELECT {JOB_COLUMNS} FROM seaway_serve_jobs WHERE id = ?"
        ));
        let row: Result<Option<RawJob>, sqlx::Error> = on_store!(&self.store, pool => {
            sqlx::query_as(sql).bind(id).fetch_optional(pool).await
        });
        row.map(|r| r.map(JobRow::from)).map_err(|e| self.err(e))
    }

    /// Every job, newest first.
    pub async fn jobs(&self) -> Result<Vec<JobRow>, StoreError> {
        let sql = self.sql(&format!(
            "SELECT {JOB_COLUMNS} FROM seaway_serve_jobs ORDER BY id DESC"
        ));
        let rows: Result<Vec<RawJob>, sqlx::Error> =
            on_store!(&self.store, pool => sqlx::query_as(sql).fetch_all(pool).await);
        rows.map(|r| r.into_iter().map(JobRow::from).collect())
            .map_err(|e| self.err(e))
    }

    /// The job's tables, in the order they were first recorded (name order within).
    pub async fn tables(&self, job: i64) -> Result<Vec<TableRow>, StoreError> {
        let sql = self.sql(&format!(
            "SELECT {TABLE_COLUMNS} FROM seaway_serve_job_tables WHERE job = ? ORDER BY tbl"
        ));
        let rows: Result<Vec<TableRow>, sqlx::Error> = on_store!(&self.store, pool => {
            sqlx::query_as(sql).bind(job).fetch_all(pool).await
        });
        rows.map_err(|e| self.err(e))
    }

    pub async fn audit(
        &self,
        who: &str,
        action: &str,
        job: Option<i64>,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        let sql = self.sql(&format!(
            "INSERT INTO seaway_serve_audit (at, who, action, job, detail) VALUES ({}, ?, ?, ?, ?)",
            self.now()
        ));
        let done: Result<(), sqlx::Error> = on_store!(&self.store, pool => {
            sqlx::query(sql).bind(who).bind(action).bind(job).bind(detail).execute(pool).await.map(drop)
        });
        done.map_err(|e| self.err(e))
    }

    /// The audit log, newest first.
    pub async fn audit_log(&self) -> Result<Vec<AuditRow>, StoreError> {
        let sql = self
            .sql("SELECT at, who, action, job, detail FROM seaway_serve_audit ORDER BY id DESC");
        let rows: Result<Vec<AuditRow>, sqlx::Error> =
            on_store!(&self.store, pool => sqlx::query_as(sql).fetch_all(pool).await);
        rows.map_err(|e| self.err(e))
    }

    /// The newest transfer run of (source, destination) in the transfer state.
    pub async fn newest_run(&self, source: &str, destination: &str) -> Option<i64> {
        State::observe(self.store.clone(), 0)
            .newest_run(source, destination)
            .await
            .ok()
            .flatten()
    }

    /// The chunks of `table` in transfer run `run`.
    pub async fn chunks(&self, run: i64, table: &str) -> Result<Vec<state::Chunk>, StoreError> {
        match State::observe(self.store.clone(), run).chunks(table).await {
            Ok(chunks) => Ok(chunks.unwrap_or_default()),
            // The transfer state's tables appear with the first transfer.
            Err(sqlx::Error::Database(e)) if e.message().contains("chunks") => Ok(Vec::new()),
            Err(e) => Err(self.err(e)),
        }
    }
}
