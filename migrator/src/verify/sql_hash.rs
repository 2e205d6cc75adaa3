//! Checksums computed by the database, so a range whose data is equal on both sides is
//! proven so without moving its rows (data-diff's idea). Only columns whose canonical
//! text is byte-identical on both engines take part (`canon::hashable_in_sql`); the
//! others are still read and compared by the client.
//!
//! Each row has a text form, read by the client when the row is read anyway (because
//! some of its columns are compared by the client), and a range has a checksum: its
//! `count(*)` and one value over its rows, computed by the database.
//!
//! - Between two PostgreSQL servers (14 or later) each row is hashed by value with
//!   `hash_record_extended(ROW(...), 0)` and the range's checksum is the exact sum of
//!   those hashes: each type's own hash function (the one hash partitioning relies on,
//!   stable across versions), no text built at all. Text columns are hashed under
//!   `COLLATE "C"`, so a case-insensitive collation cannot make `a` and `A` equal. Before
//!   14, the MD5 of `ROW(...)::text`, as 60 bits.
//! - Otherwise (PostgreSQL and MySQL/MariaDB, in any direction) a row's text is its
//!   columns' canonical text joined with `|`, and the range's checksum is the MD5 of its
//!   rows' texts joined with `|` in key order (`string_agg`): one
//!   digest per range instead of one per row. Per row, an MD5 costs PostgreSQL about a
//!   microsecond of set-up (a crypto context each call) and MySQL a `CONV` of its hex to
//!   sum it, which made hashing dearer than reading the table (docs/performance.md).
//!   The joined text is injective: every row has the same number of fields, free text
//!   (text, JSON, sets, other types) is escaped `~` -> `~~` and `|` -> `~|`, every other
//!   column's text is a number, a date or hex that holds neither, and NULL is `~N`. No
//!   literal holds a backslash, whose meaning depends on MySQL's `sql_mode`. Key order
//!   is the integer key's, the same on both engines.
//! - MySQL's side of a digest is computed by verify from the parts streamed in key order
//!   (`Checksum::Streamed`, `Digester`: the same bytes).
//!
//! SQLite has no digest function, so pairs with SQLite always hash in the client.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use crate::rows::read;
use crate::rows::values::Family;
use seaway_codegen::model::{Column, Dialect, NeutralType};

/// Whether `dialect` can hash rows in SQL.
pub fn supported(dialect: Dialect) -> bool {
    matches!(dialect, Dialect::Postgres | Dialect::Mysql)
}

/// One column's part of a row: its SQL expression, whether its text may hold any
/// character (so it is length-prefixed), and whether it may be NULL (so it is written
/// `~N` then).
#[derive(Debug, Clone)]
pub struct Part {
    pub expr: String,
    pub free_text: bool,
    pub nullable: bool,
}

/// How a range's rows are summed up.
#[derive(Debug, Clone)]
pub enum Checksum {
    /// The exact sum of this integer per row, in SQL.
    Sum(String),
    /// The MD5 of the rows' texts joined in key order, in SQL (`string_agg`).
    Digest,
    /// The same MD5, computed here from the parts streamed in key order (`Digester`):
    /// MySQL's side. Its `GROUP_CONCAT(... ORDER BY ...)` sorts the rows' texts in a
    /// temporary table (measured on a million MariaDB rows: 6.1 CPU seconds, where
    /// sending the same columns took 2.3) and is cut silently at `max_allowed_packet`.
    /// PostgreSQL's side stays in the database: streamed, its rows cost this process 3
    /// CPU seconds per million to decode and hash, more than `string_agg` costs the
    /// server.
    Streamed,
}

/// A row's SQL forms on one side.
#[derive(Debug, Clone)]
pub struct RowHash {
    /// Text (or a hash printed as text) that equal rows share, for the client to hash.
    pub text: String,
    pub checksum: Checksum,
    /// The parts the text joins (digests only): what a streamed digest reads.
    pub parts: Vec<Part>,
}

/// One column's text in a row hashed in SQL: the bytes of `read::select_expr`, by the
/// engine's own output of the column where that already is those bytes (integers,
/// decimals of a fixed scale, strings, uuids, JSON and doubles as printed, MySQL dates
/// and six-digit times), so the server formats nothing per value. Measured on a million
/// rows of MariaDB, the `CAST`s, `DATE_FORMAT`s and `CASE`s of the canonical select list
/// took 2.5 s of the 4 s spent building row texts.
pub fn column_part(dialect: Dialect, col: &Column) -> Part {
    use NeutralType as T;
    let c = read::quote(dialect, &col.name);
    let six = Some(6);
    let own: Option<String> = match (dialect, &col.ty) {
        (_, T::Int { .. } | T::Decimal { scale: Some(_), .. }) => Some(c.clone()),
        (_, T::Varchar { .. } | T::Text | T::Uuid | T::Float { bits: 64 }) => Some(c.clone()),
        (Dialect::Mysql, T::Bool) => Some(format!("({c} <> 0)")),
        (Dialect::Postgres, T::Bool) => Some(format!("{c}::int")),
        // bpchar's output keeps the padding that its cast to text (and MySQL) drop.
        (Dialect::Postgres, T::Char { .. }) => Some(format!("{c}::text")),
        (Dialect::Mysql, T::Char { .. } | T::Json | T::Date) => Some(c.clone()),
        (Dialect::Postgres, T::Json) if col.native.eq_ignore_ascii_case("jsonb") => Some(c.clone()),
        (
            Dialect::Mysql,
            T::Time { precision } | T::Timestamp { precision } | T::TimestampTz { precision },
        ) if *precision == six => Some(c.clone()),
        _ => None,
    };
    let free_text = col.ty != T::Uuid
        && matches!(
            Family::of(&col.ty),
            Family::Text | Family::Set | Family::Json | Family::Array | Family::Other
        );
    match own {
        // A column's own output is NULL only when the column is.
        Some(expr) => Part {
            expr,
            free_text,
            nullable: col.nullable,
        },
        None => Part {
            expr: read::select_expr(dialect, col),
            free_text,
            nullable: true,
        },
    }
}

/// PostgreSQL's limit on a function call's arguments (`FUNC_MAX_ARGS`).
const PG_MAX_ARGS: usize = 100;

/// A row's text from its parts (see the module's comment for why it is injective).
pub fn canonical(dialect: Dialect, parts: &[Part]) -> RowHash {
    let fields: Vec<String> = parts
        .iter()
        .map(|p| {
            let e = &p.expr;
            let text = match (dialect, p.free_text) {
                (Dialect::Mysql, true) => format!("REPLACE(REPLACE({e}, '~', '~~'), '|', '~|')"),
                (_, true) => format!("replace(replace(({e})::text, '~', '~~'), '|', '~|')"),
                // PostgreSQL's coalesce wants one type: the column's own output as text.
                (Dialect::Postgres, false) if p.nullable => format!("({e})::text"),
                (_, false) => e.clone(),
            };
            match (dialect, p.nullable) {
                (_, false) => text,
                (Dialect::Mysql, true) => format!("COALESCE({text}, '~N')"),
                (_, true) => format!("coalesce({text}, '~N')"),
            }
        })
        .collect();
    // CONCAT_WS skips NULL arguments, and none is left: every nullable part is
    // COALESCEd and the others are never NULL. PostgreSQL takes at most 100 arguments
    // per call, so a wide row joins groups of fields, each already joined: the same text.
    // SQLite has no digest function in SQL: its rows are hashed by the client and never
    // reach here, but its CONCAT spelling is PostgreSQL's.
    let text = match dialect {
        Dialect::Mysql => format!("CONCAT_WS('|', {})", fields.join(", ")),
        Dialect::Postgres | Dialect::Sqlite if fields.len() < PG_MAX_ARGS => {
            format!("concat_ws('|', {})", fields.join(", "))
        }
        Dialect::Postgres | Dialect::Sqlite => {
            let groups: Vec<String> = fields
                .chunks(PG_MAX_ARGS - 1)
                .map(|g| format!("concat_ws('|', {})", g.join(", ")))
                .collect();
            format!("concat_ws('|', {})", groups.join(", "))
        }
    };
    RowHash {
        text,
        checksum: match dialect {
            Dialect::Mysql => Checksum::Streamed,
            Dialect::Postgres | Dialect::Sqlite => Checksum::Digest,
        },
        parts: parts.to_vec(),
    }
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
            checksum: Checksum::Sum(int),
            parts: Vec::new(),
        }
    } else {
        RowHash {
            text: format!("{row}::text"),
            checksum: Checksum::Sum(format!(
                "('x' || substr(md5({row}::text), 1, 15))::bit(60)::bigint"
            )),
            parts: Vec::new(),
        }
    }
}

/// The query for a range's checksum in SQL: `table` and `where_clause` already SQL,
/// `key` the quoted integer key that orders a digest. Its one row: the row count and the
/// checksum (a decimal sum, or 32 hex digits; NULL for no rows), as text. A streamed
/// checksum reads `stream_query` instead.
pub fn checksum_query(
    dialect: Dialect,
    row: &RowHash,
    table: &str,
    where_clause: &str,
    key: &str,
) -> String {
    let text = &row.text;
    match (&row.checksum, dialect) {
        (Checksum::Sum(int), Dialect::Mysql) => format!(
            "SELECT CAST(COUNT(*) AS CHAR), CAST(SUM({int}) AS CHAR) FROM {table}{where_clause}"
        ),
        (Checksum::Sum(int), _) => {
            format!("SELECT count(*)::text, sum({int})::text FROM {table}{where_clause}")
        }
        (Checksum::Digest | Checksum::Streamed, _) => format!(
            "SELECT count(*)::text, md5(string_agg({text}, '|' ORDER BY {key})) \
             FROM {table}{where_clause}"
        ),
    }
}

/// The query whose rows a streamed digest reads: each part as a column, in key order.
pub fn stream_query(row: &RowHash, table: &str, where_clause: &str, key: &str) -> String {
    let columns: Vec<&str> = row.parts.iter().map(|p| p.expr.as_str()).collect();
    format!(
        "SELECT {} FROM {table}{where_clause} ORDER BY {key}",
        columns.join(", ")
    )
}

/// The digest of streamed rows, built exactly as `checksum_query`'s SQL builds it: each
/// row's parts joined with `|` (free text escaped, NULL `~N` where the part may be NULL,
/// and, as `CONCAT_WS` does, left out where it may not), the rows joined with `|`.
pub struct Digester {
    md5: md5::Md5,
    rows: u64,
    parts: Vec<(bool, bool)>,
    buf: Vec<u8>,
}

impl Digester {
    pub fn new(row: &RowHash) -> Digester {
        use md5::Digest;
        Digester {
            md5: md5::Md5::new(),
            rows: 0,
            parts: row
                .parts
                .iter()
                .map(|p| (p.free_text, p.nullable))
                .collect(),
            buf: Vec::with_capacity(1024),
        }
    }

    /// Adds one row's part values, in part order.
    pub fn row(&mut self, values: &[Option<&str>]) {
        use md5::Digest;
        let buf = &mut self.buf;
        buf.clear();
        if self.rows > 0 {
            buf.push(b'|');
        }
        let mut first = true;
        for (v, &(free, nullable)) in values.iter().zip(&self.parts) {
            let text = match v {
                None if !nullable => continue,
                None => "~N",
                Some(t) => t,
            };
            if !first {
                buf.push(b'|');
            }
            first = false;
            if free && v.is_some() {
                for &b in text.as_bytes() {
                    match b {
                        b'~' => buf.extend_from_slice(b"~~"),
                        b'|' => buf.extend_from_slice(b"~|"),
                        _ => buf.push(b),
                    }
                }
            } else {
                buf.extend_from_slice(text.as_bytes());
            }
        }
        self.md5.update(&buf[..]);
        self.rows += 1;
    }

    /// The row count and the digest as a number (`None` for no rows, as SQL's NULL).
    pub fn finish(self) -> (u64, Option<u128>) {
        use md5::Digest;
        let rows = self.rows;
        let digest: [u8; 16] = self.md5.finalize().into();
        (rows, (rows > 0).then(|| u128::from_be_bytes(digest)))
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
                nullable: true,
            },
            Part {
                expr: "b".into(),
                free_text: false,
                nullable: false,
            },
        ]
    }

    #[test]
    fn both_dialects_write_free_text_and_null_alike_with_the_same_literals() {
        let pg = canonical(Dialect::Postgres, &parts()).text;
        let my = canonical(Dialect::Mysql, &parts()).text;
        for lit in ["'~', '~~'", "'|', '~|'", "'~N'", "'|'"] {
            assert!(pg.contains(lit) && my.contains(lit), "{lit}: {pg} / {my}");
        }
        assert!(!pg.contains('\\') && !my.contains('\\'));
        // Only the free-text column is escaped, only the nullable one COALESCEd.
        assert_eq!(
            pg,
            "concat_ws('|', coalesce(replace(replace((a)::text, '~', '~~'), '|', '~|'), '~N'), b)"
        );
        let nullable_number = Part {
            expr: "n".into(),
            free_text: false,
            nullable: true,
        };
        assert_eq!(
            canonical(Dialect::Postgres, &[nullable_number]).text,
            "concat_ws('|', coalesce((n)::text, '~N'))"
        );
        assert_eq!(
            my,
            "CONCAT_WS('|', COALESCE(REPLACE(REPLACE(a, '~', '~~'), '|', '~|'), '~N'), b)"
        );
    }

    #[test]
    fn digests_join_rows_in_key_order_and_mysql_streams_its_side() {
        let row = canonical(Dialect::Postgres, &parts());
        assert!(matches!(row.checksum, Checksum::Digest));
        let q = checksum_query(Dialect::Postgres, &row, "\"t\"", "", "\"id\"");
        assert!(q.contains("md5(string_agg(concat_ws("), "{q}");
        assert!(q.contains("'|' ORDER BY \"id\")"), "{q}");
        let row = canonical(Dialect::Mysql, &parts());
        assert!(matches!(row.checksum, Checksum::Streamed));
        let q = stream_query(&row, "`t`", " WHERE `id` <= 5", "`id`");
        assert_eq!(q, "SELECT a, b FROM `t` WHERE `id` <= 5 ORDER BY `id`");
    }

    #[test]
    fn columns_whose_output_is_canonical_go_bare() {
        let col = |ty: &str, native: &str, nullable: bool| Column {
            name: "c".into(),
            ty: NeutralType::parse(ty).expect("type"),
            native: native.into(),
            nullable,
            default: None,
            identity: None,
            generated: None,
            comment: None,
            extras: vec![],
        };
        let p = column_part(Dialect::Mysql, &col("timestamp(6)", "datetime(6)", false));
        assert_eq!((p.expr.as_str(), p.nullable), ("`c`", false));
        // Fewer digits than six: the canonical text pads them, so it is formatted.
        let p = column_part(Dialect::Mysql, &col("timestamp(0)", "datetime", false));
        assert!(p.expr.starts_with("DATE_FORMAT"), "{}", p.expr);
        assert!(p.nullable, "a formatted value may be NULL");
        let p = column_part(Dialect::Postgres, &col("char(3)", "character(3)", true));
        assert_eq!(p.expr, "\"c\"::text");
        assert!(p.free_text);
        let p = column_part(Dialect::Postgres, &col("uuid", "uuid", false));
        assert!(!p.free_text);
        let p = column_part(Dialect::Postgres, &col("json", "json", false));
        assert_ne!(
            p.expr, "\"c\"",
            "json keeps its text as written: canonical form"
        );
    }

    #[test]
    fn postgres_records_hash_by_value_from_14_on() {
        let cols = ["\"id\"".to_string()];
        let sum = |r: RowHash| match r.checksum {
            Checksum::Sum(int) => int,
            Checksum::Digest | Checksum::Streamed => String::new(),
        };
        assert!(sum(postgres_record(&cols, true)).starts_with("hash_record_extended(ROW(\"id\")"));
        assert!(sum(postgres_record(&cols, false)).contains("md5(ROW(\"id\")::text)"));
    }

    #[test]
    fn a_streamed_digest_is_the_md5_of_the_text_sql_joins() {
        use md5::Digest;
        let row = canonical(Dialect::Mysql, &parts());
        let mut d = Digester::new(&row);
        d.row(&[Some("a|b~c"), Some("1")]);
        d.row(&[None, Some("2")]);
        // A NULL where the part may not be NULL is left out, as CONCAT_WS does.
        d.row(&[Some("x"), None]);
        let (rows, digest) = d.finish();
        let want: [u8; 16] = md5::Md5::digest(b"a~|b~~c|1|~N|2|x").into();
        assert_eq!((rows, digest), (3, Some(u128::from_be_bytes(want))));
        assert_eq!(Digester::new(&row).finish(), (0, None));
    }

    /// PostgreSQL refuses a call of more than 100 arguments; a wide row's text is the same
    /// joined in groups.
    #[test]
    fn wide_postgres_rows_join_groups_of_at_most_99_fields() {
        let parts: Vec<Part> = (0..250)
            .map(|i| Part {
                expr: format!("c{i}"),
                free_text: false,
                nullable: false,
            })
            .collect();
        let text = canonical(Dialect::Postgres, &parts).text;
        assert_eq!(text.matches("concat_ws(").count(), 4, "{text}");
        for call in text.split("concat_ws('|', ").skip(1) {
            let args = call
                .split(')')
                .next()
                .unwrap_or_default()
                .split(", ")
                .count();
            assert!(args < 100, "{args} arguments");
        }
        assert!(
            canonical(Dialect::Mysql, &parts)
                .text
                .starts_with("CONCAT_WS('|', c0, c1")
        );
    }
}
