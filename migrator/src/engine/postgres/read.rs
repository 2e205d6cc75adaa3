//! PostgreSQL's canonical text in SQL, and what it stores.

use super::Postgres;
use crate::engine::role::Read;
use crate::rows::values::Family;
use seaway_codegen::model::{Column, NeutralType};

impl Read for Postgres {
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "a default over the value families, not the engine"
    )]
    fn select_expr(&self, c: &str, col: &Column) -> String {
        match Family::of(&col.ty) {
            Family::Bool => format!("CASE WHEN {c} THEN '1' WHEN NOT {c} THEN '0' END"),
            Family::Bytes => format!("encode({c}, 'hex')"),
            Family::Date => format!("to_char({c}, 'YYYY-MM-DD')"),
            // The zone is part of the value: a PostgreSQL destination keeps it, the others
            // convert to UTC when they drop it (engine/mysql/write.rs, engine/sqlite/write.rs).
            Family::TimeTz => format!(
                "to_char({c}::time, 'HH24:MI:SS.US') || substring({c}::text from '[+-][0-9:]+$')"
            ),
            Family::Time => format!("to_char({c}, 'HH24:MI:SS.US')"),
            Family::Timestamp => format!("to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US')"),
            Family::TimestampTz => {
                format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
            }
            Family::Array => format!("array_to_json({c})::text"),
            // `inet::text` always appends the netmask (`::1/128`); the type's own output
            // (which `format` uses) leaves it off a single host, as every engine writes it.
            _ if col.ty == NeutralType::Inet => {
                format!("CASE WHEN {c} IS NULL THEN NULL ELSE format('%s', {c}) END")
            }
            _ => format!("{c}::text"),
        }
    }

    /// PostgreSQL's text output is not the canonical text of most types: as `select_expr`.
    fn text_expr(&self, c: &str, col: &Column) -> String {
        self.select_expr(c, col)
    }

    fn as_text(&self, expr: &str) -> String {
        format!("CAST({expr} AS TEXT)")
    }

    /// Cast back to the key's type: PostgreSQL will not compare text with it by itself.
    fn key_param(&self, n: usize, native: &str) -> String {
        format!("CAST(${n} AS {native})")
    }

    /// Measured on a few rows as text: the catalog counts compressed bytes, and a table
    /// never analysed has no row count.
    fn row_width_query(&self, _table: &str, quoted: &str) -> Option<(String, Vec<String>)> {
        Some((
            format!(
                "SELECT avg(octet_length(s::text))::bigint::text \
                 FROM (SELECT * FROM {quoted} LIMIT 32) AS s"
            ),
            Vec::new(),
        ))
    }

    fn holds_zero_dates(&self) -> bool {
        false
    }

    fn typed_storage(&self) -> bool {
        true
    }
}
