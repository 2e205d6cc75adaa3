//! SQLite's home in migrator: the same files as every engine's (`engine/mod.rs`).

pub mod apply;
pub mod both;
pub mod capture;
pub mod hash;
pub mod read;
pub mod write;

/// SQLite, as the stages ask it (`engine::of`): `read.rs` and `hash.rs` implement its
/// roles.
#[derive(Debug, Clone, Copy)]
pub struct Sqlite;
