//! `--repair`: missing and changed rows re-sent through the transfer writer, with the
//! masked source values already in memory; with `--delete-extra`, rows only the
//! destination holds deleted after every table is checked.

use super::{ChunkResult, Job, TableReport, VerifyError, Work};
use crate::rows::plan::TablePlan;
use crate::rows::write::Writer;

impl Job<'_> {
    /// With `--repair`, upserts the result's source rows to re-send; otherwise forgets
    /// them.
    pub(super) async fn resend(
        &self,
        work: &Work,
        result: &mut ChunkResult,
    ) -> Result<(), VerifyError> {
        match self.writer {
            Some(w) if !result.resend.is_empty() => {
                let rows: Vec<Vec<Option<String>>> =
                    result.resend.iter().map(|r| r.values.clone()).collect();
                w.upsert(&work.plan.name, &work.plan.targets, &rows)
                    .await
                    .map_err(|e| self.repair_error(&work.plan.name, &e))?;
            }
            _ => result.resend.clear(),
        }
        Ok(())
    }

    /// Deletes the extra rows found (`extras`, in load order), children before parents
    /// so foreign keys never refuse, and records each table's count in its report. Stops
    /// at the first failure.
    pub(super) async fn delete_extras(
        &self,
        writer: &Writer,
        extras: Vec<(TablePlan, Vec<Vec<Option<String>>>)>,
        tables: &mut [TableReport],
    ) -> Result<(), VerifyError> {
        for (plan, keys) in extras.into_iter().rev() {
            let deleted = writer
                .delete(&plan.name, &plan.dest_key_cols, &keys)
                .await
                .map_err(|e| self.repair_error(&plan.name, &e))?;
            if let Some(t) = tables.iter_mut().find(|t| t.table == plan.name) {
                t.deleted = deleted;
            }
        }
        Ok(())
    }

    /// A failed repair: the table and the destination's message, password removed.
    pub(super) fn repair_error(&self, table: &str, e: &dyn std::fmt::Display) -> VerifyError {
        VerifyError::Repair {
            table: table.to_string(),
            reason: self.destination.conn.url.scrub(&e.to_string()),
        }
    }
}
