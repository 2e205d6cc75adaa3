//! Reject files: rows the destination refused, one JSON line each in
//! `.seaway/rejects/<table>.jsonl` with the run, the key and the (password-scrubbed)
//! reason.

use super::{Job, TransferError};
use std::io::Write as _;

impl Job<'_> {
    /// Appends a refused row's key and reason to the table's reject file.
    pub(super) fn reject(
        &self,
        table: &str,
        key: &[Option<String>],
        reason: &str,
    ) -> Result<(), TransferError> {
        let path = self.rejects_dir.join(format!("{table}.jsonl"));
        let err = |source| TransferError::Rejects {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.rejects_dir).map_err(err)?;
        // One write per line: a kill can then never leave half a JSON line behind.
        let line = format!(
            "{}\n",
            serde_json::json!({ "run": self.state.run, "table": table, "key": key, "reason": reason })
        );
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(err)?;
        file.write_all(line.as_bytes()).map_err(err)
    }
}
