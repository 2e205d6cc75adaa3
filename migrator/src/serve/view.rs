//! A job as the API, the SSE streams and the dashboard show it.

use super::store::{JobRow, JobState, TableRow};
use super::webhook;
use serde::Serialize;
use utoipa::ToSchema;

/// A job, as the API and the dashboard show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobView {
    pub id: i64,
    /// transfer, verify, apply, schema or migrate.
    pub kind: String,
    pub state: JobState,
    /// The source: a connection name (a `/migrate` run: its URL without password).
    pub source: String,
    pub destination: String,
    /// The token's name that started it.
    pub created_by: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
    pub tables: Vec<TableRow>,
    pub rows_done: i64,
    /// Rows the source holds, over the tables counted so far.
    pub rows_total: i64,
    pub rejected: i64,
    /// Rows per second over the last few seconds (0 when not running).
    pub rows_per_second: f64,
    /// The request as given (names only; a webhook URL redacted).
    #[schema(value_type = Object)]
    pub request: serde_json::Value,
}

impl JobView {
    pub fn new(job: &JobRow, tables: Vec<TableRow>, rate: f64) -> JobView {
        let mut request: serde_json::Value =
            serde_json::from_str(&job.spec).unwrap_or(serde_json::Value::Null);
        if let Some(w) = request.get_mut("webhook")
            && let Some(url) = w.as_str()
        {
            *w = serde_json::Value::String(webhook::redact(url));
        }
        let text = |key: &str| {
            request
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        JobView {
            id: job.id,
            kind: job.kind.clone(),
            state: job.state,
            source: text("source"),
            destination: text("destination"),
            created_by: job.created_by.clone(),
            created_at: job.created_at.clone(),
            finished_at: job.finished_at.clone(),
            error: job.error.clone(),
            rows_done: tables.iter().map(|t| t.rows_done).sum(),
            rows_total: tables.iter().filter_map(|t| t.rows_total).sum(),
            rejected: tables.iter().map(|t| t.rejected).sum(),
            tables,
            rows_per_second: if job.state == JobState::Running {
                rate
            } else {
                0.0
            },
            request,
        }
    }
}

/// One Server-Sent Event of a job stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobEvent {
    /// Always `job`.
    pub event: String,
    /// The job's whole view (a JobView) as JSON text.
    pub data: String,
}
