//! MySQL/MariaDB: each page goes into a temporary copy of the table (`seaway_stage`, made
//! with `CREATE TEMPORARY TABLE ... LIKE`, so every value converts exactly as it would in
//! the table), then one `UPDATE ... JOIN` changes only the rows that differ and one
//! `INSERT ... SELECT ... WHERE NOT EXISTS` adds the new ones.
//!
//! Why not `INSERT ... ON DUPLICATE KEY UPDATE`: for every duplicate key it runs the
//! table's UPDATE triggers whether or not a value changed, and with the driver's
//! `CLIENT_FOUND_ROWS` its affected-row count cannot tell changed rows from unchanged
//! ones. Here an unchanged row is not written at all, no trigger fires for it, and the
//! counts are the server's own: the `UPDATE` counts rows whose values differ (its `WHERE`
//! keeps only those), the `INSERT` counts new rows.
//!
//! Statements stay under the 65,535-placeholder limit and a byte budget inside the
//! server's `max_allowed_packet`; bytes are bound as binary parameters, not hex text
//! (which doubled them).

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

mod convert;
pub mod load_data;

pub(crate) use convert::input;
use convert::{binary, placeholder};

use crate::rows::plan::Target;
use crate::rows::values::{self, Family};
use crate::rows::write::outcome::{WriteError, Written};
use crate::rows::write::sql::{KeyCheck, MultiRowInsert, non_keys};
use seaway_codegen::engine::quote_ident as quote;
use seaway_codegen::model::Dialect;
use sqlx::MySql;
use sqlx::mysql::MySqlArguments;
use sqlx::query::Query;

const MAX_PLACEHOLDERS: usize = 65_535;
/// Bytes of values per statement at most; MariaDB's default `max_allowed_packet` is 16 MiB.
const MAX_BYTES: u64 = 4 << 20;
/// What a statement carries besides its values (the SQL text, parameter types), allowed
/// for when a single row is measured against `max_allowed_packet`.
const OVERHEAD: u64 = 64 << 10;
/// Keys per presence check.
const MAX_KEYS: usize = 8_192;

/// What the server accepts, read once when the writer opens.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The session's `max_allowed_packet`, in bytes.
    max_packet: u64,
    /// `host:port`, for messages.
    endpoint: String,
}

impl Limits {
    /// Bytes of values one statement may carry.
    fn budget(&self) -> u64 {
        MAX_BYTES.min(self.max_packet / 2).max(1)
    }

    /// Refuses a row the server could not take in one packet, naming the setting.
    fn check_row(&self, bytes: u64) -> Result<(), WriteError> {
        if bytes + OVERHEAD <= self.max_packet {
            return Ok(());
        }
        // The next power of two above the row, as the value to raise the setting to.
        let suggested = (bytes + OVERHEAD).next_power_of_two().min(1 << 30);
        Err(WriteError::TooLarge {
            bytes,
            limit: self.max_packet,
            suggested,
            endpoint: self.endpoint.clone(),
        })
    }
}

#[derive(Debug)]
pub struct MyWriter {
    pub pool: sqlx::MySqlPool,
    pub limits: Limits,
    /// The `LOAD DATA LOCAL INFILE` path for first loads, opened on first use
    /// (`load_data`). Boxed: the writer enum stays small.
    load: Box<LazyLoad>,
}

/// The `LOAD DATA` path before and after it is opened: `Err` holds why it cannot be used.
#[derive(Debug)]
struct LazyLoad {
    opened: tokio::sync::OnceCell<Result<load_data::LoadData, String>>,
    conn: seaway_codegen::config::Connection,
}

impl MyWriter {
    pub async fn open(
        conn: &seaway_codegen::config::Connection,
    ) -> Result<MyWriter, seaway_codegen::inspect::ConnectError> {
        let pool = seaway_codegen::inspect::connect::mysql(conn).await?;
        let max_packet: u64 = sqlx::query_scalar::<_, u64>("SELECT @@max_allowed_packet")
            .fetch_one(&pool)
            .await
            .map_err(|e| seaway_codegen::inspect::connect::classify(conn, e))?;
        Ok(MyWriter {
            pool,
            limits: Limits {
                max_packet,
                endpoint: conn.url.endpoint().unwrap_or("?").to_string(),
            },
            load: Box::new(LazyLoad {
                opened: tokio::sync::OnceCell::new(),
                conn: conn.clone(),
            }),
        })
    }

    /// The `LOAD DATA LOCAL INFILE` path, opened on the first call (only transfer's first
    /// loads ask: an upsert-only writer never connects twice). `None` when the server
    /// does not allow it; the reason is logged once, as a warning naming the setting.
    pub async fn load_data(&self) -> Option<&load_data::LoadData> {
        let opened = self
            .load
            .opened
            .get_or_init(|| async {
                let opened = load_data::LoadData::open(&self.load.conn, MAX_LOADS).await;
                if let Err(note) = &opened {
                    tracing::warn!("{note}");
                }
                opened
            })
            .await;
        opened.as_ref().ok()
    }

    /// Whether `table` holds no row with `key` in `(lo, hi]` and can take a `LOAD DATA`
    /// (see `PgWriter::range_is_empty`); `false` without asking when the path is not
    /// available, so a server without `local_infile` keeps the upsert.
    pub async fn range_is_empty(
        &self,
        table: &str,
        key: Option<&str>,
        range: (Option<i64>, Option<i64>),
    ) -> Result<bool, sqlx::Error> {
        let Some(load) = self.load_data().await else {
            return Ok(false);
        };
        if !load.takes(table).await {
            return Ok(false);
        }
        crate::rows::write::sql::range_is_empty(&self.pool, Dialect::Mysql, table, key, range).await
    }

    /// Writes `rows` into a key range that was empty (`range_is_empty`) with one `LOAD
    /// DATA LOCAL INFILE` in one transaction; any warning rolls it back and the caller
    /// upserts instead (`load_data.rs`).
    pub async fn insert_fresh(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<Written, WriteError> {
        let Some(load) = self.load_data().await else {
            return self.upsert(table, targets, rows).await;
        };
        load.load_rows(table, targets, rows)
            .await
            .map(Written::inserted)
            .map_err(|e| WriteError::Declined(e.to_string()))
    }

    pub async fn close(self) {
        if let Some(Ok(load)) = self.load.opened.into_inner() {
            load.close().await;
        }
        self.pool.close().await;
    }
}

/// `LOAD DATA` sessions at most: one per transfer worker, as the sqlx pool has.
const MAX_LOADS: usize = 8;

/// A key parameter in a presence check: keys are few and small, so bytes go as hex.
pub(crate) fn key_placeholder(_n: usize, t: &Target) -> String {
    match (Family::of(&t.ty), t.source) {
        (Family::Bytes, Family::Bytes) | (Family::Other, Family::Other) => "UNHEX(?)".into(),
        _ => placeholder(t).into(),
    }
}

/// Binds one value: bytes as binary, everything else as canonical text converted for
/// MySQL.
pub(crate) fn bind<'q>(
    query: Query<'q, MySql, MySqlArguments>,
    t: &Target,
    v: Option<&str>,
) -> Query<'q, MySql, MySqlArguments> {
    match v {
        Some(hex) if binary(t) => match values::from_hex(hex) {
            Some(bytes) => query.bind(bytes),
            // Not hex after all: let the server judge the text.
            None => query.bind(Some(hex.to_string())),
        },
        _ => query.bind(crate::rows::write::sql::for_input(input, t, v)),
    }
}

/// The bytes a row's values take on the wire (binary values at half their hex).
fn row_bytes(targets: &[Target], row: &[Option<String>]) -> u64 {
    targets
        .iter()
        .zip(row)
        .map(|(t, v)| match v {
            None => 4,
            Some(v) if binary(t) => v.len() as u64 / 2,
            Some(v) => v.len() as u64,
        })
        .sum()
}

/// Multi-row `INSERT`s of `rows` into `table` (plain: no key is matched), sized under the
/// placeholder limit and the byte budget; a row too large for the server is refused
/// before it is sent. Returns the rows the server reports inserted.
async fn insert_batches(
    conn: &mut sqlx::MySqlConnection,
    limits: &Limits,
    table: &str,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
) -> Result<u64, WriteError> {
    let insert = MultiRowInsert::new(Dialect::Mysql, table, targets, placeholder, String::new());
    let per_statement = (MAX_PLACEHOLDERS / targets.len().max(1)).max(1);
    let budget = limits.budget();
    let mut inserted = 0;
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < rows.len() && end - start < per_statement && (bytes < budget || end == start) {
            let size = row_bytes(targets, &rows[end]);
            limits.check_row(size)?;
            bytes += size;
            end += 1;
        }
        let batch = &rows[start..end];
        let mut query = sqlx::query(insert.sql(batch.len()));
        for row in batch {
            for (t, v) in targets.iter().zip(row) {
                query = bind(query, t, v.as_deref());
            }
        }
        inserted += query.execute(&mut *conn).await?.rows_affected();
        start = end;
    }
    Ok(inserted)
}

impl MyWriter {
    pub async fn upsert(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<Written, WriteError> {
        if rows.is_empty() {
            return Ok(Written::default());
        }
        let mut conn = self.pool.acquire().await?;
        upsert_on(&mut conn, &self.limits, table, targets, rows).await
    }
}

/// The upsert of [`MyWriter::upsert`] on an open connection, inside the caller's
/// transaction if it has one (`sync`): the merge's own transaction is then a savepoint,
/// and a temporary table's CREATE and DROP commit nothing implicitly.
pub(crate) async fn upsert_on(
    conn: &mut sqlx::MySqlConnection,
    limits: &Limits,
    table: &str,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
) -> Result<Written, WriteError> {
    if rows.is_empty() {
        return Ok(Written::default());
    }
    if !targets.iter().any(|t| t.is_key) {
        let n = insert_batches(conn, limits, table, targets, rows).await?;
        return Ok(Written::inserted(n));
    }
    let staged = stage(conn, limits, table, targets, rows).await;
    let merged = match staged {
        Ok(()) => merge(conn, table, targets).await,
        Err(e) => Err(e),
    };
    // The stage goes whatever happened: the connection returns to the pool.
    let dropped = sqlx::raw_sql("DROP TEMPORARY TABLE IF EXISTS seaway_stage")
        .execute(&mut *conn)
        .await;
    let (inserted, updated) = merged?;
    dropped?;
    let sent = crate::rows::write::sql::distinct_keys(targets, rows);
    crate::rows::write::sql::check_present::<MySql>(
        conn,
        &key_check(MAX_KEYS),
        table,
        targets,
        &sent,
    )
    .await?;
    Ok(Written::tally(sent.len(), inserted, updated))
}

/// Loads `rows` into a fresh `seaway_stage`, a temporary table like `table` (same types,
/// charsets and keys), or, where `LIKE` is refused (a partitioned table), one declared
/// from the targets' types.
async fn stage(
    conn: &mut sqlx::MySqlConnection,
    limits: &Limits,
    table: &str,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
) -> Result<(), WriteError> {
    let q = |n: &str| quote(Dialect::Mysql, n);
    sqlx::raw_sql("DROP TEMPORARY TABLE IF EXISTS seaway_stage")
        .execute(&mut *conn)
        .await?;
    let like = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TEMPORARY TABLE seaway_stage LIKE {}",
        q(table)
    )))
    .execute(&mut *conn)
    .await;
    if like.is_err() {
        let cols: Vec<String> = targets
            .iter()
            .map(|t| format!("{} {}", q(&t.name), t.native))
            .collect();
        let keys: Vec<String> = targets
            .iter()
            .filter(|t| t.is_key)
            .map(|t| q(&t.name))
            .collect();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE TEMPORARY TABLE seaway_stage ({}, PRIMARY KEY ({}))",
            cols.join(", "),
            keys.join(", ")
        )))
        .execute(&mut *conn)
        .await?;
    }
    insert_batches(conn, limits, "seaway_stage", targets, rows).await?;
    Ok(())
}

/// Moves the stage into `table` in one transaction: changed rows updated, new rows
/// inserted, equal rows untouched. Returns (inserted, updated) as the server counted.
async fn merge(
    conn: &mut sqlx::MySqlConnection,
    table: &str,
    targets: &[Target],
) -> Result<(u64, u64), WriteError> {
    let q = |n: &str| quote(Dialect::Mysql, n);
    let joined: Vec<String> = targets
        .iter()
        .filter(|t| t.is_key)
        .map(|t| format!("d.{0} = s.{0}", q(&t.name)))
        .collect();
    let joined = joined.join(" AND ");
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let updates: Vec<String> = non_keys(targets)
        .map(|t| format!("d.{0} = s.{0}", q(&t.name)))
        .collect();
    let updated = if updates.is_empty() {
        0
    } else {
        let same: Vec<String> = non_keys(targets).map(same_value).collect();
        let sql = format!(
            "UPDATE {} AS d JOIN seaway_stage AS s ON {joined} SET {} WHERE NOT ({})",
            q(table),
            updates.join(", "),
            same.join(" AND ")
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?
            .rows_affected()
    };
    let inserted = sqlx::raw_sql(sqlx::AssertSqlSafe(insert_new(table, targets)))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok((inserted, updated))
}

/// The statement that inserts the staged rows whose key `table` lacks.
fn insert_new(table: &str, targets: &[Target]) -> String {
    let q = |n: &str| quote(Dialect::Mysql, n);
    let joined: Vec<String> = targets
        .iter()
        .filter(|t| t.is_key)
        .map(|t| format!("d.{0} = s.{0}", q(&t.name)))
        .collect();
    let cols: Vec<String> = targets.iter().map(|t| q(&t.name)).collect();
    let scols: Vec<String> = targets
        .iter()
        .map(|t| format!("s.{}", q(&t.name)))
        .collect();
    format!(
        "INSERT INTO {t} ({}) SELECT {} FROM seaway_stage AS s WHERE NOT EXISTS (SELECT 1 FROM {t} AS d WHERE {})",
        cols.join(", "),
        scols.join(", "),
        joined.join(" AND "),
        t = q(table),
    )
}

/// Inserts `rows` (distinct keys) where `table` lacks their key, leaving any row it
/// holds alone (no trigger fires for it), on an open connection inside the caller's
/// transaction; returns the rows inserted (a sync both ways: keys the side did not hold
/// when read, which its application may have inserted since).
pub(crate) async fn insert_missing(
    conn: &mut sqlx::MySqlConnection,
    limits: &Limits,
    table: &str,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
) -> Result<u64, WriteError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let staged = stage(conn, limits, table, targets, rows).await;
    let inserted = match staged {
        Ok(()) => sqlx::raw_sql(sqlx::AssertSqlSafe(insert_new(table, targets)))
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
            .map_err(WriteError::from),
        Err(e) => Err(e),
    };
    let dropped = sqlx::raw_sql("DROP TEMPORARY TABLE IF EXISTS seaway_stage")
        .execute(&mut *conn)
        .await;
    let inserted = inserted?;
    dropped?;
    Ok(inserted)
}

/// "The held value equals the staged one", exactly: NULL-safe (`<=>`), and strings
/// compared as bytes, since a case-insensitive or PAD SPACE collation calls `a` and `A`
/// (or `a` and `a `) equal and the change would never be written.
fn same_value(t: &Target) -> String {
    let c = quote(Dialect::Mysql, &t.name);
    let stringy = matches!(
        Family::of(&t.ty),
        Family::Text | Family::Json | Family::Set | Family::Array | Family::Other
    );
    if stringy {
        format!("CAST(d.{c} AS BINARY) <=> CAST(s.{c} AS BINARY)")
    } else {
        format!("d.{c} <=> s.{c}")
    }
}

/// Plain multi-row inserts on an open connection, inside the caller's transaction: an
/// append-only table's window (no key to match on). Returns the rows the server took.
pub(crate) async fn insert_plain(
    conn: &mut sqlx::MySqlConnection,
    limits: &Limits,
    table: &str,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
) -> Result<u64, WriteError> {
    insert_batches(conn, limits, table, targets, rows).await
}

/// How this writer checks which keys arrived (`rows::write::sql::count_present`).
pub(crate) fn key_check(per_statement: usize) -> KeyCheck {
    KeyCheck {
        dialect: Dialect::Mysql,
        per_statement,
        placeholder: key_placeholder,
        input,
    }
}

impl crate::engine::role::Write for super::Mysql {
    fn param(&self, _n: usize) -> String {
        "?".to_string()
    }

    fn insert_if_missing(&self, table: &str, columns: &str, values: &str) -> String {
        format!("INSERT IGNORE INTO {table} ({columns}) VALUES ({values})")
    }

    fn checks_foreign_keys_on_load(&self) -> bool {
        true
    }

    /// Deletes with the session's foreign key checks off (InnoDB checks each row as it
    /// goes, so a self-reference or a cycle would fail in any order), put back after.
    /// `TRUNCATE` would commit on its own.
    fn empty_tables(&self, tables: &[String]) -> (Vec<String>, Option<String>) {
        let mut statements = vec!["SET FOREIGN_KEY_CHECKS = 0".to_string()];
        statements.extend(tables.iter().map(|t| format!("DELETE FROM {t}")));
        (statements, Some("SET FOREIGN_KEY_CHECKS = 1".to_string()))
    }
}
