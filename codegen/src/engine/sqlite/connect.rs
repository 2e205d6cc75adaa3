//! SQLite pools of one connection: read-only for a source, writable for a destination.

use crate::config::Connection;
use crate::engine::connect::{ConnectError, SLOW_STATEMENT, open};
use sqlx::ConnectOptions;

/// Opens an existing SQLite file read-only: introspection must never create or change it.
pub async fn read_only(conn: &Connection) -> Result<sqlx::SqlitePool, ConnectError> {
    let path = conn
        .url
        .sqlite_path()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    if !path.is_file() {
        return Err(ConnectError::SqliteMissing {
            connection: conn.name.clone(),
            path: path.display().to_string(),
        });
    }
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .read_only(true)
        .create_if_missing(false)
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Debug, SLOW_STATEMENT);
    open(
        conn,
        sqlx::sqlite::SqlitePoolOptions::new().max_connections(1),
        opts,
    )
    .await
}

/// Opens an SQLite file for writing (a destination), creating it when `create` is set.
/// Waits up to the connect timeout for another writer's lock instead of failing at once.
pub async fn writable(conn: &Connection, create: bool) -> Result<sqlx::SqlitePool, ConnectError> {
    let path = conn
        .url
        .sqlite_path()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    if !create && !path.is_file() {
        return Err(ConnectError::SqliteMissing {
            connection: conn.name.clone(),
            path: path.display().to_string(),
        });
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| ConnectError::Other {
            connection: conn.name.clone(),
            url: conn.url.redacted().to_string(),
            reason: format!("cannot create {}: {e}", dir.display()),
        })?;
    }
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(create)
        .busy_timeout(conn.connect_timeout)
        .foreign_keys(false)
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Debug, SLOW_STATEMENT);
    open(
        conn,
        sqlx::sqlite::SqlitePoolOptions::new().max_connections(1),
        opts,
    )
    .await
}
