//! SQLite: multi-row `INSERT ... ON CONFLICT DO UPDATE` inside one transaction per
//! page, each statement under SQLite's 32,766-placeholder limit.

use super::{MultiRowInsert, Target, non_keys};
use crate::transfer::read::quote;
use crate::transfer::values::{self, Family};
use seaway_codegen::model::Dialect;
use sqlx::Sqlite;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;

const MAX_PLACEHOLDERS: usize = 32_766;

#[derive(Debug)]
pub struct LiteWriter(pub sqlx::SqlitePool);

fn placeholder(t: &Target) -> &'static str {
    match (Family::of(&t.ty), t.source) {
        (Family::Bytes, Family::Bytes | Family::Bit) => "unhex(?)",
        _ => "?",
    }
}

/// Canonical text in SQLite's input syntax, where it differs (`None`: as it is).
pub(super) fn input(t: &Target, v: &str) -> Option<String> {
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

/// Binds one value: canonical text, except `other` columns, which arrive as SQLite
/// literals (read.rs) and are bound back as the storage class they name, so a blob
/// stays a blob and an integer an integer.
fn bind<'q>(
    query: Query<'q, Sqlite, SqliteArguments>,
    t: &Target,
    v: Option<&str>,
) -> Query<'q, Sqlite, SqliteArguments> {
    if !(Family::of(&t.ty) == Family::Other && t.source == Family::Other) {
        return query.bind(super::for_destination(Dialect::Sqlite, t, v));
    }
    let Some(v) = v else {
        return query.bind(None::<String>);
    };
    if let Some(hex) = v
        .strip_prefix("X'")
        .or_else(|| v.strip_prefix("x'"))
        .and_then(|h| h.strip_suffix('\''))
        && let Some(bytes) = from_hex(hex)
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

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

impl LiteWriter {
    pub async fn upsert(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<usize, sqlx::Error> {
        insert_rows(&mut *self.0.acquire().await?, table, targets, rows).await
    }
}

/// Multi-row upserts (plain inserts when no target is a key) on an open connection, in
/// one transaction (a savepoint inside the caller's transaction, if any).
pub(super) async fn insert_rows(
    conn: &mut sqlx::SqliteConnection,
    table: &str,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
) -> Result<usize, sqlx::Error> {
    let q = |n: &str| quote(Dialect::Sqlite, n);
    let keys: Vec<String> = targets
        .iter()
        .filter(|t| t.is_key)
        .map(|t| q(&t.name))
        .collect();
    let updates: Vec<String> = non_keys(targets)
        .map(|t| format!("{0} = excluded.{0}", q(&t.name)))
        .collect();
    let tail = match (keys.is_empty(), updates.is_empty()) {
        (true, _) => String::new(),
        (false, true) => format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", ")),
        (false, false) => format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            keys.join(", "),
            updates.join(", ")
        ),
    };
    let insert = MultiRowInsert::new(Dialect::Sqlite, table, targets, placeholder, tail);
    let per_statement = (MAX_PLACEHOLDERS / targets.len().max(1)).max(1);
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    for batch in rows.chunks(per_statement) {
        let mut query = sqlx::query(insert.sql(batch.len()));
        for row in batch {
            for (t, v) in targets.iter().zip(row) {
                query = bind(query, t, v.as_deref());
            }
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}
