//! `migrator serve`: an HTTP service over the migrator. Jobs (transfer, verify, apply,
//! schema diff+apply)
//! over the connections of the server's seaway.yaml, kept in the transfer's state store
//! and resumed when the server restarts; their progress as Server-Sent Events; the
//! `/test-connection` and `/migrate` endpoints of a universal migration service; a
//! dashboard; webhooks when a job ends. Access is by bearer token with a role, or the
//! dashboard's session cookie with a CSRF token.
//!
//! Modules: `api` (routes and the OpenAPI document), `auth` (tokens, sessions, CSRF),
//! `spec` (what a job request may say), `store` (jobs in the state store), `work` (what
//! each kind of job does), `jobs` (running them), `view` (a job as shown), `app`, `events` (SSE), `migrate` (the compatibility endpoints),
//! `allow_hosts`, `webhook`, `dashboard`, `problem` (error documents).

pub mod allow_hosts;
pub mod api;
pub mod app;
pub mod auth;
mod dashboard;
pub mod events;
pub mod jobs;
pub mod migrate;
mod openapi;
pub mod problem;
pub mod spec;
pub mod store;
pub mod view;
pub mod webhook;
pub mod work;
pub mod workers;

use allow_hosts::AllowHosts;
use app::App;
use auth::{Auth, AuthError};
use axum::Router;
use axum::http::{HeaderValue, header};
use events::Hub;
use jobs::Jobs;
use seaway_codegen::config::Config;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use store::{JobStore, StoreError};

/// How long a shutdown waits for running jobs to stop at their next checkpoint.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}; pick another --bind address or port")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
}

/// The API's OpenAPI document, as served at `/openapi.json` and checked in as
/// `migrator/openapi.json`.
pub fn document() -> String {
    let (_, doc) = api::routes().split_for_parts();
    doc.to_pretty_json()
        .map(|json| json + "\n")
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}\n"))
}

/// The whole service: API, `/openapi.json` and the dashboard.
pub fn router(app: Arc<App>) -> Router {
    let (api, _) = api::routes().split_for_parts();
    api.route("/openapi.json", axum::routing::get(openapi_json))
        .merge(dashboard::pages())
        .with_state(app)
        .layer(axum::middleware::map_response(security_headers))
}

/// The document, to any holder of a token.
async fn openapi_json(_caller: auth::Caller) -> impl axum::response::IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document())
}

/// No framing, no sniffing, and scripts, styles and connections from this origin only.
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Resolves when the process is asked to stop (SIGTERM or Ctrl-C).
async fn stop_signal() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Serves until SIGTERM or Ctrl-C; then running jobs are stopped at their next
/// checkpoint (left `running` in the store, to resume on restart) and streams end.
/// `on_listening` hears the bound address (with `--bind host:0`, the port chosen).
pub async fn serve(
    config: Config,
    bind: SocketAddr,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let auth = Auth::new(&config, std::env::var(auth::TOKENS_ENV).ok().as_deref())?;
    let store = JobStore::open(&config).await?;
    let hub = Hub::new();
    let jobs = Arc::new(Jobs::new(
        store.clone(),
        hub.clone(),
        config.webhook.clone(),
    ));
    let app = Arc::new(App {
        allow: AllowHosts::from_config(&config),
        config,
        auth,
        store,
        jobs: Arc::clone(&jobs),
        hub: hub.clone(),
    });
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| ServeError::Bind { addr: bind, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr: bind, source })?;
    let resumed = jobs.resume_all(&app.config).await?;
    if !resumed.is_empty() {
        tracing::warn!(
            "resumed job(s) {} left running by the previous server",
            resumed
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    on_listening(addr);
    let shutdown = async move {
        stop_signal().await;
        jobs.shutdown(SHUTDOWN_GRACE).await;
        hub.close();
    };
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)
}
