//! MySQL/MariaDB pools: every session in UTC under one `sql_mode`.

use crate::config::Connection;
use crate::engine::connect::{ConnectError, SLOW_STATEMENT, bad_url, open};
use sqlx::ConnectOptions;
use std::str::FromStr;

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

/// A small MySQL/MariaDB pool in UTC whose sessions run under [`MYSQL_SQL_MODE`].
pub async fn pool(conn: &Connection) -> Result<sqlx::MySqlPool, ConnectError> {
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
