//! `--repair`: missing and changed rows re-sent through the transfer writer, with the
//! masked source values already in memory.

use super::{ChunkResult, Job, VerifyError, Work};

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
                w.upsert(&work.plan.name, &work.plan.targets, &result.resend)
                    .await
                    .map_err(|e| self.repair_error(&work.plan.name, &e))?;
            }
            _ => result.resend.clear(),
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
