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
    open(
        conn,
        sqlx::postgres::PgPoolOptions::new().max_connections(8),
        options(conn, search_path, settings)?,
    )
    .await
}

/// One session (a pool of a single connection) that runs `setup` as it connects, so
/// that every statement through it runs with what `setup` set for the session (sync
/// both ways: the replication origin its transactions carry, which only one session at
/// a time may hold).
pub async fn session(
    conn: &Connection,
    search_path: &str,
    setup: String,
) -> Result<sqlx::PgPool, ConnectError> {
    let setup: std::sync::Arc<str> = setup.into();
    open(
        conn,
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .after_connect(move |c, _| {
                let setup = setup.clone();
                Box::pin(async move {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(setup.to_string()))
                        .execute(c)
                        .await
                        .map(|_| ())
                })
            }),
        options(conn, search_path, &[])?,
    )
    .await
}

fn options(
    conn: &Connection,
    search_path: &str,
    settings: &[(&str, &str)],
) -> Result<sqlx::postgres::PgConnectOptions, ConnectError> {
    Ok(
        sqlx::postgres::PgConnectOptions::from_str(conn.url.expose())
            .map_err(|e| bad_url(conn, e))?
            .options([("search_path", search_path), ("TimeZone", "UTC")])
            .options(settings.iter().copied())
            .log_statements(tracing::log::LevelFilter::Debug)
            .log_slow_statements(tracing::log::LevelFilter::Debug, SLOW_STATEMENT),
    )
}
