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

/// This engine's answers to the stages' yes/no questions (`engine::Traits`).
pub const TRAITS: super::shared::Traits = super::shared::Traits {
    enums: super::shared::EnumStyle::Inline,
    time_of_day: false,
    alters_columns: true,
    adds_foreign_keys: true,
    indexes_foreign_keys: true,
    url_needs_database: true,
    null_clause_on_generated: false,
    service_other_as_bytes: true,
    service_bits_as_integer: true,
    year_type: true,
    declared_affinity: false,
};

/// The engine's name in messages.
pub const NAME: &str = "MySQL/MariaDB";

/// `` `name` `` with `` ` `` doubled (seaway's sessions never set `ANSI_QUOTES`).
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}
