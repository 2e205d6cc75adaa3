//! Opening connections with bounded waits and errors a user can act on.
//!
//! The first connection is made on its own, under a timeout, before any pool exists:
//! a pool retries failed connects until its acquire timeout and then reports only
//! "timed out", hiding "connection refused" or "password authentication failed".

use crate::config::Connection;
use sqlx::ConnectOptions;
use std::str::FromStr;
use std::time::Duration;

/// Statements slower than this are logged at debug level: migrations and lock waits are
/// legitimately slow, and a warning on stderr would read like an error.
const SLOW_STATEMENT: Duration = Duration::from_secs(5);

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
    match conn.url.dialect() {
        crate::model::Dialect::Postgres => "PostgreSQL",
        crate::model::Dialect::Mysql => "MySQL/MariaDB",
        crate::model::Dialect::Sqlite => "SQLite",
    }
}

/// Maps a driver error from connecting to the most specific [`ConnectError`].
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
async fn open<DB: sqlx::Database>(
    conn: &Connection,
    pool: sqlx::pool::PoolOptions<DB>,
    opts: <DB::Connection as sqlx::Connection>::Options,
) -> Result<sqlx::Pool<DB>, ConnectError> {
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

fn bad_url(conn: &Connection, e: sqlx::Error) -> ConnectError {
    ConnectError::Other {
        connection: conn.name.clone(),
        url: conn.url.redacted().to_string(),
        reason: conn.url.scrub(&e.to_string()),
    }
}

/// A small PostgreSQL pool whose sessions resolve names in `search_path` first.
///
/// `search_path` matters: sea-schema casts `udt_name::regtype`, which only resolves enum
/// and extension types of schemas on the path.
pub async fn postgres(conn: &Connection, search_path: &str) -> Result<sqlx::PgPool, ConnectError> {
    postgres_with(conn, search_path, &[]).await
}

/// [`postgres`] with extra session settings sent in the startup packet, so they cost no
/// round trip per statement (e.g. the transfer's `IntervalStyle`).
pub async fn postgres_with(
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

/// The `sql_mode` of every MySQL/MariaDB session seaway opens. It *replaces* the server's
/// mode (sqlx only appends to it, and a user's server may run with any mode), because
/// the readers and writers rely on exactly these rules (docs/types.md, "MySQL sessions"):
///
/// - `NO_AUTO_VALUE_ON_ZERO`: a key of 0 in an `AUTO_INCREMENT` column is stored as 0.
///   Without it MySQL treats an inserted 0 as "generate an id", and a row with key 0
///   silently overwrote or duplicated another.
/// - `STRICT_ALL_TABLES`: a value the column cannot hold (out of range, too long, not a
///   date, NULL into NOT NULL) is refused, so the row goes to the reject file, instead of
///   being clamped, cut or replaced by a default with only a warning. `ALL`, not
///   `TRANS`: on a MyISAM table the transactional variant still clamps every row after
///   the first of a multi-row insert.
/// - `NO_ENGINE_SUBSTITUTION`: a `CREATE TABLE` naming an engine the server lacks fails
///   instead of silently using another one.
///
/// And, by leaving them out: no `ANSI_QUOTES` (identifiers are quoted with backticks and
/// strings with single quotes), no `NO_BACKSLASH_ESCAPES` (literals escape `\`), no
/// `PIPES_AS_CONCAT` (a `||` copied from a source expression keeps MySQL's meaning), no
/// `PAD_CHAR_TO_FULL_LENGTH` (CHAR values read without padding), no
/// `EMPTY_STRING_IS_NULL` (MariaDB; `''` stays `''`), no `TIME_TRUNCATE_FRACTIONAL`.
pub const MYSQL_SQL_MODE: &str = "NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION";

pub async fn mysql(conn: &Connection) -> Result<sqlx::MySqlPool, ConnectError> {
    let opts = sqlx::mysql::MySqlConnectOptions::from_str(conn.url.expose())
        .map_err(|e| bad_url(conn, e))?
        .timezone(Some("+00:00".to_string()))
        // sqlx would append these to the server's mode; the pool's `after_connect` sets
        // the whole mode instead.
        .pipes_as_concat(false)
        .no_engine_substitution(false)
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Debug, SLOW_STATEMENT);
    open(
        conn,
        sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(8)
            .after_connect(|c, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    c.execute(sqlx::AssertSqlSafe(format!(
                        "SET SESSION sql_mode = '{MYSQL_SQL_MODE}'"
                    )))
                    .await
                    .map(drop)
                })
            }),
        opts,
    )
    .await
}

/// Opens an existing SQLite file read-only: introspection must never create or change it.
pub async fn sqlite(conn: &Connection) -> Result<sqlx::SqlitePool, ConnectError> {
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
pub async fn sqlite_writable(
    conn: &Connection,
    create: bool,
) -> Result<sqlx::SqlitePool, ConnectError> {
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
