//! Checksums computed by the databases, and bisection (data-diff's algorithm): each side
//! returns a chunk's row count and checksum; equal chunks are done without a row moved,
//! and a chunk that differs is split into `bisection_factor` key ranges that are checked
//! the same way, until a range holds at most `bisection_threshold` rows (or one key).
//! Only then are its rows read and diffed (`Job::diff_rows`), so the rows that move are
//! those near a difference.
//!
//! Columns the databases cannot hash alike (`canon::hashable_in_sql`: floats, JSON kept
//! as written, masked columns...) are still read per row, beside the row's SQL digest,
//! and hashed here with it; a table with none of them moves only two numbers per chunk
//! and side.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use super::canon::{self, Side};
use super::sql_hash::{self, RowHash};
use super::sql_plan::{SqlPlan, Summary};
use super::{ChunkResult, Job, VerifyError, Work};
use crate::rows::apply_mask;
use crate::rows::range::KeyRange;
use crate::rows::read;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt, TryStreamExt, stream};

/// Ranges whose raw sums differed on equal values before the raw try is given up.
const RAW_MISSES: u32 = 3;

/// A key range `(lo, hi]` of a single integer key; `None` is open.
pub type Range = (Option<i64>, Option<i64>);

/// Splits `range` into at most `factor` consecutive ranges covering the same keys
/// (`bounds` stand in for an open end; the outer parts stay open). Empty when the range
/// holds one key or fewer.
pub fn split(range: Range, bounds: (i64, i64), factor: usize) -> Vec<Range> {
    let lo = range.0.unwrap_or(bounds.0.saturating_sub(1));
    let hi = range.1.unwrap_or(bounds.1).max(lo);
    let width = (hi as i128) - (lo as i128);
    if width <= 1 {
        return Vec::new();
    }
    let parts = (factor.max(2) as i128).min(width);
    let step = (width + parts - 1) / parts;
    let mut out = Vec::new();
    let mut at = lo as i128;
    while at < hi as i128 {
        let next = (at + step).min(hi as i128);
        // Both ends lie within [lo, hi], so they fit in an i64.
        out.push((Some(at as i64), Some(next as i64)));
        at = next;
    }
    if let (Some(first), None) = (out.first_mut(), range.0) {
        first.0 = None;
    }
    if let (Some(last), None) = (out.last_mut(), range.1) {
        last.1 = None;
    }
    out
}

/// What narrowing found a range to be (`Job::narrow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// Both sides' checksums agree: `rows` rows on each side, nothing to read.
    Equal { range: Range, rows: u64 },
    /// Checksums differ in a range of at most the threshold (or of one key): its rows
    /// are read and diffed.
    Differs { range: Range },
    /// Only when asked for one-sided ranges (transfer): the destination holds none of
    /// the `rows` source rows of the range, so they are copied without being read twice.
    Fresh { range: Range, rows: u64 },
    /// Only when asked for one-sided ranges: the source holds none of the destination's
    /// `rows` rows of the range; every one of them is extra.
    Extra { range: Range, rows: u64 },
}

/// A range narrowed by checksums: its leaves in key order, and the checksum comparisons
/// it took (one per range whose two sides' checksums were compared).
#[derive(Debug, Default)]
pub struct Narrowed {
    pub leaves: Vec<Leaf>,
    pub segments: u64,
}

impl Narrowed {
    fn one(leaf: Leaf, segments: u64) -> Narrowed {
        Narrowed {
            leaves: vec![leaf],
            segments,
        }
    }
}

impl Job<'_> {
    /// Checks `range` by checksums, bisecting where they differ, and returns its leaves
    /// in key order: ranges proven equal, and ranges small enough to be read and diffed.
    /// No row is read here. With `one_sided` (transfer's compare-first), a range that
    /// one side does not hold at all is a leaf of its own, whatever its size: it is
    /// copied or deleted as a whole instead of split further.
    ///
    /// With a raw plan (every column as read, `SqlPlan::raw`), a range whose raw sums
    /// differ is split on raw sums alone while it is above the threshold, so the
    /// client columns are read only near a difference; at the threshold, the exact
    /// checksums decide, as without a raw plan.
    pub(super) fn narrow<'s>(
        &'s self,
        work: &'s Work,
        sql: &'s SqlPlan,
        range: Range,
        one_sided: bool,
    ) -> BoxFuture<'s, Result<Narrowed, VerifyError>> {
        async move {
            use std::sync::atomic::Ordering;
            let raw = sql
                .raw
                .as_ref()
                .filter(|_| sql.raw_misses.load(Ordering::Relaxed) < RAW_MISSES);
            let mut segments = 0;
            if let Some((src, dst)) = raw {
                let (s, d) = tokio::join!(
                    self.aggregate(Side::Source, work, src, range),
                    self.aggregate(Side::Destination, work, dst, range)
                );
                let (s, d) = (s?, d?);
                segments += 1;
                if s == d {
                    return Ok(Narrowed::one(
                        Leaf::Equal {
                            range,
                            rows: s.rows,
                        },
                        segments,
                    ));
                }
                if let Some(leaf) = lopsided(range, &s, &d).filter(|_| one_sided) {
                    return Ok(Narrowed::one(leaf, segments));
                }
                if let Some(mut parts) = self
                    .split_and_narrow(work, sql, range, (&s, &d), one_sided)
                    .await?
                {
                    parts.segments += segments;
                    return Ok(parts);
                }
            }
            let (s, d) = tokio::join!(
                self.summary(Side::Source, work, sql, range),
                self.summary(Side::Destination, work, sql, range)
            );
            let (s, d) = (s?, d?);
            segments += 1;
            if s == d {
                if raw.is_some() {
                    sql.raw_misses.fetch_add(1, Ordering::Relaxed);
                }
                return Ok(Narrowed::one(
                    Leaf::Equal {
                        range,
                        rows: s.rows,
                    },
                    segments,
                ));
            }
            if let Some(leaf) = lopsided(range, &s, &d).filter(|_| one_sided) {
                return Ok(Narrowed::one(leaf, segments));
            }
            Ok(
                match self
                    .split_and_narrow(work, sql, range, (&s, &d), one_sided)
                    .await?
                {
                    Some(mut parts) => {
                        parts.segments += segments;
                        parts
                    }
                    None => Narrowed::one(Leaf::Differs { range }, segments),
                },
            )
        }
        .boxed()
    }

    /// When `range` holds more than the bisection threshold and more than one key,
    /// narrows its parts (at most `--workers` at once) and joins their leaves in key
    /// order; `None` when it is to be read instead.
    async fn split_and_narrow(
        &self,
        work: &Work,
        sql: &SqlPlan,
        range: Range,
        (s, d): (&Summary, &Summary),
        one_sided: bool,
    ) -> Result<Option<Narrowed>, VerifyError> {
        if s.rows.max(d.rows) <= self.opts.bisection_threshold as u64 {
            return Ok(None);
        }
        let parts = split(range, sql.bounds, self.opts.bisection_factor);
        if parts.is_empty() {
            return Ok(None);
        }
        let parts: Vec<Narrowed> = stream::iter(parts)
            .map(|part| self.narrow(work, sql, part, one_sided))
            .buffered(self.opts.workers.max(1))
            .try_collect()
            .await?;
        Ok(Some(parts.into_iter().fold(
            Narrowed::default(),
            |mut all, part| {
                all.leaves.extend(part.leaves);
                all.segments += part.segments;
                all
            },
        )))
    }

    /// Checks `range` by checksums and bisection (`narrow`), then reads and diffs the
    /// leaves that differ; returns the rows counted and the differences found.
    pub(super) async fn bisect(
        &self,
        work: &Work,
        sql: &SqlPlan,
        range: Range,
    ) -> Result<ChunkResult, VerifyError> {
        let narrowed = self.narrow(work, sql, range, false).await?;
        let mut equal = ChunkResult {
            segments: narrowed.segments,
            ..ChunkResult::default()
        };
        let mut differing = Vec::new();
        for leaf in narrowed.leaves {
            match leaf {
                Leaf::Equal { rows, .. } => {
                    equal.source_rows += rows;
                    equal.destination_rows += rows;
                }
                Leaf::Differs { range } | Leaf::Fresh { range, .. } | Leaf::Extra { range, .. } => {
                    differing.push(range)
                }
            }
        }
        equal.differing = !differing.is_empty();
        stream::iter(differing)
            .map(|(lo, hi)| async move { self.diff_rows(work, &KeyRange::Ints { lo, hi }).await })
            .buffer_unordered(self.opts.workers.max(1))
            .try_fold(equal, |all, part| async move { Ok(all.merge(part)) })
            .await
    }

    /// The side's table and the `WHERE` clause of `range` (and the source's filter).
    fn range_sql(&self, side: Side, work: &Work, range: Range) -> (String, String) {
        let s = self.side(side);
        let plan = &work.plan;
        let (table, key, filter) = match side {
            Side::Source => (
                &plan.source_table,
                &plan.key_cols[0],
                plan.filter.as_deref(),
            ),
            Side::Destination => (&plan.name, &plan.dest_key_cols[0], None),
        };
        let conditions = read::range_conditions(s.dialect, Some(key), range, filter);
        let where_clause = read::where_clause(&conditions);
        (table.clone(), where_clause)
    }

    /// One side's row count and checksum of `row` over `range`, computed by the database
    /// (one row of two values moves), or streamed and digested here (MySQL's digests).
    async fn aggregate(
        &self,
        side: Side,
        work: &Work,
        row: &RowHash,
        range: Range,
    ) -> Result<Summary, VerifyError> {
        let s = self.side(side);
        let (table, where_clause) = self.range_sql(side, work, range);
        let key = match side {
            Side::Source => &work.plan.key_cols[0],
            Side::Destination => &work.plan.dest_key_cols[0],
        };
        let (from, key) = (
            read::quote(s.dialect, &table),
            read::quote(s.dialect, &key.name),
        );
        let q = match sql_hash::range_sql(row, &from, &where_clause, &key) {
            sql_hash::RangeSql::Stream(q) => {
                let mut digester = sql_hash::Digester::new(row);
                s.db.for_each_text_row(&q, &mut |values| digester.row(values))
                    .await
                    .map_err(|e| self.read_error(side, &table, &e))?;
                let (rows, digest) = digester.finish();
                return Ok(Summary {
                    rows,
                    sum: digest.unwrap_or(0),
                });
            }
            sql_hash::RangeSql::Aggregate(q) => q,
        };
        let rows =
            s.db.rows(&q, &[])
                .await
                .map_err(|e| self.read_error(side, &table, &e))?;
        let value = |i: usize| rows.first().and_then(|r| r.get(i)).cloned().flatten();
        let bad = |what: &str, text: Option<String>| VerifyError::Hashing {
            table: table.clone(),
            reason: format!("the {side:?} {what} is not a number: {text:?}"),
        };
        let count = value(0);
        let rows_counted: u64 = count
            .as_deref()
            .unwrap_or("0")
            .parse()
            .map_err(|_| bad("row count", count.clone()))?;
        // No rows: no sum, no digest (NULL on both engines).
        let checksum = value(1);
        let sum = match (&row.checksum, checksum.as_deref()) {
            (_, None) => 0,
            // Sums of signed 64-bit hashes may be negative; compared modulo 2^128.
            (sql_hash::Checksum::Sum(_), Some(t)) => {
                t.parse::<i128>()
                    .map_err(|_| bad("checksum", checksum.clone()))? as u128
            }
            (sql_hash::Checksum::Digest | sql_hash::Checksum::Streamed, Some(t)) => {
                u128::from_str_radix(t, 16).map_err(|_| bad("digest", checksum.clone()))?
            }
        };
        Ok(Summary {
            rows: rows_counted,
            sum,
        })
    }

    /// One side's row count and checksum of `range`: a single aggregate query when the
    /// database hashes every column, otherwise each row's SQL text and client columns,
    /// hashed here.
    async fn summary(
        &self,
        side: Side,
        work: &Work,
        sql: &SqlPlan,
        range: Range,
    ) -> Result<Summary, VerifyError> {
        let s = self.side(side);
        let plan = &work.plan;
        let row = match side {
            Side::Source => &sql.source,
            Side::Destination => &sql.destination,
        };
        if sql.client.is_empty() {
            return self.aggregate(side, work, row, range).await;
        }
        let (table, where_clause) = self.range_sql(side, work, range);
        let table = &table;
        let from = read::quote(s.dialect, table);
        let cols: Vec<String> = sql
            .client
            .iter()
            .map(|&i| {
                let col = match side {
                    Side::Source => &plan.src_cols[i],
                    Side::Destination => &work.dest_cols[i],
                };
                read::select_expr(s.dialect, col)
            })
            .collect();
        let q = format!(
            "SELECT {}, {} FROM {from}{where_clause}",
            row.text,
            cols.join(", ")
        );
        let mut rows =
            s.db.rows(&q, &[])
                .await
                .map_err(|e| self.read_error(side, table, &e))?;
        if side == Side::Source {
            for row in &mut rows {
                for (v, &i) in row[1..].iter_mut().zip(&sql.client) {
                    apply_mask(v, plan.masks[i], self.config);
                }
            }
        }
        let rules: Vec<_> = sql.client.iter().map(|&i| work.rules[i]).collect();
        let summary = tokio::task::spawn_blocking(move || {
            let mut encoded = Vec::with_capacity(256);
            rows.iter().fold(Summary::default(), |acc, row| {
                encoded.clear();
                canon::push_value(&mut encoded, row[0].as_deref());
                for (v, rule) in row[1..].iter().zip(&rules) {
                    let c = v.as_deref().map(|v| rule.encode(side, v));
                    canon::push_value(&mut encoded, c.as_deref());
                }
                Summary {
                    rows: acc.rows + 1,
                    sum: acc.sum.wrapping_add(canon::hash(&encoded)),
                }
            })
        })
        .await
        .map_err(|e| VerifyError::Hashing {
            table: table.to_string(),
            reason: e.to_string(),
        })?;
        Ok(summary)
    }
}

/// A range one side does not hold at all (and the other does): `Fresh` when the
/// destination is empty there, `Extra` when the source is.
fn lopsided(range: Range, s: &Summary, d: &Summary) -> Option<Leaf> {
    match (s.rows, d.rows) {
        (0, 0) => None,
        (rows, 0) => Some(Leaf::Fresh { range, rows }),
        (0, rows) => Some(Leaf::Extra { range, rows }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of the range lands in exactly one part, and open ends stay open.
    fn covered(parts: &[Range], keys: std::ops::RangeInclusive<i64>) {
        for k in keys {
            let n = parts
                .iter()
                .filter(|(lo, hi)| lo.is_none_or(|lo| k > lo) && hi.is_none_or(|hi| k <= hi))
                .count();
            assert_eq!(n, 1, "key {k} in {parts:?}");
        }
    }

    #[test]
    fn splits_cover_every_key_once() {
        let parts = split((Some(0), Some(100)), (1, 100), 4);
        assert_eq!(
            parts,
            vec![
                (Some(0), Some(25)),
                (Some(25), Some(50)),
                (Some(50), Some(75)),
                (Some(75), Some(100))
            ]
        );
        let open = split((None, None), (1, 10), 3);
        assert_eq!(open.first().map(|r| r.0), Some(None));
        assert_eq!(open.last().map(|r| r.1), Some(None));
        covered(&open, -5..=20);
        covered(&split((Some(7), Some(10)), (1, 100), 8), 8..=10);
        assert_eq!(split((Some(7), Some(10)), (1, 100), 8).len(), 3);
    }

    #[test]
    fn a_single_key_is_not_split() {
        assert!(split((Some(4), Some(5)), (1, 10), 8).is_empty());
        assert!(split((None, None), (5, 5), 8).is_empty());
        assert!(split((Some(i64::MIN), Some(i64::MIN + 1)), (0, 0), 2).is_empty());
    }

    #[test]
    fn extreme_keys_do_not_overflow() {
        let parts = split((None, None), (i64::MIN + 1, i64::MAX), 4);
        assert_eq!(parts.len(), 4);
        covered(&parts, i64::MIN + 1..=i64::MIN + 3);
    }
}
