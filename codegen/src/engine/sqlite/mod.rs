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

/// This engine's answers to the stages' yes/no questions (`engine::Traits`).
pub const TRAITS: super::shared::Traits = super::shared::Traits {
    enums: super::shared::EnumStyle::Check,
    time_of_day: true,
    alters_columns: false,
    adds_foreign_keys: false,
    indexes_foreign_keys: false,
    url_needs_database: false,
    null_clause_on_generated: true,
    service_other_as_bytes: false,
    service_bits_as_integer: false,
    year_type: false,
    declared_affinity: true,
};

/// The engine's name in messages.
pub const NAME: &str = "SQLite";

/// `"name"` with `"` doubled.
pub fn quote_ident(name: &str) -> String {
    super::shared::quote_ansi(name)
}
