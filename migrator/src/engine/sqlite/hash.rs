//! SQLite has no digest function in SQL: pairs with SQLite hash their rows in the
//! client (verify/sides.rs), whatever the other engine.

use super::Sqlite;
use crate::engine::role::{Hash, SqlHash};

impl Hash for Sqlite {
    fn sql_hash(&self) -> Option<&dyn SqlHash> {
        None
    }
}
