//! Where a MySQL/MariaDB destination's local edits stand in its commit order, for a sync
//! both ways (the source decides, and asks whether the destination changed a key after
//! what it had seen: docs/architecture.md, "The source decides, for every pair"). A row
//! cannot tell when its transaction committed, but the binary log can: the stream that
//! reads the side's log (the way back) sees each local edit's row in the side's edits
//! table (a trigger's, with a token unique per edit) inside
//! its transaction, whose GTID sequence number is the side's commit order. It records
//! them here; the stream writing into that side (the way there, in the same process)
//! looks up the edit it finds in the edits table. An edit not recorded (not read yet, or
//! read by an earlier run of the process) counts as not seen: the deciding side is then
//! asked to decide the key, which is safe, only not always needed.
//! A leaf: the capture and the receiving end both import it.

use std::collections::HashMap;
use std::sync::Mutex;

/// Local edits read from a side's binary log: (table, key as JSON) -> (the edit's token,
/// the GTID sequence number of its transaction).
#[derive(Debug, Default)]
pub struct EditOrder(Mutex<HashMap<(String, String), (u64, i64)>>);

impl EditOrder {
    /// The side's transaction `seq` made edit `token` of `key` of `table`.
    pub fn record(&self, table: &str, key: &str, token: u64, seq: i64) {
        if let Ok(mut map) = self.0.lock() {
            map.insert((table.to_string(), key.to_string()), (token, seq));
        }
    }

    /// The GTID sequence number of edit `token` of `key`, where it was read.
    pub fn order_of(&self, table: &str, key: &str, token: u64) -> Option<i64> {
        let map = self.0.lock().ok()?;
        map.get(&(table.to_string(), key.to_string()))
            .filter(|(t, _)| *t == token)
            .map(|(_, seq)| *seq)
    }
}
