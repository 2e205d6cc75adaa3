//! SQLite: multi-row `INSERT ... ON CONFLICT DO UPDATE` inside one transaction per
//! page, each statement under SQLite's 32,766-placeholder limit; into a key range the
//! file does not hold yet, plain inserts (a page), or a whole chunk in one transaction
//! (`first_load.rs`, fed by transfer's row pipe).
//!
//! The pool has one connection (one writer per file), and a chunk's first load holds it
//! for the whole chunk: every use of it takes [`LiteWriter::turn`] first, so a second
//! worker waits its turn on a lock without a deadline instead of on the pool, whose
//! acquire gives up after the connect timeout.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use crate::rows::plan::Target;
use crate::rows::values::{self, Family};
use crate::rows::write::outcome::{WriteError, Written};
use crate::rows::write::sql::{KeyCheck, MultiRowInsert, non_keys};
use seaway_codegen::engine::quote_ident as quote;
use seaway_codegen::model::Dialect;
use sqlx::Sqlite;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;

pub mod first_load;

const MAX_PLACEHOLDERS: usize = 32_766;

#[derive(Debug)]
pub struct LiteWriter {
    pub pool: sqlx::SqlitePool,
    /// Held by whoever uses the pool's one connection (see the module's comment).
    turn: tokio::sync::Mutex<()>,
}

/// The writer's connection, for as long as it is held, with the turn that lets no other
/// task wait on the pool meanwhile.
pub struct Turn<'w> {
    conn: sqlx::pool::PoolConnection<Sqlite>,
    _turn: tokio::sync::MutexGuard<'w, ()>,
}

impl std::fmt::Debug for Turn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Turn")
    }
}

impl std::ops::Deref for Turn<'_> {
    type Target = sqlx::SqliteConnection;
    fn deref(&self) -> &sqlx::SqliteConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Turn<'_> {
    fn deref_mut(&mut self) -> &mut sqlx::SqliteConnection {
        &mut self.conn
    }
}

pub(crate) fn placeholder(t: &Target) -> &'static str {
    match (Family::of(&t.ty), t.source) {
        (Family::Bytes, Family::Bytes | Family::Bit) => "unhex(?)",
        _ => "?",
    }
}

/// Canonical text in SQLite's input syntax, where it differs (`None`: as it is).
pub(crate) fn input(t: &Target, v: &str) -> Option<String> {
    match (t.source, Family::of(&t.ty)) {
        (Family::TimestampTz, Family::TimestampTz) => Some(format!("{v}+00:00")),
        // `timetz` -> `TIME` drops the zone (lossy): stored as the UTC time of day.
        (Family::TimeTz, Family::Time) => values::timetz_to_utc(v),
        // bit strings -> BLOB (lossy: a `varbit` loses its length): the bytes MySQL
        // stores for `BIT(n)`, so a reader of the BLOB sees what a MySQL driver returns.
        (Family::Bit, Family::Bytes) => values::bits_to_hex(v),
        _ => None,
    }
}

/// Binds one canonical value, converted for SQLite ([`input`]).
pub(crate) fn bind<'q>(
    query: Query<'q, Sqlite, SqliteArguments>,
    t: &Target,
    v: Option<&str>,
) -> Query<'q, Sqlite, SqliteArguments> {
    bind_input(query, t, crate::rows::write::sql::for_input(input, t, v))
}

/// Binds one value already in SQLite's input syntax: as text, except `other` columns,
/// which arrive as SQLite literals (read.rs) and are bound back as the storage class they
/// name, so a blob stays a blob and an integer an integer.
fn bind_input<'q>(
    query: Query<'q, Sqlite, SqliteArguments>,
    t: &Target,
    v: Option<String>,
) -> Query<'q, Sqlite, SqliteArguments> {
    if !(Family::of(&t.ty) == Family::Other && t.source == Family::Other) {
        return query.bind(v);
    }
    let Some(v) = v.as_deref() else {
        return query.bind(None::<String>);
    };
    if let Some(hex) = v
        .strip_prefix("X'")
        .or_else(|| v.strip_prefix("x'"))
        .and_then(|h| h.strip_suffix('\''))
        && let Some(bytes) = values::from_hex(hex)
    {
        return query.bind(bytes);
    }
    if let Some(text) = v.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return query.bind(text.replace("''", "'"));
    }
    if let Ok(i) = v.parse::<i64>() {
        return query.bind(i);
    }
    match v.parse::<f64>() {
        Ok(f) => query.bind(f),
        Err(_) => query.bind(v.to_string()),
    }
}

/// Appends one canonical value as the row pipe's text (`COPY`'s escapes), converted for
/// SQLite as the upsert converts it ([`input`]); [`first_load::FirstLoad::rows`] reads
/// it back. Every value can travel this way.
pub fn pipe_value(t: &Target, v: Option<&str>, out: &mut String) -> bool {
    match v.and_then(|v| input(t, v).or_else(|| crate::rows::write::sql::common_input(t, v))) {
        Some(converted) => values::copy_escape(Some(&converted), out),
        None => values::copy_escape(v, out),
    }
    true
}

impl LiteWriter {
    pub fn new(pool: sqlx::SqlitePool) -> LiteWriter {
        LiteWriter {
            pool,
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// The connection, once no other task holds it (see the module's comment).
    pub async fn turn(&self) -> Result<Turn<'_>, sqlx::Error> {
        let turn = self.turn.lock().await;
        Ok(Turn {
            conn: self.pool.acquire().await?,
            _turn: turn,
        })
    }

    /// Whether `table` holds no row with `key` in `(lo, hi]` (`rows::write::sql`), so a
    /// chunk can take the first-load path.
    pub async fn range_is_empty(
        &self,
        table: &str,
        key: Option<&str>,
        range: (Option<i64>, Option<i64>),
    ) -> Result<bool, sqlx::Error> {
        let mut conn = self.turn().await?;
        crate::rows::write::sql::range_is_empty(&mut *conn, Dialect::Sqlite, table, key, range)
            .await
    }

    /// Inserts a page into a key range that was empty (`range_is_empty`): plain multi-row
    /// inserts in one transaction, no presence check, kept only if SQLite took every row
    /// (a refused row fails its statement, and the caller upserts the page instead).
    pub async fn insert_fresh(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<Written, WriteError> {
        let mut conn = self.turn().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let insert =
            MultiRowInsert::new(Dialect::Sqlite, table, targets, placeholder, String::new());
        let inserted = send(&mut tx, &insert, targets, rows).await?;
        if inserted != rows.len() as u64 {
            return Err(WriteError::Declined(format!(
                "SQLite took {inserted} of {} rows",
                rows.len()
            )));
        }
        tx.commit().await?;
        Ok(Written::inserted(inserted))
    }

    /// Upserts in one transaction: `INSERT ... ON CONFLICT DO UPDATE ... WHERE <the row
    /// differs>`, so a row the table already holds exactly is not written (no UPDATE
    /// trigger fires). SQLite's change count covers inserted and updated rows alike, so
    /// the keys present are counted before and after: the difference is the inserted
    /// rows, and the after-count proves every key sent arrived.
    pub async fn upsert(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<Written, WriteError> {
        let mut conn = self.turn().await?;
        upsert_on(&mut conn, table, targets, rows).await
    }
}

/// The upsert of [`LiteWriter::upsert`] on an open connection, inside the caller's
/// transaction if it has one (`sync`; its own transaction is then a savepoint).
pub(crate) async fn upsert_on(
    conn: &mut sqlx::SqliteConnection,
    table: &str,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
) -> Result<Written, WriteError> {
    if rows.is_empty() {
        return Ok(Written::default());
    }
    if !targets.iter().any(|t| t.is_key) {
        return insert_plain(conn, table, targets, rows)
            .await
            .map(Written::inserted);
    }
    let sent = crate::rows::write::sql::distinct_keys(targets, rows);
    let per_check = MAX_PLACEHOLDERS / targets.iter().filter(|t| t.is_key).count().max(1);
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let before = crate::rows::write::sql::count_present::<Sqlite>(
        &mut tx,
        &key_check(per_check),
        table,
        targets,
        &sent,
    )
    .await?;
    let changed = write_rows(&mut tx, table, targets, rows).await?;
    let after = crate::rows::write::sql::check_present::<Sqlite>(
        &mut tx,
        &key_check(per_check),
        table,
        targets,
        &sent,
    )
    .await?;
    tx.commit().await?;
    let inserted = after.saturating_sub(before);
    let updated = changed.saturating_sub(inserted);
    Ok(Written::tally(sent.len(), inserted, updated))
}

fn key_placeholder(_n: usize, t: &Target) -> String {
    placeholder(t).to_string()
}

/// Multi-row upserts (plain inserts when no target is a key) on an open connection;
/// returns SQLite's count of rows inserted or changed.
async fn write_rows(
    conn: &mut sqlx::SqliteConnection,
    table: &str,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
) -> Result<u64, sqlx::Error> {
    let q = |n: &str| quote(Dialect::Sqlite, n);
    let keys: Vec<String> = targets
        .iter()
        .filter(|t| t.is_key)
        .map(|t| q(&t.name))
        .collect();
    let updates: Vec<String> = non_keys(targets)
        .map(|t| format!("{0} = excluded.{0}", q(&t.name)))
        .collect();
    // Compared with an explicit BINARY collation: a NOCASE or RTRIM column would call
    // `a` and `A` equal, and the change would never be written.
    let differs: Vec<String> = non_keys(targets)
        .map(|t| {
            format!(
                "{t}.{c} IS NOT excluded.{c} COLLATE BINARY",
                t = q(table),
                c = q(&t.name)
            )
        })
        .collect();
    let tail = match (keys.is_empty(), updates.is_empty()) {
        (true, _) => String::new(),
        (false, true) => format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", ")),
        (false, false) => format!(
            " ON CONFLICT ({}) DO UPDATE SET {} WHERE {}",
            keys.join(", "),
            updates.join(", "),
            differs.join(" OR ")
        ),
    };
    let insert = MultiRowInsert::new(Dialect::Sqlite, table, targets, placeholder, tail);
    send(conn, &insert, targets, rows).await
}

/// Sends `rows` through `insert` in statements under the placeholder limit; returns
/// SQLite's count of rows inserted or changed.
async fn send(
    conn: &mut sqlx::SqliteConnection,
    insert: &MultiRowInsert,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
) -> Result<u64, sqlx::Error> {
    let per_statement = (MAX_PLACEHOLDERS / targets.len().max(1)).max(1);
    let mut changed = 0;
    for batch in rows.chunks(per_statement) {
        let mut query = sqlx::query(insert.sql(batch.len()));
        for row in batch {
            for (t, v) in targets.iter().zip(row) {
                query = bind(query, t, v.as_deref());
            }
        }
        changed += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(changed)
}

/// Inserts `rows` (distinct keys) where the table lacks their key, leaving any row it
/// holds alone, on an open connection; returns the rows inserted (a sync both ways: keys
/// the side did not hold when read, which its application may have inserted since).
pub(crate) async fn insert_missing(
    conn: &mut sqlx::SqliteConnection,
    table: &str,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let keys: Vec<String> = targets
        .iter()
        .filter(|t| t.is_key)
        .map(|t| quote(Dialect::Sqlite, &t.name))
        .collect();
    let tail = format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", "));
    let insert = MultiRowInsert::new(Dialect::Sqlite, table, targets, placeholder, tail);
    send(conn, &insert, targets, rows).await
}

/// Plain multi-row inserts on an open connection, in one transaction (a savepoint
/// inside the caller's transaction, if any): an append-only table's window, or a table
/// without a key. Returns the rows SQLite inserted.
pub(crate) async fn insert_plain(
    conn: &mut sqlx::SqliteConnection,
    table: &str,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
) -> Result<u64, WriteError> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let n = write_rows(&mut tx, table, targets, rows).await?;
    tx.commit().await?;
    Ok(n)
}

/// How this writer checks which keys arrived (`rows::write::sql::count_present`).
pub(crate) fn key_check(per_statement: usize) -> KeyCheck {
    KeyCheck {
        dialect: Dialect::Sqlite,
        per_statement,
        placeholder: key_placeholder,
        input,
    }
}

impl crate::engine::role::Write for super::Sqlite {
    fn param(&self, _n: usize) -> String {
        "?".to_string()
    }

    fn insert_if_missing(&self, table: &str, columns: &str, values: &str) -> String {
        format!("INSERT OR IGNORE INTO {table} ({columns}) VALUES ({values})")
    }

    /// The writer opens the file with `foreign_keys` off (codegen's
    /// `engine::sqlite::connect::writable`), as SQLite's own dumps load: the
    /// constraints are declared inside the tables, so there is no later section to add
    /// them in.
    fn checks_foreign_keys_on_load(&self) -> bool {
        false
    }

    /// Plain deletes: the writer's connections have `foreign_keys` off.
    fn empty_tables(&self, tables: &[String]) -> (Vec<String>, Option<String>) {
        (
            tables.iter().map(|t| format!("DELETE FROM {t}")).collect(),
            None,
        )
    }
}
