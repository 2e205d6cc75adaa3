//! The dashboard: one static page with a little JavaScript (no build step, no library),
//! which signs in with a token once (`POST /login` sets an HttpOnly, SameSite=Strict
//! session cookie), reads the jobs once and then follows them through the SSE streams:
//! it never polls. The page and its assets carry no data, so they need no token; all
//! data comes from the API under the session.

use super::app::App;
use super::auth::{self, Caller, Via};
use super::problem::Problem;
use super::spec::StrictJson;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use seaway_codegen::config::Role;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

const INDEX: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/dashboard.js");
const STYLE: &str = include_str!("dashboard/dashboard.css");

/// The caller of a cookie session, with the CSRF token its page must send.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub name: String,
    pub role: String,
    /// For `X-CSRF-Token` on state-changing requests; only with a session cookie.
    pub csrf_token: Option<String>,
    /// The connections of the server's config, which jobs name.
    pub connections: Vec<String>,
    pub default_source: String,
    pub default_destination: Option<String>,
}

impl SessionView {
    pub fn new(app: &App, name: String, role: Role, csrf_token: Option<String>) -> SessionView {
        SessionView {
            name,
            role: role.as_str().into(),
            csrf_token,
            connections: app.config.connections.keys().cloned().collect(),
            default_source: app.config.source.clone(),
            default_destination: app.config.destination.clone(),
        }
    }
}

/// `POST /login`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// A bearer token of the server.
    pub token: String,
}

/// Opens a dashboard session for a token: sets the session cookie and answers the CSRF
/// token the page must send with every state-changing request.
#[utoipa::path(post, path = "/login", tag = "access",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = SessionView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(app): State<Arc<App>>,
    StrictJson(req): StrictJson<LoginRequest>,
) -> Result<Response, Problem> {
    let (name, role) = app
        .auth
        .check_token(req.token.trim())
        .ok_or_else(|| Problem::unauthorized("the token is not one this server knows"))?;
    let (id, csrf) = app.auth.open_session(name.clone(), role)?;
    let body = SessionView::new(&app, name, role, Some(csrf));
    Ok((
        [(header::SET_COOKIE, auth::session_cookie(&id))],
        axum::Json(body),
    )
        .into_response())
}

/// Ends the dashboard session (its CSRF token is required, like any state change).
#[utoipa::path(post, path = "/logout", tag = "access",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Signed out; the cookie is cleared"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: axum::http::HeaderMap,
) -> Response {
    if caller.via == Via::Session
        && let Some(id) = auth::cookie_in(&headers, auth::SESSION_COOKIE)
    {
        app.auth.close_session(id);
    }
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, auth::cleared_cookie())],
    )
        .into_response()
}

fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        INDEX,
    )
        .into_response()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The page (at `/` and `/jobs/{id}`: the script shows what the path names) and its
/// assets.
pub fn pages() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(|| async { page() }))
        .route("/jobs/{id}", get(|| async { page() }))
        .route(
            "/assets/dashboard.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/assets/dashboard.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}
