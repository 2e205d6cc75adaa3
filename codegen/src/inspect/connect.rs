//! Opening connections (`engine::connect`, shared by every engine, and each engine's
//! pool options from its home), under the names the stages use.

pub use crate::engine::connect::*;
pub use crate::engine::mysql::connect::{MYSQL_SQL_MODE, pool as mysql};
pub use crate::engine::postgres::connect::{
    pool as postgres, pool_with as postgres_with, session as postgres_session,
};
pub use crate::engine::sqlite::connect::{read_only as sqlite, writable as sqlite_writable};
