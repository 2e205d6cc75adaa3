//! PostgreSQL: `COPY` into a temporary staging table, then one
//! `INSERT ... SELECT DISTINCT ON (key) ... ON CONFLICT DO UPDATE`. COPY streams the
//! whole page in one message flow, so the path pays no per-statement latency (sqlx 0.9
//! leaves TCP_NODELAY off, which costs ~40 ms per small statement).

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use crate::rows::plan::Target;
use crate::rows::values::{self, Family, copy_escape};
use crate::rows::write::outcome::{WriteError, Written};
use crate::rows::write::sql::{KeyCheck, common_input, non_keys};
use seaway_codegen::engine::quote_ident as quote;
use seaway_codegen::model::{Dialect, NeutralType};

#[derive(Debug)]
pub struct PgWriter(pub sqlx::PgPool);

/// Keys per presence check: well under PostgreSQL's 65,535 bind parameters.
const MAX_KEYS: usize = 8_192;

/// A key parameter, cast to the column's type (PostgreSQL will not compare text with it).
fn key_placeholder(n: usize, t: &Target) -> String {
    format!("CAST(${n} AS {})", t.native)
}

/// One side of the "row differs" test of an upsert (`side` is `seaway_t`, the row held,
/// or `EXCLUDED`, the row sent). Types whose `=` is exact identity are compared as they
/// are; every other type as its text under `COLLATE "C"`, because its `=` may equate
/// values that differ (`numeric` 1.5 = 1.50, `interval` 1 day = 24 hours, a
/// case-insensitive collation, `citext`), has no `=` at all (`json`, `xml`, `point`), or
/// compares something else (`box` compares areas). A change such an `=` missed would
/// never be written.
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "a default over the neutral types, not the engine"
)]
fn compared(t: &Target, side: &str) -> String {
    let c = format!("{side}.{}", quote(Dialect::Postgres, &t.name));
    match t.ty {
        NeutralType::Bool
        | NeutralType::Int { .. }
        | NeutralType::Date
        | NeutralType::Timestamp { .. }
        | NeutralType::TimestampTz { .. }
        | NeutralType::Uuid
        | NeutralType::Binary { .. } => c,
        _ => format!("{c}::text COLLATE \"C\""),
    }
}

/// Canonical text in PostgreSQL's input syntax, where it differs (`None`: as it is).
pub(crate) fn input(t: &Target, v: &str) -> Option<String> {
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
    match input(t, v).or_else(|| common_input(t, v)) {
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
pub(crate) async fn copy_rows(
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
        range: (Option<i64>, Option<i64>),
    ) -> Result<bool, sqlx::Error> {
        crate::rows::write::sql::range_is_empty(&self.0, Dialect::Postgres, table, key, range).await
    }

    /// Writes `rows` with one plain `COPY` straight into the table: for key ranges the
    /// destination did not have when the chunk began. Fails as a whole on any conflict
    /// (someone else wrote into the range), and the caller falls back to `upsert`.
    pub async fn insert_fresh(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<Written, sqlx::Error> {
        let mut conn = self.0.acquire().await?;
        // COPY's own count: the rows the table took, not the rows sent. Fewer (a trigger
        // that dropped some) fails the fast path; the upsert then names the missing keys.
        let copied = copy_rows(&mut conn, table, targets, rows).await?;
        if copied != rows.len() as u64 {
            return Err(sqlx::Error::Protocol(format!(
                "COPY took {copied} of {} rows",
                rows.len()
            )));
        }
        Ok(Written::inserted(copied))
    }

    /// Stages the page with `COPY`, then one `INSERT ... SELECT DISTINCT ON (key) ... ON
    /// CONFLICT DO UPDATE ... WHERE <the row differs>`: a row the table already holds
    /// exactly is not updated (no new row version, no WAL, no trigger). `RETURNING (xmax =
    /// 0)` tells inserted rows from updated ones (a fresh row version has no deleting
    /// transaction); rows neither returned nor missing are the unchanged ones.
    pub async fn upsert(
        &self,
        table: &str,
        targets: &[Target],
        rows: &[Vec<Option<String>>],
    ) -> Result<Written, WriteError> {
        if rows.is_empty() {
            return Ok(Written::default());
        }
        let mut conn = self.0.acquire().await?;
        upsert_on(&mut conn, table, targets, rows, false).await
    }
}

/// The upsert of [`PgWriter::upsert`] on an open connection: in its own transaction, or
/// in a savepoint of the caller's (`nested`, for `sync`), where the staging table is
/// dropped explicitly at the end, since `ON COMMIT DROP` waits for the outer commit and
/// the next upsert of the same transaction would find it still there.
pub(crate) async fn upsert_on(
    conn: &mut sqlx::PgConnection,
    table: &str,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
    nested: bool,
) -> Result<Written, WriteError> {
    if rows.is_empty() {
        return Ok(Written::default());
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
            let (ours, theirs): (Vec<String>, Vec<String>) = non_keys(targets)
                .map(|t| (compared(t, "seaway_t"), compared(t, "EXCLUDED")))
                .unzip();
            format!(
                " ON CONFLICT ({}) DO UPDATE SET {} WHERE ({}) IS DISTINCT FROM ({})",
                keys.join(", "),
                updates.join(", "),
                ours.join(", "),
                theirs.join(", ")
            )
        }
    };
    let distinct = if keys.is_empty() {
        String::new()
    } else {
        format!("DISTINCT ON ({}) ", keys.join(", "))
    };
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
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
        "WITH seaway_written AS (INSERT INTO {} AS seaway_t ({cols}) OVERRIDING SYSTEM VALUE SELECT {distinct}{cols} FROM seaway_stage{}{conflict} RETURNING (seaway_t.xmax = 0) AS inserted) \
             SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM seaway_written",
        q(table),
        if keys.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", keys.join(", "))
        },
        cols = cols.join(", "),
    );
    let (inserted, updated): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(insert))
        .fetch_one(&mut *tx)
        .await?;
    let (inserted, updated) = (inserted.max(0) as u64, updated.max(0) as u64);
    let sent = if keys.is_empty() {
        None
    } else {
        let sent = crate::rows::write::sql::distinct_keys(targets, rows);
        crate::rows::write::sql::check_present::<sqlx::Postgres>(
            &mut tx,
            &key_check(MAX_KEYS),
            table,
            targets,
            &sent,
        )
        .await?;
        Some(sent.len())
    };
    if nested {
        sqlx::raw_sql("DROP TABLE seaway_stage")
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(match sent {
        None => Written::inserted(inserted),
        Some(sent) => Written::tally(sent, inserted, updated),
    })
}

impl PgWriter {
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

/// How this writer checks which keys arrived (`rows::write::sql::count_present`).
pub(crate) fn key_check(per_statement: usize) -> KeyCheck {
    KeyCheck {
        dialect: Dialect::Postgres,
        per_statement,
        placeholder: key_placeholder,
        input,
    }
}

impl crate::engine::role::Write for super::Postgres {
    fn param(&self, n: usize) -> String {
        format!("${n}")
    }

    fn insert_if_missing(&self, table: &str, columns: &str, values: &str) -> String {
        format!("INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT DO NOTHING")
    }
}
