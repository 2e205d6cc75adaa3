//! PostgreSQL's home.
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
    enums: super::shared::EnumStyle::Named,
    time_of_day: true,
    alters_columns: true,
    adds_foreign_keys: true,
    indexes_foreign_keys: false,
    url_needs_database: false,
    null_clause_on_generated: true,
    service_other_as_bytes: false,
    service_bits_as_integer: false,
    year_type: false,
    declared_affinity: false,
};

/// The engine's name in messages.
pub const NAME: &str = "PostgreSQL";

/// `"name"` with `"` doubled.
pub fn quote_ident(name: &str) -> String {
    super::shared::quote_ansi(name)
}

/// A `search_path` value naming `schemas` in order, each quoted, so a schema name with
/// capitals, spaces or quotes is resolved as written.
pub fn search_path<S: AsRef<str>>(schemas: &[S]) -> String {
    schemas
        .iter()
        .map(|s| quote_ident(s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `search_path` of a session on `conn`: its configured `schema:`, else `public`.
/// Every stage that reads or writes the destination's tables (the ledger, the emptiness
/// check, apply, transfer) resolves names there, not in `public` by assumption.
pub fn search_path_of(conn: &crate::config::Connection) -> String {
    search_path(&[conn.schema.as_deref().unwrap_or("public")])
}
