//! Comparing a chunk: by the databases' checksums where they can (`bisect.rs`), else by
//! both sides' rows hashed here; a differing chunk is diffed by key into missing, extra
//! and changed rows, and rows a sampled-key chunk finds on one side only are matched
//! across the table (`reconcile`) before they are called missing or extra.

use super::canon::Side;
use super::report::{Difference, Kind, Values, key_order};
use super::{ChunkResult, Job, Row, VerifyError, Work};
use crate::rows::range::KeyRange;
use std::collections::HashMap;

impl Job<'_> {
    /// Checks one chunk: by the databases' checksums and bisection where they can
    /// (`bisect.rs`), otherwise by reading and hashing its rows here.
    pub(super) async fn chunk(
        &self,
        work: &Work,
        chunk: KeyRange,
    ) -> Result<ChunkResult, VerifyError> {
        match (&chunk, &work.sql) {
            (KeyRange::Ints { lo, hi }, Some(sql)) => self.bisect(work, sql, (*lo, *hi)).await,
            _ => self.diff_rows(work, &chunk).await,
        }
    }

    /// Reads a chunk's rows from both sides at once, compares checksums, and, when they
    /// differ, diffs the rows by key (and repairs them with `--repair`). A sampled-key
    /// chunk leaves the rows it finds on one side only to `reconcile`.
    pub(super) async fn diff_rows(
        &self,
        work: &Work,
        chunk: &KeyRange,
    ) -> Result<ChunkResult, VerifyError> {
        let mut result = self.compare_rows(work, chunk).await?;
        self.resend(work, &mut result).await?;
        Ok(result)
    }

    /// `diff_rows` without the repair: the rows to re-send stay in the result
    /// (transfer's compare-first writes them itself).
    pub(super) async fn compare_rows(
        &self,
        work: &Work,
        chunk: &KeyRange,
    ) -> Result<ChunkResult, VerifyError> {
        let (src, dst) = tokio::join!(
            self.read(Side::Source, work, chunk),
            self.read(Side::Destination, work, chunk)
        );
        let (src, dst) = (src?, dst?);
        let checksum = |rows: &[Row]| {
            rows.iter().fold((rows.len(), 0u128), |(n, sum), r| {
                (n, sum.wrapping_add(r.hash))
            })
        };
        let mut result = ChunkResult {
            source_rows: src.len() as u64,
            destination_rows: dst.len() as u64,
            rows_read: (src.len() + dst.len()) as u64,
            ..ChunkResult::default()
        };
        if checksum(&src) == checksum(&dst) {
            return Ok(result);
        }
        result.differing = true;
        let mut by_key: HashMap<Vec<Option<String>>, Row> =
            dst.into_iter().map(|r| (r.key.clone(), r)).collect();
        let mut missing = Vec::new();
        for s in src {
            match by_key.remove(&s.key) {
                None => missing.push(s),
                Some(d) if d.hash != s.hash => {
                    result.differences.push(self.changed(work, &s, &d));
                    result.resend.push(s);
                }
                Some(_) => {}
            }
        }
        let extra: Vec<Row> = by_key.into_values().collect();
        if matches!(chunk, KeyRange::Keys { .. }) {
            result.unmatched = (missing, extra);
        } else {
            self.one_sided(&mut result, missing, extra);
        }
        Ok(result)
    }

    /// Rows found on one side only, as missing and extra differences (and what repair
    /// re-sends or deletes).
    pub(super) fn one_sided(
        &self,
        result: &mut ChunkResult,
        missing: Vec<Row>,
        mut extra: Vec<Row>,
    ) {
        for s in missing {
            result.differences.push(Difference {
                kind: Kind::Missing,
                key: s.key.clone(),
                columns: Vec::new(),
                values: None,
            });
            result.resend.push(s);
        }
        extra.sort_by(|a, b| key_order(&a.key, &b.key));
        for d in extra {
            result.differences.push(Difference {
                kind: Kind::Extra,
                key: d.key,
                columns: Vec::new(),
                values: None,
            });
            result.extra_keys.push(d.raw_key);
        }
    }

    /// A changed row: the columns whose comparable forms differ (and their values, with
    /// `--show-values`).
    pub(super) fn changed(&self, work: &Work, s: &Row, d: &Row) -> Difference {
        let mut columns = Vec::new();
        let mut values = Vec::new();
        for (i, rule) in work.rules.iter().enumerate() {
            let theirs = d.values[i].as_deref();
            let ours = s.values[i].as_deref();
            if ours.map(|v| rule.encode(Side::Source, v))
                != theirs.map(|v| rule.encode(Side::Destination, v))
            {
                let column = work.plan.targets[i].name.clone();
                values.push(Values {
                    column: column.clone(),
                    source: s.values[i].clone(),
                    destination: d.values[i].clone(),
                });
                columns.push(column);
            }
        }
        Difference {
            kind: Kind::Changed,
            key: s.key.clone(),
            columns,
            values: self.opts.show_values.then_some(values),
        }
    }

    /// Matches the rows sampled-key chunks found on one side only, by key across the
    /// whole table: a source row and a destination row of one key that landed in
    /// different chunks (the engines order the key apart) are equal or changed, never
    /// missing and extra.
    pub(super) async fn reconcile(
        &self,
        work: &Work,
        (missing, extra): (Vec<Row>, Vec<Row>),
    ) -> Result<ChunkResult, VerifyError> {
        let mut result = ChunkResult::default();
        if missing.is_empty() && extra.is_empty() {
            return Ok(result);
        }
        let mut by_key: HashMap<Vec<Option<String>>, Row> =
            extra.into_iter().map(|r| (r.key.clone(), r)).collect();
        let mut alone = Vec::new();
        for s in missing {
            match by_key.remove(&s.key) {
                None => alone.push(s),
                Some(d) if d.hash != s.hash => {
                    result.differences.push(self.changed(work, &s, &d));
                    result.resend.push(s);
                }
                Some(_) => {}
            }
        }
        self.one_sided(&mut result, alone, by_key.into_values().collect());
        self.resend(work, &mut result).await?;
        Ok(result)
    }
}
