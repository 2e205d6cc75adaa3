//! MySQL/MariaDB's canonical text in SQL, and what it stores.

use super::Mysql;
use crate::engine::role::Read;
use crate::rows::values::Family;
use seaway_codegen::model::{Column, NeutralType};

impl Read for Mysql {
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "a default over the value families, not the engine"
    )]
    fn select_expr(&self, c: &str, col: &Column) -> String {
        match Family::of(&col.ty) {
            // `tinyint(1)` holds any small integer; MySQL reads non-zero as true, and the
            // canonical text (which PostgreSQL's boolean accepts) is only `0` or `1`.
            Family::Bool => {
                format!("CASE WHEN {c} IS NULL THEN NULL WHEN {c} <> 0 THEN '1' ELSE '0' END")
            }
            // FLOAT prints six significant digits (`-3.40282e38`), losing the stored value;
            // as DOUBLE it prints the exact float, which every destination rounds back.
            Family::Number if col.ty == NeutralType::Float { bits: 32 } => {
                format!("CAST(CAST({c} AS DOUBLE) AS CHAR)")
            }
            Family::Bytes => format!("LOWER(HEX({c}))"),
            Family::Bit => {
                let width = match col.ty {
                    NeutralType::Bit { length, .. } => length.unwrap_or(1),
                    _ => 1,
                };
                format!("LPAD(BIN({c} + 0), {width}, '0')")
            }
            Family::Date => format!("DATE_FORMAT({c}, '%Y-%m-%d')"),
            Family::Time => format!("TIME_FORMAT({c}, '%H:%i:%s.%f')"),
            Family::Timestamp | Family::TimestampTz => {
                format!("DATE_FORMAT({c}, '%Y-%m-%d %H:%i:%s.%f')")
            }
            // Spatial types (MySQL's only `other`) have no text form that reads back; their
            // stored bytes do (as `mysqldump --hex-blob` writes them).
            Family::Other => format!("LOWER(HEX({c}))"),
            _ => format!("CAST({c} AS CHAR)"),
        }
    }

    /// MySQL already sends every value of a text-protocol result as text, and for most
    /// types that text is the canonical form itself (checked against `select_expr` on
    /// MariaDB 10.11: integers, decimals, doubles, strings, json, uuid, inet, enum, set,
    /// year, dates, and times and date-times at six fractional digits), so the column
    /// goes bare and the server evaluates no `CAST`/`DATE_FORMAT` per value.
    fn text_expr(&self, c: &str, col: &Column) -> String {
        if text_is_canonical(&col.ty) {
            c.to_string()
        } else {
            self.select_expr(c, col)
        }
    }

    fn as_text(&self, expr: &str) -> String {
        format!("CAST({expr} AS CHAR)")
    }

    /// MySQL compares a text parameter with the key's type itself.
    fn key_param(&self, _n: usize, _native: &str) -> String {
        "?".to_string()
    }

    /// From the catalog: verify's MySQL digests are streamed, so only a diffed chunk is
    /// held in memory, and the catalog's estimate is enough.
    fn row_width_query(&self, table: &str, _quoted: &str) -> Option<(String, Vec<String>)> {
        Some((
            "SELECT CAST(AVG_ROW_LENGTH AS CHAR) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
                .to_string(),
            vec![table.to_string()],
        ))
    }

    fn holds_zero_dates(&self) -> bool {
        true
    }

    fn typed_storage(&self) -> bool {
        true
    }
}

/// Whether MySQL's text-protocol output of a `ty` column is already its canonical text
/// (`select_expr`'s result). Not so for bools (`tinyint(1)` may hold 5; canonical is
/// `1`), FLOAT (six significant digits), bytes, bits and spatial values (hex), and times
/// and date-times below six fractional digits (the text protocol prints only the
/// column's digits; canonical text has six).
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "a default over the value families, not the engine"
)]
pub(crate) fn text_is_canonical(ty: &NeutralType) -> bool {
    match Family::of(ty) {
        Family::Number => *ty != NeutralType::Float { bits: 32 },
        Family::Text | Family::Json | Family::Set | Family::Date => true,
        Family::Time | Family::Timestamp | Family::TimestampTz => matches!(
            ty,
            NeutralType::Time { precision: Some(6) }
                | NeutralType::Timestamp { precision: Some(6) }
                | NeutralType::TimestampTz { precision: Some(6) }
        ),
        _ => false,
    }
}
