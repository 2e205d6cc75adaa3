//! Reading each side's rows as canonical text (`rows::read`), masked on the source side,
//! and encoding and hashing them for comparison (`canon.rs`).

use super::canon::{self, Rule, Side};
use super::{Job, Row, Side1, VerifyError, Work};
use crate::rows::apply_mask;
use crate::rows::range::KeyRange;
use crate::rows::read::{self, Page};
use seaway_codegen::model::Column;

impl Job<'_> {
    pub(super) fn side(&self, side: Side) -> &Side1<'_> {
        match side {
            Side::Source => &self.source,
            Side::Destination => &self.destination,
        }
    }

    /// Reading a side failed: the table, the side and connection, the driver's message
    /// with the password removed.
    pub(super) fn read_error(&self, side: Side, table: &str, e: &sqlx::Error) -> VerifyError {
        let s = self.side(side);
        VerifyError::Read {
            table: table.to_string(),
            side: match side {
                Side::Source => "source",
                Side::Destination => "destination",
            },
            connection: s.conn.name.clone(),
            reason: s.conn.url.scrub(&e.to_string()),
        }
    }

    /// One side's row count (the destination's: no filter).
    pub(super) async fn count(&self, side: Side, table: &str) -> Result<u64, VerifyError> {
        let s = self.side(side);
        let sql = read::count_query(s.dialect, table, None);
        let rows =
            s.db.rows(&sql, &[])
                .await
                .map_err(|e| self.read_error(side, table, &e))?;
        Ok(rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Reads one side's rows of a chunk in keyset pages, encoded and hashed.
    pub(super) async fn read(
        &self,
        side: Side,
        work: &Work,
        chunk: &KeyRange,
    ) -> Result<Vec<Row>, VerifyError> {
        let (range, (lo, hi)) = (chunk.ints(), chunk.keys());
        let s = self.side(side);
        let plan = &work.plan;
        let (table, cols, keys, filter): (&str, Vec<&Column>, Vec<&Column>, Option<&str>) =
            match side {
                Side::Source => (
                    &plan.source_table,
                    plan.src_cols.iter().collect(),
                    plan.key_cols.iter().collect(),
                    plan.filter.as_deref(),
                ),
                Side::Destination => (
                    &plan.name,
                    work.dest_cols.iter().collect(),
                    plan.dest_key_cols.iter().collect(),
                    None,
                ),
            };
        // Each page is encoded and hashed on the blocking pool while the next page is
        // read, so decoding, hashing and the servers' work overlap on every core.
        let mut pages = Vec::new();
        let mut last: Option<Vec<String>> = None;
        loop {
            let q = read::page_query(
                s.dialect,
                Page {
                    table,
                    columns: &cols,
                    keys: &keys,
                    after: last.is_some(),
                    range,
                    key_range: (lo.is_some(), hi.is_some()),
                    filter,
                    limit: self.opts.page_size,
                },
            );
            // Bound in the order the query numbers them: last key, lower, upper bound.
            let params: Vec<String> = [last.as_deref(), lo, hi]
                .into_iter()
                .flatten()
                .flatten()
                .cloned()
                .collect();
            let mut rows =
                s.db.rows(&q.sql, &params)
                    .await
                    .map_err(|e| self.read_error(side, table, &e))?;
            let full = rows.len() == self.opts.page_size;
            if side == Side::Source && plan.masks.iter().any(Option::is_some) {
                for values in &mut rows {
                    for (v, mask) in values.iter_mut().zip(&plan.masks) {
                        apply_mask(v, *mask, self.config);
                    }
                }
            }
            last = rows.last().map(|r| {
                r[q.width..]
                    .iter()
                    .map(|v| v.clone().unwrap_or_default())
                    .collect()
            });
            let (rules, key_rules, width) = (work.rules.clone(), work.key_rules.clone(), q.width);
            pages.push(tokio::task::spawn_blocking(move || {
                encode_page(rows, width, &rules, &key_rules, side)
            }));
            if !full {
                break;
            }
        }
        let mut out = Vec::new();
        for page in pages {
            out.extend(page.await.map_err(|e| VerifyError::Hashing {
                table: table.to_string(),
                reason: e.to_string(),
            })?);
        }
        Ok(out)
    }
}

/// Encodes and hashes one page of rows (each: the values, then the key columns from
/// `width` on).
pub(super) fn encode_page(
    rows: Vec<Vec<Option<String>>>,
    width: usize,
    rules: &[Rule],
    key_rules: &[Rule],
    side: Side,
) -> Vec<Row> {
    let mut encoded = Vec::with_capacity(256);
    rows.into_iter()
        .map(|mut values| {
            let raw_key = values.split_off(width);
            encoded.clear();
            for (v, rule) in values.iter().zip(rules) {
                let c = v.as_deref().map(|v| rule.encode(side, v));
                canon::push_value(&mut encoded, c.as_deref());
            }
            let key = raw_key
                .iter()
                .zip(key_rules)
                .map(|(v, rule)| v.as_deref().map(|v| rule.encode(side, v).into_owned()))
                .collect();
            Row {
                key,
                raw_key,
                values,
                hash: canon::hash(&encoded),
            }
        })
        .collect()
}
