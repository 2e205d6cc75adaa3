//! Keeping two `migrator apply` runs apart.
//!
//! PostgreSQL and MySQL take a session lock on the one connection that applies. It is
//! held until that connection closes, so a run that ends, fails or is killed releases it
//! without any cleanup step. SQLite has no session locks: each section's
//! `BEGIN IMMEDIATE` takes the database's write lock (waiting up to `busy_timeout`), and
//! the section re-reads its ledger row once it holds it.
//!
//! A waiting run gives up after a bound and says who holds the lock, rather than hanging.

use seaway_codegen::config::Connection;
use sqlx::{MySqlConnection, PgConnection, SqliteConnection};
use std::time::Duration;

/// The `pg_advisory_lock` key of `migrator apply` ("seaway" in ASCII). PostgreSQL
/// advisory locks are per database, so two destinations on one server never wait for
/// each other.
pub const POSTGRES_LOCK_KEY: i64 = 0x7365_6177_6179;

/// How long a run waits for another one unless told otherwise (`--lock-timeout`).
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(30);

/// The MySQL `GET_LOCK` name for `database`. Those names are server-wide, unlike
/// PostgreSQL's advisory locks, so the database is part of the name; MySQL caps names
/// at 64 characters.
pub fn mysql_lock_name(database: &str) -> String {
    let mut name = format!("seaway_apply.{database}");
    if let Some((cut, _)) = name.char_indices().nth(64) {
        name.truncate(cut);
    }
    name
}

/// The wait bound: as requested, else 30 s or the connection's connect_timeout if longer
/// (a user who allows a slow network allows a slow peer too).
pub(crate) fn wait_bound(conn: &Connection, requested: Option<Duration>) -> Duration {
    requested.unwrap_or(DEFAULT_LOCK_WAIT.max(conn.connect_timeout))
}

/// Takes the advisory lock, waiting at most `wait`. `Ok(false)`: another session holds it.
pub(crate) async fn postgres(conn: &mut PgConnection, wait: Duration) -> Result<bool, sqlx::Error> {
    // lock_timeout 0 means "wait forever", so never pass 0.
    let ms = wait.as_millis().max(1);
    sqlx::query("SELECT set_config('lock_timeout', $1, false)")
        .bind(format!("{ms}ms"))
        .execute(&mut *conn)
        .await?;
    let taken = sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(POSTGRES_LOCK_KEY)
        .execute(&mut *conn)
        .await;
    // Migrations run under the session's normal lock_timeout.
    sqlx::raw_sql("RESET lock_timeout")
        .execute(&mut *conn)
        .await?;
    match taken {
        Ok(_) => Ok(true),
        // lock_not_available: lock_timeout expired.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => Ok(false),
        Err(e) => Err(e),
    }
}

/// Takes the named lock, waiting at most `wait` (whole seconds). `Ok(false)`: held elsewhere.
pub(crate) async fn mysql(
    conn: &mut MySqlConnection,
    name: &str,
    wait: Duration,
) -> Result<bool, sqlx::Error> {
    let seconds = i64::try_from(wait.as_secs()).unwrap_or(i64::MAX);
    // 1 = taken, 0 = timed out, NULL = the wait was interrupted.
    let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
        .bind(name)
        .bind(seconds)
        .fetch_one(&mut *conn)
        .await?;
    Ok(got == Some(1))
}

/// SQLite locks per transaction: this only sets how long `BEGIN IMMEDIATE` waits.
pub(crate) async fn sqlite(
    conn: &mut SqliteConnection,
    wait: Duration,
) -> Result<bool, sqlx::Error> {
    let ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {ms}")))
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// SQLITE_BUSY or SQLITE_LOCKED (any extended code): another connection holds the lock.
pub(crate) fn sqlite_busy(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
    matches!(code & 0xff, 5 | 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_lock_names_carry_the_database_within_64_characters() {
        assert_eq!(mysql_lock_name("shop"), "seaway_apply.shop");
        assert_eq!(mysql_lock_name(&"x".repeat(64)).chars().count(), 64);
    }
}
