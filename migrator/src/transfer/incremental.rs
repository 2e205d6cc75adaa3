//! Incremental mode: a table with a watermark column copies only the rows past the mark
//! the last run reached, and records the new mark once the table is done, so a crash
//! repeats rows (harmless upserts) and never skips them.

use super::{Job, TransferError};
use crate::rows::read;

/// The rows of one incremental run of a table: a SQL condition on the watermark column,
/// and the mark to record once they are all copied.
#[derive(Debug, Clone)]
pub(super) struct Window {
    pub(super) condition: String,
    /// The mark the window starts after (the last run's, or `--since`), as the source
    /// printed it.
    pub(super) lower: Option<String>,
    pub(super) upper: Option<String>,
}

impl Job<'_> {
    /// In incremental mode, the rows to copy for a table with a watermark column: past the
    /// mark the last run reached (or `--since`), up to the source's current maximum, read
    /// now so rows changing during the run are taken by the next one. The new mark is
    /// stored only after the table is done, so a crash never skips rows.
    pub(super) async fn watermark_window(
        &self,
        name: &str,
        table: &str,
        mapping: Option<&seaway_codegen::config::Mapping>,
    ) -> Result<Option<Window>, TransferError> {
        let incremental = self.opts.since.is_some()
            || self.config.transfer_mode == seaway_codegen::config::TransferMode::Incremental;
        let Some(column) = mapping
            .and_then(|m| m.watermark.as_deref())
            .filter(|_| incremental)
        else {
            return Ok(None);
        };
        let d = self.source_schema.dialect;
        let col = read::quote(d, column);
        let as_text = read::as_text(d, &format!("max({col})"));
        let sql = format!("SELECT {as_text} FROM {}", read::quote(d, table));
        let rows = self
            .source
            .rows(&sql, &[])
            .await
            .map_err(|e| self.read_error(table, &e))?;
        let upper = rows.first().and_then(|r| r.first()).cloned().flatten();
        let lower = match &self.opts.since {
            Some(since) => Some(since.clone()),
            None => self
                .state
                .watermark(&self.config.source, &self.desired_destination(), name)
                .await
                .map_err(|e| self.state_error(e))?,
        };
        let literal = |v: &str| format!("'{}'", v.replace('\'', "''"));
        let condition = match (&lower, &upper) {
            (_, None) => "1 = 0".to_string(), // empty table: nothing to copy
            (Some(lo), Some(hi)) => format!("{col} > {} AND {col} <= {}", literal(lo), literal(hi)),
            (None, Some(hi)) => format!("{col} <= {}", literal(hi)),
        };
        Ok(Some(Window {
            condition,
            lower,
            upper,
        }))
    }

    pub(super) fn desired_destination(&self) -> String {
        self.config.destination.clone().unwrap_or_default()
    }
}
