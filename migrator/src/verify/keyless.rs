//! Tables without a key (`append_only: true`): rows cannot be matched by key, so the two
//! sides are compared as multisets of rows. Each side is streamed once and every row
//! hashed in the canonical encoding (`canon.rs`); a map from row hash to the difference
//! of its counts on the two sides proves them equal when every count cancels, holding
//! one entry per distinct row (tens of bytes), never the rows. Only when something is
//! left over are both sides streamed again to collect the rows behind the left-over
//! hashes: those are missing (more copies in the source) or extra (more in the
//! destination). A row is never "changed" here: without a key, a changed row is one
//! missing and one extra. `--repair` inserts the missing rows; extra rows have no key
//! to delete them by and are only reported.

use super::canon::Side;
use super::sides::encode_page;
use super::{ChunkResult, Difference, Job, Kind, Row, Values, VerifyError, Work};
use crate::rows::{apply_mask, read};
use futures_util::StreamExt;
use seaway_codegen::model::Column;
use std::collections::HashMap;

impl Job<'_> {
    /// Compares a keyless table as two multisets of rows.
    pub(super) async fn keyless(&self, work: &Work) -> Result<ChunkResult, VerifyError> {
        let mut counts: HashMap<u128, i64> = HashMap::new();
        let mut result = ChunkResult::default();
        for side in [Side::Source, Side::Destination] {
            let (add, rows) = match side {
                Side::Source => (1, &mut result.source_rows),
                Side::Destination => (-1, &mut result.destination_rows),
            };
            self.each_row(side, work, &mut |row| {
                *rows += 1;
                *counts.entry(row.hash).or_default() += add;
            })
            .await?;
        }
        result.rows_read = result.source_rows + result.destination_rows;
        counts.retain(|_, n| *n != 0);
        if counts.is_empty() {
            return Ok(result);
        }
        result.differing = true;
        let mut missing = Vec::new();
        let mut extra = Vec::new();
        for side in [Side::Source, Side::Destination] {
            self.each_row(side, work, &mut |row| {
                let Some(n) = counts.get_mut(&row.hash) else {
                    return;
                };
                match side {
                    Side::Source if *n > 0 => {
                        *n -= 1;
                        missing.push(row);
                    }
                    Side::Destination if *n < 0 => {
                        *n += 1;
                        extra.push(row);
                    }
                    _ => {}
                }
            })
            .await?;
        }
        let columns: Vec<&str> = work.plan.targets.iter().map(|t| t.name.as_str()).collect();
        for (kind, rows) in [(Kind::Missing, &missing), (Kind::Extra, &extra)] {
            for row in rows {
                let values = self.opts.show_values.then(|| {
                    columns
                        .iter()
                        .zip(&row.values)
                        .map(|(column, v)| Values {
                            column: column.to_string(),
                            source: (kind == Kind::Missing).then(|| v.clone()).flatten(),
                            destination: (kind == Kind::Extra).then(|| v.clone()).flatten(),
                        })
                        .collect()
                });
                result.differences.push(Difference {
                    kind,
                    key: Vec::new(),
                    columns: Vec::new(),
                    values,
                });
            }
        }
        if !extra.is_empty() && self.opts.delete_extra {
            tracing::warn!(
                table = work.plan.name,
                rows = extra.len(),
                "extra rows of a table without a key are reported, not deleted: no key names them"
            );
        }
        result.resend = missing;
        self.resend(work, &mut result).await?;
        Ok(result)
    }

    /// Streams every row of one side (the source filtered and masked), hashed, to `f`.
    async fn each_row(
        &self,
        side: Side,
        work: &Work,
        f: &mut (dyn FnMut(Row) + Send),
    ) -> Result<(), VerifyError> {
        let s = self.side(side);
        let plan = &work.plan;
        let (table, cols, filter): (&str, &[Column], Option<&str>) = match side {
            Side::Source => (&plan.source_table, &plan.src_cols, plan.filter.as_deref()),
            Side::Destination => (&plan.name, &work.dest_cols, None),
        };
        let cols: Vec<&Column> = cols.iter().collect();
        let sql = read::whole_query(s.dialect, table, &cols, filter);
        let mut pages = s.db.stream(&sql).chunks(self.opts.page_size.max(1));
        while let Some(page) = pages.next().await {
            let mut rows = Vec::with_capacity(page.len());
            for row in page {
                let mut row = row.map_err(|e| self.read_error(side, table, &e))?;
                if side == Side::Source {
                    for (v, mask) in row.iter_mut().zip(&plan.masks) {
                        apply_mask(v, *mask, self.config);
                    }
                }
                rows.push(row);
            }
            let width = cols.len();
            for row in encode_page(rows, width, &work.rules, &[], side) {
                f(row);
            }
        }
        Ok(())
    }
}
