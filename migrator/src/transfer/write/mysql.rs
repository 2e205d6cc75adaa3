//! MySQL/MariaDB: multi-row `INSERT ... ON DUPLICATE KEY UPDATE`, each statement sized
//! under the 65,535-placeholder limit and a byte budget well inside the server's
//! `max_allowed_packet`.

use super::{MultiRowInsert, Target, for_destination, non_keys};
use crate::transfer::read::quote;
use crate::transfer::values::{self, Family};
use seaway_codegen::model::{Dialect, NeutralType};

const MAX_PLACEHOLDERS: usize = 65_535;
/// Bytes of values per statement; MariaDB's default `max_allowed_packet` is 16 MiB.
const MAX_BYTES: usize = 4 << 20;

#[derive(Debug)]
pub struct MyWriter(pub sqlx::MySqlPool);

/// The placeholder for a column, converting canonical text where MySQL cannot.
fn placeholder(t: &Target) -> &'static str {
    match (Family::of(&t.ty), t.source) {
        (Family::Bytes, Family::Bytes) | (Family::Other, Family::Other) => "UNHEX(?)",
        (Family::Bit, _) => "CAST(CONV(?, 2, 10) AS UNSIGNED)",
        _ => "?",
    }
}

/// Canonical text in MySQL's input syntax, where it differs (`None`: as it is).
pub(super) fn input(t: &Target, v: &str) -> Option<String> {
    match (t.source, Family::of(&t.ty)) {
        // MySQL refuses a FLOAT literal above FLT_MAX as a double, and the shortest text
        // of the largest float (`3.4028235e38`) is just above it: write the float's
        // exact value instead, which MySQL stores as that same float.
        (_, Family::Number) if t.ty == NeutralType::Float { bits: 32 } => v
            .trim()
            .parse::<f32>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| format!("{:e}", f64::from(f))),
        // `timetz` -> `time` drops the zone (lossy): stored as the UTC time of day.
        (Family::TimeTz, Family::Time) => values::timetz_to_utc(v),
        // CONV('', 2, 10) is NULL; an empty bit string (PostgreSQL `varbit`) is zero.
        (Family::Bit, Family::Bit) if v.is_empty() => Some("0".to_string()),
        _ => None,
    }
}

impl MyWriter {
    pub async fn upsert(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<usize, sqlx::Error> {
        insert_rows(&mut *self.0.acquire().await?, table, targets, rows).await
    }
}

/// Multi-row upserts (plain inserts when no target is a key: ON DUPLICATE KEY then has
/// nothing to match) on an open connection, inside the caller's transaction if any.
pub(super) async fn insert_rows(
    conn: &mut sqlx::MySqlConnection,
    table: &str,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
) -> Result<usize, sqlx::Error> {
    let q = |n: &str| quote(Dialect::Mysql, n);
    let updates: Vec<String> = non_keys(targets)
        .map(|t| format!("{0} = VALUES({0})", q(&t.name)))
        .collect();
    let tail = if updates.is_empty() {
        let first = targets.first().map(|t| q(&t.name)).unwrap_or_default();
        format!(" ON DUPLICATE KEY UPDATE {first} = {first}")
    } else {
        format!(" ON DUPLICATE KEY UPDATE {}", updates.join(", "))
    };
    let insert = MultiRowInsert::new(Dialect::Mysql, table, targets, placeholder, tail);
    let per_statement = (MAX_PLACEHOLDERS / targets.len().max(1)).max(1);
    let mut written = 0;
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < rows.len() && end - start < per_statement && (bytes < MAX_BYTES || end == start)
        {
            bytes += rows[end]
                .iter()
                .map(|v| v.as_ref().map_or(4, String::len))
                .sum::<usize>();
            end += 1;
        }
        let batch = &rows[start..end];
        let mut query = sqlx::query(insert.sql(batch.len()));
        for row in batch {
            for (t, v) in targets.iter().zip(row) {
                query = query.bind(for_destination(Dialect::Mysql, t, v.as_deref()));
            }
        }
        query.execute(&mut *conn).await?;
        written += batch.len();
        start = end;
    }
    Ok(written)
}
