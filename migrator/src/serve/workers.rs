//! The workers and the work queue (`migrator worker`, `lease::Queue`) as the API shows
//! them: who is taking chunks, how many chunks of each distributed job wait, run, are
//! done or failed, and the retry of a failed chunk. Only a PostgreSQL store holds a
//! queue; with the SQLite file the answer says so instead of failing.

use super::app::App;
use super::auth::{Caller, Operator};
use super::problem::Problem;
use crate::lease::{Depth, Queue, QueueError, WorkerInfo};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

impl From<QueueError> for Problem {
    fn from(e: QueueError) -> Problem {
        tracing::error!("{e}");
        Problem::internal(e.to_string())
    }
}

/// A chunk that failed three times and waits for a retry.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedChunk {
    pub table: String,
    pub index: i64,
    pub error: String,
}

/// One distributed job's queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    pub job: String,
    pub depth: Depth,
    pub failed: Vec<FailedChunk>,
}

/// `GET /api/workers`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkersView {
    /// Whether the store can share work: a PostgreSQL store (`transfer.state`).
    pub shared: bool,
    pub workers: Vec<WorkerInfo>,
    pub jobs: Vec<QueueView>,
}

/// The queue in the server's store, if it is PostgreSQL.
async fn queue(app: &App) -> Result<Option<Queue>, Problem> {
    match app.store.postgres() {
        Some(pool) => Ok(Some(Queue::open(pool.clone()).await?)),
        None => Ok(None),
    }
}

/// The workers taking chunks from the store, with their last heartbeat, and each
/// distributed job's queue depth.
#[utoipa::path(get, path = "/api/workers", tag = "workers",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = WorkersView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_workers(
    State(app): State<Arc<App>>,
    _caller: Caller,
) -> Result<axum::Json<WorkersView>, Problem> {
    let Some(q) = queue(&app).await? else {
        return Ok(axum::Json(WorkersView {
            shared: false,
            workers: Vec::new(),
            jobs: Vec::new(),
        }));
    };
    let mut jobs = Vec::new();
    for job in q.jobs().await? {
        let depth = q.depth(&job).await?;
        let failed = q
            .failures(&job)
            .await?
            .into_iter()
            .map(|(table, index, error)| FailedChunk {
                table,
                index,
                error,
            })
            .collect();
        jobs.push(QueueView { job, depth, failed });
    }
    Ok(axum::Json(WorkersView {
        shared: true,
        workers: q.workers().await?,
        jobs,
    }))
}

/// Makes a failed chunk pending again (operator): the next worker with a free slot
/// takes it, from where the destination says it got to.
#[utoipa::path(post, path = "/api/workers/jobs/{job}/chunks/{table}/{index}/retry", tag = "workers",
    security(("bearer" = []), ("session" = [])),
    params(
        ("job" = String, Path, description = "The distributed job, e.g. transfer-12"),
        ("table" = String, Path, description = "The destination table"),
        ("index" = i64, Path, description = "The chunk's index in the table"),
    ),
    responses(
        (status = 204, description = "Pending again"),
        (status = 400, description = "The chunk index is not an integer", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such failed chunk", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The store is the SQLite file, which holds no queue", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry_chunk(
    State(app): State<Arc<App>>,
    Operator(caller): Operator,
    Path((job, table, index)): Path<(String, String, String)>,
) -> Result<Response, Problem> {
    let index: i64 = index
        .parse()
        .map_err(|_| Problem::bad_request(format!("chunk index `{index}` is not an integer")))?;
    let Some(q) = queue(&app).await? else {
        return Err(Problem::conflict(
            "the store is the SQLite file, which holds no work queue: workers share chunks through a PostgreSQL store (`transfer.state`)",
        ));
    };
    if !q.retry(&job, &table, index).await? {
        return Err(Problem::not_found(format!(
            "job `{job}` has no failed chunk {index} of table `{table}`"
        )));
    }
    app.store
        .audit(
            &caller.name,
            "retried chunk",
            None,
            Some(&format!("job {job}, table {table}, chunk {index}")),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
