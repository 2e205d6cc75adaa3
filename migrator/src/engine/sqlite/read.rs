//! SQLite's canonical text in SQL, and what it stores. SQLite keeps whatever it was
//! given, so its reads normalise storage classes too.

use super::Sqlite;
use crate::engine::role::Read;
use crate::rows::values::Family;
use seaway_codegen::model::Column;

impl Read for Sqlite {
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "a default over the value families, not the engine"
    )]
    fn select_expr(&self, c: &str, col: &Column) -> String {
        match Family::of(&col.ty) {
            Family::Bool => {
                format!("CASE WHEN {c} IS NULL THEN NULL WHEN {c} THEN '1' ELSE '0' END")
            }
            // hex(NULL) is '', which would turn a NULL into empty bytes.
            Family::Bytes => format!("CASE WHEN {c} IS NULL THEN NULL ELSE lower(hex({c})) END"),
            // `CAST(real AS TEXT)` prints 15 significant digits, which loses doubles
            // (2.718281828459045, -1.7976931348623157e308 becomes -inf when read back);
            // take the fewest of 15, 16 or 17 digits that read back as the stored value.
            Family::Number => format!(
                "CASE WHEN typeof({c}) = 'real' THEN {} ELSE CAST({c} AS TEXT) END",
                real(c)
            ),
            // SQLite's documented date-time storage: text (ISO 8601, perhaps with a `T` and a
            // zone), an integer (Unix time) or a real (Julian day). All become the UTC
            // reading `YYYY-MM-DD HH:MM:SS[.fff]`; a zone in the text is applied, as
            // SQLite's own date functions do.
            Family::Timestamp | Family::TimestampTz => {
                let zone = format!(
                    "CASE WHEN {c} GLOB '*[+-][0-9][0-9]:[0-9][0-9]' THEN 6 WHEN {c} GLOB '*[Zz]' THEN 1 END"
                );
                let base = format!("substr({c}, 1, length({c}) - ({zone}))");
                format!(
                    "CASE typeof({c}) \
                     WHEN 'integer' THEN strftime('%Y-%m-%d %H:%M:%S', {c}, 'unixepoch') \
                     WHEN 'real' THEN strftime('%Y-%m-%d %H:%M:%f', {c}) \
                     WHEN 'text' THEN CASE \
                     WHEN length({c}) > 19 AND ({zone}) IS NOT NULL THEN \
                     COALESCE(strftime('%Y-%m-%d %H:%M:%S', {c}) || CASE WHEN substr({base}, 20, 1) = '.' THEN substr({base}, 20) ELSE '' END, {c}) \
                     WHEN substr({c}, 11, 1) = 'T' THEN substr({c}, 1, 10) || ' ' || substr({c}, 12) \
                     ELSE {c} END \
                     ELSE CAST({c} AS TEXT) END"
                )
            }
            // Same engine only: an SQL literal keeps the storage class (a blob in a
            // `GEOMETRY` column is not text); engine/sqlite/write.rs binds it back as that class.
            Family::Other => format!("CASE WHEN {c} IS NULL THEN NULL ELSE quote({c}) END"),
            _ => format!("CAST({c} AS TEXT)"),
        }
    }

    /// SQLite's text output of a stored value depends on its storage class, not the
    /// column: as `select_expr`.
    fn text_expr(&self, c: &str, col: &Column) -> String {
        self.select_expr(c, col)
    }

    fn as_text(&self, expr: &str) -> String {
        format!("CAST({expr} AS TEXT)")
    }

    /// SQLite compares a text parameter by the column's affinity itself.
    fn key_param(&self, _n: usize, _native: &str) -> String {
        "?".to_string()
    }

    /// SQLite keeps no row-width statistic: verify cuts by the configured span.
    fn row_width_query(&self, _table: &str, _quoted: &str) -> Option<(String, Vec<String>)> {
        None
    }

    fn holds_zero_dates(&self) -> bool {
        false
    }

    fn typed_storage(&self) -> bool {
        false
    }
}

/// An SQLite REAL in the fewest significant digits (15, 16 or 17) that read back as it.
fn real(c: &str) -> String {
    let digits = |n: u8| format!("printf('%!.{n}g', {c})");
    format!(
        "CASE WHEN CAST({d15} AS REAL) = {c} THEN {d15} WHEN CAST({d16} AS REAL) = {c} THEN {d16} ELSE {d17} END",
        d15 = digits(15),
        d16 = digits(16),
        d17 = digits(17),
    )
}
