//! One home per engine, with the same files in each (docs/architecture.md, "Adding an
//! engine (migrator)"): `apply.rs` (the migration ledger and lock), `read.rs` (canonical
//! text in SQL and the engine's answers about what it stores), `write.rs` (the upsert
//! writer and the value conversions into the engine), `hash.rs` (range checksums in SQL,
//! where the engine can compute them), and `capture.rs` (change capture for `sync`, where
//! built: PostgreSQL and SQLite; `sync/capture.rs` dispatches to it).
//!
//! The stages (`rows`, `transfer`, `verify`, `apply`) keep what is the same for every
//! engine and ask the engine for the rest: through the `Read` and `Hash` traits here,
//! reached with one exhaustive `match` on `Dialect` (`of`), and through the
//! per-driver enums (`rows::source::Source`, `rows::write::{Writer, Tx}`) and
//! `apply::Destination`, whose constructors match on `Dialect` too. A new engine is a
//! new variant, and the compiler lists every place that must learn it.
//!
//! Why traits over unit structs rather than functions of the same name in each home (as
//! codegen's engine homes have): the roles here are sets of small synchronous
//! questions, and a trait makes the compiler check that every home answers all of them
//! (a missing answer is an error at the `impl`, not a silent default somewhere else).

#![deny(clippy::wildcard_enum_match_arm)]

pub mod mysql;
pub mod postgres;
pub mod role;
pub mod sqlite;

pub use role::{Hash, Read, Records, SqlHash, Write};
use seaway_codegen::model::Dialect;

/// Everything the stages ask an engine (besides its driver types).
pub trait Engine: Read + Write + Hash {}

impl<T: Read + Write + Hash> Engine for T {}

/// The engine `dialect` names.
pub fn of(dialect: Dialect) -> &'static dyn Engine {
    match dialect {
        Dialect::Postgres => &postgres::Postgres,
        Dialect::Mysql => &mysql::Mysql,
        Dialect::Sqlite => &sqlite::Sqlite,
    }
}
