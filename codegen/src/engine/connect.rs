//! Opening connections with bounded waits and errors a user can act on.
//!
//! The first connection is made on its own, under a timeout, before any pool exists:
//! a pool retries failed connects until its acquire timeout and then reports only
//! "timed out", hiding "connection refused" or "password authentication failed".
//!
//! What every engine shares lives here (the error type, classifying driver errors, the
//! racing first connection); each engine's pool options live in its home,
//! `engine/<name>/connect.rs`, and `inspect::connect` re-exports both under the names
//! the stages use.

use crate::config::Connection;
use sqlx::ConnectOptions;
use std::time::Duration;

/// Statements slower than this are logged at debug level: migrations and lock waits are
/// legitimately slow, and a warning on stderr would read like an error.
pub(crate) const SLOW_STATEMENT: Duration = Duration::from_secs(5);

/// Makes ring the process's TLS crypto provider, once, before any TLS connection.
///
/// rustls is built with two providers here: ring, which sqlx, mysql_async and reqwest are
/// set up for, and aws-lc-rs, which the replication client's TLS (pgwire-replication)
/// brings with rustls's default features. With two, rustls cannot pick the process's
/// default, and a client that asks it for one (mysql_async; sqlx when it checks a
/// certificate but not the host name) would panic mid-connect. Every path that opens a
/// connection calls this first; calls after the first do nothing.
pub fn crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error means a provider is already installed: the process's own choice stands.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connection `{connection}`: cannot reach {engine} at {endpoint}: {reason}")]
    Unreachable {
        connection: String,
        engine: &'static str,
        endpoint: String,
        reason: String,
    },
    #[error("connection `{connection}`: no answer from {engine} at {endpoint} within {} s; check the host, port and firewall", .waited.as_secs())]
    Timeout {
        connection: String,
        engine: &'static str,
        endpoint: String,
        waited: Duration,
    },
    #[error(
        "connection `{connection}`: {engine} at {endpoint} refused the credentials in {url}: {reason}"
    )]
    Auth {
        connection: String,
        engine: &'static str,
        endpoint: String,
        url: String,
        reason: String,
    },
    #[error(
        "connection `{connection}`: database `{database}` does not exist on {engine} at {endpoint}"
    )]
    DatabaseMissing {
        connection: String,
        engine: &'static str,
        endpoint: String,
        database: String,
    },
    #[error("connection `{connection}`: SQLite database file {path} does not exist")]
    SqliteMissing { connection: String, path: String },
    #[error("connection `{connection}` ({url}): {reason}")]
    Other {
        connection: String,
        url: String,
        reason: String,
    },
}

fn engine(conn: &Connection) -> &'static str {
    crate::engine::name(conn.url.dialect())
}

/// Maps a driver error from connecting to the most specific [`ConnectError`].
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "sqlx::Error is non_exhaustive: a catch-all is required"
)]
pub fn classify(conn: &Connection, err: sqlx::Error) -> ConnectError {
    let connection = conn.name.clone();
    let endpoint = conn.url.endpoint().unwrap_or("local file").to_string();
    let engine = engine(conn);
    let reason = conn.url.scrub(&err.to_string());
    match &err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => ConnectError::Unreachable {
            connection,
            engine,
            endpoint,
            reason,
        },
        sqlx::Error::PoolTimedOut => ConnectError::Timeout {
            connection,
            engine,
            endpoint,
            waited: conn.connect_timeout,
        },
        sqlx::Error::Database(db) => {
            // MySQL's SQLSTATE is too coarse (42000 covers most errors): use its error number.
            let code = match db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                Some(my) => my.number().to_string(),
                None => db.code().map(|c| c.to_string()).unwrap_or_default(),
            };
            match code.as_str() {
                // PostgreSQL invalid_password / invalid_authorization_specification; MySQL access denied.
                "28P01" | "28000" | "1045" => ConnectError::Auth {
                    connection,
                    engine,
                    endpoint,
                    url: conn.url.redacted().to_string(),
                    reason: conn.url.scrub(db.message()),
                },
                // PostgreSQL invalid_catalog_name; MySQL unknown database.
                "3D000" | "1049" => ConnectError::DatabaseMissing {
                    connection,
                    engine,
                    endpoint,
                    database: conn.url.database().unwrap_or("").to_string(),
                },
                _ => ConnectError::Other {
                    connection,
                    url: conn.url.redacted().to_string(),
                    reason,
                },
            }
        }
        _ => ConnectError::Other {
            connection,
            url: conn.url.redacted().to_string(),
            reason,
        },
    }
}

/// A lazy pool whose first connection is made now, under the configured timeout, and
/// kept. A direct connection attempt ([`probe`]) runs beside it, because a pool retries
/// a refused connection until its timeout and then reports only that it timed out: a
/// failing probe reports the real error at once. Racing the two instead of probing
/// first matters: sqlx 0.9 leaves Nagle's algorithm on, so each TLS handshake waits
/// twice for a delayed ACK (about 90 ms on loopback), and a probe made before the pool
/// doubled that for every pool.
pub(crate) async fn open<DB: sqlx::Database>(
    conn: &Connection,
    pool: sqlx::pool::PoolOptions<DB>,
    opts: <DB::Connection as sqlx::Connection>::Options,
) -> Result<sqlx::Pool<DB>, ConnectError> {
    crypto_provider();
    let pool = pool
        .acquire_timeout(conn.connect_timeout)
        .connect_lazy_with(opts.clone());
    let mut first = Box::pin(tokio::time::timeout(conn.connect_timeout, pool.acquire()));
    let mut probe = Box::pin(probe::<DB::Connection>(conn, &opts));
    let first = tokio::select! {
        // The pool's connection is up: the probe's is not needed.
        first = &mut first => first,
        probed = &mut probe => match probed {
            Ok(()) => first.await,
            // The pending acquire and the pool are dropped, not awaited: closing a pool
            // waits for a connection attempt that may never end.
            Err(e) => return Err(e),
        },
    };
    match first {
        Ok(Ok(c)) => {
            drop(c);
            Ok(pool)
        }
        Ok(Err(e)) => Err(classify(conn, e)),
        Err(_) => Err(classify(conn, sqlx::Error::PoolTimedOut)),
    }
}

/// Makes one connection under the configured timeout, to surface the real error.
async fn probe<C: sqlx::Connection>(
    conn: &Connection,
    opts: &<C as sqlx::Connection>::Options,
) -> Result<(), ConnectError> {
    match tokio::time::timeout(conn.connect_timeout, opts.connect()).await {
        Ok(Ok(c)) => {
            let _ = c.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(classify(conn, e)),
        Err(_) => Err(classify(conn, sqlx::Error::PoolTimedOut)),
    }
}

pub(crate) fn bad_url(conn: &Connection, e: sqlx::Error) -> ConnectError {
    ConnectError::Other {
        connection: conn.name.clone(),
        url: conn.url.redacted().to_string(),
        reason: conn.url.scrub(&e.to_string()),
    }
}
