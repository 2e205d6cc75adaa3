//! Telling someone a job ended: a JSON summary posted to `notify.webhook` and to the
//! job's own webhook, with a Slack-compatible `text`, and an idempotency key (job id
//! and final state) in the body and the `Idempotency-Key` header, so a receiver that
//! sees a retried post twice counts it once. Posts are retried with exponential
//! back-off on their own task: a slow or dead receiver never holds up a job.
//!
//! A webhook URL often carries a token (in its path, its query or its user info), so it
//! is only ever printed as [`redact`] shows it.

use super::store::{JobRow, JobState, TableRow};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Attempts per post, and the first wait between two (doubled each time).
const ATTEMPTS: u32 = 6;
const FIRST_WAIT: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize)]
pub struct TableSummary {
    pub table: String,
    pub rows: i64,
    pub rejected: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The body posted.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// One line for a chat channel (Slack reads `text`).
    pub text: String,
    /// `job-<id>-<state>`: the same for every post of one ending.
    pub idempotency_key: String,
    pub job: i64,
    pub kind: String,
    pub state: JobState,
    pub created_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub tables: Vec<TableSummary>,
}

impl Summary {
    pub fn new(job: &JobRow, state: JobState, tables: &BTreeMap<String, TableRow>) -> Summary {
        let rows: i64 = tables.values().map(|t| t.rows_done).sum();
        let failed = tables.values().filter(|t| t.error.is_some()).count();
        Summary {
            text: format!(
                "seaway job #{} ({}) {}: {} table(s), {rows} rows{}",
                job.id,
                job.kind,
                state.as_str(),
                tables.len(),
                if failed > 0 {
                    format!(", {failed} failed")
                } else {
                    String::new()
                }
            ),
            idempotency_key: format!("job-{}-{}", job.id, state.as_str()),
            job: job.id,
            kind: job.kind.clone(),
            state,
            created_by: job.created_by.clone(),
            error: job.error.clone(),
            tables: tables
                .values()
                .map(|t| TableSummary {
                    table: t.tbl.clone(),
                    rows: t.rows_done,
                    rejected: t.rejected,
                    error: t.error.clone(),
                })
                .collect(),
        }
    }
}

/// `scheme://host:port/***`: what may be printed of a webhook URL.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}/***",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "***".to_string(),
    }
}

/// Posts `summary` to `url` until it is taken (2xx), refused for good (4xx other than
/// 408 and 429), or [`ATTEMPTS`] have failed; every outcome is logged, redacted.
pub async fn deliver(url: &str, summary: &Summary) {
    let shown = redact(url);
    let client = match reqwest::Client::builder().timeout(TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("webhook {shown}: cannot build an HTTP client: {e}");
            return;
        }
    };
    let mut wait = FIRST_WAIT;
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(url)
            .header("Idempotency-Key", &summary.idempotency_key)
            .json(summary)
            .send()
            .await;
        let retry = match sent {
            Ok(r) if r.status().is_success() => {
                tracing::info!(
                    "webhook {shown}: job {} {} delivered (attempt {attempt})",
                    summary.job,
                    summary.state.as_str()
                );
                return;
            }
            Ok(r) => {
                let s = r.status();
                tracing::warn!("webhook {shown}: answered {s} (attempt {attempt})");
                s.is_server_error() || s.as_u16() == 408 || s.as_u16() == 429
            }
            Err(e) => {
                // reqwest's message holds the URL: keep only its kind.
                let kind = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "cannot connect"
                } else {
                    "request failed"
                };
                tracing::warn!("webhook {shown}: {kind} (attempt {attempt})");
                true
            }
        };
        if !retry || attempt == ATTEMPTS {
            break;
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
    tracing::error!(
        "webhook {shown}: gave up on job {} {}",
        summary.job,
        summary.state.as_str()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_path_query_and_user_info() {
        assert_eq!(
            redact("https://user:pw@hooks.example.com/services/T0/B0/SECRET?token=x"),
            "https://hooks.example.com/***"
        );
        assert_eq!(
            redact("http://127.0.0.1:9000/hook"),
            "http://127.0.0.1:9000/***"
        );
        assert_eq!(redact("not a url"), "***");
    }
}
