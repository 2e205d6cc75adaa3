//! The store's side of shared chunks: tables `seaway_work_jobs`, `seaway_work_chunks`
//! and `seaway_workers` in the PostgreSQL state store, and the token sequence
//! `seaway_work_tokens`.
//!
//! A chunk is `pending`, `running` (leased to one worker until `lease_until`), `done`
//! or `failed` (its third failure; [`Queue::retry`] makes it pending again). A running
//! chunk whose lease ran out is claimable again, by anyone, with a new, larger token;
//! the worker that held it finds out at its next heartbeat, progress or completion,
//! each of which is refused for a token that is no longer the chunk's.

use sqlx::PgPool;
use std::time::Duration;

/// Failures after which a chunk stops being retried by itself.
pub const MAX_FAILURES: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the work queue in the state store: {0}")]
    Store(#[from] sqlx::Error),
    /// The lease ran out and the chunk went to another worker (or was released): its
    /// progress is that worker's now.
    #[error(
        "chunk {index} of table `{table}` (job `{job}`) is no longer this worker's: its lease ran out and token {token} was superseded"
    )]
    Lost {
        job: String,
        table: String,
        index: i64,
        token: i64,
    },
}

/// A chunk held by this worker, until its lease runs out.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Lease {
    pub job: String,
    #[sqlx(rename = "tbl")]
    pub table: String,
    #[sqlx(rename = "idx")]
    pub index: i64,
    /// The fencing token: larger than every earlier claim's of any chunk.
    pub token: i64,
    /// Where the chunk's previous holders got to (canonical text of the last key
    /// written, as they recorded it), and the rows they wrote.
    pub last_key: Option<String>,
    pub rows: i64,
    /// Claims of this chunk so far, this one included (a second means a worker died or
    /// stalled holding it).
    pub claims: i32,
}

/// A chunk to plan: its table, its index in the table, and its stage: chunks of a stage
/// are claimed only once every chunk of the stages before it is done (a table's rows
/// go in after those of the tables its foreign keys point to, as `transfer` loads them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub table: String,
    pub index: i64,
    pub stage: i32,
}

/// How many chunks of a job are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Depth {
    pub pending: i64,
    pub running: i64,
    pub done: i64,
    pub failed: i64,
    /// Rows the done and running chunks hold, as their holders recorded them (each
    /// chunk's count once, whoever wrote it).
    pub rows: i64,
}

/// A worker as the store sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct WorkerInfo {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub slots: i32,
    /// Seconds since its last heartbeat.
    pub silent_seconds: f64,
    pub chunks_done: i64,
    pub rows: i64,
}

/// The shared queue in the store.
#[derive(Debug, Clone)]
pub struct Queue {
    pool: PgPool,
}

/// An interval of `d` as milliseconds, for `now() + $n * interval '1 millisecond'`.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Queue {
    /// The queue in `pool`'s database, creating its tables if missing (under an advisory
    /// lock: many workers start at once, and concurrent `CREATE ... IF NOT EXISTS` of one
    /// table can still collide in PostgreSQL's catalog).
    pub async fn open(pool: PgPool) -> Result<Queue, QueueError> {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('seaway_work'))")
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS seaway_work_jobs (
                 job TEXT PRIMARY KEY, spec TEXT NOT NULL,
                 created_at TIMESTAMPTZ NOT NULL DEFAULT now());
             CREATE TABLE IF NOT EXISTS seaway_work_chunks (
                 job TEXT NOT NULL REFERENCES seaway_work_jobs (job) ON DELETE CASCADE,
                 tbl TEXT NOT NULL, idx BIGINT NOT NULL,
                 status TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'done', 'failed')),
                 owner TEXT, lease_until TIMESTAMPTZ, token BIGINT NOT NULL DEFAULT 0,
                 claims INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0, error TEXT,
                 last_key TEXT, rows BIGINT NOT NULL DEFAULT 0, stage INTEGER NOT NULL DEFAULT 0,
                 PRIMARY KEY (job, tbl, idx));
             CREATE INDEX IF NOT EXISTS seaway_work_chunks_claimable
                 ON seaway_work_chunks (job, status, lease_until);
             CREATE SEQUENCE IF NOT EXISTS seaway_work_tokens;
             CREATE TABLE IF NOT EXISTS seaway_workers (
                 id TEXT PRIMARY KEY, host TEXT NOT NULL, pid BIGINT NOT NULL, slots INTEGER NOT NULL,
                 started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                 heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                 chunks_done BIGINT NOT NULL DEFAULT 0, rows BIGINT NOT NULL DEFAULT 0);",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Queue { pool })
    }

    /// Records job `job` (its `spec`: what a worker needs to run its chunks, naming
    /// connections, never holding their URLs) and its chunks, as pending. A job planned
    /// again keeps its chunks as they are (a second planner joins the first's job).
    /// Returns whether the job is new.
    pub async fn plan(
        &self,
        job: &str,
        spec: &str,
        chunks: &[Planned],
    ) -> Result<bool, QueueError> {
        let mut tx = self.pool.begin().await?;
        let new = sqlx::query(
            "INSERT INTO seaway_work_jobs (job, spec) VALUES ($1, $2) ON CONFLICT (job) DO NOTHING",
        )
        .bind(job)
        .bind(spec)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if new {
            let tables: Vec<&str> = chunks.iter().map(|c| c.table.as_str()).collect();
            let indexes: Vec<i64> = chunks.iter().map(|c| c.index).collect();
            let stages: Vec<i32> = chunks.iter().map(|c| c.stage).collect();
            sqlx::query(
                "INSERT INTO seaway_work_chunks (job, tbl, idx, stage)
                 SELECT $1, t, i, s FROM unnest($2::text[], $3::bigint[], $4::int[]) AS u (t, i, s)
                 ON CONFLICT DO NOTHING",
            )
            .bind(job)
            .bind(&tables)
            .bind(&indexes)
            .bind(&stages)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// The spec job `job` was planned with.
    pub async fn spec(&self, job: &str) -> Result<Option<String>, QueueError> {
        Ok(
            sqlx::query_scalar("SELECT spec FROM seaway_work_jobs WHERE job = $1")
                .bind(job)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Registers (or refreshes) a worker.
    pub async fn register(
        &self,
        id: &str,
        host: &str,
        pid: u32,
        slots: u32,
    ) -> Result<(), QueueError> {
        sqlx::query(
            "INSERT INTO seaway_workers (id, host, pid, slots) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), slots = EXCLUDED.slots",
        )
        .bind(id)
        .bind(host)
        .bind(i64::from(pid))
        .bind(i32::try_from(slots).unwrap_or(i32::MAX))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a worker that stops (its chunks were released or finished first).
    pub async fn deregister(&self, id: &str) -> Result<(), QueueError> {
        sqlx::query("DELETE FROM seaway_workers WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Claims up to `n` chunks for worker `owner`, of job `job` or of any job, of the
    /// first stage not yet done (see [`Planned`]): running
    /// ones whose lease ran out first (a dead worker's half-written chunk is finished
    /// before new ones start), then pending ones; each with a lease of `lease`
    /// and a new token. Workers claiming at the same time skip each other's rows rather
    /// than wait, and never get the same chunk.
    pub async fn claim(
        &self,
        owner: &str,
        job: Option<&str>,
        n: u32,
        lease: Duration,
    ) -> Result<Vec<Lease>, QueueError> {
        let mut leases: Vec<Lease> = sqlx::query_as(
            "WITH next AS (
                 SELECT job, tbl, idx FROM seaway_work_chunks c
                 WHERE ($1::text IS NULL OR job = $1)
                   AND (status = 'pending' OR (status = 'running' AND lease_until < clock_timestamp()))
                   AND NOT EXISTS (SELECT 1 FROM seaway_work_chunks e
                                   WHERE e.job = c.job AND e.stage < c.stage AND e.status <> 'done')
                 ORDER BY status DESC, job, stage, tbl, idx
                 LIMIT $2
                 FOR UPDATE SKIP LOCKED)
             UPDATE seaway_work_chunks c
             SET status = 'running', owner = $3, claims = c.claims + 1,
                 lease_until = clock_timestamp() + $4 * interval '1 millisecond',
                 token = nextval('seaway_work_tokens')
             FROM next
             WHERE c.job = next.job AND c.tbl = next.tbl AND c.idx = next.idx
             RETURNING c.job, c.tbl, c.idx, c.token, c.last_key, c.rows, c.claims",
        )
        .bind(job)
        .bind(i64::from(n))
        .bind(owner)
        .bind(millis(lease))
        .fetch_all(&self.pool)
        .await?;
        leases.sort_by(|a, b| (&a.job, &a.table, a.index).cmp(&(&b.job, &b.table, b.index)));
        Ok(leases)
    }

    /// Extends the leases of `held` by `lease` and marks the worker alive; returns those
    /// of `held` it no longer holds (their lease ran out and another worker took them).
    pub async fn heartbeat(
        &self,
        owner: &str,
        held: &[Lease],
        lease: Duration,
    ) -> Result<Vec<Lease>, QueueError> {
        let tokens: Vec<i64> = held.iter().map(|l| l.token).collect();
        let kept: Vec<i64> = sqlx::query_scalar(
            "UPDATE seaway_work_chunks
             SET lease_until = clock_timestamp() + $3 * interval '1 millisecond'
             WHERE owner = $1 AND status = 'running' AND token = ANY($2)
             RETURNING token",
        )
        .bind(owner)
        .bind(&tokens)
        .bind(millis(lease))
        .fetch_all(&self.pool)
        .await?;
        sqlx::query("UPDATE seaway_workers SET heartbeat_at = now() WHERE id = $1")
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(held
            .iter()
            .filter(|l| !kept.contains(&l.token))
            .cloned()
            .collect())
    }

    /// Records where the chunk got to: the last key written and the rows the chunk
    /// holds so far (a total, set rather than added, so a page written twice by two
    /// holders is counted once). Refused once the lease is no longer `lease`'s.
    pub async fn progress(
        &self,
        lease: &Lease,
        last_key: &str,
        rows: i64,
    ) -> Result<(), QueueError> {
        let n = sqlx::query(
            "UPDATE seaway_work_chunks SET last_key = $2, rows = $3
             WHERE token = $1 AND status = 'running'",
        )
        .bind(lease.token)
        .bind(last_key)
        .bind(rows)
        .execute(&self.pool)
        .await?
        .rows_affected();
        self.held(lease, n)
    }

    /// The chunk is done with `rows` rows; the worker's totals grow by what this holder
    /// added. Refused once the lease is no longer `lease`'s.
    pub async fn complete(&self, owner: &str, lease: &Lease, rows: i64) -> Result<(), QueueError> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE seaway_work_chunks SET status = 'done', rows = $2, owner = NULL, lease_until = NULL
             WHERE token = $1 AND status = 'running'",
        )
        .bind(lease.token)
        .bind(rows)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        self.held(lease, n)?;
        sqlx::query(
            "UPDATE seaway_workers SET chunks_done = chunks_done + 1, rows = rows + $2 WHERE id = $1",
        )
        .bind(owner)
        .bind((rows - lease.rows).max(0))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The chunk failed with `error`: pending again for another try, or `failed` at its
    /// [`MAX_FAILURES`]th failure. Returns whether it is now failed.
    pub async fn fail(&self, lease: &Lease, error: &str) -> Result<bool, QueueError> {
        let failed: Option<bool> = sqlx::query_scalar(
            "UPDATE seaway_work_chunks
             SET failures = failures + 1, error = $2, owner = NULL, lease_until = NULL,
                 status = CASE WHEN failures + 1 >= $3 THEN 'failed' ELSE 'pending' END
             WHERE token = $1 AND status = 'running'
             RETURNING status = 'failed'",
        )
        .bind(lease.token)
        .bind(error)
        .bind(MAX_FAILURES)
        .fetch_optional(&self.pool)
        .await?;
        match failed {
            Some(f) => Ok(f),
            None => self.held(lease, 0).map(|()| false),
        }
    }

    /// Gives the chunk back unfinished (a graceful stop): pending again, keeping where it
    /// got to, with no failure counted.
    pub async fn release(&self, lease: &Lease) -> Result<(), QueueError> {
        sqlx::query(
            "UPDATE seaway_work_chunks SET status = 'pending', owner = NULL, lease_until = NULL
             WHERE token = $1 AND status = 'running'",
        )
        .bind(lease.token)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Makes a failed chunk pending again (from the API or dashboard); whether it was
    /// failed.
    pub async fn retry(&self, job: &str, table: &str, index: i64) -> Result<bool, QueueError> {
        Ok(sqlx::query(
            "UPDATE seaway_work_chunks SET status = 'pending', failures = 0, error = NULL
             WHERE job = $1 AND tbl = $2 AND idx = $3 AND status = 'failed'",
        )
        .bind(job)
        .bind(table)
        .bind(index)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// The jobs in the queue, oldest first.
    pub async fn jobs(&self) -> Result<Vec<String>, QueueError> {
        Ok(
            sqlx::query_scalar("SELECT job FROM seaway_work_jobs ORDER BY created_at, job")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The errors of job `job`'s failed chunks: (table, index, error).
    pub async fn failures(&self, job: &str) -> Result<Vec<(String, i64, String)>, QueueError> {
        Ok(sqlx::query_as(
            "SELECT tbl, idx, coalesce(error, '') FROM seaway_work_chunks
             WHERE job = $1 AND status = 'failed' ORDER BY tbl, idx",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many of job `job`'s chunks are in each state.
    pub async fn depth(&self, job: &str) -> Result<Depth, QueueError> {
        let (pending, running, done, failed, rows): (i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'pending'),
                    count(*) FILTER (WHERE status = 'running'),
                    count(*) FILTER (WHERE status = 'done'),
                    count(*) FILTER (WHERE status = 'failed'),
                    coalesce(sum(rows) FILTER (WHERE status IN ('done', 'running')), 0)::bigint
             FROM seaway_work_chunks WHERE job = $1",
        )
        .bind(job)
        .fetch_one(&self.pool)
        .await?;
        Ok(Depth {
            pending,
            running,
            done,
            failed,
            rows,
        })
    }

    /// The workers registered, oldest first.
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>, QueueError> {
        let rows: Vec<(String, String, i64, i32, f64, i64, i64)> = sqlx::query_as(
            "SELECT id, host, pid, slots,
                    extract(epoch FROM clock_timestamp() - heartbeat_at)::float8,
                    chunks_done, rows
             FROM seaway_workers ORDER BY started_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, host, pid, slots, silent_seconds, chunks_done, rows)| WorkerInfo {
                    id,
                    host,
                    pid,
                    slots,
                    silent_seconds,
                    chunks_done,
                    rows,
                },
            )
            .collect())
    }

    /// Removes job `job` and its chunks.
    pub async fn forget(&self, job: &str) -> Result<(), QueueError> {
        sqlx::query("DELETE FROM seaway_work_jobs WHERE job = $1")
            .bind(job)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `Ok` when `affected` says the update found the chunk under `lease`'s token.
    fn held(&self, lease: &Lease, affected: u64) -> Result<(), QueueError> {
        if affected == 0 {
            return Err(QueueError::Lost {
                job: lease.job.clone(),
                table: lease.table.clone(),
                index: lease.index,
                token: lease.token,
            });
        }
        Ok(())
    }
}
