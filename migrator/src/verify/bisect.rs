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

/// A range cut into consecutive parts of `step` keys, the first starting at key `first`
/// (the part of a key is `(key - first) / step`, the outer parts taking the keys beyond
/// an open end): each database sums up every part of a range in one query.
#[derive(Debug, Clone)]
pub(super) struct Grid {
    pub(super) first: i64,
    pub(super) step: i64,
    pub(super) parts: Vec<Range>,
}

impl Grid {
    /// Cuts `range` into at most `factor` consecutive parts covering the same keys
    /// (`bounds` stand in for an open end; the outer parts stay open). `None` when the
    /// range holds one key or fewer.
    fn of(range: Range, bounds: (i64, i64), factor: usize) -> Option<Grid> {
        let lo = range.0.unwrap_or(bounds.0.saturating_sub(1));
        let hi = range.1.unwrap_or(bounds.1).max(lo);
        let width = (hi as i128) - (lo as i128);
        if width <= 1 {
            return None;
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
        Some(Grid {
            // lo < hi, so lo + 1 fits; at least two parts, so the step fits too.
            first: lo.saturating_add(1),
            step: i64::try_from(step).unwrap_or(i64::MAX),
            parts: out,
        })
    }

    /// The part `key` falls in; keys beyond the ends (in an open first or last part)
    /// fall in the outer parts. `n` is the part number as a database computed it, which
    /// may be negative or past the last for such keys.
    fn part(&self, n: i128) -> usize {
        n.clamp(0, self.parts.len().saturating_sub(1) as i128) as usize
    }

    /// Each part's keys as an inclusive range, the outer ones reaching the ends of
    /// `i64` (keys beyond an open end belong to them): what the databases group by.
    fn inclusive(&self) -> Vec<(i64, i64)> {
        let n = self.parts.len();
        self.parts
            .iter()
            .enumerate()
            .map(|(i, (lo, hi))| {
                let first = match (i, lo) {
                    (0, _) | (_, None) => i64::MIN,
                    (_, Some(lo)) => lo.saturating_add(1),
                };
                let last = match hi {
                    Some(hi) if i + 1 < n => *hi,
                    _ => i64::MAX,
                };
                (first, last)
            })
            .collect()
    }

    /// The part of `key` (canonical text of an integer), computed here.
    fn part_of_key(&self, key: &str) -> usize {
        let key: i128 = key.parse().unwrap_or(self.first as i128);
        self.part((key - self.first as i128).div_euclid(self.step as i128))
    }
}

/// Splits `range` into at most `factor` consecutive ranges covering the same keys
/// (`bounds` stand in for an open end; the outer parts stay open). Empty when the range
/// holds one key or fewer.
pub fn split(range: Range, bounds: (i64, i64), factor: usize) -> Vec<Range> {
    Grid::of(range, bounds, factor)
        .map(|g| g.parts)
        .unwrap_or_default()
}

/// What narrowing found a range to be (`Job::narrow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// Both sides' checksums agree: `rows` rows on each side, nothing to read.
    Equal { range: Range, rows: u64 },
    /// Checksums differ: the range's rows are to be compared one by one. At most the
    /// threshold (or one key), except for transfer's dense ranges (see `narrow`).
    Differs { range: Range },
    /// Only when asked for one-sided ranges (transfer): the destination holds none of
    /// the `rows` source rows of the range, so they are copied without being compared.
    Fresh { range: Range, rows: u64 },
    /// Only when asked for one-sided ranges: the source holds none of the destination's
    /// `rows` rows of the range; every one of them is extra.
    Extra { range: Range, rows: u64 },
}

/// A range narrowed by checksums: its leaves in key order, and the checksum comparisons
/// it took (one per range or part whose two sides' checksums were compared).
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

/// Both sides' summaries of a range, already computed (by its parent's grouped query, or
/// by one checksum per side), and whether they are raw (every column as printed).
#[derive(Debug, Clone, Copy)]
pub(super) struct Known {
    raw: bool,
    s: Summary,
    d: Summary,
}

impl Job<'_> {
    /// Checks `range` by checksums, bisecting where they differ, and returns its leaves
    /// in key order: ranges proven equal, and ranges to compare row by row. No row is
    /// read here. A differing range is cut into `--bisection-factor` parts whose
    /// checksums each side computes in one grouped query (one pass over the range, not
    /// one per part), and the parts that differ are narrowed the same way until they hold
    /// at most `--bisection-threshold` rows (or one key).
    ///
    /// With `one_sided` (transfer's compare-first): the range's first query is already
    /// grouped (an equal range still costs one query per side); a range one side does not
    /// hold at all is a leaf of its own, whatever its size (copied, or its rows extra);
    /// and when more than half of a range's parts differ, the differences are dense and
    /// every differing part is a leaf as it is, to be compared row by row by the
    /// databases' row hashes, instead of being cut further: each level of bisection is
    /// another pass over the rows.
    ///
    /// With a raw plan (every column as printed, `SqlPlan::raw`), ranges are narrowed on
    /// raw sums while they are above the threshold, so the client columns are read only
    /// near a difference; at the threshold the exact checksums decide (verify), or the
    /// row-by-row comparison does (transfer).
    pub(super) fn narrow<'s>(
        &'s self,
        work: &'s Work,
        sql: &'s SqlPlan,
        range: Range,
        one_sided: bool,
        known: Option<Known>,
    ) -> BoxFuture<'s, Result<Narrowed, VerifyError>> {
        async move {
            use std::sync::atomic::Ordering;
            let raw_plan = sql.raw.is_some() && sql.raw_misses.load(Ordering::Relaxed) < RAW_MISSES;
            let raw = known.map_or(raw_plan, |k| k.raw);
            let mut segments = 0;
            let known = match known {
                Some(k) => Some(k),
                // Verify checks a chunk whole first; transfer's first query is grouped.
                None if !one_sided => {
                    let (s, d) = self.both(work, sql, range, None, raw).await?;
                    segments += 1;
                    Some(Known {
                        raw,
                        s: s[0],
                        d: d[0],
                    })
                }
                None => None,
            };
            if let Some(k) = known
                && let Some(leaf) = self.settled(range, k, one_sided)
            {
                return Ok(Narrowed::one(leaf, segments));
            }
            let threshold = self.opts.bisection_threshold as u64;
            let small = |k: &Known| k.s.rows.max(k.d.rows) <= threshold;
            let grid = Grid::of(range, sql.bounds, self.opts.bisection_factor)
                .filter(|_| !known.as_ref().is_some_and(small));
            let Some(grid) = grid else {
                let k = match known {
                    Some(k) => k,
                    None => {
                        let (s, d) = self.both(work, sql, range, None, raw).await?;
                        segments += 1;
                        let k = Known {
                            raw,
                            s: s[0],
                            d: d[0],
                        };
                        if let Some(leaf) = self.settled(range, k, one_sided) {
                            return Ok(Narrowed::one(leaf, segments));
                        }
                        k
                    }
                };
                let (leaf, exact) = self.at_threshold(work, sql, range, k, one_sided).await?;
                return Ok(Narrowed::one(leaf, segments + exact));
            };
            let (s, d) = self.both(work, sql, range, Some(&grid), raw).await?;
            segments += grid.parts.len() as u64;
            if known.is_none() {
                // Transfer's first query: the parts add up to the whole range.
                let whole = Known {
                    raw,
                    s: total(&s),
                    d: total(&d),
                };
                if s == d {
                    return Ok(Narrowed::one(
                        Leaf::Equal {
                            range,
                            rows: whole.s.rows,
                        },
                        segments,
                    ));
                }
                if let Some(leaf) = lopsided(range, &whole.s, &whole.d) {
                    return Ok(Narrowed::one(leaf, segments));
                }
                if small(&whole) {
                    return Ok(Narrowed::one(Leaf::Differs { range }, segments));
                }
            }
            let differing = s.iter().zip(&d).filter(|(s, d)| s != d).count();
            let dense = one_sided && differing * 2 > grid.parts.len();
            let parts: Vec<(Range, Known)> = grid
                .parts
                .iter()
                .zip(s)
                .zip(d)
                .map(|((&part, s), d)| (part, Known { raw, s, d }))
                .collect();
            let parts: Vec<Narrowed> = stream::iter(parts)
                .map(|(part, k)| match self.settled(part, k, one_sided) {
                    Some(leaf) => futures_util::future::ready(Ok(Narrowed::one(leaf, 0))).boxed(),
                    None if dense => futures_util::future::ready(Ok(Narrowed::one(
                        Leaf::Differs { range: part },
                        0,
                    )))
                    .boxed(),
                    None => self.narrow(work, sql, part, one_sided, Some(k)),
                })
                .buffered(self.opts.workers.max(1))
                .try_collect()
                .await?;
            Ok(parts.into_iter().fold(
                Narrowed {
                    leaves: Vec::new(),
                    segments,
                },
                |mut all, part| {
                    all.leaves.extend(part.leaves);
                    all.segments += part.segments;
                    all
                },
            ))
        }
        .boxed()
    }

    /// The leaf a range with known summaries already is: equal, or (transfer) held by one
    /// side only; `None` when it is still to be narrowed.
    fn settled(&self, range: Range, k: Known, one_sided: bool) -> Option<Leaf> {
        if k.s == k.d {
            return Some(Leaf::Equal {
                range,
                rows: k.s.rows,
            });
        }
        lopsided(range, &k.s, &k.d).filter(|_| one_sided)
    }

    /// A differing range at the threshold (or of one key): to be compared row by row,
    /// unless its raw sums differed and verify's exact checksums say it is equal (then
    /// the engines print equal values apart, and after a few such ranges the raw try is
    /// given up). Returns the leaf and the checksum comparisons it took.
    async fn at_threshold(
        &self,
        work: &Work,
        sql: &SqlPlan,
        range: Range,
        k: Known,
        one_sided: bool,
    ) -> Result<(Leaf, u64), VerifyError> {
        if !k.raw || one_sided {
            return Ok((Leaf::Differs { range }, 0));
        }
        let (s, d) = self.both(work, sql, range, None, false).await?;
        if s == d {
            sql.raw_misses
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok((
                Leaf::Equal {
                    range,
                    rows: s[0].rows,
                },
                1,
            ));
        }
        Ok((Leaf::Differs { range }, 1))
    }

    /// Checks `range` by checksums and bisection (`narrow`), then reads and diffs the
    /// leaves that differ; returns the rows counted and the differences found.
    pub(super) async fn bisect(
        &self,
        work: &Work,
        sql: &SqlPlan,
        range: Range,
    ) -> Result<ChunkResult, VerifyError> {
        let narrowed = self.narrow(work, sql, range, false, None).await?;
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
    pub(super) fn range_sql(&self, side: Side, work: &Work, range: Range) -> (String, String) {
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

    /// Both sides' summaries of `range` at once: of each part of `grid`, or of the whole
    /// range (one summary) without one; `raw` sums every column as printed.
    async fn both(
        &self,
        work: &Work,
        sql: &SqlPlan,
        range: Range,
        grid: Option<&Grid>,
        raw: bool,
    ) -> Result<(Vec<Summary>, Vec<Summary>), VerifyError> {
        let (s, d) = match (&sql.raw, raw) {
            (Some((src, dst)), true) => tokio::join!(
                self.aggregate(Side::Source, work, src, range, grid),
                self.aggregate(Side::Destination, work, dst, range, grid)
            ),
            _ => tokio::join!(
                self.summary(Side::Source, work, sql, range, grid),
                self.summary(Side::Destination, work, sql, range, grid)
            ),
        };
        Ok((s?, d?))
    }

    /// One side's row count and checksum of `row` over `range` (or over each part of
    /// `grid`, grouped in the same query), computed by the database (one row of two
    /// values moves per part), or streamed and digested here (MySQL's digests).
    async fn aggregate(
        &self,
        side: Side,
        work: &Work,
        row: &RowHash,
        range: Range,
        grid: Option<&Grid>,
    ) -> Result<Vec<Summary>, VerifyError> {
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
        let bounds = grid.map(Grid::inclusive);
        let n = grid.map_or(1, |g| g.parts.len());
        let q = match sql_hash::range_sql(row, &from, &where_clause, &key, bounds.as_deref()) {
            sql_hash::RangeSql::Stream(q) => {
                let mut digesters: Vec<sql_hash::Digester> =
                    (0..n).map(|_| sql_hash::Digester::new(row)).collect();
                s.db.for_each_text_row(&q, &mut |values| match grid {
                    Some(g) => {
                        let part = g.part_of_key(values.first().copied().flatten().unwrap_or(""));
                        digesters[part].row(&values[1..]);
                    }
                    None => digesters[0].row(values),
                })
                .await
                .map_err(|e| self.read_error(side, &table, &e))?;
                return Ok(digesters
                    .into_iter()
                    .map(|d| {
                        let (rows, digest) = d.finish();
                        Summary {
                            rows,
                            sum: digest.unwrap_or(0),
                        }
                    })
                    .collect());
            }
            sql_hash::RangeSql::Aggregate(q) => q,
        };
        let rows =
            s.db.rows(&q, &[])
                .await
                .map_err(|e| self.read_error(side, &table, &e))?;
        let bad = |what: &str, text: Option<String>| VerifyError::Hashing {
            table: table.clone(),
            reason: format!("the {side:?} {what} is not a number: {text:?}"),
        };
        let mut sums = vec![Summary::default(); n];
        for values in &rows {
            // Grouped: the part's number first.
            let (part, values) = match grid {
                Some(g) => {
                    let text = values.first().cloned().flatten();
                    let number: i128 = text
                        .as_deref()
                        .unwrap_or("")
                        .parse()
                        .map_err(|_| bad("part number", text.clone()))?;
                    (g.part(number), &values[1..])
                }
                None => (0, &values[..]),
            };
            let value = |i: usize| values.get(i).cloned().flatten();
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
            // One group per part, so this adds to an empty summary.
            let at = &mut sums[part];
            at.rows += rows_counted;
            at.sum = at.sum.wrapping_add(sum);
        }
        Ok(sums)
    }

    /// One side's row count and checksum of `range` (or of each part of `grid`): a single
    /// aggregate query when the database hashes every column, otherwise each row's SQL
    /// text and client columns, hashed here.
    async fn summary(
        &self,
        side: Side,
        work: &Work,
        sql: &SqlPlan,
        range: Range,
        grid: Option<&Grid>,
    ) -> Result<Vec<Summary>, VerifyError> {
        let s = self.side(side);
        let plan = &work.plan;
        let row = match side {
            Side::Source => &sql.source,
            Side::Destination => &sql.destination,
        };
        if sql.client.is_empty() {
            return self.aggregate(side, work, row, range, grid).await;
        }
        let (table, where_clause) = self.range_sql(side, work, range);
        let table = &table;
        let from = read::quote(s.dialect, table);
        let key = match side {
            Side::Source => &plan.key_cols[0],
            Side::Destination => &plan.dest_key_cols[0],
        };
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
        // The key first, to tell each row's part.
        let q = format!(
            "SELECT {}, {}, {} FROM {from}{where_clause}",
            read::select_expr(s.dialect, key),
            row.text,
            cols.join(", ")
        );
        let mut rows =
            s.db.rows(&q, &[])
                .await
                .map_err(|e| self.read_error(side, table, &e))?;
        if side == Side::Source {
            for row in &mut rows {
                for (v, &i) in row[2..].iter_mut().zip(&sql.client) {
                    apply_mask(v, plan.masks[i], self.config);
                }
            }
        }
        let rules: Vec<_> = sql.client.iter().map(|&i| work.rules[i]).collect();
        let grid = grid.cloned();
        let sums = tokio::task::spawn_blocking(move || {
            let mut encoded = Vec::with_capacity(256);
            let mut sums = vec![Summary::default(); grid.as_ref().map_or(1, |g| g.parts.len())];
            for row in &rows {
                encoded.clear();
                canon::push_value(&mut encoded, row[1].as_deref());
                for (v, rule) in row[2..].iter().zip(&rules) {
                    let c = v.as_deref().map(|v| rule.encode(side, v));
                    canon::push_value(&mut encoded, c.as_deref());
                }
                let part = grid
                    .as_ref()
                    .map_or(0, |g| g.part_of_key(row[0].as_deref().unwrap_or("")));
                let at = &mut sums[part];
                at.rows += 1;
                at.sum = at.sum.wrapping_add(canon::hash(&encoded));
            }
            sums
        })
        .await
        .map_err(|e| VerifyError::Hashing {
            table: table.to_string(),
            reason: e.to_string(),
        })?;
        Ok(sums)
    }
}

/// The summaries of a range's parts as one: rows added, checksums folded in order (the
/// same on both sides when every part is).
fn total(parts: &[Summary]) -> Summary {
    parts.iter().fold(Summary::default(), |all, p| Summary {
        rows: all.rows + p.rows,
        sum: all.sum.wrapping_mul(31).wrapping_add(p.sum),
    })
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
