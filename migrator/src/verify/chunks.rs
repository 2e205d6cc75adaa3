//! A table's chunks for verify (`rows::range`, both sides' keys) and how many keys each
//! holds.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use super::{Job, VerifyError, Work};
use crate::rows::range::{self, KeyRange, Keyed};
use crate::rows::read;
use seaway_codegen::model::Column;

impl Job<'_> {
    /// The chunks (`rows::range`): for a single integer key on both sides, ranges
    /// spanning both sides' keys and open at both ends (so extra rows outside the
    /// source's keys are seen), with the smallest and largest key of both sides; for any
    /// other key, ranges between every `--chunk-size`-th source key (as transfer samples
    /// them), the first open below and the last open above.
    #[allow(clippy::type_complexity)]
    pub(super) async fn chunks(
        &self,
        work: &Work,
    ) -> Result<(Vec<KeyRange>, Option<(i64, i64)>), VerifyError> {
        let plan = &work.plan;
        let src_keys: Vec<&Column> = plan.key_cols.iter().collect();
        let dest_keys: Vec<&Column> = plan.dest_key_cols.iter().collect();
        let source = Keyed {
            db: self.source.db,
            dialect: self.source.dialect,
            table: &plan.source_table,
            keys: &src_keys,
            filter: plan.filter.as_deref(),
        };
        let destination = Keyed {
            db: self.destination.db,
            dialect: self.destination.dialect,
            table: &plan.name,
            keys: &dest_keys,
            filter: None,
        };
        let planned = range::ranges(source, Some(destination), self.span(work))
            .await
            .map_err(|e| self.read_error(e.side, &e.table, &e.source))?;
        Ok((planned.ranges, planned.bounds))
    }

    /// Keys per chunk: `--chunk-size`, fewer when the source's rows are wide, so that a
    /// chunk's text stays near `CHUNK_BYTES`: a PostgreSQL range digest joins a range's
    /// rows in one value (at most 1 GB), and a chunk read to be diffed is held in memory
    /// on both sides. Each engine says how wide its rows are (`Read::row_width_query`).
    pub(super) async fn span(&self, work: &Work) -> i64 {
        const CHUNK_BYTES: i64 = 32 << 20;
        let s = &self.source;
        let table = &work.plan.source_table;
        let quoted = read::quote(s.dialect, table);
        let Some((sql, params)) = crate::engine::of(s.dialect).row_width_query(table, &quoted)
        else {
            return self.opts.chunk_span;
        };
        // Only a guide to the size: without an answer, the configured span.
        let width =
            s.db.rows(&sql, &params)
                .await
                .ok()
                .and_then(|r| r.first().and_then(|r| r.first().cloned().flatten()))
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|w| *w > 0);
        match width {
            Some(w) => self.opts.chunk_span.min((CHUNK_BYTES / w).max(1)),
            None => self.opts.chunk_span,
        }
    }
}
