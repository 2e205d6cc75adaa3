//! Checksums computed by the database, so a range whose data is equal on both sides is
//! proven so without moving its rows (data-diff's idea). Only columns whose canonical
//! text is byte-identical on both engines take part (`canon::hashable_in_sql`); the
//! others are still read and compared by the client.
//!
//! Each row has a text form, read by the client when the row is read anyway (because
//! some of its columns are compared by the client), and a range has a checksum: its
//! `count(*)` and one value over its rows, computed by the database.
//!
//! - Between two servers of an engine that hashes rows by value (`engine::Records`:
//!   PostgreSQL 14 or later, `hash_record_extended`), the range's checksum is the exact
//!   sum of the rows' hashes, and no text is built at all.
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
//!
//! What is the same for every engine is here; each engine's spelling is its
//! `engine/<name>/hash.rs` (`engine::SqlHash`).

pub use crate::engine::role::{Checksum, Hasher, Part, RangeSql, RowHash};
use crate::rows::read;
use crate::rows::values::Family;
use seaway_codegen::model::{Column, Dialect, NeutralType};

/// `dialect`'s hashing in SQL, if it has one (`engine::Hash::sql_hash`).
pub fn hasher(dialect: Dialect) -> Option<Hasher> {
    crate::engine::of(dialect)
        .sql_hash()
        .map(|sql| Hasher { dialect, sql })
}

/// One column's text in a row hashed in SQL: the bytes of `read::select_expr`, by the
/// engine's own output of the column where that already is those bytes (integers,
/// decimals of a fixed scale, strings, uuids, JSON and doubles as printed, MySQL dates
/// and six-digit times), so the server formats nothing per value. Measured on a million
/// rows of MariaDB, the `CAST`s, `DATE_FORMAT`s and `CASE`s of the canonical select list
/// took 2.5 s of the 4 s spent building row texts.
pub fn column_part(h: Hasher, col: &Column) -> Part {
    use NeutralType as T;
    let c = read::quote(h.dialect, &col.name);
    let own: Option<String> = match &col.ty {
        T::Int { .. } | T::Decimal { scale: Some(_), .. } => Some(c.clone()),
        T::Varchar { .. } | T::Text | T::Uuid | T::Float { bits: 64 } => Some(c.clone()),
        _ => h.sql.own_text(&c, col),
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
            expr: read::select_expr(h.dialect, col),
            free_text,
            nullable: true,
        },
    }
}

/// A row's text from its parts (see the module's comment for why it is injective).
pub fn canonical(h: Hasher, parts: &[Part]) -> RowHash {
    let fields: Vec<String> = parts
        .iter()
        .map(|p| h.sql.field(&p.expr, p.free_text, p.nullable))
        .collect();
    RowHash {
        text: h.sql.join(&fields),
        checksum: h.sql.checksum(),
        parts: parts.to_vec(),
        hasher: h,
    }
}

/// The row forms between two servers of one engine that hashes records by value, over
/// the parts' expressions.
pub fn record(
    h: Hasher,
    records: &dyn crate::engine::role::Records,
    parts: &[Part],
    by_value: bool,
) -> RowHash {
    let columns: Vec<String> = parts.iter().map(|p| p.expr.clone()).collect();
    let (text, checksum) = records.row(&columns, by_value);
    RowHash {
        text,
        checksum,
        parts: Vec::new(),
        hasher: h,
    }
}

/// What reads a range's count and checksum of `row`: `table` and `where_clause` already
/// SQL, `key` the quoted integer key that orders a digest; with `parts` (inclusive key
/// ranges), one count and checksum per part (`SqlHash::range_sql`).
pub fn range_sql(
    row: &RowHash,
    table: &str,
    where_clause: &str,
    key: &str,
    parts: Option<&[(i64, i64)]>,
) -> RangeSql {
    row.hasher
        .sql
        .range_sql(row, table, where_clause, key, parts)
}

/// The digest of streamed rows, built exactly as a digest in SQL (`SqlHash::range_sql`) builds it: each
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

    fn h(dialect: Dialect) -> Hasher {
        hasher(dialect).expect("hashes in SQL")
    }

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
        let pg = canonical(h(Dialect::Postgres), &parts()).text;
        let my = canonical(h(Dialect::Mysql), &parts()).text;
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
            canonical(h(Dialect::Postgres), &[nullable_number]).text,
            "concat_ws('|', coalesce((n)::text, '~N'))"
        );
        assert_eq!(
            my,
            "CONCAT_WS('|', COALESCE(REPLACE(REPLACE(a, '~', '~~'), '|', '~|'), '~N'), b)"
        );
    }

    #[test]
    fn digests_join_rows_in_key_order_and_mysql_streams_its_side() {
        let row = canonical(h(Dialect::Postgres), &parts());
        assert!(matches!(row.checksum, Checksum::Digest));
        let RangeSql::Aggregate(q) = range_sql(&row, "\"t\"", "", "\"id\"", None) else {
            panic!("PostgreSQL digests in SQL")
        };
        assert!(q.contains("md5(string_agg(concat_ws("), "{q}");
        assert!(q.contains("'|' ORDER BY \"id\")"), "{q}");
        let row = canonical(h(Dialect::Mysql), &parts());
        assert!(matches!(row.checksum, Checksum::Streamed));
        let RangeSql::Stream(q) = range_sql(&row, "`t`", " WHERE `id` <= 5", "`id`", None) else {
            panic!("MySQL streams its digests")
        };
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
        let p = column_part(
            h(Dialect::Mysql),
            &col("timestamp(6)", "datetime(6)", false),
        );
        assert_eq!((p.expr.as_str(), p.nullable), ("`c`", false));
        // Fewer digits than six: the canonical text pads them, so it is formatted.
        let p = column_part(h(Dialect::Mysql), &col("timestamp(0)", "datetime", false));
        assert!(p.expr.starts_with("DATE_FORMAT"), "{}", p.expr);
        assert!(p.nullable, "a formatted value may be NULL");
        let p = column_part(h(Dialect::Postgres), &col("char(3)", "character(3)", true));
        assert_eq!(p.expr, "\"c\"::text");
        assert!(p.free_text);
        let p = column_part(h(Dialect::Postgres), &col("uuid", "uuid", false));
        assert!(!p.free_text);
        let p = column_part(h(Dialect::Postgres), &col("json", "json", false));
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
        let pg = h(Dialect::Postgres);
        let records = pg.sql.records().expect("PostgreSQL hashes records");
        let parts = [Part {
            expr: cols[0].clone(),
            free_text: false,
            nullable: false,
        }];
        let by_value = record(pg, records, &parts, true);
        assert!(sum(by_value).starts_with("hash_record_extended(ROW(\"id\")"));
        assert!(sum(record(pg, records, &parts, false)).contains("md5(ROW(\"id\")::text)"));
        assert!(h(Dialect::Mysql).sql.records().is_none());
    }

    #[test]
    fn a_streamed_digest_is_the_md5_of_the_text_sql_joins() {
        use md5::Digest;
        let row = canonical(h(Dialect::Mysql), &parts());
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
        let text = canonical(h(Dialect::Postgres), &parts).text;
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
            canonical(h(Dialect::Mysql), &parts)
                .text
                .starts_with("CONCAT_WS('|', c0, c1")
        );
    }
}
