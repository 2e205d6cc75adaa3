//! The compatibility endpoints of a universal migration service: `POST /test-connection`
//! (which step of reaching a database fails) and `POST /migrate` (schema, rows and
//! indexes from one server to another, answered when done).
//!
//! Their connections may come inline, with a password. That password lives in this
//! request's memory only: the job recorded for a `/migrate` run names its connections
//! by `user@host:port/database`, its scratch project (migration files, transfer state)
//! is a temporary folder removed at the end, and a run cut short by a restart is marked
//! failed rather than resumed. Only hosts on the allow list are contacted, and the list
//! is checked before any lookup.

use super::allow_hosts::CONNECT_TIMEOUT;
use super::app::App;
use super::auth::Operator;
use super::problem::Problem;
use super::spec::{JobKind, JobRequest, StrictJson, check_name};
use super::store::JobState;
use super::work::{Outcome, Plan};
use axum::extract::State;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use seaway_codegen::config::{Config, Connection, Pattern, VarSource};
use seaway_codegen::dburl::DbUrl;
use seaway_codegen::inspect::ConnectError;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// Where a database is, as the compatibility bodies give it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub host: String,
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    pub database: String,
    pub username: Option<String>,
    /// Used for this request only; never stored, logged or returned.
    pub password: Option<String>,
}

/// `POST /test-connection`: a connection of the server's config by name, or an engine
/// and an endpoint.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestConnectionRequest {
    /// A connection name from the server's seaway.yaml.
    pub connection: Option<String>,
    /// postgresql, mysql or mariadb (with the endpoint fields).
    #[serde(rename = "type")]
    pub engine: Option<String>,
    pub host: Option<String>,
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    pub database: Option<String>,
    pub username: Option<String>,
    /// Used for this request only; never stored, logged or returned.
    pub password: Option<String>,
}

/// Which step of reaching a database failed.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Dns,
    Tcp,
    Tls,
    Credentials,
    Database,
    /// Anything else the server answered.
    Server,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestConnectionResponse {
    pub success: bool,
    /// The step that failed, when one did.
    pub failed_step: Option<Step>,
    /// What happened (no password).
    pub message: String,
    pub server_version: Option<String>,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    #[default]
    Full,
    Incremental,
}

/// `POST /migrate`: the body of a universal migration service.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateRequest {
    /// postgresql, mysql or mariadb.
    pub source_type: String,
    pub dest_type: String,
    pub source: Endpoint,
    pub destination: Endpoint,
    #[serde(default)]
    pub operation_type: Operation,
    /// For `incremental`: rows changed after this time.
    pub last_sync_time: Option<String>,
    /// Source tables to migrate (default: all).
    #[serde(default)]
    pub tables: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TableMigrated {
    pub table: String,
    /// Rows the destination holds from the copy.
    pub records: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TableFailed {
    pub table: String,
    pub error: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MigrateResponse {
    pub success: bool,
    /// The job recorded for this run (`GET /api/jobs/{id}`).
    pub job: i64,
    pub tables_migrated: Vec<TableMigrated>,
    pub tables_failed: Vec<TableFailed>,
    pub total_tables: usize,
    pub errors: Vec<String>,
}

/// The URL scheme of an engine name as the compatibility bodies spell it.
fn scheme(field: &str, engine: &str) -> Result<&'static str, Problem> {
    match engine.to_ascii_lowercase().as_str() {
        "postgresql" | "postgres" => Ok("postgres"),
        "mysql" | "mariadb" => Ok("mysql"),
        _ => Err(Problem::bad_request(format!(
            "{field}: `{engine}` is not an engine this server connects to; use postgresql, mysql or mariadb"
        ))),
    }
}

/// A host name or address: letters, digits, `.`, `-`, `_`, or an IPv6 literal.
fn check_host(field: &str, host: &str) -> Result<(), Problem> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'));
    if ok {
        Ok(())
    } else {
        Err(Problem::bad_request(format!(
            "{field}: `{}` is not a host name or address",
            host.chars().take(80).collect::<String>()
        )))
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "postgres" { 5432 } else { 3306 }
}

/// An inline connection, after the allow list said yes. The URL exists only in memory.
fn inline_connection(
    app: &App,
    field: &str,
    engine: &str,
    e: &Endpoint,
) -> Result<Connection, Problem> {
    let scheme = scheme(&format!("{field}_type"), engine)?;
    check_host(&format!("{field}.host"), &e.host)?;
    app.allow.check(&format!("{field}.host"), &e.host)?;
    // Written into the URL as it is: a name that would need escaping there is refused.
    if e.database.is_empty()
        || !e
            .database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'))
    {
        return Err(Problem::bad_request(format!(
            "{field}.database: `{}` is not a database name this endpoint takes (letters, digits, `_`, `-`, `.`, `$`)",
            e.database.chars().take(80).collect::<String>()
        )));
    }
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let user = e.username.as_deref().map(enc).unwrap_or_default();
    let userinfo = match (&e.username, &e.password) {
        (_, Some(pw)) => format!("{user}:{}@", enc(pw)),
        (Some(_), None) => format!("{user}@"),
        (None, None) => String::new(),
    };
    let text = format!(
        "{scheme}://{userinfo}{}:{}/{}",
        e.host,
        e.port.unwrap_or(default_port(scheme)),
        e.database
    );
    let url = DbUrl::parse(&text, std::path::Path::new("."))
        .map_err(|err| Problem::bad_request(format!("{field}: {err}")))?;
    Ok(Connection {
        name: field.to_string(),
        url,
        schema: None,
        connect_timeout: CONNECT_TIMEOUT,
    })
}

/// Which step a connection error is.
fn step_of(e: &ConnectError) -> Step {
    match e {
        ConnectError::Unreachable { reason, .. } => {
            let r = reason.to_ascii_lowercase();
            if r.contains("tls") || r.contains("certificate") || r.contains("handshake") {
                Step::Tls
            } else {
                Step::Tcp
            }
        }
        ConnectError::Timeout { .. } => Step::Tcp,
        ConnectError::Auth { .. } => Step::Credentials,
        ConnectError::DatabaseMissing { .. } | ConnectError::SqliteMissing { .. } => Step::Database,
        ConnectError::Other { .. } => Step::Server,
    }
}

/// Looks the host up and opens a TCP connection, each under the short timeout.
async fn reach(host: &str, port: u16) -> Result<(), (Step, String)> {
    let lookup = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| {
            (
                Step::Dns,
                format!(
                    "looking up `{host}` took longer than {} s",
                    CONNECT_TIMEOUT.as_secs()
                ),
            )
        })?
        .map_err(|e| (Step::Dns, format!("`{host}` does not resolve: {e}")))?;
    let addrs: Vec<_> = lookup.collect();
    if addrs.is_empty() {
        return Err((Step::Dns, format!("`{host}` resolves to no address")));
    }
    let mut last = String::new();
    for addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        }
    }
    Err((
        Step::Tcp,
        format!("cannot open a TCP connection to {host}:{port} ({last})"),
    ))
}

/// Connects step by step (DNS, TCP, then the server: TLS, credentials, database) and
/// says which step failed (operator).
#[utoipa::path(post, path = "/test-connection", tag = "service",
    security(("bearer" = []), ("session" = [])),
    request_body = TestConnectionRequest,
    responses(
        (status = 200, description = "Whether each step passed", body = TestConnectionResponse),
        (status = 400, description = "Refused, with no connection made: a host off the allow list, an unknown connection name", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn test_connection(
    State(app): State<Arc<App>>,
    Operator(_caller): Operator,
    StrictJson(req): StrictJson<TestConnectionRequest>,
) -> Result<axum::Json<TestConnectionResponse>, Problem> {
    let started = std::time::Instant::now();
    let conn = match (&req.connection, &req.engine) {
        (Some(name), None) => app.config.connections.get(name).cloned().ok_or_else(|| {
            Problem::bad_request(format!(
                "connection: `{name}` is not a connection of the server's config; connections are: {}",
                app.config.connection_names()
            ))
        })?,
        (None, Some(engine)) => {
            let (Some(host), Some(database)) = (&req.host, &req.database) else {
                return Err(Problem::bad_request(
                    "with `type`, give `host` and `database` (and `port`, `username`, `password` as needed)",
                ));
            };
            inline_connection(
                &app,
                "connection",
                engine,
                &Endpoint {
                    host: host.clone(),
                    port: req.port,
                    database: database.clone(),
                    username: req.username.clone(),
                    password: req.password.clone(),
                },
            )?
        }
        _ => {
            return Err(Problem::bad_request(
                "give either `connection` (a name from the server's config) or `type` with `host` and `database`",
            ));
        }
    };
    let answer = |failed_step: Option<Step>, message: String, server_version: Option<String>| {
        axum::Json(TestConnectionResponse {
            success: failed_step.is_none(),
            failed_step,
            message: conn.url.scrub(&message),
            server_version,
            elapsed_ms: started.elapsed().as_millis() as u64,
        })
    };
    if let Some(endpoint) = conn.url.endpoint() {
        let (host, port) = match endpoint.rsplit_once(':') {
            Some((h, p)) => (
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse().unwrap_or(0),
            ),
            None => (endpoint, 0),
        };
        if let Err((step, message)) = reach(host, port).await {
            return Ok(answer(Some(step), message, None));
        }
    }
    match crate::ping::ping(&conn).await {
        Ok(p) => Ok(answer(
            None,
            format!("connected to {} in {} ms", p.url, p.round_trip.as_millis()),
            Some(p.server_version),
        )),
        Err(e) => Ok(answer(Some(step_of(&e)), e.to_string(), None)),
    }
}

/// JSON text for a YAML value: a JSON string is a valid YAML scalar, and `$` is doubled
/// so the config reader never expands a variable from it.
fn yaml_str(text: &str) -> String {
    serde_json::Value::String(text.replace('$', "$$")).to_string()
}

/// Copies schema, rows and indexes from one server to another and answers when done
/// (operator). Connections come inline; their passwords are used for this request only.
#[utoipa::path(post, path = "/migrate", tag = "service",
    security(("bearer" = []), ("session" = [])),
    request_body = MigrateRequest,
    responses(
        (status = 200, description = "The run's result, table by table", body = MigrateResponse),
        (status = 400, description = "Refused, with no connection made: a host off the allow list, an unknown engine, SQL text, `${VAR}`", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A run between the same two databases is going", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn migrate(
    State(app): State<Arc<App>>,
    Operator(caller): Operator,
    StrictJson(req): StrictJson<MigrateRequest>,
) -> Result<axum::Json<MigrateResponse>, Problem> {
    let source = inline_connection(&app, "source", &req.source_type, &req.source)?;
    let destination = inline_connection(&app, "destination", &req.dest_type, &req.destination)?;
    if req.operation_type == Operation::Incremental {
        return Err(Problem::bad_request(
            "operation_type: `incremental` needs each table's watermark column, which only the server's seaway.yaml names (mappings.<table>.watermark with transfer.mode: incremental); run a transfer job for that, or send `full`",
        ));
    }
    if req.last_sync_time.is_some() {
        return Err(Problem::bad_request(
            "last_sync_time: only used with operation_type `incremental`",
        ));
    }
    for (i, t) in req.tables.iter().enumerate() {
        check_name(&format!("tables[{i}]"), t)?;
    }
    let workdir = tempfile::Builder::new()
        .prefix("seaway-migrate-")
        .tempdir()
        .map_err(|e| Problem::internal(format!("cannot make a scratch folder: {e}")))?;
    let path = workdir.path().join("seaway.yaml");
    let text = format!(
        "connections:\n  source:\n    url: {}\n    connect_timeout: {secs}\n  destination:\n    url: {}\n    connect_timeout: {secs}\nsource: source\ndestination: destination\n",
        yaml_str(source.url.expose()),
        yaml_str(destination.url.expose()),
        secs = CONNECT_TIMEOUT.as_secs(),
    );
    let mut config = Config::from_text(&path, &text, &VarSource::default()).map_err(|e| {
        Problem::bad_request(source.url.scrub(&destination.url.scrub(&e.to_string())))
    })?;
    // A database that was a /migrate destination holds seaway's ledger: never copied.
    config
        .tables
        .exclude
        .push(Pattern::literal(seaway_codegen::diff::LEDGER_TABLE).map_err(Problem::internal)?);
    if !req.tables.is_empty() {
        config.tables.include = req
            .tables
            .iter()
            .map(|t| Pattern::literal(t))
            .collect::<Result<_, _>>()
            .map_err(Problem::bad_request)?;
    }
    let spec = serde_json::json!({
        "source": source.url.redacted(),
        "destination": destination.url.redacted(),
        "operation_type": "full",
        "tables": req.tables,
    });
    let id = app
        .store
        .create(
            JobKind::Migrate.as_str(),
            &spec.to_string(),
            &caller.name,
            true,
        )
        .await?;
    app.store
        .audit(&caller.name, "migrate", Some(id), None)
        .await?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let plan = Plan {
        kind: JobKind::Migrate,
        request: JobRequest {
            kind: JobKind::Migrate,
            source: None,
            destination: None,
            tables: Vec::new(),
            renames: Default::default(),
            columns: Default::default(),
            masks: Default::default(),
            chunk_size: None,
            batch_size: None,
            workers: None,
            webhook: None,
        },
        config,
        restart: true,
        workdir: Some(workdir),
    };
    if let Err(e) = app.jobs.start(id, plan, Some(done_tx)) {
        app.store
            .set_state(id, JobState::Failed, Some(&e.to_string()))
            .await?;
        return Err(e.into());
    }
    let outcome = done_rx
        .await
        .unwrap_or(Outcome::Failed("the run ended without a result".into()));
    let tables = app.store.tables(id).await?;
    let mut errors = Vec::new();
    match &outcome {
        Outcome::Succeeded => {}
        Outcome::Failed(e) => errors.push(e.clone()),
        Outcome::Cancelled => errors.push("cancelled".into()),
        Outcome::Interrupted => errors.push("the server is shutting down".into()),
    }
    Ok(axum::Json(MigrateResponse {
        success: matches!(outcome, Outcome::Succeeded),
        job: id,
        total_tables: tables.len(),
        tables_migrated: tables
            .iter()
            .filter(|t| t.error.is_none() && t.state == "done")
            .map(|t| TableMigrated {
                table: t.tbl.clone(),
                records: t.rows_done,
            })
            .collect(),
        tables_failed: tables
            .iter()
            .filter(|t| t.error.is_some() || t.state != "done")
            .map(|t| TableFailed {
                table: t.tbl.clone(),
                error: t.error.clone().unwrap_or_else(|| "not copied".into()),
            })
            .collect(),
        errors,
    }))
}
