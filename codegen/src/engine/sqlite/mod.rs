//! SQLite's home.
//!
//! `connect.rs` opens pools, `inspect/` reads the catalog into the neutral model,
//! `cast.rs` maps neutral types into this engine's DDL (and the type it will report
//! back), `plan.rs` renders changes (`plan::DialectPlan`). Every engine home has
//! these same files.

pub mod cast;
pub mod connect;
pub(crate) mod inspect;
pub(crate) mod plan;

/// The engine's name in messages.
pub const NAME: &str = "SQLite";

/// `"name"` with `"` doubled.
pub fn quote_ident(name: &str) -> String {
    super::quote_ansi(name)
}
