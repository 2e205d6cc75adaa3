//! Row hashes computed by the database, so a chunk whose data is equal on both sides is
//! proven so without moving its rows (data-diff's idea). Only columns whose canonical
//! text is byte-identical on both engines take part (`canon::hashable_in_sql`); the
//! others are still read and compared by the client.
//!
//! A row's hashed text joins each column's canonical text (`read::select_expr`) with
//! `|`, after escaping `~` as `~~` and `|` as `~|`, and writes NULL as `~N`: no two rows
//! of different values give the same text, and the literals are the same in both
//! dialects (no backslash, whose meaning depends on MySQL's `sql_mode`). MD5 is the one
//! digest both PostgreSQL and MySQL/MariaDB have built in; a chunk's checksum is the
//! exact sum of the first 60 bits of every row's digest (a `numeric`/`DECIMAL` sum, so
//! it never overflows and row order never matters). SQLite has no digest function, so
//! pairs with SQLite always hash in the client.

use seaway_codegen::model::Dialect;

/// Whether `dialect` can hash rows in SQL.
pub fn supported(dialect: Dialect) -> bool {
    matches!(dialect, Dialect::Postgres | Dialect::Mysql)
}

/// The escaped, joined text of a row from its columns' canonical text expressions.
fn joined(dialect: Dialect, parts: &[String]) -> String {
    let escaped: Vec<String> = parts
        .iter()
        .map(|e| match dialect {
            Dialect::Mysql => {
                format!("COALESCE(REPLACE(REPLACE({e}, '~', '~~'), '|', '~|'), '~N')")
            }
            _ => format!("coalesce(replace(replace({e}, '~', '~~'), '|', '~|'), '~N')"),
        })
        .collect();
    match dialect {
        Dialect::Mysql => format!("CONCAT({})", escaped.join(", '|', ")),
        _ => escaped.join(" || '|' || "),
    }
}

/// The row's MD5 digest as 32 lowercase hex digits (text, on both engines).
pub fn row_digest(dialect: Dialect, parts: &[String]) -> String {
    match dialect {
        Dialect::Mysql => format!("MD5({})", joined(dialect, parts)),
        _ => format!("md5({})", joined(dialect, parts)),
    }
}

/// Between two PostgreSQL databases: the MD5 of the row's own text (`ROW(...)::text`,
/// whose quoting is unambiguous) over the columns themselves, which skips building the
/// canonical text (`to_char` on timestamps alone costs more than the digest). Both
/// sessions run in UTC with the same settings, so equal values print alike.
pub fn record_digest(columns: &[String]) -> String {
    format!("md5(ROW({})::text)", columns.join(", "))
}

/// `count(*)` and the sum of the rows' 60-bit hashes (from `digest`, one of the digest
/// expressions above), both as decimal text (0 for no rows), as a select list.
pub fn count_and_sum(dialect: Dialect, digest: &str) -> String {
    match dialect {
        Dialect::Mysql => format!(
            "CAST(COUNT(*) AS CHAR), \
             CAST(COALESCE(SUM(CAST(CONV(SUBSTRING({digest}, 1, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR)"
        ),
        _ => format!(
            "count(*)::text, \
             coalesce(sum(('x' || substr({digest}, 1, 15))::bit(60)::bigint), 0)::text"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dialects_escape_the_same_way_with_the_same_literals() {
        let parts = ["a".to_string(), "b".to_string()];
        let pg = row_digest(Dialect::Postgres, &parts);
        let my = row_digest(Dialect::Mysql, &parts);
        for lit in ["'~', '~~'", "'|', '~|'", "'~N'"] {
            assert!(pg.contains(lit) && my.contains(lit), "{lit}: {pg} / {my}");
        }
        assert!(!pg.contains('\\') && !my.contains('\\'));
    }
}
