//! What each engine's side of a sync both ways answers in (`engine/<name>/both.rs`,
//! called through `side.rs`), and the names of what a stream keeps in the side it
//! writes into. A leaf: the engine homes and the receiving end both import it without a
//! circle.

use super::change::Values;
use crate::rows::plan::Target;
use seaway_codegen::diff::VERSION_TABLE_PREFIX;

/// A row the receiving side holds for a key of the batch.
#[derive(Debug, Clone)]
pub struct Held {
    /// Canonical text, in targets order.
    pub row: Values,
    /// Written last by this stream (not by the side's own application).
    pub ours: bool,
    /// When the side's application wrote it last (Unix microseconds, on the side's
    /// clock): a version for `last_write_wins`. `None` where unknown.
    pub micros: Option<i64>,
    /// Where that write stands in the side's own change order, on the scale of
    /// `Told::seen` (PostgreSQL: the commit time again; SQLite: the change table's
    /// sequence), to tell whether the deciding side had seen it.
    pub edit: Option<i64>,
    /// The writing transaction's id where the engine has one per row (PostgreSQL's
    /// 32-bit `xmin`), which a recorded version must match; 0 elsewhere (the version is
    /// forgotten when the stream writes the key plainly).
    pub xmin: i64,
}

/// A key the receiving side's application deleted: where and when (as in [`Held`]).
#[derive(Debug, Clone, Copy)]
pub struct Deleted {
    pub edit: i64,
    pub micros: i64,
}

/// One conflict as the log holds it (versions as JSON text).
#[derive(Debug, Clone)]
pub struct Logged {
    pub table: String,
    pub key: String,
    pub source_version: String,
    pub destination_version: String,
    pub rule: &'static str,
    pub winner: &'static str,
}

/// Keys to look up in one statement each `per`, as rows of a literal table that name
/// each key by its place in `keys` (`row(i)`, joined by `sep`): the answers map back to
/// the keys by that number, whatever form the side stores a key in.
pub fn numbered_keys<'k>(
    keys: &'k [Values],
    per: usize,
    row: impl Fn(usize) -> String,
    sep: &str,
) -> Vec<(String, &'k [Values])> {
    let per = per.max(1);
    keys.chunks(per)
        .enumerate()
        .map(|(n, chunk)| {
            let first = n * per;
            let rows: Vec<String> = (first..first + chunk.len()).map(&row).collect();
            (rows.join(sep), chunk)
        })
        .collect()
}

/// The key of a row or key as the version tables and the log spell it: a JSON array
/// of canonical text.
pub fn key_text(key: &Values) -> String {
    serde_json::to_string(key).unwrap_or_default()
}

/// The stream's version table, in the side it writes into: the version of each row it
/// wrote as a conflict's outcome, and (key '') how far the deciding side had seen this
/// side.
pub fn version_table(stream: &str) -> String {
    format!(
        "{VERSION_TABLE_PREFIX}{}",
        stream.trim_start_matches("seaway_")
    )
}

/// A PostgreSQL side's replication origin for the stream applying into it (origins and
/// slots are separate namespaces, but one name per stream reads best).
pub fn origin_name(stream: &str) -> String {
    format!("{stream}_origin")
}

/// A PostgreSQL side's record of the keys its application deleted (a trigger's table:
/// a row's commit time is gone with the row).
pub fn tombstone_table(stream: &str) -> String {
    format!("{}_deleted", version_table(stream))
}

/// A SQLite side's record of every key its application changed, with where (the
/// change table's sequence) and when (the trigger's clock): SQLite keeps neither per
/// row.
pub fn edits_table(stream: &str) -> String {
    format!("{}_edits", version_table(stream))
}

/// A SQLite side's marker: a row the stream's apply transaction holds while it writes,
/// which the side's triggers see (SQLite has no session a trigger could ask).
pub fn applying_table(stream: &str) -> String {
    format!("{}_applying", version_table(stream))
}

/// The first columns of a result row, one per target, as canonical text (the locked
/// read selects them so), and the key among them in targets order.
pub fn text_row<R>(r: &R, targets: &[Target]) -> Result<(Values, Values), sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let mut row = Vec::with_capacity(targets.len());
    for i in 0..targets.len() {
        row.push(r.try_get::<Option<String>, _>(i)?);
    }
    let key = targets
        .iter()
        .zip(&row)
        .filter(|(t, _)| t.is_key)
        .map(|(_, v)| v.clone())
        .collect();
    Ok((row, key))
}
