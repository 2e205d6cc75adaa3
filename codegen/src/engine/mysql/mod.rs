//! MySQL/MariaDB's home.
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
pub const NAME: &str = "MySQL/MariaDB";

/// `` `name` `` with `` ` `` doubled (seaway's sessions never set `ANSI_QUOTES`).
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}
