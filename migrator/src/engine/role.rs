//! The roles an engine plays for the stages (`engine::of`), and the types they answer
//! in. A leaf: it depends on no stage, so the stages and the engine homes both import it
//! without a circle.

use seaway_codegen::model::{Column, Dialect};

/// How rows are read as canonical text (docs/types.md), and what the engine stores
/// (`engine/<name>/read.rs`).
pub trait Read: Sync {
    /// The expression that reads column `col` (`c`: its quoted name) as canonical text.
    fn select_expr(&self, c: &str, col: &Column) -> String;
    /// The same over the engine's *text* protocol (no prepared statement; the row
    /// pipe): where the engine's own text output already is the canonical text, the bare
    /// column, so the server formats nothing per value.
    fn text_expr(&self, c: &str, col: &Column) -> String;
    /// `expr` cast to text, so every driver reads it as a string.
    fn as_text(&self, expr: &str) -> String;
    /// A placeholder for the `n`th parameter, compared with a column of the native type
    /// `native`.
    fn key_param(&self, n: usize, native: &str) -> String;
    /// A query whose one value is the average width of `table`'s rows in bytes, with
    /// its parameters (`quoted`: the table's quoted name), or `None` where the engine
    /// cannot tell cheaply: how wide verify cuts its chunks.
    fn row_width_query(&self, table: &str, quoted: &str) -> Option<(String, Vec<String>)>;
    /// Whether date and date-time columns may hold zero dates (`0000-00-00`), which no
    /// other engine accepts (`transfer.zero_dates` decides what becomes of them).
    fn holds_zero_dates(&self) -> bool;
    /// Whether a column holds only values of its declared type, as declared: false for
    /// SQLite, which keeps whatever it is given (and a long decimal as an 8-byte float),
    /// so its text is never compared verbatim and decimals into it compare as floats.
    fn typed_storage(&self) -> bool;
}

/// Statement spellings the writers' callers need (`engine/<name>/write.rs`).
pub trait Write: Sync {
    /// The marker of the `n`th (1-based) bound parameter.
    fn param(&self, n: usize) -> String;
    /// `INSERT` of one row into `table` (`columns` and `values` already SQL) that does
    /// nothing when a row with the same primary key is there already.
    fn insert_if_missing(&self, table: &str, columns: &str, values: &str) -> String;
    /// Whether seaway's writer sessions have the destination check foreign keys as rows
    /// land: then tables that reference each other in a circle cannot be loaded in any
    /// order once the constraints exist (`rows::order::blocked_first_load`).
    fn checks_foreign_keys_on_load(&self) -> bool;
    /// The statements that empty `tables` (quoted names, a table before those its keys
    /// point to) inside the open transaction whatever foreign keys join them, cycles and
    /// self-references included (sync's `TRUNCATE`), and a statement to run after them
    /// whether or not they succeeded (a session setting put back).
    fn empty_tables(&self, tables: &[String]) -> (Vec<String>, Option<String>);
}

/// Range checksums (`engine/<name>/hash.rs`).
pub trait Hash: Sync {
    /// How the engine computes a range's checksum in SQL; `None` when it has no digest
    /// function (its rows are hashed by verify, in the client).
    fn sql_hash(&self) -> Option<&dyn SqlHash>;
}

/// A row's text and a range's checksum in the engine's SQL (`verify::sql_hash` keeps
/// what is the same for every engine, and why the text is injective).
pub trait SqlHash: Sync + std::fmt::Debug {
    /// The column's own output where that already is its canonical text for a type
    /// whose output differs between engines (`None`: read by `Read::select_expr`).
    fn own_text(&self, c: &str, col: &Column) -> Option<String>;
    /// One field of a row's text: `e` escaped when it is free text and `~N` when NULL.
    fn field(&self, e: &str, free_text: bool, nullable: bool) -> String;
    /// The fields joined with `|`.
    fn join(&self, fields: &[String]) -> String;
    /// How a range's texts are summed up on this engine.
    fn checksum(&self) -> Checksum;
    /// The SQL that reads a range's count and checksum of `row`: `table` and
    /// `where_clause` already SQL, `key` the quoted integer key that orders a digest.
    /// With `parts` (consecutive key ranges `first..=last` covering the range, the outer
    /// ones reaching `i64::MIN` and `i64::MAX`), a count and checksum per part in one
    /// query: aggregated, one row per part that holds rows with the part's number first;
    /// streamed, the key first in each row (verify tells the parts apart).
    fn range_sql(
        &self,
        row: &RowHash,
        table: &str,
        where_clause: &str,
        key: &str,
        parts: Option<&[(i64, i64)]>,
    ) -> RangeSql;
    /// Between two servers of this engine: rows hashed by value (no text built), if the
    /// engine can.
    fn records(&self) -> Option<&dyn Records>;
}

/// Rows hashed by value between two servers of one engine (PostgreSQL's
/// `hash_record_extended`).
pub trait Records: Sync {
    /// A column's field in the record: itself when `own` (both sides have its native
    /// type) and its type hashes by value; otherwise `canonical`, its canonical text.
    fn part(&self, quoted: &str, col: &Column, own: bool, canonical: String) -> Part;
    /// A row's text and its range checksum over the parts' expressions; `by_value` when
    /// both servers can hash records by value.
    fn row(&self, columns: &[String], by_value: bool) -> (String, Checksum);
}

/// One side's engine, when it can hash rows in SQL.
#[derive(Debug, Clone, Copy)]
pub struct Hasher {
    pub dialect: Dialect,
    pub sql: &'static dyn SqlHash,
}

/// What reads a range's count and checksum.
#[derive(Debug, Clone)]
pub enum RangeSql {
    /// One row: the count and the checksum (a decimal sum, or 32 hex digits; NULL for no
    /// rows), as text.
    Aggregate(String),
    /// The parts of every row in key order, digested by verify (`Digester`).
    Stream(String),
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
    /// The engine that computes it.
    pub hasher: Hasher,
}

/// The query whose rows a streamed digest reads: each part as a column, in key order;
/// `keyed`: the key first (to tell a grouped digest's parts apart).
pub fn stream_query(
    row: &RowHash,
    table: &str,
    where_clause: &str,
    key: &str,
    keyed: bool,
) -> String {
    let columns: Vec<&str> = keyed
        .then_some(key)
        .into_iter()
        .chain(row.parts.iter().map(|p| p.expr.as_str()))
        .collect();
    format!(
        "SELECT {} FROM {table}{where_clause} ORDER BY {key}",
        columns.join(", ")
    )
}
