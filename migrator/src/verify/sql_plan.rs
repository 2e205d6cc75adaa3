//! Which of a table's columns the databases hash in SQL (`engine::SqlHash`), and in what
//! form on each side; bisect.rs runs the plan.

use super::canon::{self, Rule};
use super::sql_hash::{self, Hasher, RowHash};
use crate::engine::role::Records;
use crate::rows::plan::TablePlan;
use crate::rows::read;
use seaway_codegen::model::{Column, Dialect};

/// What a table's plan compares: its targets, the destination's columns (one per target)
/// and each target's rule.
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    pub plan: &'a TablePlan,
    pub dest_cols: &'a [Column],
    pub rules: &'a [Rule],
}

/// How a table is checked in SQL: each side's row-digest parts, and the targets the
/// client compares itself.
#[derive(Debug)]
pub struct SqlPlan {
    /// Each side's row forms (`sql_hash`) over the hashable targets and the key.
    pub source: RowHash,
    pub destination: RowHash,
    /// Indexes into the plan's targets of the columns read and hashed by the client.
    pub client: Vec<usize>,
    /// When the client columns compare by rules that treat both sides alike: each
    /// side's row forms over the canonical text of every column, as read. Equal text
    /// means equal values under those rules, so a range whose sums agree on this is
    /// equal without a row read (JSON already printed alike, floats in the same
    /// shortest form); only when they disagree are the client columns read.
    pub raw: Option<(RowHash, RowHash)>,
    /// Ranges where the raw sums differed but the values were equal: after a few, the
    /// engines evidently print this table apart, and the raw try is skipped.
    pub raw_misses: std::sync::atomic::AtomicU32,
    /// The smallest and largest key over both sides when the chunks were planned, which
    /// an open range is split against.
    pub bounds: (i64, i64),
}

/// One side's count and checksum of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub rows: u64,
    pub sum: u128,
}

/// The plan for checking a table in SQL, when both engines can hash rows, the key is a
/// single integer on both sides, and at least one column can be hashed by the databases.
/// `pg_by_value`: both sides are PostgreSQL 14 or later (`engine::Records`).
pub fn sql_plan(
    columns: Columns<'_>,
    from: Dialect,
    to: Dialect,
    bounds: (i64, i64),
    pg_by_value: bool,
) -> Option<SqlPlan> {
    let Columns {
        plan,
        dest_cols,
        rules,
    } = columns;
    let (hf, ht) = (sql_hash::hasher(from)?, sql_hash::hasher(to)?);
    // Two servers of one engine hash rows by value where the engine can.
    let records = if from == to { hf.sql.records() } else { None };
    let mut source_parts = Vec::new();
    let mut destination_parts = Vec::new();
    let mut client = Vec::new();
    let key = &plan.key_cols[0];
    // The key too, so that a row moved to another key never hashes alike: it is a target
    // column of most tables, and then not added twice.
    let mut key_hashed = false;
    let pairs = plan.src_cols.iter().zip(dest_cols).zip(rules);
    for (i, ((src, dst), rule)) in pairs.enumerate() {
        if plan.masks[i].is_none() && canon::hashable_in_sql(*rule, src, dst) {
            let same = src.ty == dst.ty && src.native.eq_ignore_ascii_case(&dst.native);
            let (s, d) = parts((hf, src), (ht, dst), form(records, same));
            source_parts.push(s);
            destination_parts.push(d);
            key_hashed |= src.name == key.name;
        } else {
            client.push(i);
        }
    }
    if source_parts.is_empty() {
        return None;
    }
    if !key_hashed {
        let dkey = &plan.dest_key_cols[0];
        let same = key.ty == dkey.ty && key.native.eq_ignore_ascii_case(&dkey.native);
        let (s, d) = parts((hf, key), (ht, dkey), form(records, same));
        source_parts.push(s);
        destination_parts.push(d);
    }
    let row = |h: Hasher, parts: &[sql_hash::Part]| match records {
        Some(records) => sql_hash::record(h, records, parts, pg_by_value),
        None => sql_hash::canonical(h, parts),
    };
    // The raw try needs every client column compared by a rule that reads both sides
    // alike, and no mask (applied by the client, after reading).
    let alike = client.iter().all(|&i| {
        plan.masks[i].is_none() && matches!(rules[i], Rule::Same(_) | Rule::Float { .. })
    });
    let key_is_target = plan.src_cols.iter().any(|c| c.name == key.name);
    let raw = (alike && !client.is_empty()).then(|| {
        let mut src = Vec::new();
        let mut dst = Vec::new();
        for (s, d) in plan.src_cols.iter().zip(dest_cols) {
            let (s, d) = parts((hf, s), (ht, d), Form::Text);
            src.push(s);
            dst.push(d);
        }
        if !key_is_target {
            let (s, d) = parts((hf, key), (ht, &plan.dest_key_cols[0]), Form::Text);
            src.push(s);
            dst.push(d);
        }
        (sql_hash::canonical(hf, &src), sql_hash::canonical(ht, &dst))
    });
    Some(SqlPlan {
        source: row(hf, &source_parts),
        destination: row(ht, &destination_parts),
        client,
        raw,
        raw_misses: Default::default(),
        bounds,
    })
}

/// A column's parts on both sides: escaped on both when either side's text may hold
/// any character (a PostgreSQL uuid is a MySQL `char(36)`), so equal values stay equal.
fn parts(
    (hf, src): (Hasher, &Column),
    (ht, dst): (Hasher, &Column),
    form: Form<'_>,
) -> (sql_hash::Part, sql_hash::Part) {
    let (mut s, mut d) = (part(hf, src, form), part(ht, dst, form));
    let free = s.free_text || d.free_text;
    s.free_text = free;
    d.free_text = free;
    (s, d)
}

/// How a column takes part in a row hashed in SQL.
#[derive(Clone, Copy)]
enum Form<'a> {
    /// A field of a record hashed by value (`engine::Records`): as itself when both
    /// sides have the column's native type (`own`) and the type has a hash function of
    /// its own, else as its canonical text, so that a uuid and a varchar holding it hash
    /// alike.
    Record { records: &'a dyn Records, own: bool },
    /// Canonical text (`sql_hash::column_part`).
    Text,
}

fn form(records: Option<&dyn Records>, same: bool) -> Form<'_> {
    match records {
        Some(records) => Form::Record { records, own: same },
        None => Form::Text,
    }
}

fn part(h: Hasher, col: &Column, form: Form<'_>) -> sql_hash::Part {
    match form {
        Form::Text => sql_hash::column_part(h, col),
        Form::Record { records, own } => records.part(
            &read::quote(h.dialect, &col.name),
            col,
            own,
            read::select_expr(h.dialect, col),
        ),
    }
}
