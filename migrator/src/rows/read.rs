//! Source side: each engine's `SELECT` list puts every value in canonical text
//! (`engine/<name>/read.rs`, the forms in `values.rs`), and pages are read by keyset,
//! never OFFSET:
//! `WHERE (k1, k2) > (last1, last2) AND <chunk range> ORDER BY k1, k2 LIMIT n`.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use seaway_codegen::model::{Column, Dialect};

/// Quotes an identifier for `dialect`.
pub fn quote(dialect: Dialect, name: &str) -> String {
    // Each engine's one quoting function lives in its codegen home.
    seaway_codegen::engine::quote_ident(dialect, name)
}

/// The expression that reads `col` as canonical text.
pub fn select_expr(dialect: Dialect, col: &Column) -> String {
    crate::engine::of(dialect).select_expr(&quote(dialect, &col.name), col)
}

/// The expression that reads `col` as canonical text over a dialect's *text* protocol
/// (no prepared statement), for the row pipe (`row_pipe.rs`): `Read::text_expr`.
pub fn text_expr(dialect: Dialect, col: &Column) -> String {
    crate::engine::of(dialect).text_expr(&quote(dialect, &col.name), col)
}

/// The row pipe's query for a whole chunk: every column read by `text_expr`, the integer
/// key's range `(lo, hi]` (integers, formatted: nothing user-supplied is spliced in
/// besides the mapping's own `where:` SQL, which every read uses) and the filter. No
/// keyset and no `LIMIT`: the chunk lands in one destination statement, so order does
/// not matter and one query replaces the chunk's pages.
pub fn chunk_query(
    dialect: Dialect,
    table: &str,
    columns: &[&Column],
    key: Option<&Column>,
    (lo, hi): (Option<i64>, Option<i64>),
    filter: Option<&str>,
) -> String {
    let select: Vec<String> = columns.iter().map(|c| text_expr(dialect, c)).collect();
    let where_clause = where_clause(&range_conditions(dialect, key, (lo, hi), filter));
    format!(
        "SELECT {} FROM {}{where_clause}",
        select.join(", "),
        quote(dialect, table)
    )
}

/// The conditions of an integer key's chunk range `(lo, hi]` (the bounds are numbers,
/// written into the SQL as such) and of the mapping's `where:` filter: what every read of
/// a chunk (pages, the row pipe, verify's checksums) filters by.
pub fn range_conditions(
    dialect: Dialect,
    key: Option<&Column>,
    (lo, hi): (Option<i64>, Option<i64>),
    filter: Option<&str>,
) -> Vec<String> {
    let mut conditions = key_range(dialect, key.map(|k| k.name.as_str()), (lo, hi));
    conditions.extend(filter.map(|f| format!("({f})")));
    conditions
}

/// The conditions of the integer key column `key`'s range `(lo, hi]` (either end open
/// when `None`; none at all without a key).
pub fn key_range(
    dialect: Dialect,
    key: Option<&str>,
    (lo, hi): (Option<i64>, Option<i64>),
) -> Vec<String> {
    let mut conditions = Vec::new();
    if let Some(k) = key.map(|k| quote(dialect, k)) {
        conditions.extend(lo.map(|lo| format!("{k} > {lo}")));
        conditions.extend(hi.map(|hi| format!("{k} <= {hi}")));
    }
    conditions
}

/// Every row of `table` (under the filter) as canonical text, in no order: for tables
/// without a key, read whole.
pub fn whole_query(
    dialect: Dialect,
    table: &str,
    columns: &[&Column],
    filter: Option<&str>,
) -> String {
    let select: Vec<String> = columns.iter().map(|c| select_expr(dialect, c)).collect();
    let conditions = range_conditions(dialect, None, (None, None), filter);
    format!(
        "SELECT {} FROM {}{}",
        select.join(", "),
        quote(dialect, table),
        where_clause(&conditions)
    )
}

/// `count(*)` of `table` (under the mapping's `where:` filter), as text.
pub fn count_query(dialect: Dialect, table: &str, filter: Option<&str>) -> String {
    let conditions = range_conditions(dialect, None, (None, None), filter);
    format!(
        "SELECT {} FROM {}{}",
        as_text(dialect, "count(*)"),
        quote(dialect, table),
        where_clause(&conditions)
    )
}

/// The smallest and largest value of an integer `key` in `table` (under the filter), as
/// text: where range chunks start and end.
pub fn min_max_query(dialect: Dialect, table: &str, key: &Column, filter: Option<&str>) -> String {
    let k = quote(dialect, &key.name);
    let conditions = range_conditions(dialect, None, (None, None), filter);
    format!(
        "SELECT {}, {} FROM {}{}",
        as_text(dialect, &format!("MIN({k})")),
        as_text(dialect, &format!("MAX({k})")),
        quote(dialect, table),
        where_clause(&conditions)
    )
}

/// `expr` cast to text, so every driver reads it as a string.
pub fn as_text(dialect: Dialect, expr: &str) -> String {
    crate::engine::of(dialect).as_text(expr)
}

/// The chunk boundaries of a composite or non-integer key: every `span`-th key in key
/// order, as canonical text, found in one pass over the key (a window function over the
/// index; no OFFSET).
pub fn sample_query(
    dialect: Dialect,
    table: &str,
    keys: &[&Column],
    filter: Option<&str>,
    span: i64,
) -> String {
    let names: Vec<String> = keys.iter().map(|k| quote(dialect, &k.name)).collect();
    let canonical: Vec<String> = keys.iter().map(|k| select_expr(dialect, k)).collect();
    // Qualified: PostgreSQL resolves a bare ORDER BY name to the output column first, and
    // `"id"::text AS id` would order the boundaries as text (`71` after `285`).
    let order: Vec<String> = names.iter().map(|n| format!("seaway_keys.{n}")).collect();
    let where_clause = filter.map(|f| format!(" WHERE ({f})")).unwrap_or_default();
    format!(
        "SELECT {canon} FROM (SELECT {cols}, row_number() OVER (ORDER BY {cols}) AS seaway_rn FROM {t}{where_clause}) AS seaway_keys WHERE seaway_rn % {span} = 0 ORDER BY {order}",
        canon = canonical.join(", "),
        cols = names.join(", "),
        order = order.join(", "),
        t = quote(dialect, table),
        span = span.max(1),
    )
}

/// ` WHERE a AND b`, or nothing for no conditions.
pub fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// A placeholder for a key value in a comparison, cast back to the key's type where the
/// engine will not compare text with it by itself (PostgreSQL).
pub fn key_param(dialect: Dialect, n: usize, key: &Column) -> String {
    crate::engine::of(dialect).key_param(n, &key.native)
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
    /// Whether the chunk's sampled key bounds `(lo, hi]` are bound after the previous key
    /// (other keys than a single integer: composite or text keys).
    pub key_range: (bool, bool),
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
        key_range,
        filter,
        limit,
    } = page;
    let mut select: Vec<String> = columns.iter().map(|c| select_expr(dialect, c)).collect();
    select.extend(keys.iter().map(|k| select_expr(dialect, k)));
    let key_list: Vec<String> = keys.iter().map(|k| quote(dialect, &k.name)).collect();
    let mut conditions = Vec::new();
    // Parameters are numbered in the order they appear (MySQL's and SQLite's `?` are
    // positional): the previous key, then the chunk's lower bound, then its upper.
    let mut bound = 0;
    let mut compare = |op: &str| {
        let params: Vec<String> = keys
            .iter()
            .map(|k| {
                bound += 1;
                key_param(dialect, bound, k)
            })
            .collect();
        format!("({}) {op} ({})", key_list.join(", "), params.join(", "))
    };
    if after {
        conditions.push(compare(">"));
    }
    if key_range.0 {
        conditions.push(compare(">"));
    }
    if key_range.1 {
        conditions.push(compare("<="));
    }
    let single = match keys {
        [k] => Some(*k),
        _ => None,
    };
    conditions.extend(range_conditions(dialect, single, range, filter));
    let where_clause = where_clause(&conditions);
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

    fn typed(name: &str, ty: NeutralType) -> Column {
        Column { ty, ..col(name) }
    }

    /// The boundaries come back in key order, not in the order of their text (`71`
    /// before `285`): PostgreSQL would sort by the output column `"a"::text AS a`.
    #[test]
    fn sampled_boundaries_are_ordered_by_the_key_itself() {
        let (a, b) = (col("a"), col("b"));
        let q = sample_query(Dialect::Postgres, "t", &[&a, &b], None, 500);
        assert!(
            q.ends_with("ORDER BY seaway_keys.\"a\", seaway_keys.\"b\""),
            "{q}"
        );
        assert!(q.contains("seaway_rn % 500 = 0"), "{q}");
    }

    /// The row pipe reads MySQL columns bare where the text protocol already prints the
    /// canonical form, and keeps the canonical expression where it does not.
    #[test]
    fn mysql_chunk_reads_bare_only_what_is_already_canonical() {
        let cols = [
            col("id"),
            typed("at", NeutralType::Timestamp { precision: Some(6) }),
            typed("at0", NeutralType::Timestamp { precision: Some(0) }),
            typed("ok", NeutralType::Bool),
            typed("f", NeutralType::Float { bits: 32 }),
            typed("d", NeutralType::Float { bits: 64 }),
            typed(
                "b",
                NeutralType::Binary {
                    length: None,
                    fixed: false,
                },
            ),
            typed("j", NeutralType::Json),
        ];
        let refs: Vec<&Column> = cols.iter().collect();
        let sql = chunk_query(
            Dialect::Mysql,
            "t",
            &refs,
            Some(&cols[0]),
            (Some(0), Some(100)),
            None,
        );
        assert_eq!(
            sql,
            "SELECT `id`, `at`, DATE_FORMAT(`at0`, '%Y-%m-%d %H:%i:%s.%f'), \
             CASE WHEN `ok` IS NULL THEN NULL WHEN `ok` <> 0 THEN '1' ELSE '0' END, \
             CAST(CAST(`f` AS DOUBLE) AS CHAR), `d`, LOWER(HEX(`b`)), `j` \
             FROM `t` WHERE `id` > 0 AND `id` <= 100"
        );
        // Other dialects read exactly what a page reads.
        assert_eq!(
            text_expr(Dialect::Postgres, &cols[3]),
            select_expr(Dialect::Postgres, &cols[3])
        );
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
            key_range: (false, true),
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
                r#"WHERE ("playlist_id", "track_id") > (CAST($1 AS integer), CAST($2 AS integer)) AND ("playlist_id", "track_id") <= (CAST($3 AS integer), CAST($4 AS integer))"#
            ),
            "{}",
            q.sql
        );
    }
}
