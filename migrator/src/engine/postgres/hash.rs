//! PostgreSQL's range checksums: a row's text joined with `concat_ws`, a range's digest
//! `md5(string_agg(...))` in SQL, and, between two PostgreSQL servers, rows hashed by
//! value (`Records`).

use super::Postgres;
use crate::engine::role::{Checksum, Part, RangeSql, RowHash, stream_query};
use crate::engine::role::{Hash, Records, SqlHash};
use seaway_codegen::model::{Column, NeutralType};

/// PostgreSQL's limit on a function call's arguments (`FUNC_MAX_ARGS`).
const MAX_ARGS: usize = 100;

impl Hash for Postgres {
    fn sql_hash(&self) -> Option<&dyn SqlHash> {
        Some(self)
    }
}

impl SqlHash for Postgres {
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "a default over the neutral types, not the engine"
    )]
    fn own_text(&self, c: &str, col: &Column) -> Option<String> {
        match &col.ty {
            NeutralType::Bool => Some(format!("{c}::int")),
            // bpchar's output keeps the padding that its cast to text (and MySQL) drop.
            NeutralType::Char { .. } => Some(format!("{c}::text")),
            NeutralType::Json if col.native.eq_ignore_ascii_case("jsonb") => Some(c.to_string()),
            _ => None,
        }
    }

    fn field(&self, e: &str, free_text: bool, nullable: bool) -> String {
        let text = match (free_text, nullable) {
            (true, _) => format!("replace(replace(({e})::text, '~', '~~'), '|', '~|')"),
            // coalesce wants one type: the column's own output as text.
            (false, true) => format!("({e})::text"),
            (false, false) => e.to_string(),
        };
        if nullable {
            format!("coalesce({text}, '~N')")
        } else {
            text
        }
    }

    /// At most 100 arguments per call, so a wide row joins groups of fields, each
    /// already joined: the same text.
    fn join(&self, fields: &[String]) -> String {
        if fields.len() < MAX_ARGS {
            format!("concat_ws('|', {})", fields.join(", "))
        } else {
            let groups: Vec<String> = fields
                .chunks(MAX_ARGS - 1)
                .map(|g| format!("concat_ws('|', {})", g.join(", ")))
                .collect();
            format!("concat_ws('|', {})", groups.join(", "))
        }
    }

    fn checksum(&self) -> Checksum {
        Checksum::Digest
    }

    /// Parts come from a `VALUES` list, each summed up by a `LATERAL` aggregate over its
    /// own key range (an index range scan per part, as the plain aggregate over the
    /// range), so the plan cannot change with the number of parts. Measured on 100,000
    /// rows against one aggregate over the range: the same time for 8 or 32 parts. A
    /// `GROUP BY` over an expression of the key (`(key - first) / step`) made the planner
    /// sort the rows (it cannot know there are a few groups: twice the time), and a join
    /// of the `VALUES` list to the table was planned as 32 comparisons per row once the
    /// list held 32 parts (six times).
    fn range_sql(
        &self,
        row: &RowHash,
        table: &str,
        where_clause: &str,
        key: &str,
        parts: Option<&[(i64, i64)]>,
    ) -> RangeSql {
        let text = &row.text;
        let (count, sum) = match &row.checksum {
            Checksum::Sum(int) => ("count(*)::text".to_string(), format!("sum({int})::text")),
            Checksum::Digest => (
                "count(*)::text".to_string(),
                format!("md5(string_agg({text}, '|' ORDER BY {key}))"),
            ),
            Checksum::Streamed => {
                return RangeSql::Stream(stream_query(
                    row,
                    table,
                    where_clause,
                    key,
                    parts.is_some(),
                ));
            }
        };
        let Some(parts) = parts else {
            return RangeSql::Aggregate(format!(
                "SELECT {count}, {sum} FROM {table}{where_clause}"
            ));
        };
        let sums = format!("{count} AS seaway_rows, {sum} AS seaway_sum");
        let values: Vec<String> = parts
            .iter()
            .enumerate()
            .map(|(n, (first, last))| {
                format!("({n}, CAST({first} AS bigint), CAST({last} AS bigint))")
            })
            .collect();
        let within =
            format!("{key} BETWEEN seaway_parts.seaway_first AND seaway_parts.seaway_last");
        let where_clause = if where_clause.is_empty() {
            format!(" WHERE {within}")
        } else {
            format!("{where_clause} AND {within}")
        };
        RangeSql::Aggregate(format!(
            "SELECT seaway_parts.seaway_n::text, seaway_part.seaway_rows, seaway_part.seaway_sum \
             FROM (VALUES {}) AS seaway_parts (seaway_n, seaway_first, seaway_last) \
             CROSS JOIN LATERAL (SELECT {sums} FROM {table}{where_clause}) AS seaway_part",
            values.join(", ")
        ))
    }

    fn records(&self) -> Option<&dyn Records> {
        Some(self)
    }
}

/// Between two PostgreSQL servers (14 or later) each row is hashed by value with
/// `hash_record_extended(ROW(...), 0)` and a range's checksum is the exact sum of those
/// hashes: each type's own hash function (the one hash partitioning relies on, stable
/// across versions), no text built at all. Text columns are hashed under `COLLATE "C"`,
/// so a case-insensitive collation cannot make `a` and `A` equal. Before 14, the MD5 of
/// `ROW(...)::text`, as 60 bits.
impl Records for Postgres {
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "a default over the neutral types, not the engine"
    )]
    fn part(&self, quoted: &str, col: &Column, own: bool, canonical: String) -> Part {
        use NeutralType as T;
        let own_hash = own
            && match &col.ty {
                T::Bool
                | T::Int { .. }
                | T::Decimal { .. }
                | T::Float { .. }
                | T::Date
                | T::Time { .. }
                | T::Timestamp { .. }
                | T::TimestampTz { .. }
                | T::Uuid
                | T::Binary { .. } => true,
                T::Char { .. } | T::Varchar { .. } | T::Text => true,
                T::Json => col.native.eq_ignore_ascii_case("jsonb"),
                _ => false,
            };
        let expr = match (own_hash, &col.ty) {
            (true, T::Char { .. } | T::Varchar { .. } | T::Text) => {
                format!("{quoted} COLLATE \"C\"")
            }
            (true, _) => quoted.to_string(),
            (false, _) => format!("({canonical}) COLLATE \"C\""),
        };
        // A record's fields need no separator or NULL marker: ROW(...) keeps them apart.
        Part {
            expr,
            free_text: false,
            nullable: false,
        }
    }

    fn row(&self, columns: &[String], by_value: bool) -> (String, Checksum) {
        let row = format!("ROW({})", columns.join(", "));
        if by_value {
            let int = format!("hash_record_extended({row}, 0)");
            (format!("{int}::text"), Checksum::Sum(int))
        } else {
            (
                format!("{row}::text"),
                Checksum::Sum(format!(
                    "('x' || substr(md5({row}::text), 1, 15))::bit(60)::bigint"
                )),
            )
        }
    }
}
