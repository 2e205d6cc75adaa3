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
}
