//! A table's comparison for compare-first (`compare.rs`), in a module of its own so that
//! the chunk plan (`TableSpec`) can hold it without importing the comparison's code,
//! which imports the plan.

use crate::verify::compare_first::{Comparer, Table};

/// A table's comparison, shared by its chunks.
pub(super) struct Comparing<'c> {
    pub(super) comparer: Comparer<'c>,
    pub(super) table: Table,
}

impl Comparing<'_> {
    /// How this table is compared, for the report.
    pub(super) fn kind(&self, append_only: bool) -> &'static str {
        if append_only {
            "multiset"
        } else if self.table.checksums_in_sql() {
            "sql"
        } else {
            "client"
        }
    }
}
