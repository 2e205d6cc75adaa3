//! seaway's data side. Today: checking that configured connections answer (`ping`).
//! Apply, transfer and verify land here in later stages, on the same config and the same
//! connection handling as `codegen`.

pub mod ping;
