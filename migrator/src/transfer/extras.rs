//! `--delete-extra`: the destination rows compare-first found the source does not hold
//! are kept in the state store as their chunks are compared (`state::Extra`: a key, or an
//! integer range the source holds no row of) and deleted only once every table is
//! copied, in reverse load order, children before parents, so a foreign key never
//! refuses a parent's deletion while its children are still there (as verify's repair
//! does). Each batch is forgotten once deleted: a run killed here resumes with what is
//! left, and a row deleted twice counts once (the second delete finds nothing).

use super::state::Extra;
use super::{Event, Job, TableReport, TransferError};
use crate::rows::plan::TablePlan;

/// Extra rows deleted (and forgotten) per state-store transaction.
const BATCH: usize = 500;

impl Job<'_> {
    /// Deletes every table's recorded extra rows, last table first, adding the counts to
    /// the tables' reports (`tables` is in load order).
    pub(super) async fn delete_extras(
        &self,
        tables: &mut [TableReport],
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), TransferError> {
        for report in tables.iter_mut().rev() {
            let name = report.table.clone();
            let extras = self
                .state
                .extras(&name)
                .await
                .map_err(|e| self.state_error(e))?;
            if extras.is_empty() {
                continue;
            }
            let failed = |reason: String| TransferError::Delete {
                table: name.clone(),
                reason,
            };
            let plan = TablePlan::new(&name, self.desired, self.source_schema, self.config)
                .map_err(|e| failed(e.to_string()))?;
            let mut deleted = 0;
            for batch in extras.chunks(BATCH) {
                let keys: Vec<Vec<Option<String>>> = batch
                    .iter()
                    .filter_map(|e| match e {
                        Extra::Key(k) => Some(k.clone()),
                        Extra::Range { .. } => None,
                    })
                    .collect();
                deleted += self
                    .writer
                    .delete(&name, &plan.dest_key_cols, &keys)
                    .await
                    .map_err(|e| failed(self.scrub_destination(&e)))?;
                for extra in batch {
                    let (Extra::Range { lo, hi }, [key]) = (extra, plan.dest_key_cols.as_slice())
                    else {
                        continue;
                    };
                    deleted += self
                        .writer
                        .delete_range(&name, key, (*lo, *hi))
                        .await
                        .map_err(|e| failed(self.scrub_destination(&e)))?;
                }
                self.state
                    .forget_extras(&name, batch)
                    .await
                    .map_err(|e| self.state_error(e))?;
            }
            report.deleted += deleted;
            on_event(Event::Deleted {
                table: &name,
                rows: deleted,
            });
        }
        Ok(())
    }
}
