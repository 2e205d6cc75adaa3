//! PostgreSQL: a page goes by `COPY` into a temporary staging table, then one
//! `INSERT ... SELECT DISTINCT ON (key) ... ON CONFLICT DO UPDATE`: COPY streams the whole
//! page in one message flow. `sync`'s runs of changes, small and many, skip the staging
//! table (created and dropped in the catalog each time): their rows go as one text array
//! per column into one `INSERT ... SELECT ... FROM unnest(...) ON CONFLICT`, a statement
//! parsed once per connection whatever the number of rows (`upsert_rows`).

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

/// A key (or value) parameter, cast to the column's type (PostgreSQL will not compare
/// text with it), less a string's length ([`value_type`]: a cast to `varchar(3)` would
/// cut `abcd` to the key `abc`).
fn key_placeholder(n: usize, t: &Target) -> String {
    format!("CAST(${n} AS {})", value_type(&t.native))
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
        upsert_on(&mut conn, table, targets, rows).await
    }
}

/// The upsert of [`PgWriter::upsert`] on an open connection, in its own transaction (the
/// staging table goes with it: `ON COMMIT DROP`). `sync`, inside its own transaction,
/// upserts with [`upsert_rows`] instead.
async fn upsert_on(
    conn: &mut sqlx::PgConnection,
    table: &str,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
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
    let conflict = on_conflict(targets);
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
    let insert = counted_insert(
        table,
        targets,
        &format!(
            "SELECT {distinct}{cols} FROM seaway_stage{}",
            if keys.is_empty() {
                String::new()
            } else {
                format!(" ORDER BY {}", keys.join(", "))
            },
            cols = cols.join(", "),
        ),
        &conflict,
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
    tx.commit().await?;
    Ok(match sent {
        None => Written::inserted(inserted),
        Some(sent) => Written::tally(sent, inserted, updated),
    })
}

/// `ON CONFLICT (key) DO UPDATE SET <non-keys> WHERE <the row differs>` (`DO NOTHING`
/// when every column is in the key); empty without a key.
fn on_conflict(targets: &[Target]) -> String {
    let q = |n: &str| quote(Dialect::Postgres, n);
    let keys: Vec<String> = targets
        .iter()
        .filter(|t| t.is_key)
        .map(|t| q(&t.name))
        .collect();
    if keys.is_empty() {
        return String::new();
    }
    let updates: Vec<String> = non_keys(targets)
        .map(|t| format!("{0} = EXCLUDED.{0}", q(&t.name)))
        .collect();
    if updates.is_empty() {
        return format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", "));
    }
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

/// `INSERT INTO table ... <select><conflict>` counting what the server did: `RETURNING
/// (xmax = 0)` tells inserted rows (a fresh row version has no deleting transaction)
/// from updated ones; rows neither returned nor missing are the unchanged ones.
/// OVERRIDING SYSTEM VALUE: the source's keys are kept, also in a `GENERATED ALWAYS`
/// identity column (which refuses them otherwise); tables without one ignore it.
fn counted_insert(table: &str, targets: &[Target], select: &str, conflict: &str) -> String {
    let cols: Vec<String> = targets
        .iter()
        .map(|t| quote(Dialect::Postgres, &t.name))
        .collect();
    format!(
        "WITH seaway_written AS (INSERT INTO {} AS seaway_t ({}) OVERRIDING SYSTEM VALUE {select}{conflict} RETURNING (seaway_t.xmax = 0) AS inserted) \
         SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM seaway_written",
        quote(Dialect::Postgres, table),
        cols.join(", "),
    )
}

/// The type a value parameter (sent as text) is cast to before it is written or compared:
/// the column's own, less the length of a string or bit type. An explicit cast to
/// `varchar(3)`, `char(3)` or `bit(3)` cuts or pads a value to fit, where `COPY` and an
/// assignment to the column refuse it: the cast goes to the unbounded type, and the
/// column's own length is checked as it is for `COPY`.
fn value_type(native: &str) -> String {
    let (base, arrays) = match native.find('[') {
        Some(i) => native.split_at(i),
        None => (native, ""),
    };
    let name = match base.find('(') {
        Some(i) => base[..i].trim(),
        None => base.trim(),
    };
    let unbounded = match name.to_ascii_lowercase().as_str() {
        "character varying" | "varchar" => "varchar",
        "character" | "char" | "bpchar" => "bpchar",
        "bit" | "bit varying" | "varbit" => "varbit",
        _ => return native.to_string(),
    };
    format!("{unbounded}{arrays}")
}

/// `SELECT CAST(seaway_in.c1 AS <type>), ... FROM unnest(CAST($n AS text[]), ...) AS
/// seaway_in(c1, ...)`: rows sent as one text array per column (parameters `first`..),
/// each value cast to its column's type. One statement text whatever the number of rows,
/// so the server parses and plans it once per connection.
pub(super) fn unnest_select(targets: &[&Target], first: usize) -> String {
    let names: Vec<String> = (1..=targets.len()).map(|i| format!("c{i}")).collect();
    let casts: Vec<String> = targets
        .iter()
        .zip(&names)
        .map(|(t, c)| format!("CAST(seaway_in.{c} AS {})", value_type(&t.native)))
        .collect();
    let arrays: Vec<String> = (0..targets.len())
        .map(|i| format!("CAST(${} AS text[])", first + i))
        .collect();
    format!(
        "SELECT {} FROM unnest({}) AS seaway_in({})",
        casts.join(", "),
        arrays.join(", "),
        names.join(", ")
    )
}

/// Binds `rows` (canonical text, in `targets` order, of the positions `columns`) as one
/// text array per column, each value in PostgreSQL's input syntax.
/// A value that needs no conversion is borrowed, not copied.
pub(super) fn bind_columns<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    targets: &[Target],
    columns: &[usize],
    rows: &[Vec<Option<&'q str>>],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    use std::borrow::Cow;
    for &c in columns {
        let t = &targets[c];
        let values: Vec<Option<Cow<'q, str>>> = rows
            .iter()
            .map(|r| {
                let v = r[c]?;
                Some(match input(t, v).or_else(|| common_input(t, v)) {
                    Some(converted) => Cow::Owned(converted),
                    None => Cow::Borrowed(v),
                })
            })
            .collect();
        query = query.bind(values);
    }
    query
}

/// What a statement of sync's writes does (the key of [`statement`]'s cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Upsert,
    Delete,
    CountKeys,
}

/// Statements kept at most (tables times shapes; a sync of more tables builds again).
const STATEMENTS_KEPT: usize = 512;

/// Sync's statements, by shape, table and targets.
type Statements = Vec<(Shape, String, Vec<Target>, std::sync::Arc<str>)>;
static STATEMENTS: std::sync::Mutex<Statements> = std::sync::Mutex::new(Vec::new());

/// The text of sync's `shape` statement on `table`'s `targets`, built once: sync sends
/// the same few statements for every batch, and building their text each time (quoting,
/// casts, the conflict clause, then sqlx hashing the fresh string to find its prepared
/// statement) cost migrator more than the rest of a small batch's work (bench-sync-cost).
fn statement(
    shape: Shape,
    table: &str,
    targets: &[Target],
    build: impl FnOnce() -> String,
) -> std::sync::Arc<str> {
    let mut held = STATEMENTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((.., sql)) = held
        .iter()
        .find(|(s, t, ts, _)| *s == shape && t == table && ts.as_slice() == targets)
    {
        return sql.clone();
    }
    let sql: std::sync::Arc<str> = build().into();
    if held.len() >= STATEMENTS_KEPT {
        held.clear();
    }
    held.push((shape, table.to_string(), targets.to_vec(), sql.clone()));
    sql
}

/// The key condition `(k1, k2) IN (SELECT ... FROM unnest(...))` over `keys` (the key
/// targets' values, in targets order), parameters from `$1`.
pub(super) fn key_in_unnest(targets: &[Target]) -> String {
    let key_targets: Vec<&Target> = targets.iter().filter(|t| t.is_key).collect();
    let columns: Vec<String> = key_targets
        .iter()
        .map(|t| quote(Dialect::Postgres, &t.name))
        .collect();
    format!(
        "({}) IN ({})",
        columns.join(", "),
        unnest_select(&key_targets, 1)
    )
}

/// Positions of the key targets.
fn key_positions(targets: &[Target]) -> Vec<usize> {
    (0..targets.len()).filter(|&i| targets[i].is_key).collect()
}

/// Upserts rows with distinct keys inside the caller's transaction (`sync`), as
/// [`upsert_on`] does (a row held exactly is left alone; every key checked present
/// afterwards, by counting them only when the statement did not return every row), in
/// one statement with the rows as column arrays rather than through a
/// staging table: no catalog churn and two round trips per run of changes, where a
/// staging table costs seven. The caller guarantees distinct keys (`ON CONFLICT DO
/// UPDATE` refuses to touch a row twice in one statement).
pub(crate) async fn upsert_rows(
    conn: &mut sqlx::PgConnection,
    table: &str,
    targets: &[Target],
    rows: &[Vec<Option<String>>],
) -> Result<Written, WriteError> {
    if rows.is_empty() {
        return Ok(Written::default());
    }
    let sql = statement(Shape::Upsert, table, targets, || {
        let all: Vec<&Target> = targets.iter().collect();
        counted_insert(
            table,
            targets,
            &unnest_select(&all, 1),
            &on_conflict(targets),
        )
    });
    let borrowed: Vec<Vec<Option<&str>>> = rows
        .iter()
        .map(|r| r.iter().map(|v| v.as_deref()).collect())
        .collect();
    let every: Vec<usize> = (0..targets.len()).collect();
    let (inserted, updated): (i64, i64) = bind_columns(
        sqlx::query(sqlx::AssertSqlSafe(sql)),
        targets,
        &every,
        &borrowed,
    )
    .try_map(|row: sqlx::postgres::PgRow| {
        use sqlx::Row;
        Ok((row.try_get(0)?, row.try_get(1)?))
    })
    .fetch_one(&mut *conn)
    .await?;
    let (inserted, updated) = (inserted.max(0) as u64, updated.max(0) as u64);
    if key_positions(targets).is_empty() {
        return Ok(Written::inserted(inserted));
    }
    // A row the statement returned was inserted or updated: its key is there. Only when
    // some were not returned (held exactly, or left out by a trigger that returned NULL)
    // are the keys counted. Sync's rows are changes, so nearly every batch is returned
    // whole and the count (an index probe per row in the destination) is not needed.
    if inserted + updated >= rows.len() as u64 {
        return Ok(Written::tally(rows.len(), inserted, updated));
    }
    let sent = crate::rows::write::sql::distinct_keys(targets, rows);
    let present = count_keys(conn, table, targets, &sent).await?;
    if present < sent.len() as u64 {
        // Only on the failure path: the shared check names the missing keys.
        crate::rows::write::sql::check_present::<sqlx::Postgres>(
            conn,
            &key_check(MAX_KEYS),
            table,
            targets,
            &sent,
        )
        .await?;
    }
    Ok(Written::tally(sent.len(), inserted, updated))
}

/// How many of `keys` (the key targets' values, in targets order) `table` holds.
async fn count_keys(
    conn: &mut sqlx::PgConnection,
    table: &str,
    targets: &[Target],
    keys: &[Vec<Option<&str>>],
) -> Result<u64, sqlx::Error> {
    let sql = statement(Shape::CountKeys, table, targets, || {
        format!(
            "SELECT count(*) FROM {} WHERE {}",
            quote(Dialect::Postgres, table),
            key_in_unnest(targets)
        )
    });
    let (key_targets, columns) = key_only(targets);
    let n: i64 = bind_columns(
        sqlx::query(sqlx::AssertSqlSafe(sql)),
        &key_targets,
        &columns,
        keys,
    )
    .try_map(|row: sqlx::postgres::PgRow| {
        use sqlx::Row;
        row.try_get(0)
    })
    .fetch_one(&mut *conn)
    .await?;
    Ok(n.max(0) as u64)
}

/// The key targets alone, and their positions among themselves (keys arrive as the key
/// targets' values only).
pub(super) fn key_only(targets: &[Target]) -> (Vec<Target>, Vec<usize>) {
    let key_targets: Vec<Target> = targets.iter().filter(|t| t.is_key).cloned().collect();
    let columns = (0..key_targets.len()).collect();
    (key_targets, columns)
}

/// Deletes the rows whose key is one of `keys` (the key targets' values, in targets
/// order) in one statement, the keys sent as column arrays; returns the rows deleted.
pub(crate) async fn delete_keys(
    conn: &mut sqlx::PgConnection,
    table: &str,
    targets: &[Target],
    keys: &[Vec<Option<String>>],
) -> Result<u64, sqlx::Error> {
    if keys.is_empty() {
        return Ok(0);
    }
    let sql = statement(Shape::Delete, table, targets, || {
        format!(
            "DELETE FROM {} WHERE {}",
            quote(Dialect::Postgres, table),
            key_in_unnest(targets)
        )
    });
    let borrowed: Vec<Vec<Option<&str>>> = keys
        .iter()
        .map(|r| r.iter().map(|v| v.as_deref()).collect())
        .collect();
    let (key_targets, columns) = key_only(targets);
    Ok(bind_columns(
        sqlx::query(sqlx::AssertSqlSafe(sql)),
        &key_targets,
        &columns,
        &borrowed,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// Begins a transaction whose commit returns before its log is flushed to disk
/// (`synchronous_commit` off for it alone), in the same round trip as `BEGIN`: as
/// PostgreSQL's own subscriptions apply. A crash of the server can then lose the last
/// commits, changes and position row together, so the caller must not treat them as
/// durable before [`PgWriter::log_marks`] says so.
pub(crate) const BEGIN_DEFERRED: &str = "BEGIN; SET LOCAL synchronous_commit = off";

impl PgWriter {
    /// A point in the server's log past every commit made so far, and how far the log
    /// is flushed to disk (both as bytes from the log's start): a commit made before this
    /// call is durable once the flushed point reaches the first.
    pub async fn log_marks(&self) -> Result<(u64, u64), sqlx::Error> {
        let (insert, flush): (i64, i64) = sqlx::query_as(
            "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint, (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint",
        )
        .fetch_one(&self.0)
        .await?;
        Ok((insert.max(0) as u64, flush.max(0) as u64))
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

    fn checks_foreign_keys_on_load(&self) -> bool {
        true
    }

    /// One `TRUNCATE` of them all: transactional here, and it checks foreign keys
    /// against the set as a whole, where row-by-row deletes would fail on a cycle.
    fn empty_tables(&self, tables: &[String]) -> (Vec<String>, Option<String>) {
        (vec![format!("TRUNCATE {}", tables.join(", "))], None)
    }
}

#[cfg(test)]
mod tests {
    use super::value_type;

    #[test]
    fn value_casts_drop_only_string_and_bit_lengths() {
        assert_eq!(value_type("character varying(3)"), "varchar");
        assert_eq!(value_type("character varying(10)[]"), "varchar[]");
        assert_eq!(value_type("character(3)"), "bpchar");
        assert_eq!(value_type("bit(3)"), "varbit");
        assert_eq!(value_type("bit varying(8)"), "varbit");
        // Lengths whose explicit cast rounds as the column does stay.
        assert_eq!(value_type("numeric(10,2)"), "numeric(10,2)");
        assert_eq!(
            value_type("timestamp(3) without time zone"),
            "timestamp(3) without time zone"
        );
        assert_eq!(value_type("bigint"), "bigint");
        assert_eq!(value_type("\"Mood\""), "\"Mood\"");
    }
}
