//! PostgreSQL pools: every session in UTC, names resolved in the given `search_path`.

use crate::config::Connection;
use crate::engine::connect::{ConnectError, SLOW_STATEMENT, bad_url, open};
use sqlx::ConnectOptions;
use std::str::FromStr;

/// A small PostgreSQL pool whose sessions resolve names in `search_path` first.
///
/// `search_path` matters: sea-schema casts `udt_name::regtype`, which only resolves enum
/// and extension types of schemas on the path.
pub async fn pool(conn: &Connection, search_path: &str) -> Result<sqlx::PgPool, ConnectError> {
    pool_with(conn, search_path, &[]).await
}

/// [`pool`] with extra session settings sent in the startup packet, so they cost no
/// round trip per statement (e.g. the transfer's `IntervalStyle`).
pub async fn pool_with(
    conn: &Connection,
    search_path: &str,
    settings: &[(&str, &str)],
) -> Result<sqlx::PgPool, ConnectError> {
    let opts = sqlx::postgres::PgConnectOptions::from_str(conn.url.expose())
        .map_err(|e| bad_url(conn, e))?
        .options([("search_path", search_path), ("TimeZone", "UTC")])
        .options(settings.iter().copied())
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Debug, SLOW_STATEMENT);
    open(
        conn,
        sqlx::postgres::PgPoolOptions::new().max_connections(8),
        opts,
    )
    .await
}
