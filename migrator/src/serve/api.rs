//! The HTTP API. Each handler is registered once, with `utoipa_axum::routes!`, for both
//! the router and the OpenAPI document served at `/openapi.json` (and checked in as
//! `migrator/openapi.json`): the document is generated from the handlers, never kept by
//! hand.

use super::app::App;
use super::auth::{Caller, Operator, Via};
use super::dashboard::SessionView;
use super::events;
use super::jobs::StartError;
use super::problem::{JobActionRefusals, JobReadRefusals, Problem};
use super::spec::{JobKind, JobRequest, StrictJson};
use super::store::{JobState, StoreError, TableRow};
use super::view::{JobEvent, JobView};
use super::work::{self, Plan};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use seaway_codegen::config::Role;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type AppState = State<Arc<App>>;

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        tracing::error!("{e}");
        Problem::internal(e.to_string())
    }
}

impl From<StartError> for Problem {
    fn from(e: StartError) -> Problem {
        match e {
            StartError::Busy { .. } => Problem::conflict(e.to_string()),
            StartError::Store(s) => s.into(),
            StartError::Thread(_) => Problem::internal(e.to_string()),
        }
    }
}

/// `GET /health`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// ok, or degraded when the store does not answer.
    pub status: String,
    pub version: String,
    /// Engines this build speaks.
    pub engines: Vec<String>,
    pub store_reachable: bool,
}

/// A chunk of a table in a transfer: the unit of parallel work, resume and retry.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChunkView {
    pub index: i64,
    /// done, running (some rows written) or pending.
    pub state: String,
    pub rows: i64,
    pub rejected: i64,
    /// Canonical text of the last key written.
    pub last_key: Option<Vec<String>>,
}

/// `GET /api/jobs/{id}/tables/{table}`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TableDetail {
    pub job: i64,
    pub table: TableRow,
    pub chunks: Vec<ChunkView>,
}

/// A job id from the path; anything but an integer is a 400 problem document.
#[derive(Debug)]
pub struct JobId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for JobId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<JobId, Problem> {
        let Path(params): Path<Vec<(String, String)>> = Path::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::bad_request(format!("the path: {e}")))?;
        let id = params
            .iter()
            .find(|(k, _)| k == "id")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        id.parse()
            .map(JobId)
            .map_err(|_| Problem::bad_request(format!("job id `{id}` is not an integer")))
    }
}

async fn view(app: &App, id: i64) -> Result<JobView, Problem> {
    let job = app
        .store
        .job(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("there is no job {id}")))?;
    let tables = app.store.tables(id).await?;
    Ok(JobView::new(&job, tables, app.jobs.rate(id)))
}

/// Engines, version and whether the store answers. Needs no token.
#[utoipa::path(get, path = "/health", tag = "service",
    responses(
        (status = 200, description = "The server and its store are up", body = Health),
        (status = 503, description = "The store does not answer", body = Health),
    ))]
pub async fn health(State(app): AppState) -> Response {
    let reachable = app.store.reachable().await;
    let body = Health {
        status: if reachable { "ok" } else { "degraded" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        engines: ["postgresql", "mysql", "sqlite"].map(String::from).to_vec(),
        store_reachable: reachable,
    };
    let status = if reachable {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// Who the caller is; with a session cookie, also the CSRF token its page must send.
#[utoipa::path(get, path = "/api/session", tag = "access",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = SessionView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn session(
    State(app): AppState,
    caller: Caller,
    headers: HeaderMap,
) -> Result<axum::Json<SessionView>, Problem> {
    let csrf = match caller.via {
        Via::Bearer => None,
        Via::Session => super::auth::cookie_in(&headers, super::auth::SESSION_COOKIE)
            .and_then(|id| app.auth.csrf_of(id)),
    };
    Ok(axum::Json(SessionView::new(
        &app,
        caller.name,
        caller.role,
        csrf,
    )))
}

/// Every job, newest first.
#[utoipa::path(get, path = "/api/jobs", tag = "jobs",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<JobView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_jobs(
    State(app): AppState,
    _caller: Caller,
) -> Result<axum::Json<Vec<JobView>>, Problem> {
    let mut out = Vec::new();
    for job in app.store.jobs().await? {
        let tables = app.store.tables(job.id).await?;
        out.push(JobView::new(&job, tables, app.jobs.rate(job.id)));
    }
    Ok(axum::Json(out))
}

/// Starts a job over connections of the server's config (operator).
#[utoipa::path(post, path = "/api/jobs", tag = "jobs",
    security(("bearer" = []), ("session" = [])),
    request_body = JobRequest,
    responses(
        (status = 201, description = "Started", body = JobView),
        (status = 400, description = "Refused: names an unknown connection, carries SQL text or `${VAR}`", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The role is too low, or a session request lacks its CSRF token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A job is already running for the same source and destination", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_job(
    State(app): AppState,
    Operator(caller): Operator,
    StrictJson(mut request): StrictJson<JobRequest>,
) -> Result<Response, Problem> {
    if request.kind == JobKind::Migrate {
        return Err(Problem::bad_request(
            "kind: `migrate` runs through POST /migrate; a job is transfer, verify, apply or schema",
        ));
    }
    let config = request.config(&app.config)?;
    // Stored with the connections it resolved to, so a later change of the config's
    // defaults does not change what a resumed job does.
    request.source = Some(config.source.clone());
    request.destination = config.destination.clone();
    let spec = serde_json::to_string(&request)
        .map_err(|e| Problem::internal(format!("cannot record the request: {e}")))?;
    let id = app
        .store
        .create(request.kind.as_str(), &spec, &caller.name, false)
        .await?;
    let plan = Plan {
        kind: request.kind,
        request,
        config,
        restart: true,
        workdir: None,
    };
    if let Err(e) = app.jobs.start(id, plan, None) {
        app.store
            .set_state(id, JobState::Failed, Some(&e.to_string()))
            .await?;
        return Err(e.into());
    }
    app.store
        .audit(&caller.name, "started", Some(id), None)
        .await?;
    let body = view(&app, id).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/jobs/{id}"))],
        axum::Json(body),
    )
        .into_response())
}

/// One job: state, per-table rows done and total, rejects, rows/s and errors.
#[utoipa::path(get, path = "/api/jobs/{id}", tag = "jobs",
    security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, body = JobView),
        JobReadRefusals,
    ))]
pub async fn get_job(
    State(app): AppState,
    _caller: Caller,
    JobId(id): JobId,
) -> Result<axum::Json<JobView>, Problem> {
    Ok(axum::Json(view(&app, id).await?))
}

/// One table of a job, with its chunks (transfer jobs).
#[utoipa::path(get, path = "/api/jobs/{id}/tables/{table}", tag = "jobs",
    security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "Job id"), ("table" = String, Path, description = "Destination table")),
    responses(
        (status = 200, body = TableDetail),
        JobReadRefusals,
    ))]
pub async fn get_table(
    State(app): AppState,
    _caller: Caller,
    JobId(id): JobId,
    Path((_, table)): Path<(String, String)>,
) -> Result<axum::Json<TableDetail>, Problem> {
    let job = app
        .store
        .job(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("there is no job {id}")))?;
    let row = app
        .store
        .tables(id)
        .await?
        .into_iter()
        .find(|t| t.tbl == table)
        .ok_or_else(|| Problem::not_found(format!("job {id} has no table `{table}`")))?;
    let chunks = match job.run {
        Some(run) => app
            .store
            .chunks(run, &table)
            .await?
            .into_iter()
            .map(|c| ChunkView {
                index: c.index,
                state: if c.done {
                    "done"
                } else if c.rows > 0 || c.last_key.is_some() {
                    "running"
                } else {
                    "pending"
                }
                .into(),
                rows: c.rows,
                rejected: c.rejected,
                last_key: c.last_key,
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(axum::Json(TableDetail {
        job: id,
        table: row,
        chunks,
    }))
}

/// Runs a failed or cancelled job again, for its failed and unfinished tables only:
/// finished chunks are skipped, an unfinished chunk resumes after its last key.
#[utoipa::path(post, path = "/api/jobs/{id}/retry", tag = "jobs",
    security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 202, description = "Running again", body = JobView),
        JobActionRefusals,
    ))]
pub async fn retry_job(
    State(app): AppState,
    Operator(caller): Operator,
    JobId(id): JobId,
) -> Result<Response, Problem> {
    let job = app
        .store
        .job(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("there is no job {id}")))?;
    if !matches!(job.state, JobState::Failed | JobState::Cancelled) || app.jobs.is_running(id) {
        return Err(Problem::conflict(format!(
            "job {id} is {}; only a failed or cancelled job is retried",
            job.state.as_str()
        )));
    }
    if job.inline {
        return Err(Problem::conflict(format!(
            "job {id} ran with inline connections whose password was never stored; send the /migrate request again"
        )));
    }
    let mut plan = work::plan_of(&job, &app.config).map_err(Problem::conflict)?;
    let tables = app.store.tables(id).await?;
    let done = |t: &&TableRow| t.state == "done" && t.error.is_none();
    let unfinished: Vec<String> = tables
        .iter()
        .filter(|t| !done(t))
        .map(|t| t.tbl.clone())
        .collect();
    // Tables the job finished are left alone; the rest (failed, or never reached) run.
    // Within those, the transfer state skips finished chunks of an unfinished run.
    if plan.kind == JobKind::Transfer {
        let finished: Vec<&str> = tables
            .iter()
            .filter(done)
            .filter_map(|t| t.source_table.as_deref())
            .collect();
        work::skip_source_tables(&mut plan, &finished).map_err(Problem::bad_request)?;
    }
    app.store.set_state(id, JobState::Queued, None).await?;
    if let Err(e) = app.jobs.start(id, plan, None) {
        // Not started: the job stays as it was.
        app.store
            .set_state(id, job.state, job.error.as_deref())
            .await?;
        return Err(e.into());
    }
    app.store
        .audit(
            &caller.name,
            "retried",
            Some(id),
            Some(&format!("tables: {}", unfinished.join(", "))),
        )
        .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(view(&app, id).await?)).into_response())
}

/// Stops a running job; what it wrote stays, and a retry resumes from there.
#[utoipa::path(post, path = "/api/jobs/{id}/cancel", tag = "jobs",
    security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 202, description = "Cancelling", body = JobView),
        JobActionRefusals,
    ))]
pub async fn cancel_job(
    State(app): AppState,
    Operator(caller): Operator,
    JobId(id): JobId,
) -> Result<Response, Problem> {
    let body = view(&app, id).await?;
    if !app.jobs.cancel(id) {
        return Err(Problem::conflict(format!(
            "job {id} is {}, not running",
            body.state.as_str()
        )));
    }
    app.store
        .audit(&caller.name, "cancelled", Some(id), None)
        .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// The job's progress as it happens (Server-Sent Events, event `job`, data a JobView):
/// its view now, then each change, ending after its final state.
#[utoipa::path(get, path = "/api/jobs/{id}/events", tag = "jobs",
    security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = JobEvent),
        JobReadRefusals,
    ))]
pub async fn job_events(
    State(app): AppState,
    _caller: Caller,
    JobId(id): JobId,
) -> Result<Response, Problem> {
    let rx = app.hub.subscribe();
    let now = view(&app, id).await?;
    let json = serde_json::to_string(&now)
        .map_err(|e| Problem::internal(format!("cannot render job {id}: {e}")))?;
    Ok(events::stream(Some((json, now.state.is_final())), rx, Some(id)).into_response())
}

/// Every job's changes as they happen (Server-Sent Events, event `job`): the dashboard's
/// job list. Never ends.
#[utoipa::path(get, path = "/api/events", tag = "jobs",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = JobEvent),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn all_events(State(app): AppState, _caller: Caller) -> Response {
    events::stream(None, app.hub.subscribe(), None).into_response()
}

/// Who started, retried or cancelled what (admin).
#[utoipa::path(get, path = "/api/audit", tag = "access",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<super::store::AuditRow>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn audit(
    State(app): AppState,
    caller: Caller,
) -> Result<axum::Json<Vec<super::store::AuditRow>>, Problem> {
    caller.require(Role::Admin, "reading the audit log")?;
    Ok(axum::Json(app.store.audit_log().await?))
}

/// The API's routes, each registered once for the router and the document.
pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::with_openapi(super::openapi::base())
        .routes(routes!(health))
        .routes(routes!(session))
        .routes(routes!(super::dashboard::login))
        .routes(routes!(super::dashboard::logout))
        .routes(routes!(super::migrate::test_connection))
        .routes(routes!(super::migrate::migrate))
        .routes(routes!(list_jobs, create_job))
        .routes(routes!(get_job))
        .routes(routes!(get_table))
        .routes(routes!(retry_job))
        .routes(routes!(cancel_job))
        .routes(routes!(job_events))
        .routes(routes!(all_events))
        .routes(routes!(audit))
        .routes(routes!(super::workers::list_workers))
        .routes(routes!(super::workers::retry_chunk))
}
