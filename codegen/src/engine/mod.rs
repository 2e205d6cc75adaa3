//! One home per engine: what seaway knows about PostgreSQL, MySQL/MariaDB and SQLite,
//! each in `engine/<name>/`. The stages (`inspect`, `target`, `plan`) hold what the
//! engines share and call into these homes; a `match` on [`Dialect`] lists every engine
//! (no catch-all, enforced by `clippy::wildcard_enum_match_arm`), so adding an engine
//! fails to compile exactly where it must be taught something (docs/architecture.md,
//! "Adding an engine").

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

pub mod connect;
pub mod mysql;
pub mod postgres;
mod shared;
pub mod sqlite;

pub use shared::{EnumStyle, Traits, quote_ansi};

use crate::model::Dialect;

/// Quotes `name` as an identifier in `dialect`'s own syntax, so any name (quotes,
/// spaces, keywords) can be written into hand-made SQL.
pub fn quote_ident(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::Postgres => postgres::quote_ident(name),
        Dialect::Mysql => mysql::quote_ident(name),
        Dialect::Sqlite => sqlite::quote_ident(name),
    }
}

/// What `dialect`'s engine answers to the stages' yes/no questions.
pub fn traits(dialect: Dialect) -> &'static Traits {
    match dialect {
        Dialect::Postgres => &postgres::TRAITS,
        Dialect::Mysql => &mysql::TRAITS,
        Dialect::Sqlite => &sqlite::TRAITS,
    }
}

/// The engine's name in messages (`PostgreSQL`, `MySQL/MariaDB`, `SQLite`).
pub fn name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => postgres::NAME,
        Dialect::Mysql => mysql::NAME,
        Dialect::Sqlite => sqlite::NAME,
    }
}
