//! What the source keeps for a sync, as each engine's capture reports it to `sync
//! status` (a leaf the capture homes import).

/// Whether it exists, whether a session uses it (where the engine knows), and how far
/// the applied position is behind.
#[derive(Debug, Clone)]
pub struct SourceState {
    pub exists: bool,
    pub active: Option<bool>,
    pub behind: Option<i64>,
    /// What `behind` counts (`bytes of WAL`, `changes`).
    pub behind_unit: &'static str,
    /// The source's current position.
    pub current: String,
    /// What the source keeps for the sync (`replication slot`, `change table`,
    /// `watermark table`).
    pub kind: &'static str,
    /// What `sync status` says of it, where the engine's words differ from a slot's or a
    /// change table's (a MySQL source keeps its binary log by time, not for the sync).
    pub note: Option<String>,
}
