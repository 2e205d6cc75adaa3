//! Source side: each dialect's `SELECT` list puts every value in canonical text
//! (see `values.rs`), and pages are read by keyset, never OFFSET:
//! `WHERE (k1, k2) > (last1, last2) AND <chunk range> ORDER BY k1, k2 LIMIT n`.

use super::values::Family;
use seaway_codegen::model::{Column, Dialect};

/// Quotes an identifier for `dialect`.
pub fn quote(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// The expression that reads `col` as canonical text.
pub fn select_expr(dialect: Dialect, col: &Column) -> String {
    let c = quote(dialect, &col.name);
    let family = Family::of(&col.ty);
    match dialect {
        Dialect::Postgres => match family {
            Family::Bool => format!("CASE WHEN {c} THEN '1' WHEN NOT {c} THEN '0' END"),
            Family::Bytes => format!("encode({c}, 'hex')"),
            Family::Date => format!("to_char({c}, 'YYYY-MM-DD')"),
            Family::Time if col.native.contains("with time zone") => {
                format!("to_char(({c} AT TIME ZONE 'UTC')::time, 'HH24:MI:SS.US')")
            }
            Family::Time => format!("to_char({c}, 'HH24:MI:SS.US')"),
            Family::Timestamp => format!("to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US')"),
            Family::TimestampTz => {
                format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
            }
            Family::Array => format!("array_to_json({c})::text"),
            _ => format!("{c}::text"),
        },
        Dialect::Mysql => match family {
            Family::Bytes => format!("LOWER(HEX({c}))"),
            Family::Bit => {
                let width = match col.ty {
                    seaway_codegen::model::NeutralType::Bit { length, .. } => length.unwrap_or(1),
                    _ => 1,
                };
                format!("LPAD(BIN({c} + 0), {width}, '0')")
            }
            Family::Date => format!("DATE_FORMAT({c}, '%Y-%m-%d')"),
            Family::Time => format!("TIME_FORMAT({c}, '%H:%i:%s.%f')"),
            Family::Timestamp | Family::TimestampTz => {
                format!("DATE_FORMAT({c}, '%Y-%m-%d %H:%i:%s.%f')")
            }
            _ => format!("CAST({c} AS CHAR)"),
        },
        Dialect::Sqlite => match family {
            Family::Bool => {
                format!("CASE WHEN {c} IS NULL THEN NULL WHEN {c} THEN '1' ELSE '0' END")
            }
            Family::Bytes => format!("lower(hex({c}))"),
            _ => format!("CAST({c} AS TEXT)"),
        },
    }
}

/// A placeholder for a key value in a comparison, cast back to the key's type where the
/// engine will not compare text with it by itself (PostgreSQL).
pub fn key_param(dialect: Dialect, n: usize, key: &Column) -> String {
    match dialect {
        Dialect::Postgres => format!("CAST(${n} AS {})", key.native),
        _ => "?".to_string(),
    }
}

/// The page query: columns, then the key columns again (so the next page can start
/// after the last key), filtered by the chunk's range and the mapping's `where:`.
#[derive(Debug)]
pub struct PageQuery {
    pub sql: String,
    /// How many leading columns are the row (the rest are its key).
    pub width: usize,
}

/// What one page reads: the table, its columns (in order) and key, where to start, the
/// integer key's chunk range `(lo, hi]`, the mapping's `where:` filter, and how many rows.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    pub table: &'a str,
    pub columns: &'a [&'a Column],
    pub keys: &'a [&'a Column],
    /// Whether a previous key is bound (`$1..$n` / `?`).
    pub after: bool,
    pub range: (Option<i64>, Option<i64>),
    pub filter: Option<&'a str>,
    pub limit: usize,
}

/// Builds the page query for `page` in `dialect`.
pub fn page_query(dialect: Dialect, page: Page<'_>) -> PageQuery {
    let Page {
        table,
        columns,
        keys,
        after,
        range,
        filter,
        limit,
    } = page;
    let mut select: Vec<String> = columns.iter().map(|c| select_expr(dialect, c)).collect();
    select.extend(keys.iter().map(|k| select_expr(dialect, k)));
    let key_list: Vec<String> = keys.iter().map(|k| quote(dialect, &k.name)).collect();
    let mut conditions = Vec::new();
    if after {
        let params: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| key_param(dialect, i + 1, k))
            .collect();
        conditions.push(format!(
            "({}) > ({})",
            key_list.join(", "),
            params.join(", ")
        ));
    }
    if let (Some(k), (lo, hi)) = (key_list.first().filter(|_| keys.len() == 1), range) {
        if let Some(lo) = lo {
            conditions.push(format!("{k} > {lo}"));
        }
        if let Some(hi) = hi {
            conditions.push(format!("{k} <= {hi}"));
        }
    }
    if let Some(f) = filter {
        conditions.push(format!("({f})"));
    }
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    // Qualified, because PostgreSQL resolves a bare ORDER BY name to an output column
    // first, and `"id"::text` is an output column named `id`: pages would be ordered as
    // text while the keyset comparison is numeric, skipping and repeating rows.
    let order: Vec<String> = key_list
        .iter()
        .map(|k| format!("{}.{k}", quote(dialect, table)))
        .collect();
    PageQuery {
        sql: format!(
            "SELECT {} FROM {}{where_clause} ORDER BY {} LIMIT {limit}",
            select.join(", "),
            quote(dialect, table),
            order.join(", ")
        ),
        width: columns.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seaway_codegen::model::NeutralType;

    fn col(name: &str) -> Column {
        Column {
            name: name.into(),
            ty: NeutralType::Int {
                bits: 32,
                unsigned: false,
            },
            native: "integer".into(),
            nullable: false,
            default: None,
            identity: None,
            generated: None,
            comment: None,
            extras: vec![],
        }
    }

    /// Regression: an unqualified ORDER BY sorted PostgreSQL pages by the text output
    /// column, so composite-key tables lost and repeated rows across pages.
    #[test]
    fn pages_are_ordered_by_the_stored_key_not_its_text() {
        let (a, b) = (col("playlist_id"), col("track_id"));
        let cols = [&a, &b];
        let page = Page {
            table: "playlist_track",
            columns: &cols,
            keys: &cols,
            after: true,
            range: (None, None),
            filter: None,
            limit: 10,
        };
        let q = page_query(Dialect::Postgres, page);
        assert!(
            q.sql.ends_with(
                r#"ORDER BY "playlist_track"."playlist_id", "playlist_track"."track_id" LIMIT 10"#
            ),
            "{}",
            q.sql
        );
        assert!(
            q.sql.contains(
                r#"WHERE ("playlist_id", "track_id") > (CAST($1 AS integer), CAST($2 AS integer))"#
            ),
            "{}",
            q.sql
        );
    }
}
