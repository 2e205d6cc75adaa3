//! Source side: each dialect's `SELECT` list puts every value in canonical text
//! (see `values.rs`), and pages are read by keyset, never OFFSET:
//! `WHERE (k1, k2) > (last1, last2) AND <chunk range> ORDER BY k1, k2 LIMIT n`.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use super::values::Family;
use seaway_codegen::model::{Column, Dialect, NeutralType};

/// Quotes an identifier for `dialect`.
pub fn quote(dialect: Dialect, name: &str) -> String {
    // Each engine's one quoting function lives in its codegen home.
    seaway_codegen::engine::quote_ident(dialect, name)
}

/// The expression that reads `col` as canonical text.
pub fn select_expr(dialect: Dialect, col: &Column) -> String {
    let c = quote(dialect, &col.name);
    match dialect {
        Dialect::Postgres => postgres_expr(&c, col),
        Dialect::Mysql => mysql_expr(&c, col),
        Dialect::Sqlite => sqlite_expr(&c, col),
    }
}

#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "a default over the value families, not the engine"
)]
fn postgres_expr(c: &str, col: &Column) -> String {
    match Family::of(&col.ty) {
        Family::Bool => format!("CASE WHEN {c} THEN '1' WHEN NOT {c} THEN '0' END"),
        Family::Bytes => format!("encode({c}, 'hex')"),
        Family::Date => format!("to_char({c}, 'YYYY-MM-DD')"),
        // The zone is part of the value: a PostgreSQL destination keeps it, the others
        // convert to UTC when they drop it (write/mysql.rs, write/sqlite.rs).
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

#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "a default over the value families, not the engine"
)]
fn mysql_expr(c: &str, col: &Column) -> String {
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

/// The expression that reads `col` as canonical text over a dialect's *text* protocol
/// (no prepared statement), for the row pipe (`row_pipe.rs`). MySQL already sends every
/// value of a text-protocol result as text, and for most types that text is the canonical
/// form itself (checked against `mysql_expr` on MariaDB 10.11: integers, decimals,
/// doubles, strings, json, uuid, inet, enum, set, year, dates, and times and date-times
/// at six fractional digits), so the column goes bare and the server evaluates no
/// `CAST`/`DATE_FORMAT` per value. Other dialects read as in `select_expr`.
pub fn text_expr(dialect: Dialect, col: &Column) -> String {
    let c = quote(dialect, &col.name);
    match dialect {
        Dialect::Mysql if mysql_text_is_canonical(&col.ty) => c,
        Dialect::Mysql | Dialect::Postgres | Dialect::Sqlite => select_expr(dialect, col),
    }
}

/// Whether MySQL's text-protocol output of a `ty` column is already its canonical text
/// (`mysql_expr`'s result). Not so for bools (`tinyint(1)` may hold 5; canonical is
/// `1`), FLOAT (six significant digits), bytes, bits and spatial values (hex), and times
/// and date-times below six fractional digits (the text protocol prints only the
/// column's digits; canonical text has six).
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "a default over the value families, not the engine"
)]
fn mysql_text_is_canonical(ty: &NeutralType) -> bool {
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
    let mut conditions = Vec::new();
    if let Some(k) = key.map(|k| quote(dialect, &k.name)) {
        conditions.extend(lo.map(|lo| format!("{k} > {lo}")));
        conditions.extend(hi.map(|hi| format!("{k} <= {hi}")));
    }
    conditions.extend(filter.map(|f| format!("({f})")));
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
    match dialect {
        Dialect::Mysql => format!("CAST({expr} AS CHAR)"),
        Dialect::Postgres | Dialect::Sqlite => format!("CAST({expr} AS TEXT)"),
    }
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

/// SQLite keeps whatever it was given, so its reads normalise storage classes too.
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "a default over the value families, not the engine"
)]
fn sqlite_expr(c: &str, col: &Column) -> String {
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
            sqlite_real(c)
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
        // `GEOMETRY` column is not text); write/sqlite.rs binds it back as that class.
        Family::Other => format!("CASE WHEN {c} IS NULL THEN NULL ELSE quote({c}) END"),
        _ => format!("CAST({c} AS TEXT)"),
    }
}

/// An SQLite REAL in the fewest significant digits (15, 16 or 17) that read back as it.
fn sqlite_real(c: &str) -> String {
    let digits = |n: u8| format!("printf('%!.{n}g', {c})");
    format!(
        "CASE WHEN CAST({d15} AS REAL) = {c} THEN {d15} WHEN CAST({d16} AS REAL) = {c} THEN {d16} ELSE {d17} END",
        d15 = digits(15),
        d16 = digits(16),
        d17 = digits(17),
    )
}

/// A placeholder for a key value in a comparison, cast back to the key's type where the
/// engine will not compare text with it by itself (PostgreSQL).
pub fn key_param(dialect: Dialect, n: usize, key: &Column) -> String {
    match dialect {
        Dialect::Postgres => format!("CAST(${n} AS {})", key.native),
        Dialect::Mysql | Dialect::Sqlite => "?".to_string(),
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
