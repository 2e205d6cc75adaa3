//! PostgreSQL: `COPY` into a temporary staging table, then one
//! `INSERT ... SELECT DISTINCT ON (key) ... ON CONFLICT DO UPDATE`. COPY streams the
//! whole page in one message flow, so the path pays no per-statement latency (sqlx 0.9
//! leaves TCP_NODELAY off, which costs ~40 ms per small statement).

use super::{Target, converted, non_keys};
use crate::transfer::read::quote;
use crate::transfer::values::{self, Family, copy_escape};
use seaway_codegen::model::{Dialect, NeutralType};

#[derive(Debug)]
pub struct PgWriter(pub sqlx::PgPool);

/// Canonical text in PostgreSQL's input syntax, where it differs (`None`: as it is).
pub(super) fn input(t: &Target, v: &str) -> Option<String> {
    match (t.source, Family::of(&t.ty)) {
        (Family::Bytes, Family::Bytes) => Some(format!("\\x{v}")),
        (Family::TimestampTz, Family::TimestampTz) => Some(format!("{v}+00")),
        (Family::Array, Family::Array) => values::json_array_to_pg(v),
        (Family::Set, Family::Array) => {
            Some(values::json_array_to_pg(&values::set_to_json_array(v)).unwrap_or_default())
        }
        _ => None,
    }
}

/// Appends one canonical value to `COPY` text in PostgreSQL's input syntax. Most values
/// need no conversion and are escaped straight from the borrowed text: no `String` per
/// value, which dominated the client's CPU on large loads.
pub(crate) fn copy_value(t: &Target, v: Option<&str>, out: &mut String) {
    let Some(v) = v else {
        out.push_str("\\N");
        return;
    };
    match converted(Dialect::Postgres, t, v) {
        Some(c) => copy_escape(Some(&c), out),
        None => copy_escape(Some(v), out),
    }
}

/// Rows as `COPY ... FROM STDIN` text, each value in PostgreSQL's input syntax.
fn copy_text(targets: &[Target], rows: &[Vec<Option<String>>]) -> String {
    let mut data = String::with_capacity(rows.len() * 64);
    for row in rows {
        for (i, (t, v)) in targets.iter().zip(row).enumerate() {
            if i > 0 {
                data.push('\t');
            }
            copy_value(t, v.as_deref(), &mut data);
        }
        data.push('\n');
    }
    data
}

/// `COPY "table" ("a", "b") FROM STDIN` for the targets' columns.
pub(crate) fn copy_in_statement(table: &str, targets: &[Target]) -> String {
    let cols: Vec<String> = targets
        .iter()
        .map(|t| quote(Dialect::Postgres, &t.name))
        .collect();
    format!(
        "COPY {} ({}) FROM STDIN",
        quote(Dialect::Postgres, table),
        cols.join(", ")
    )
}

/// One plain `COPY` of `rows` on an open connection (inside the caller's transaction,
/// if any); returns the rows copied.
pub(super) async fn copy_rows(
    conn: &mut sqlx::PgConnection,
    table: &str,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut copy = conn.copy_in_raw(&copy_in_statement(table, targets)).await?;
    copy.send(copy_text(targets, rows).into_bytes()).await?;
    copy.finish().await
}

impl PgWriter {
    /// Whether the table holds no row with `key` in `(lo, hi]` (either end open when
    /// `None`; the whole table when `key` is `None`). Asked before a chunk is loaded: an
    /// empty range can take a plain `COPY`, with no staging table and no `ON CONFLICT`.
    pub async fn range_is_empty(
        &self,
        table: &str,
        key: Option<&str>,
        (lo, hi): (Option<i64>, Option<i64>),
    ) -> Result<bool, sqlx::Error> {
        let mut conditions = Vec::new();
        if let Some(k) = key.map(|k| quote(Dialect::Postgres, k)) {
            conditions.extend(lo.map(|lo| format!("{k} > {lo}")));
            conditions.extend(hi.map(|hi| format!("{k} <= {hi}")));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT 1 FROM {}{where_clause} LIMIT 1",
            quote(Dialect::Postgres, table)
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_optional(&self.0)
            .await?;
        Ok(found.is_none())
    }

    /// Writes `rows` with one plain `COPY` straight into the table: for key ranges the
    /// destination did not have when the chunk began. Fails as a whole on any conflict
    /// (someone else wrote into the range), and the caller falls back to `upsert`.
    pub async fn insert_fresh(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<usize, sqlx::Error> {
        let mut conn = self.0.acquire().await?;
        let done = copy_rows(&mut conn, table, targets, rows).await?;
        Ok(usize::try_from(done).unwrap_or(rows.len()))
    }

    pub async fn upsert(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<usize, sqlx::Error> {
        if rows.is_empty() {
            return Ok(0);
        }
        let q = |n: &str| quote(Dialect::Postgres, n);
        let cols: Vec<String> = targets.iter().map(|t| q(&t.name)).collect();
        let keys: Vec<String> = targets
            .iter()
            .filter(|t| t.is_key)
            .map(|t| q(&t.name))
            .collect();
        let stage_cols: Vec<String> = targets
            .iter()
            .map(|t| format!("{} {}", q(&t.name), t.native))
            .collect();
        let data = copy_text(targets, rows);
        let conflict = if keys.is_empty() {
            String::new()
        } else {
            let updates: Vec<String> = non_keys(targets)
                .map(|t| format!("{0} = EXCLUDED.{0}", q(&t.name)))
                .collect();
            if updates.is_empty() {
                format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", "))
            } else {
                format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    keys.join(", "),
                    updates.join(", ")
                )
            }
        };
        let distinct = if keys.is_empty() {
            String::new()
        } else {
            format!("DISTINCT ON ({}) ", keys.join(", "))
        };
        let mut tx = self.0.begin().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE TEMP TABLE seaway_stage ({}) ON COMMIT DROP",
            stage_cols.join(", ")
        )))
        .execute(&mut *tx)
        .await?;
        let mut copy = tx
            .copy_in_raw(&format!(
                "COPY seaway_stage ({}) FROM STDIN",
                cols.join(", ")
            ))
            .await?;
        copy.send(data.into_bytes()).await?;
        copy.finish().await?;
        // OVERRIDING SYSTEM VALUE: the source's keys are kept, also in a `GENERATED ALWAYS`
        // identity column (which refuses them otherwise); tables without one ignore it.
        let insert = format!(
            "INSERT INTO {} ({cols}) OVERRIDING SYSTEM VALUE SELECT {distinct}{cols} FROM seaway_stage{}{conflict}",
            q(table),
            if keys.is_empty() {
                String::new()
            } else {
                format!(" ORDER BY {}", keys.join(", "))
            },
            cols = cols.join(", "),
        );
        let done = sqlx::raw_sql(sqlx::AssertSqlSafe(insert))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(rows.len()))
    }

    /// Identity and serial columns were written with explicit values; move their
    /// sequences on so the application's next insert does not collide. Every integer
    /// column, not only the key: a `serial` outside the key hands out values too.
    pub async fn finish_table(&self, table: &str, targets: &[Target]) -> Result<(), sqlx::Error> {
        for t in targets
            .iter()
            .filter(|t| matches!(t.ty, NeutralType::Int { .. }))
        {
            let sql = format!(
                "SELECT setval(s, (SELECT COALESCE(max({col}), 0) + 1 FROM {tbl}), false) FROM pg_get_serial_sequence($1, $2) AS s WHERE s IS NOT NULL",
                col = quote(Dialect::Postgres, &t.name),
                tbl = quote(Dialect::Postgres, table),
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(quote(Dialect::Postgres, table))
                .bind(&t.name)
                .execute(&self.0)
                .await?;
        }
        Ok(())
    }
}
