//! Row hashes computed by the database, so a chunk whose data is equal on both sides is
//! proven so without moving its rows (data-diff's idea). Only columns whose canonical
//! text is byte-identical on both engines take part (`canon::hashable_in_sql`); the
//! others are still read and compared by the client.
//!
//! Each row has two SQL forms: a text the client hashes when the row is read anyway
//! (because some of its columns are compared by the client), and an integer hash that
//! is summed in SQL when nothing else is read. A chunk's SQL checksum is `count(*)` and
//! the exact sum of its rows' hashes (`numeric`/`DECIMAL`: it never overflows, and row
//! order never matters).
//!
//! - Between two PostgreSQL servers (14 or later) the row is hashed by value with
//!   `hash_record_extended(ROW(...), 0)`: each type's own hash function (the one hash
//!   partitioning relies on, stable across versions), no text built at all. Text columns
//!   are hashed under `COLLATE "C"`, so a case-insensitive collation cannot make `a` and
//!   `A` equal. Before 14, the MD5 of `ROW(...)::text`.
//! - Otherwise the row's canonical text (`read::select_expr` of each column) is joined
//!   with `|`, NULL written `~N`; columns whose text may hold `|` or `~` (text, JSON,
//!   sets, other types) are escaped `~` -> `~~` and `|` -> `~|` first, so no two rows of
//!   different values give the same text, with literals that mean the same in both
//!   dialects (no backslash, whose meaning depends on MySQL's `sql_mode`). Its integer
//!   hash is the first 60 bits of its MD5, the one digest both engines have built in.
//!
//! SQLite has no digest function, so pairs with SQLite always hash in the client.

use seaway_codegen::model::Dialect;

/// Whether `dialect` can hash rows in SQL.
pub fn supported(dialect: Dialect) -> bool {
    matches!(dialect, Dialect::Postgres | Dialect::Mysql)
}

/// One column's part of a row: its SQL expression and whether its text may hold the
/// separator or the escape character.
#[derive(Debug, Clone)]
pub struct Part {
    pub expr: String,
    pub free_text: bool,
}

/// A row's two SQL forms on one side.
#[derive(Debug, Clone)]
pub struct RowHash {
    /// Text (or a hash printed as text) that equal rows share, for the client to hash.
    pub text: String,
    /// An integer (up to 64 bits) that equal rows share, to be summed in SQL.
    pub int: String,
}

/// The row forms from the canonical text of each column.
pub fn canonical(dialect: Dialect, parts: &[Part]) -> RowHash {
    let escaped: Vec<String> = parts
        .iter()
        .map(|p| {
            let e = &p.expr;
            match (dialect, p.free_text) {
                (Dialect::Mysql, true) => {
                    format!("COALESCE(REPLACE(REPLACE({e}, '~', '~~'), '|', '~|'), '~N')")
                }
                (Dialect::Mysql, false) => format!("COALESCE({e}, '~N')"),
                (_, true) => format!("coalesce(replace(replace({e}, '~', '~~'), '|', '~|'), '~N')"),
                (_, false) => format!("coalesce({e}, '~N')"),
            }
        })
        .collect();
    let text = match dialect {
        Dialect::Mysql => format!("CONCAT({})", escaped.join(", '|', ")),
        _ => escaped.join(" || '|' || "),
    };
    let int = match dialect {
        Dialect::Mysql => format!("CAST(CONV(SUBSTRING(MD5({text}), 1, 15), 16, 10) AS UNSIGNED)"),
        _ => format!("('x' || substr(md5({text}), 1, 15))::bit(60)::bigint"),
    };
    RowHash { text, int }
}

/// The row forms between two PostgreSQL servers, over the columns themselves (quoted
/// names, text columns already under `COLLATE "C"`); `by_value` when both are 14 or
/// later (`hash_record_extended`).
pub fn postgres_record(columns: &[String], by_value: bool) -> RowHash {
    let row = format!("ROW({})", columns.join(", "));
    if by_value {
        let int = format!("hash_record_extended({row}, 0)");
        RowHash {
            text: format!("{int}::text"),
            int,
        }
    } else {
        RowHash {
            text: format!("{row}::text"),
            int: format!("('x' || substr(md5({row}::text), 1, 15))::bit(60)::bigint"),
        }
    }
}

/// `count(*)` and the sum of the rows' integer hashes, both as decimal text (0 for no
/// rows), as a select list.
pub fn count_and_sum(dialect: Dialect, row: &RowHash) -> String {
    let int = &row.int;
    match dialect {
        Dialect::Mysql => {
            format!("CAST(COUNT(*) AS CHAR), CAST(COALESCE(SUM({int}), 0) AS CHAR)")
        }
        _ => format!("count(*)::text, coalesce(sum({int}), 0)::text"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> Vec<Part> {
        vec![
            Part {
                expr: "a".into(),
                free_text: true,
            },
            Part {
                expr: "b".into(),
                free_text: false,
            },
        ]
    }

    #[test]
    fn both_dialects_escape_free_text_alike_with_the_same_literals() {
        let pg = canonical(Dialect::Postgres, &parts()).text;
        let my = canonical(Dialect::Mysql, &parts()).text;
        for lit in ["'~', '~~'", "'|', '~|'", "'~N'"] {
            assert!(pg.contains(lit) && my.contains(lit), "{lit}: {pg} / {my}");
        }
        assert!(!pg.contains('\\') && !my.contains('\\'));
        // Only the free-text column is escaped.
        assert_eq!(pg.matches("replace(").count(), 2, "{pg}");
        assert_eq!(my.matches("REPLACE(").count(), 2, "{my}");
    }

    #[test]
    fn postgres_records_hash_by_value_from_14_on() {
        let cols = ["\"id\"".to_string()];
        assert!(
            postgres_record(&cols, true)
                .int
                .starts_with("hash_record_extended(ROW(\"id\")")
        );
        assert!(
            postgres_record(&cols, false)
                .int
                .contains("md5(ROW(\"id\")::text)")
        );
    }
}
