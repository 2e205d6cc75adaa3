//! seaway's data side, on the same config and connection handling as `codegen`:
//! checking that configured connections answer (`ping`), applying generated migrations
//! to the destination (`apply`, `status`), copying rows (`transfer`) and comparing them
//! with the source (`verify`) over one row layer (`rows`) and one home per engine
//! (`engine`), keeping it in step with the source's changes (`sync`, with each engine's
//! capture in `engine/<name>/capture.rs`), moving traffic to generated services
//! (`route`), and running all of it as jobs behind an HTTP API and dashboard (`serve`).

pub mod apply;
pub mod deploy;
pub mod engine;
pub mod lease;
pub mod ping;
pub mod progress;
pub mod route;
pub mod rows;
pub mod serve;
pub mod sync;
pub mod transfer;
pub mod verify;
pub mod worker;
