//! The neutral schema model: what every stage after introspection reads.
//!
//! It imports no database driver on purpose (sea-orm-codegen and atlas's `sql/schema` are
//! database-free too): diff, plan and render stay testable without a server, and a
//! snapshot file is enough to reproduce any of them.

pub mod naming;
mod schema;
mod snapshot;
mod types;

pub use schema::*;
pub use snapshot::{SNAPSHOT_BANNER, from_yaml, to_yaml};
pub use types::{NeutralType, TypeParseError};
