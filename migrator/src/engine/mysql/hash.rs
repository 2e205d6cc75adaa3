//! MySQL/MariaDB's range checksums: a row's text joined with `CONCAT_WS`, and a range's
//! digest computed by verify from the parts streamed in key order (`Checksum::Streamed`,
//! `verify::sql_hash::Digester`). Its `GROUP_CONCAT(... ORDER BY ...)` sorts the rows'
//! texts in a temporary table and is cut silently at `max_allowed_packet`.

use super::Mysql;
use crate::engine::role::{Checksum, RangeSql, RowHash, stream_query};
use crate::engine::role::{Hash, Records, SqlHash};
use seaway_codegen::model::{Column, NeutralType};

impl Hash for Mysql {
    fn sql_hash(&self) -> Option<&dyn SqlHash> {
        Some(self)
    }
}

impl SqlHash for Mysql {
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "a default over the neutral types, not the engine"
    )]
    fn own_text(&self, c: &str, col: &Column) -> Option<String> {
        use NeutralType as T;
        let six = Some(6);
        match &col.ty {
            T::Bool => Some(format!("({c} <> 0)")),
            T::Char { .. } | T::Json | T::Date => Some(c.to_string()),
            T::Time { precision } | T::Timestamp { precision } | T::TimestampTz { precision }
                if *precision == six =>
            {
                Some(c.to_string())
            }
            _ => None,
        }
    }

    fn field(&self, e: &str, free_text: bool, nullable: bool) -> String {
        let text = if free_text {
            format!("REPLACE(REPLACE({e}, '~', '~~'), '|', '~|')")
        } else {
            e.to_string()
        };
        if nullable {
            format!("COALESCE({text}, '~N')")
        } else {
            text
        }
    }

    /// CONCAT_WS skips NULL arguments, and none is left: every nullable part is
    /// COALESCEd and the others are never NULL.
    fn join(&self, fields: &[String]) -> String {
        format!("CONCAT_WS('|', {})", fields.join(", "))
    }

    fn checksum(&self) -> Checksum {
        Checksum::Streamed
    }

    /// A digest is always streamed here (the module's comment says why); with parts,
    /// the key comes first in each row and verify tells the parts apart.
    fn range_sql(
        &self,
        row: &RowHash,
        table: &str,
        where_clause: &str,
        key: &str,
        parts: Option<&[(i64, i64)]>,
    ) -> RangeSql {
        match &row.checksum {
            // (MySQL hashes no records by value, so this sum is not asked for today.)
            Checksum::Sum(int) => {
                let (part, group) = match parts {
                    Some(parts) => {
                        let arms: Vec<String> = parts
                            .iter()
                            .enumerate()
                            .map(|(n, (first, last))| {
                                format!("WHEN {key} BETWEEN {first} AND {last} THEN {n}")
                            })
                            .collect();
                        (
                            format!("CAST(CASE {} END AS CHAR), ", arms.join(" ")),
                            " GROUP BY 1",
                        )
                    }
                    None => (String::new(), ""),
                };
                RangeSql::Aggregate(format!(
                    "SELECT {part}CAST(COUNT(*) AS CHAR), CAST(SUM({int}) AS CHAR) FROM {table}{where_clause}{group}"
                ))
            }
            Checksum::Digest | Checksum::Streamed => {
                RangeSql::Stream(stream_query(row, table, where_clause, key, parts.is_some()))
            }
        }
    }

    /// No by-value hash of a whole row that two servers share.
    fn records(&self) -> Option<&dyn Records> {
        None
    }
}
