//! seaway's data side: checking that configured connections answer (`ping`) and
//! applying generated migrations to the destination (`apply`, `status`). Transfer and
//! verify land here in later stages, on the same config and the same connection
//! handling as `codegen`.

pub mod apply;
pub mod ping;
pub mod progress;
pub mod route;
pub mod rows;
pub mod transfer;
pub mod verify;
