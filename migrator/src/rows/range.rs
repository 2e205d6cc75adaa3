//! Key ranges: how a table is cut into chunks that transfer copies and verify compares
//! independently. One type and one planner serve both, so a chunk means the same in
//! each: a single integer key is split from its smallest and largest value into spans
//! of `span` keys; any other key between every `span`-th key in the source's key order,
//! sampled in one pass (`read::sample_query`). Verify also looks at the destination's
//! keys and opens the first range below, so rows the destination holds outside the
//! source's keys fall in a chunk too.

use super::Side;
use super::read;
use super::source::Source;
use seaway_codegen::model::{Column, Dialect, NeutralType};
use std::future::Future;

/// Where a chunk starts and ends; `None` ends are open. The default is the whole table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRange {
    /// `(lo, hi]` of a single integer key.
    Ints { lo: Option<i64>, hi: Option<i64> },
    /// `(lo, hi]` of any other key, as canonical text in key order, between sampled keys.
    /// Two engines may order text keys apart (collations), so on a second engine a row
    /// may fall in the neighbouring range: verify matches such rows across the table.
    Keys {
        lo: Option<Vec<String>>,
        hi: Option<Vec<String>>,
    },
}

impl Default for KeyRange {
    fn default() -> KeyRange {
        KeyRange::Ints { lo: None, hi: None }
    }
}

impl KeyRange {
    /// The integer bounds (both open for a sampled range).
    pub fn ints(&self) -> (Option<i64>, Option<i64>) {
        match self {
            KeyRange::Ints { lo, hi } => (*lo, *hi),
            KeyRange::Keys { .. } => (None, None),
        }
    }

    /// The sampled bounds (both open for an integer range).
    pub fn keys(&self) -> (Option<&[String]>, Option<&[String]>) {
        match self {
            KeyRange::Ints { .. } => (None, None),
            KeyRange::Keys { lo, hi } => (lo.as_deref(), hi.as_deref()),
        }
    }

    /// The range as stored (integer bounds, then sampled ones): sampled when either
    /// sampled end is set, otherwise integer.
    pub fn from_parts(
        lo: Option<i64>,
        hi: Option<i64>,
        lo_key: Option<Vec<String>>,
        hi_key: Option<Vec<String>>,
    ) -> KeyRange {
        if lo_key.is_some() || hi_key.is_some() {
            KeyRange::Keys {
                lo: lo_key,
                hi: hi_key,
            }
        } else {
            KeyRange::Ints { lo, hi }
        }
    }
}

/// One side's table as the planner reads it.
#[derive(Debug, Clone, Copy)]
pub struct Keyed<'a> {
    pub db: &'a Source,
    pub dialect: Dialect,
    pub table: &'a str,
    /// The key columns, in key order.
    pub keys: &'a [&'a Column],
    /// The mapping's `where:` filter (the source's only).
    pub filter: Option<&'a str>,
}

/// A table's chunks, and for an integer key its smallest and largest key (both sides'
/// with a destination), which bisection splits against.
#[derive(Debug)]
pub struct Ranges {
    pub ranges: Vec<KeyRange>,
    pub bounds: Option<(i64, i64)>,
}

/// A failed read while planning, naming the side and table it was on.
#[derive(Debug)]
pub struct ReadError {
    pub side: Side,
    pub table: String,
    pub source: sqlx::Error,
}

/// Plans a table's chunks from `source` and, for verify, `destination` too (an integer
/// range then spans both sides' keys and the first is open below). A table without a
/// key, or an empty integer-keyed one, is one chunk. `span` (keys per chunk) is awaited
/// only when a split needs it: verify measures it with a query of its own.
pub async fn ranges(
    source: Keyed<'_>,
    destination: Option<Keyed<'_>>,
    span: impl Future<Output = i64>,
) -> Result<Ranges, ReadError> {
    let whole = Ranges {
        ranges: vec![KeyRange::default()],
        bounds: None,
    };
    let integer = |keys: &[&Column]| matches!(keys, [k] if matches!(k.ty, NeutralType::Int { .. }));
    if source.keys.is_empty() {
        return Ok(whole);
    }
    if !integer(source.keys) || destination.is_some_and(|d| !integer(d.keys)) {
        return sampled(source, span.await).await;
    }
    let Some((min, max)) = bounds(source, destination).await? else {
        return Ok(whole);
    };
    let mut ranges = split(min, max, span.await);
    if destination.is_some()
        && let Some(first) = ranges.first_mut()
    {
        first.0 = None;
    }
    Ok(Ranges {
        ranges: ranges
            .into_iter()
            .map(|(lo, hi)| KeyRange::Ints { lo, hi })
            .collect(),
        bounds: Some((min, max)),
    })
}

/// The smallest and largest integer key of `source` and, if given, `destination` (each
/// side's own, under the source's filter), over both sides; `None` when neither holds a
/// row (or the key is not a single column).
pub async fn bounds(
    source: Keyed<'_>,
    destination: Option<Keyed<'_>>,
) -> Result<Option<(i64, i64)>, ReadError> {
    let (s, d) = tokio::join!(min_max(source, Side::Source), async {
        match destination {
            Some(d) => min_max(d, Side::Destination).await,
            None => Ok(None),
        }
    });
    let found: Vec<(i64, i64)> = [s?, d?].into_iter().flatten().collect();
    Ok(found
        .iter()
        .map(|b| b.0)
        .min()
        .zip(found.iter().map(|b| b.1).max()))
}

/// Ranges between every `span`-th key in the source's key order, found in one pass over
/// the key (a window function over the index; no OFFSET). The first range is open
/// below, the last open above, so rows added meanwhile still fall in one.
async fn sampled(source: Keyed<'_>, span: i64) -> Result<Ranges, ReadError> {
    let sql = read::sample_query(
        source.dialect,
        source.table,
        source.keys,
        source.filter,
        span,
    );
    let cuts = source.db.rows(&sql, &[]).await.map_err(|e| ReadError {
        side: Side::Source,
        table: source.table.to_string(),
        source: e,
    })?;
    let mut ranges = Vec::with_capacity(cuts.len() + 1);
    let mut lo: Option<Vec<String>> = None;
    for cut in cuts {
        let cut: Vec<String> = cut.into_iter().map(Option::unwrap_or_default).collect();
        ranges.push(KeyRange::Keys {
            lo: lo.take(),
            hi: Some(cut.clone()),
        });
        lo = Some(cut);
    }
    ranges.push(KeyRange::Keys { lo, hi: None });
    Ok(Ranges {
        ranges,
        bounds: None,
    })
}

/// The smallest and largest integer key of one side, `None` when it has no rows.
async fn min_max(table: Keyed<'_>, side: Side) -> Result<Option<(i64, i64)>, ReadError> {
    let [key] = table.keys else {
        return Ok(None);
    };
    let sql = read::min_max_query(table.dialect, table.table, key, table.filter);
    let rows = table.db.rows(&sql, &[]).await.map_err(|e| ReadError {
        side,
        table: table.table.to_string(),
        source: e,
    })?;
    let bound = |i: usize| {
        rows.first()
            .and_then(|r| r.get(i))
            .cloned()
            .flatten()
            .and_then(|v| v.parse::<i64>().ok())
    };
    Ok(bound(0).zip(bound(1)))
}

/// Splits the keys `min..=max` into ranges `(lo, hi]` of `span` keys, the transfer's
/// chunks: the first starts at `min - 1`, and the last is open-ended (`hi: None`).
pub fn split(min: i64, max: i64, span: i64) -> Vec<(Option<i64>, Option<i64>)> {
    let span = span.max(1);
    let mut out = Vec::new();
    let mut lo = min.saturating_sub(1);
    while lo < max {
        let hi = lo.saturating_add(span).min(max);
        out.push((Some(lo), Some(hi)));
        lo = hi;
    }
    // The last chunk is open-ended so rows added above max during the run still come.
    if let Some(last) = out.last_mut() {
        last.1 = None;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_key_once_and_leave_the_top_open() {
        assert_eq!(
            split(1, 25, 10),
            vec![(Some(0), Some(10)), (Some(10), Some(20)), (Some(20), None)]
        );
        assert_eq!(split(5, 5, 10), vec![(Some(4), None)]);
        assert_eq!(split(-3, 2, 100), vec![(Some(-4), None)]);
    }
}
